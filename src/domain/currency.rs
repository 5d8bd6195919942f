//! Currencies as ISO 4217 defines them, with their minor units (USD 2, JPY 0, KWD 3), taken
//! from the maintained tables of the `iso_currency` crate rather than a list of our own.

use std::fmt;
use std::sync::OnceLock;

/// Every ISO 4217 currency the crate knows, indexed by its three capital letters
/// (`(a * 26 + b) * 26 + c`): a stored order's code is looked up twice per read, and the
/// crate's `from_code` compares the text against each code in turn (~750 instructions for
/// `USD`). Built once, from the crate's own numeric-code table, which names them all
/// (checked against `from_code` for every three-letter code in the tests).
fn by_letters(code: &str) -> Option<iso_currency::Currency> {
    static TABLE: OnceLock<Box<[Option<iso_currency::Currency>]>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = vec![None; 26 * 26 * 26].into_boxed_slice();
        for currency in (0..=u16::MAX).filter_map(iso_currency::Currency::from_numeric) {
            if let Some(slot) = letters_index(currency.code()) {
                table[slot] = Some(currency);
            }
        }
        table
    });
    table[letters_index(code)?]
}

/// The table slot of three capital letters; none for any other text.
fn letters_index(code: &str) -> Option<usize> {
    match *code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => {
            let letter = |l: u8| usize::from(l - b'A');
            Some((letter(a) * 26 + letter(b)) * 26 + letter(c))
        }
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Minor units assumed for a stored code we no longer recognise: every amount was
    /// stored in cents before minor units followed the currency.
    pub const LEGACY_MINOR_UNITS: u32 = 2;

    /// An active ISO 4217 code in capitals (`USD`); codes without minor units (`XXX`, `XAU`)
    /// are not money an order can be paid in.
    pub fn parse(code: &str) -> Option<Self> {
        let currency = by_letters(code)?;
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
    fn the_letters_table_finds_what_from_code_finds() {
        let letters = || (b'A'..=b'Z').map(char::from);
        let mut found = 0;
        for (a, b, c) in
            letters().flat_map(|a| letters().flat_map(move |b| letters().map(move |c| (a, b, c))))
        {
            let code = format!("{a}{b}{c}");
            let expected = iso_currency::Currency::from_code(&code);
            assert_eq!(by_letters(&code), expected, "{code}");
            found += usize::from(expected.is_some());
        }
        assert!(found > 150, "only {found} currencies");
        for code in ["usd", "US", "USDX", "", "U$D", "ÜSD"] {
            assert_eq!(by_letters(code), None, "{code}");
        }
    }

    #[test]
    fn unknown_and_non_money_codes_are_refused() {
        for code in ["ABC", "usd", "XXX", "XAU", "", "US"] {
            assert!(Currency::parse(code).is_none(), "{code}");
        }
    }
}
