//! Currencies as ISO 4217 defines them, with their minor units (USD 2, JPY 0, KWD 3), taken
//! from the maintained tables of the `iso_currency` crate rather than a list of our own.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Minor units assumed for a stored code we no longer recognise: every amount was
    /// stored in cents before minor units followed the currency.
    pub const LEGACY_MINOR_UNITS: u32 = 2;

    /// An active ISO 4217 code in capitals (`USD`); codes without minor units (`XXX`, `XAU`)
    /// are not money an order can be paid in.
    pub fn parse(code: &str) -> Option<Self> {
        let currency = iso_currency::Currency::from_code(code)?;
        currency.exponent()?;
        Some(Self(currency))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the currency's minor unit.
    pub fn minor_units(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }

    /// Minor units of a stored currency code.
    pub fn minor_units_of(code: &str) -> u32 {
        Self::parse(code).map_or(Self::LEGACY_MINOR_UNITS, Self::minor_units)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        for (code, units) in [
            ("USD", 2),
            ("EUR", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
        ] {
            assert_eq!(
                Currency::parse(code).unwrap().minor_units(),
                units,
                "{code}"
            );
        }
    }

    #[test]
    fn unknown_and_non_money_codes_are_refused() {
        for code in ["ABC", "usd", "XXX", "XAU", "", "US"] {
            assert!(Currency::parse(code).is_none(), "{code}");
        }
    }
}
