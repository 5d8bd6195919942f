//! Exact money. An amount is a `Decimal` that carries as many decimal places as its currency
//! has minor units (USD 45.99, JPY 1200, KWD 1.250), never negative.
//!
//! There is deliberately no rounding anywhere: text is read digit by digit (`DecimalText`),
//! so a 30-digit price, a digit separator, `NaN` or `1e400` is refused rather than bent into
//! a number, and an amount with more decimals than its currency has minor units is refused
//! however many zeros those decimals hold. Every sum and product is then exact.
//! On the wire an amount is a JSON number with its currency's decimals, written from the
//! decimal text, never through `f64`.

use super::{Currency, DecimalText};
use rust_decimal::Decimal;
use std::fmt;

/// Largest amount we accept: 10^13 in major units keeps minor units far inside `i64`.
const MAX_MAJOR_UNITS: i64 = 10_000_000_000_000;
/// Most minor units any ISO 4217 currency has (CLF, UYW).
const MAX_MINOR_UNITS: u32 = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is not a decimal number")]
    NotANumber,
    #[error("amount has an exponent beyond any price")]
    ExponentOutOfRange,
    #[error("amount is negative")]
    Negative,
    #[error("amount has more decimals than the currency's {0} minor units")]
    TooManyDecimals(u32),
    #[error("amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Zero with `minor_units` decimals (`0.00` in USD).
    pub fn zero(minor_units: u32) -> Self {
        Self(Decimal::new(0, minor_units))
    }

    /// An amount with exactly `minor_units` decimals; more significant decimals are refused.
    pub fn new(value: Decimal, minor_units: u32) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        if value.abs() >= Decimal::from(MAX_MAJOR_UNITS) {
            return Err(MoneyError::TooLarge);
        }
        let mut value = value.abs().normalize();
        if value.scale() > minor_units {
            return Err(MoneyError::TooManyDecimals(minor_units));
        }
        value.rescale(minor_units);
        Ok(Self(value))
    }

    /// Parses decimal text (`45.99`, `4.599e1`) as an amount of `currency`.
    pub fn parse_in(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse_with_minor_units(text, currency.minor_units())
    }

    /// Parses decimal text keeping the decimals it is written with (at most four, the most
    /// any currency has): how our own responses are read back.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let written = DecimalText::parse(text)?.written_decimals();
        let minor_units = u32::try_from(written)
            .ok()
            .filter(|d| *d <= MAX_MINOR_UNITS)
            .ok_or(MoneyError::TooManyDecimals(MAX_MINOR_UNITS))?;
        Self::parse_with_minor_units(text, minor_units)
    }

    fn parse_with_minor_units(text: &str, minor_units: u32) -> Result<Self, MoneyError> {
        let exact = DecimalText::parse(text)?;
        if exact.is_negative() && !exact.is_zero() {
            return Err(MoneyError::Negative);
        }
        if exact.written_decimals() > u64::from(minor_units) {
            return Err(MoneyError::TooManyDecimals(minor_units));
        }
        let value = exact.to_decimal(15).ok_or(MoneyError::TooLarge)?;
        Self::new(value, minor_units)
    }

    /// Builds an amount from integer minor units, as stored in the database; `minor_units`
    /// is the exponent of the order's currency (`Currency::minor_units_of`).
    pub fn from_minor_units(minor: i64, minor_units: u32) -> Result<Self, MoneyError> {
        Self::new(Decimal::new(minor, minor_units), minor_units)
    }

    /// The amount in integer minor units of its currency (cents, yen, fils); exact because
    /// the amount carries exactly that many decimals.
    pub fn minor_units(self) -> i64 {
        i64::try_from(self.0.mantissa()).expect("bounded by MAX_MAJOR_UNITS")
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    fn keep_scale(self, value: Decimal) -> Option<Money> {
        Self::new(value, value.scale().max(self.0.scale())).ok()
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.keep_scale(self.0.checked_add(other.0)?)
    }

    /// `None` when the result would be negative or overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.keep_scale(self.0.checked_sub(other.0)?)
    }

    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.keep_scale(self.0.checked_mul(Decimal::from(quantity))?)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn parses_numbers_and_strings_exactly() {
        let m = |json: &str| Money::parse_json_in(json, usd()).unwrap().minor_units();
        assert_eq!(m("45.99"), 4599);
        assert_eq!(m("\"45.99\""), 4599);
        assert_eq!(m("4.599e1"), 4599);
        assert_eq!(m("12"), 1200);
        assert_eq!(m("12.5"), 1250);
        assert_eq!(m("0"), 0);
    }

    #[test]
    fn minor_units_follow_the_currency() {
        let jpy = Money::parse_in("1200", cur("JPY")).unwrap();
        assert_eq!((jpy.minor_units(), jpy.to_string()), (1200, "1200".into()));
        let kwd = Money::parse_in("1.25", cur("KWD")).unwrap();
        assert_eq!((kwd.minor_units(), kwd.to_string()), (1250, "1.250".into()));
        assert_eq!(
            Money::parse_in("1.234", cur("KWD")).unwrap().minor_units(),
            1234
        );
        assert_eq!(
            Money::parse_in("1200.5", cur("JPY")),
            Err(MoneyError::TooManyDecimals(0))
        );
        assert_eq!(
            Money::parse_in("1.2345", cur("KWD")),
            Err(MoneyError::TooManyDecimals(3))
        );
    }

    #[test]
    fn nothing_is_ever_rounded() {
        for text in [
            "45.990000000000000000000000000001",
            "45.990",
            "45.9900000000000000000000000000000000",
            "0.001",
            "4599e-2000",
        ] {
            assert!(Money::parse_in(text, usd()).is_err(), "{text}");
        }
        assert_eq!(
            Money::parse_in("45.990000000000000000000000000001", usd()),
            Err(MoneyError::TooManyDecimals(2))
        );
        assert_eq!(
            Money::parse_in("123456789012345678901234567890", usd()),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn rejects_garbage_separators_and_absurd_exponents() {
        for text in [
            "abc", "NaN", "nan", "Infinity", "1_000", "1,000", "1 000", " 1", "1.", ".5", "+1",
            "0x10", "1e", "1e+", "", "-", "null", "1.2.3",
        ] {
            assert_eq!(
                Money::parse_in(text, usd()),
                Err(MoneyError::NotANumber),
                "{text}"
            );
        }
        assert_eq!(
            Money::parse_in("1e400", usd()),
            Err(MoneyError::ExponentOutOfRange)
        );
        assert_eq!(
            Money::parse_in("1e99999999999999999999", usd()),
            Err(MoneyError::ExponentOutOfRange)
        );
        assert_eq!(Money::parse_in("1e20", usd()), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse_in("-1", usd()), Err(MoneyError::Negative));
        assert_eq!(
            Money::parse_json_in("null", usd()),
            Err(MoneyError::NotANumber)
        );
    }

    #[test]
    fn three_dimes_are_exactly_thirty_cents() {
        let dime = Money::parse_in("0.10", usd()).unwrap();
        let sum = dime.checked_add(dime).unwrap().checked_add(dime).unwrap();
        assert_eq!(sum, Money::parse_in("0.3", usd()).unwrap());
        assert_eq!(sum.to_string(), "0.30");
    }

    #[test]
    fn serializes_with_the_currency_decimals_and_reads_back() {
        let json = serde_json::to_string(&Money::parse_in("123.4", usd()).unwrap()).unwrap();
        assert_eq!(json, "123.40");
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!((back.minor_units(), back.to_string()), (12340, json));
        let yen = serde_json::to_string(&Money::parse_in("500", cur("JPY")).unwrap()).unwrap();
        assert_eq!(yen, "500");
    }

    #[test]
    fn subtraction_below_zero_is_refused() {
        let one = Money::parse_in("1", usd()).unwrap();
        let two = Money::parse_in("2", usd()).unwrap();
        assert!(one.checked_sub(two).is_none());
        assert_eq!(two.checked_sub(one), Some(one));
        assert_eq!(two.checked_sub(one).unwrap().to_string(), "1.00");
    }

    #[test]
    fn minor_units_round_trip() {
        for units in [0, 2, 3] {
            for minor in [0, 1, 99, 100, 12345, 999_999_999] {
                let money = Money::from_minor_units(minor, units).unwrap();
                assert_eq!(money.minor_units(), minor);
            }
        }
        assert_eq!(
            Money::from_minor_units(1250, 3).unwrap().to_string(),
            "1.250"
        );
    }
}
