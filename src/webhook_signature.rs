//! Standard Webhooks 1.0 signatures (contracts §5 and §8): the one place that turns a
//! secret into `webhook-id` / `webhook-timestamp` / `webhook-signature` headers and checks
//! them on the receiving side. It knows nothing of HTTP frameworks or storage, so the
//! outbox, the reference checkout-service and the order service's event endpoint share it.
//!
//! A secret is `whsec_<base64 key>` or any other string used as the raw key; several,
//! comma-separated, allow rotation: each signs, and a signature made by any of them verifies.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far a `webhook-timestamp` may be from the receiver's clock, either way, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

const PREFIX: &str = "whsec_";
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Keys and signatures are read with or without `=` padding, as the reference libraries do.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("no webhook secret given")]
    Empty,
    /// A `whsec_` secret whose key is not base64: almost surely a copy-paste mistake, so it
    /// is refused instead of silently used as a raw key the sender does not have.
    #[error("the webhook secret number {0} starts with whsec_ but is not valid base64")]
    BadBase64(usize),
}

/// Why a request's signature was refused. The variants are for logs; a receiver answers
/// them all alike (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {0} s away from now, more than the tolerance")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches any configured secret")]
    NoMatch,
}

/// The three headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

impl SignedHeaders {
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_ID, &self.id),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }
}

/// One or more signing keys, in the order they were configured.
#[derive(Clone)]
pub struct WebhookSecrets {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} key(s), redacted)", self.keys.len())
    }
}

impl WebhookSecrets {
    /// Parses a comma-separated list of secrets; blanks around and between them are ignored.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let keys = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, secret)| match secret.strip_prefix(PREFIX) {
                Some(encoded) => LENIENT_BASE64
                    .decode(encoded)
                    .map_err(|_| SecretError::BadBase64(i + 1)),
                None => Ok(secret.as_bytes().to_vec()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() || keys.iter().any(Vec::is_empty) {
            return Err(SecretError::Empty);
        }
        Ok(Self { keys })
    }

    /// `webhook-signature`: one `v1,<base64>` per key, space-separated.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        self.keys
            .iter()
            .map(|key| {
                let tag = mac(key, id, timestamp, body).finalize().into_bytes();
                format!("{VERSION},{}", BASE64.encode(tag))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The headers to send with `body` as message `id` at `timestamp` (Unix seconds).
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp.to_string(),
            signature: self.sign(id, timestamp, body),
        }
    }

    /// Checks a received request: the timestamp within `tolerance_secs` of `now` (Unix
    /// seconds) either way, and any `v1` signature made by any of our keys. The comparison
    /// is constant-time (`Mac::verify_slice`).
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        let id = id.ok_or(VerifyError::MissingHeader(HEADER_ID))?;
        let timestamp = timestamp.ok_or(VerifyError::MissingHeader(HEADER_TIMESTAMP))?;
        let signature = signature.ok_or(VerifyError::MissingHeader(HEADER_SIGNATURE))?;
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let skew = now.saturating_sub(seconds);
        if skew.saturating_abs() > tolerance_secs {
            return Err(VerifyError::OutsideTolerance(skew));
        }
        let candidates: Vec<Vec<u8>> = signature
            .split_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == VERSION)
            .filter_map(|(_, encoded)| LENIENT_BASE64.decode(encoded).ok())
            .collect();
        let matches = self.keys.iter().any(|key| {
            candidates
                .iter()
                .any(|tag| mac(key, id, seconds, body).verify_slice(tag).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(VerifyError::NoMatch)
        }
    }
}

