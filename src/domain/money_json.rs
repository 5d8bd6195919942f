//! Money as JSON text: read from a number or a decimal string without passing through
//! `f64`, written as a number with exactly its currency's decimals; and its OpenAPI schema.

use super::{Currency, Money, MoneyError};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

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
