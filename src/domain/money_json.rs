//! Money as JSON text: read from a number or a decimal string without passing through
//! `f64`, written as a number with exactly its currency's decimals; and its OpenAPI schema.

use super::{Currency, Money, MoneyError};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(decimal_text(self.amount()))
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// The text `Decimal`'s `Display` writes (sign, digits, exactly `scale` decimals), without
/// the formatting machinery: every response and confirmation writes several amounts.
fn decimal_text(value: rust_decimal::Decimal) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value.mantissa().unsigned_abs());
    let scale = value.scale() as usize;
    let mut text = String::with_capacity(digits.len() + scale + 3);
    if value.is_sign_negative() {
        text.push('-');
    }
    if scale == 0 {
        text.push_str(digits);
    } else if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        text.push_str(whole);
        text.push('.');
        text.push_str(fraction);
    } else {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', scale - digits.len()));
        text.push_str(digits);
    }
    text
}

/// A money value read from JSON text: a number or a string holding a decimal.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Money::parse(json_text(raw.get())).map_err(D::Error::custom)
    }
}

/// The decimal text inside one JSON value: a string's contents or a number's literal.
fn json_text(json: &str) -> &str {
    let json = json.trim();
    json.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(json)
}

impl Money {
    /// Reads the text of one JSON value (number or string), keeping its written decimals.
    pub fn parse_json(json: &str) -> Result<Self, MoneyError> {
        Self::parse(json_text(json))
    }

    /// Reads the text of one JSON value (number or string) as an amount of `currency`.
    pub fn parse_json_in(json: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse_in(json_text(json), currency)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some(
                "Exact amount with as many decimals as its currency has minor units (USD 2, JPY 0, KWD 3)",
            ))
            .examples([serde_json::json!(123.45)])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn json_text_is_what_display_writes() {
        let mut values = vec![Decimal::ZERO, -Decimal::ZERO, Decimal::new(-0, 2)];
        for scale in 0..=4 {
            for mantissa in [
                0i64,
                1,
                -1,
                5,
                9,
                10,
                99,
                100,
                1234,
                -1234,
                123_456_789,
                i64::MAX,
            ] {
                values.push(Decimal::new(mantissa, scale));
            }
        }
        // A pseudo-random sweep over magnitudes and scales.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = (x >> (x % 64)) as i64 * if x.is_multiple_of(3) { -1 } else { 1 };
            values.push(Decimal::new(mantissa, (x % 5) as u32));
        }
        for value in values {
            assert_eq!(decimal_text(value), value.to_string(), "{value:?}");
        }
        for text in ["0", "0.00", "0.05", "12.50", "123.45", "1000", "7.123"] {
            let money = Money::parse(text).unwrap();
            assert_eq!(serde_json::to_string(&money).unwrap(), money.to_string());
        }
    }
}