/// HMAC-SHA256 over `<id>.<timestamp>.<body>`.
fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification and its reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn verify_at(secrets: &WebhookSecrets, signature: &str, now: i64) -> Result<(), VerifyError> {
        let ts = TIMESTAMP.to_string();
        secrets.verify(
            Some(ID),
            Some(&ts),
            Some(signature),
            BODY,
            now,
            DEFAULT_TOLERANCE_SECS,
        )
    }

    #[test]
    fn signing_reproduces_the_specification_example() {
        let secrets = WebhookSecrets::parse(SECRET).unwrap();
        assert_eq!(secrets.sign(ID, TIMESTAMP, BODY), EXPECTED);
        assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP), Ok(()));
    }

    #[test]
    fn every_key_of_a_rotation_signs_and_any_one_verifies() {
        let both = WebhookSecrets::parse(&format!("new-raw-key , {SECRET}")).unwrap();
        let signature = both.sign(ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = signature.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], EXPECTED);
        let old_only = WebhookSecrets::parse(SECRET).unwrap();
        assert_eq!(verify_at(&old_only, &signature, TIMESTAMP), Ok(()));
        let new_only = WebhookSecrets::parse("new-raw-key").unwrap();
        assert_eq!(verify_at(&new_only, &signature, TIMESTAMP), Ok(()));
        assert_eq!(
            verify_at(&new_only, EXPECTED, TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn a_raw_key_is_used_as_its_bytes() {
        let raw = WebhookSecrets::parse("plain secret").unwrap();
        let expected = {
            let mut m = HmacSha256::new_from_slice(b"plain secret").unwrap();
            m.update(format!("{ID}.{TIMESTAMP}.").as_bytes());
            m.update(BODY);
            format!("v1,{}", BASE64.encode(m.finalize().into_bytes()))
        };
        assert_eq!(raw.sign(ID, TIMESTAMP, BODY), expected);
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_refused_both_ways() {
        let secrets = WebhookSecrets::parse(SECRET).unwrap();
        assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP + 300), Ok(()));
        assert_eq!(verify_at(&secrets, EXPECTED, TIMESTAMP - 300), Ok(()));
        assert_eq!(
            verify_at(&secrets, EXPECTED, TIMESTAMP + 301),
            Err(VerifyError::OutsideTolerance(301))
        );
        assert_eq!(
            verify_at(&secrets, EXPECTED, TIMESTAMP - 301),
            Err(VerifyError::OutsideTolerance(-301))
        );
    }

    #[test]
    fn tampering_and_malformed_headers_are_refused() {
        let secrets = WebhookSecrets::parse(SECRET).unwrap();
        let ts = TIMESTAMP.to_string();
        let check = |id: Option<&str>, ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
            secrets.verify(id, ts, sig, body, TIMESTAMP, DEFAULT_TOLERANCE_SECS)
        };
        assert_eq!(
            check(Some(ID), Some(&ts), Some(EXPECTED), b"{\"test\": 1}"),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(Some("msg_other"), Some(&ts), Some(EXPECTED), BODY),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(None, Some(&ts), Some(EXPECTED), BODY),
            Err(VerifyError::MissingHeader(HEADER_ID))
        );
        assert_eq!(
            check(Some(ID), None, Some(EXPECTED), BODY),
            Err(VerifyError::MissingHeader(HEADER_TIMESTAMP))
        );
        assert_eq!(
            check(Some(ID), Some(&ts), None, BODY),
            Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
        );
        assert_eq!(
            check(Some(ID), Some("soon"), Some(EXPECTED), BODY),
            Err(VerifyError::BadTimestamp)
        );
        // Another version, a truncated tag and garbage never match.
        let v2 = EXPECTED.replacen("v1,", "v2,", 1);
        assert_eq!(
            check(Some(ID), Some(&ts), Some(&v2), BODY),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(Some(ID), Some(&ts), Some("v1,g0hM9SsE+OTPJTGt"), BODY),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(Some(ID), Some(&ts), Some("v1,@@@ nonsense"), BODY),
            Err(VerifyError::NoMatch)
        );
        // A good one among bad ones is enough.
        let mixed = format!("v1,bm9wZQ== {EXPECTED}");
        assert_eq!(check(Some(ID), Some(&ts), Some(&mixed), BODY), Ok(()));
    }

    #[test]
    fn secrets_that_cannot_be_right_are_refused() {
        assert_eq!(WebhookSecrets::parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            WebhookSecrets::parse(" , ").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            WebhookSecrets::parse("whsec_").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            WebhookSecrets::parse("ok,whsec_not base64!").unwrap_err(),
            SecretError::BadBase64(2)
        );
        assert!(!format!("{:?}", WebhookSecrets::parse(SECRET).unwrap()).contains("MfKQ"));
        // Unpadded base64, as some providers print it, is the same key.
        let padded = WebhookSecrets::parse("whsec_AAEC").unwrap();
        let unpadded = WebhookSecrets::parse("whsec_AAE").unwrap();
        assert_eq!(
            padded.sign(ID, TIMESTAMP, BODY).len(),
            unpadded.sign(ID, TIMESTAMP, BODY).len()
        );
        assert_eq!(
            WebhookSecrets::parse("whsec_AAE=")
                .unwrap()
                .sign(ID, TIMESTAMP, BODY),
            unpadded.sign(ID, TIMESTAMP, BODY)
        );
    }
}
