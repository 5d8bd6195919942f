//! Times in responses, written as chrono's own serializer writes them
//! (`2023-11-01T11:50:00Z`, `…00.5Z` → `…00.500Z`, then 6 or 9 digits as needed) but
//! without the formatting machinery, which took a few percent of a read's instructions.
//! Years outside 0–9999 and leap seconds go through chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `serialize_with` for a `DateTime<Utc>` field.
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    match fast_text(at) {
        Some(text) => serializer.serialize_str(&text),
        None => at.serialize(serializer),
    }
}

fn fast_text(at: &DateTime<Utc>) -> Option<String> {
    let year = at.year();
    let nanos = at.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = String::with_capacity(30);
    push_digits(&mut text, year as u32, 4);
    text.push('-');
    push_digits(&mut text, at.month(), 2);
    text.push('-');
    push_digits(&mut text, at.day(), 2);
    text.push('T');
    push_digits(&mut text, at.hour(), 2);
    text.push(':');
    push_digits(&mut text, at.minute(), 2);
    text.push(':');
    push_digits(&mut text, at.second(), 2);
    if nanos != 0 {
        text.push('.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(&mut text, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(&mut text, nanos / 1_000, 6);
        } else {
            push_digits(&mut text, nanos, 9);
        }
    }
    text.push('Z');
    Some(text)
}

/// `value` in exactly `width` decimal digits (`value` < 10^width).
fn push_digits(text: &mut String, value: u32, width: u32) {
    let mut place = 10u32.pow(width - 1);
    while place > 0 {
        text.push(char::from(b'0' + (value / place % 10) as u8));
        place /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ours(at: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        rfc3339(&at, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_chrono_writes() {
        let mut times = vec![
            Utc.with_ymd_and_hms(2023, 11, 1, 11, 50, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc::now(),
        ];
        let base = Utc.with_ymd_and_hms(2026, 12, 7, 23, 59, 59).unwrap();
        for nanos in [1, 999, 1_000, 500_000, 1_000_000, 120_000_000, 999_999_999] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second (nanoseconds past 1e9).
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        times.push(Utc.from_utc_datetime(&leap));
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 400_000_000_000) as i64 - 62_000_000_000;
            let nanos = match x % 4 {
                0 => 0,
                1 => (x >> 20) as u32 % 1_000 * 1_000_000,
                2 => (x >> 20) as u32 % 1_000_000 * 1_000,
                _ => (x >> 20) as u32 % 1_000_000_000,
            };
            times.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        for at in times {
            assert_eq!(ours(at), serde_json::to_string(&at).unwrap(), "{at:?}");
        }
    }
}
