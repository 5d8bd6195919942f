//! Standard Webhooks 1.0 signatures (docs/interface.md): the one place that turns a
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
mod tests;
