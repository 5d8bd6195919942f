//! The identity provider's key set (JWKS, RFC 7517) read from `JWT_JWKS_URL`: keys by `kid`,
//! each with the only algorithms it may verify, refreshed on a schedule and at once when a
//! token names a key we do not know (rate-limited, so random `kid`s cannot flood the provider).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A key set larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct JwksSettings {
    pub url: String,
    /// Scheduled refresh (`JWT_JWKS_REFRESH_SECS`).
    pub refresh: Duration,
    /// Bound on one fetch, connection included.
    pub fetch_timeout: Duration,
    /// Longest wait between attempts while fetching fails (the contract says at most 10 s).
    pub retry_cap: Duration,
    /// Least time between two fetches caused by an unknown `kid`.
    pub unknown_kid_interval: Duration,
}

impl JwksSettings {
    pub fn new(url: impl Into<String>, refresh: Duration) -> Self {
        Self {
            url: url.into(),
            refresh,
            fetch_timeout: Duration::from_secs(5),
            retry_cap: Duration::from_secs(5),
            unknown_kid_interval: Duration::from_secs(10),
        }
    }
}

/// One verification key and the algorithms a token signed with it may name.
pub struct VerificationKey {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

pub enum KeyLookup {
    Found(Arc<VerificationKey>),
    /// No key of that `kid`, even after a refresh (or a refresh was made too recently).
    Unknown,
    /// No key set has been loaded yet.
    NotLoaded,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the key set failed: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the key set URL answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a JSON Web Key Set: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the key set holds no usable signature key")]
    NoUsableKey,
}

type KeyMap = HashMap<String, Arc<VerificationKey>>;

pub struct JwksCache {
    settings: JwksSettings,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<KeyMap>>>,
    /// Held during an unknown-`kid` refresh; holds the time of the last one.
    unknown_kid_refresh: Mutex<Option<Instant>>,
}

impl JwksCache {
    /// A cache with nothing loaded yet; `spawn_refresher` loads it and keeps it fresh.
    pub fn new(settings: JwksSettings) -> anyhow::Result<Arc<Self>> {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .connect_timeout(settings.fetch_timeout)
            .user_agent(concat!("order-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Arc::new(Self {
            settings,
            http,
            keys: RwLock::new(None),
            unknown_kid_refresh: Mutex::new(None),
        }))
    }

    pub fn is_loaded(&self) -> bool {
        self.current().is_some()
    }

    fn current(&self) -> Option<Arc<KeyMap>> {
        self.keys.read().expect("key cache lock").clone()
    }

    fn cached(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.current().and_then(|keys| keys.get(kid).cloned())
    }

    /// The key named `kid`; an unknown one triggers a refresh unless one was made within
    /// `unknown_kid_interval`. Concurrent lookups of new keys share one fetch.
    pub async fn key(&self, kid: &str) -> KeyLookup {
        if !self.is_loaded() {
            return KeyLookup::NotLoaded;
        }
        if let Some(key) = self.cached(kid) {
            return KeyLookup::Found(key);
        }
        let mut last = self.unknown_kid_refresh.lock().await;
        if let Some(key) = self.cached(kid) {
            return KeyLookup::Found(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.settings.unknown_kid_interval) {
            return KeyLookup::Unknown;
        }
        *last = Some(Instant::now());
        tracing::info!(kid, "token names an unknown key: refreshing the key set");
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, url = %self.settings.url, "key set refresh failed");
        }
        drop(last);
        self.cached(kid)
            .map_or(KeyLookup::Unknown, KeyLookup::Found)
    }

    /// Fetches the key set and replaces the cached one; returns how many keys it holds.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let response = self.http.get(&self.settings.url).send().await?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let body = response.bytes().await?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let keys = parse_key_set(&body)?;
        let count = keys.len();
        *self.keys.write().expect("key cache lock") = Some(Arc::new(keys));
        Ok(count)
    }

    /// Loads the key set now and then every `refresh`; while fetching fails, retries with a
    /// backoff of at most `retry_cap`. Stops once the cache is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(keep_fresh(weak))
    }
}

async fn keep_fresh(cache: Weak<JwksCache>) {
    let mut failures: u32 = 0;
    loop {
        let Some(this) = cache.upgrade() else {
            return;
        };
        let was_loaded = this.is_loaded();
        let delay = match this.refresh().await {
            Ok(count) => {
                if failures > 0 || !was_loaded {
                    tracing::info!(keys = count, url = %this.settings.url, "key set loaded");
                }
                failures = 0;
                this.settings.refresh
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, url = %this.settings.url, loaded = was_loaded, "key set fetch failed; retrying");
                let backoff = Duration::from_millis(500) * 2u32.saturating_pow(failures.min(8));
                backoff.min(this.settings.retry_cap)
            }
        };
        drop(this);
        tokio::time::sleep(delay).await;
    }
}

/// Reads a key set, keeping the signature keys we can verify with; a key of a kind we do not
/// know is skipped rather than failing the whole set.
pub fn parse_key_set(body: &[u8]) -> Result<KeyMap, JwksError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body)?;
    let mut keys = KeyMap::new();
    for value in raw.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if let Some((kid, key)) = verification_key(&jwk) {
            keys.insert(kid, Arc::new(key));
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

/// The algorithms follow from the key's type (and its `alg`, when the set states one);
/// symmetric keys never come from a key set.
fn verification_key(jwk: &Jwk) -> Option<(String, VerificationKey)> {
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    use Algorithm::*;
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[ES256],
            EllipticCurve::P384 => &[ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[EdDSA],
        _ => return None,
    };
    let algorithms = match &jwk.common.key_algorithm {
        None => family.to_vec(),
        Some(stated) => {
            let alg = Algorithm::from_str(&stated.to_string()).ok()?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, VerificationKey { key, algorithms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_signature_keys_and_skips_the_rest() {
        let set = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-256", "kid": "lying", "alg": "RS256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "unknown-kind", "kid": "future"}
        ]});
        let keys = parse_key_set(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1, "only ec-1 is usable");
        assert_eq!(keys["ec-1"].algorithms, vec![Algorithm::ES256]);
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        assert!(matches!(
            parse_key_set(br#"{"keys": []}"#),
            Err(JwksError::NoUsableKey)
        ));
        assert!(matches!(
            parse_key_set(b"<html>"),
            Err(JwksError::Malformed(_))
        ));
    }
}
