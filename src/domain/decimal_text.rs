//! Decimal text read exactly as written, digit by digit, so that nothing is ever rounded
//! on the way to a `Decimal` (see `money.rs`).

use super::MoneyError;
use rust_decimal::Decimal;

/// Exponents beyond this are no price at all (`1e400`).
const MAX_EXPONENT: i64 = 30;

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
    pub fn is_negative(&self) -> bool {
        self.negative
    }

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
    pub(super) fn to_decimal(&self, max_integer_digits: usize) -> Option<Decimal> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
