//! A postal address as the storefront and the Checkout Service send it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub street: String,
    pub city: String,
    pub state: String,
    pub country: String,
    pub postal_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address field `{0}` is missing or blank")]
pub struct AddressError(pub &'static str);

impl Address {
    /// Builds an address; `street`, `city`, `country` are required, `state` and
    /// `postalCode` may be empty (not every country has them). Fields are trimmed.
    pub fn new(
        street: &str,
        city: &str,
        state: &str,
        country: &str,
        postal_code: &str,
    ) -> Result<Self, AddressError> {
        let required = |name: &'static str, value: &str| {
            let value = value.trim();
            if value.is_empty() || value.len() > 500 {
                Err(AddressError(name))
            } else {
                Ok(value.to_owned())
            }
        };
        Ok(Self {
            street: required("street", street)?,
            city: required("city", city)?,
            state: state.trim().to_owned(),
            country: required("country", country)?,
            postal_code: postal_code.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_city_and_country_are_required() {
        assert!(Address::new("1 Main", "Town", "", "US", "").is_ok());
        assert_eq!(
            Address::new(" ", "Town", "CA", "US", "1").unwrap_err().0,
            "street"
        );
        assert_eq!(
            Address::new("1 Main", "Town", "CA", "", "1").unwrap_err().0,
            "country"
        );
    }
}
