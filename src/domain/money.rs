//! Exact money. An amount is a `Decimal` that carries as many decimal places as its currency
//! has minor units (USD 45.99, JPY 1200, KWD 1.250), never negative.
//!
//! There is deliberately no rounding anywhere: text is read digit by digit (`DecimalText`),
//! so a 30-digit price, a digit separator, `NaN` or `1e400` is refused rather than bent into
//! a number, and an amount with more decimals than its currency has minor units is refused
//! however many zeros those decimals hold. Every sum and product is then exact.
//! On the wire an amount is a JSON number with its currency's decimals, written from the
//! decimal text, never through `f64`.

use super::Currency;
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;

/// Largest amount we accept: 10^13 in major units keeps minor units far inside `i64`.
const MAX_MAJOR_UNITS: i64 = 10_000_000_000_000;
/// Most minor units any ISO 4217 currency has (CLF, UYW).
const MAX_MINOR_UNITS: u32 = 4;
/// Exponents beyond this are no price at all (`1e400`).
const MAX_EXPONENT: i64 = 30;

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

/// Decimal text read exactly as written: `-?digits[.digits][e[+-]digits]`, nothing else
/// (no separators, no `NaN`, no surrounding blanks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText {
    negative: bool,
    /// Significant digits, without leading zeros (empty for zero).
    digits: String,
    /// Decimal places as written, zeros included; negative when the exponent adds zeros.
    scale: i64,
}

impl DecimalText {
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e)),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !all_digits(int) || (mantissa.contains('.') && !all_digits(frac)) {
            return Err(MoneyError::NotANumber);
        }
        let exponent = match exponent {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => (-1, d),
                    None => (1, e.strip_prefix('+').unwrap_or(e)),
                };
                if !all_digits(digits) {
                    return Err(MoneyError::NotANumber);
                }
                let digits = digits.trim_start_matches('0');
                match digits.parse::<i64>() {
                    _ if digits.is_empty() => 0,
                    Ok(value) if digits.len() <= 4 && value <= MAX_EXPONENT => sign * value,
                    _ => return Err(MoneyError::ExponentOutOfRange),
                }
            }
        };
        let digits = format!("{int}{frac}").trim_start_matches('0').to_owned();
        Ok(Self {
            negative,
            digits,
            scale: frac.len() as i64 - exponent,
        })
    }

    /// Decimal places as written, zeros included (0 for a whole number).
    pub fn written_decimals(&self) -> u64 {
        self.scale.max(0) as u64
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The exact value when it is at most `max_integer_digits` digits long before the point.
    fn to_decimal(&self, max_integer_digits: usize) -> Option<Decimal> {
        let mut digits = self.digits.clone();
        let mut scale = self.scale;
        while scale > 0 && digits.ends_with('0') {
            digits.pop();
            scale -= 1;
        }
        if scale < 0 {
            digits.extend(std::iter::repeat_n('0', (-scale) as usize));
            scale = 0;
        }
        let integer_digits = digits.len().saturating_sub(scale as usize);
        if integer_digits > max_integer_digits || scale > 28 {
            return None;
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Decimal::try_from_i128_with_scale(mantissa, scale as u32).ok()
    }

    /// The value as a whole number, if it is one (`2`, `2.0`, `2e0`).
    pub fn whole_number(&self) -> Option<u64> {
        if self.negative && !self.is_zero() {
            return None;
        }
        let value = self.to_decimal(19)?;
        (value.fract().is_zero()).then(|| u64::try_from(value).ok())?
    }
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
        if exact.negative && !exact.is_zero() {
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

    #[test]
    fn whole_numbers_are_read_exactly() {
        let whole = |t: &str| DecimalText::parse(t).ok().and_then(|d| d.whole_number());
        assert_eq!(whole("2"), Some(2));
        assert_eq!(whole("2.0"), Some(2));
        assert_eq!(whole("2e2"), Some(200));
        assert_eq!(whole("2.000000000000000000000000000001"), None);
        assert_eq!(whole("-2"), None);
        assert_eq!(whole("1.5"), None);
        assert_eq!(whole("1_000"), None);
    }
}
