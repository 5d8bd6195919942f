//! Exact money. Amounts are `Decimal` with at most two decimal places and never negative.
//!
//! There is deliberately no rounding anywhere: an amount with sub-cent precision is rejected
//! where it enters (`Money::try_from_decimal`), so every sum and product is exact.
//! On the wire an amount is a JSON number with two decimals, written from the decimal text,
//! never through `f64`; on input a JSON number or a decimal string is read from its text.

use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;

/// Largest amount we accept: 10^13 in major units keeps minor units far inside `i64`.
const MAX_MAJOR_UNITS: i64 = 10_000_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is not a decimal number")]
    NotANumber,
    #[error("amount is negative")]
    Negative,
    #[error("amount has more than two decimal places")]
    SubCent,
    #[error("amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn try_from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        if value.scale() > 2 {
            return Err(MoneyError::SubCent);
        }
        if value >= Decimal::from(MAX_MAJOR_UNITS) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self(value.abs()))
    }

    /// Parses decimal text such as `45.99`, `"45.99"` contents or `4.599e1`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let value = if text.contains(['e', 'E']) {
            Decimal::from_scientific(text)
        } else {
            Decimal::from_str(text)
        }
        .map_err(|_| MoneyError::NotANumber)?;
        Self::try_from_decimal(value)
    }

    /// Builds an amount from integer minor units (cents), as stored in the database.
    pub fn from_minor_units(minor: i64) -> Result<Self, MoneyError> {
        Self::try_from_decimal(Decimal::new(minor, 2))
    }

    /// The amount in integer minor units (cents); exact because the scale is at most 2.
    pub fn minor_units(self) -> i64 {
        let mut scaled = self.0;
        scaled.rescale(2);
        i64::try_from(scaled.mantissa()).expect("bounded by MAX_MAJOR_UNITS")
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        Self::try_from_decimal(self.0.checked_add(other.0)?).ok()
    }

    /// `None` when the result would be negative or overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        Self::try_from_decimal(self.0.checked_sub(other.0)?).ok()
    }

    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        Self::try_from_decimal(self.0.checked_mul(Decimal::from(quantity))?).ok()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut scaled = self.0;
        scaled.rescale(2);
        write!(f, "{scaled}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A money value read from JSON text: a number or a string holding a decimal.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Money::parse_json(raw.get()).map_err(D::Error::custom)
    }
}

impl Money {
    /// Reads the text of one JSON value (number or string) as money.
    pub fn parse_json(json_text: &str) -> Result<Self, MoneyError> {
        let text = json_text.trim();
        match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) => Self::parse(inner),
            None => Self::parse(text),
        }
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some("Exact amount with at most two decimal places"))
            .examples([serde_json::json!(123.45)])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_strings_exactly() {
        assert_eq!(Money::parse_json("45.99").unwrap().minor_units(), 4599);
        assert_eq!(Money::parse_json("\"45.99\"").unwrap().minor_units(), 4599);
        assert_eq!(Money::parse_json("4.599e1").unwrap().minor_units(), 4599);
        assert_eq!(Money::parse_json("12").unwrap().minor_units(), 1200);
        assert_eq!(Money::parse_json("12.500").unwrap().minor_units(), 1250);
    }

    #[test]
    fn rejects_sub_cent_negative_and_garbage() {
        assert_eq!(Money::parse("0.001"), Err(MoneyError::SubCent));
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse_json("null"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("1e20"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn three_dimes_are_exactly_thirty_cents() {
        let dime = Money::parse("0.10").unwrap();
        let sum = dime.checked_add(dime).unwrap().checked_add(dime).unwrap();
        assert_eq!(sum, Money::parse("0.3").unwrap());
        assert_eq!(sum.to_string(), "0.30");
    }

    #[test]
    fn serializes_as_a_json_number_with_two_decimals() {
        let json = serde_json::to_string(&Money::parse("123.4").unwrap()).unwrap();
        assert_eq!(json, "123.40");
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back.minor_units(), 12340);
    }

    #[test]
    fn subtraction_below_zero_is_refused() {
        let one = Money::parse("1").unwrap();
        let two = Money::parse("2").unwrap();
        assert!(one.checked_sub(two).is_none());
        assert_eq!(two.checked_sub(one), Some(one));
    }

    #[test]
    fn minor_units_round_trip() {
        for minor in [0, 1, 99, 100, 12345, 999_999_999] {
            assert_eq!(Money::from_minor_units(minor).unwrap().minor_units(), minor);
        }
    }
}
