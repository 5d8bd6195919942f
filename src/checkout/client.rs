//! HTTP client of the Checkout Service: one shared connection pool, a bounded time budget
//! per lookup, a couple of jittered retries of the idempotent GET, and a size limit.

use super::session::{CheckoutSession, SessionParseError};
use crate::domain::CheckoutSessionId;
use rand::Rng;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct CheckoutClientConfig {
    pub base_url: String,
    /// Budget for the whole lookup, retries included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for connect errors and 5xx only.
    pub max_retries: u32,
    pub max_body_bytes: usize,
}

impl CheckoutClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            max_retries: 2,
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("checkout session not found")]
    NotFound,
    #[error("checkout service did not answer within {0:?}")]
    Timeout(Duration),
    #[error("checkout service unreachable: {0}")]
    Transport(String),
    #[error("checkout service answered HTTP {0}")]
    Status(u16),
    #[error("checkout service answer larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    BadAnswer(#[from] SessionParseError),
}

impl CheckoutError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckoutError::NotFound => "not_found",
            CheckoutError::Timeout(_) => "timeout",
            CheckoutError::Transport(_) => "transport",
            CheckoutError::Status(_) => "status",
            CheckoutError::TooLarge(_) => "too_large",
            CheckoutError::BadAnswer(_) => "bad_answer",
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, CheckoutError::Transport(_))
            || matches!(self, CheckoutError::Status(s) if *s >= 500)
    }
}

#[derive(Clone)]
pub struct CheckoutClient {
    pub(super) http: reqwest::Client,
    pub(super) config: CheckoutClientConfig,
    /// `{base_url}/api/v1/checkout/session/`, parsed once: a lookup appends the id to a
    /// copy instead of formatting and parsing a whole URL (a twentieth of an order's
    /// instructions).
    session_url: reqwest::Url,
}

impl CheckoutClient {
    pub fn new(config: CheckoutClientConfig) -> anyhow::Result<Self> {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("order-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let base = config.base_url.trim_end_matches('/');
        let session_url = reqwest::Url::parse(&format!("{base}/api/v1/checkout/session/"))
            .map_err(|e| anyhow::anyhow!("checkout service URL {base:?}: {e}"))?;
        anyhow::ensure!(
            !session_url.cannot_be_a_base(),
            "checkout service URL {base:?} is not an http(s) URL"
        );
        Ok(Self {
            http,
            config,
            session_url,
        })
    }

    /// The URL of session `id`.
    fn session_url(&self, id: CheckoutSessionId) -> reqwest::Url {
        let mut url = self.session_url.clone();
        url.path_segments_mut()
            .expect("checked in new: the URL can be a base")
            .pop_if_empty()
            .push(&id.to_string());
        url
    }

    /// Fetches a session; the whole call, retries included, ends within the configured budget.
    pub async fn fetch_session(
        &self,
        id: CheckoutSessionId,
        request_id: Option<&str>,
    ) -> Result<CheckoutSession, CheckoutError> {
        let started = Instant::now();
        let result = self.fetch_with_retries(id, request_id, started).await;
        metrics::histogram!("checkout_request_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            metrics::counter!("checkout_request_failures_total", "kind" => e.kind()).increment(1);
        }
        result
    }

    async fn fetch_with_retries(
        &self,
        id: CheckoutSessionId,
        request_id: Option<&str>,
        started: Instant,
    ) -> Result<CheckoutSession, CheckoutError> {
        let deadline = started + self.config.timeout;
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(CheckoutError::Timeout(self.config.timeout));
            }
            let outcome = tokio::time::timeout(remaining, self.fetch_once(id, request_id))
                .await
                .unwrap_or(Err(CheckoutError::Timeout(self.config.timeout)));
            match outcome {
                Err(e) if e.is_retryable() && attempt < self.config.max_retries => {
                    attempt += 1;
                    let base = 50u64 << attempt;
                    let pause = Duration::from_millis(rand::rng().random_range(base / 2..=base));
                    if Instant::now() + pause >= deadline {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, attempt, "checkout lookup failed, retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    async fn fetch_once(
        &self,
        id: CheckoutSessionId,
        request_id: Option<&str>,
    ) -> Result<CheckoutSession, CheckoutError> {
        let mut request = self
            .http
            .get(self.session_url(id))
            .header("accept", "application/json");
        if let Some(rid) = request_id {
            request = request.header("x-request-id", rid);
        }
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                CheckoutError::Timeout(self.config.timeout)
            } else {
                CheckoutError::Transport(e.to_string())
            }
        })?;
        match response.status() {
            StatusCode::NOT_FOUND => return Err(CheckoutError::NotFound),
            s if !s.is_success() => return Err(CheckoutError::Status(s.as_u16())),
            _ => {}
        }
        let body = read_limited(&mut response, self.config.max_body_bytes).await?;
        Ok(CheckoutSession::parse(&body, id)?)
    }
}

/// The answer's body, refused past `limit` bytes whatever `Content-Length` claims.
pub(super) async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CheckoutError> {
    if response
        .content_length()
        .is_some_and(|len| len as usize > limit)
    {
        return Err(CheckoutError::TooLarge(limit));
    }
    let mut body = Vec::with_capacity(4096);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CheckoutError::Transport(e.to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(CheckoutError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_url_is_the_base_url_then_the_session_path() {
        let id = CheckoutSessionId(uuid::Uuid::new_v4());
        for (base, expected) in [
            ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
            ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
            (
                "https://checkout.example.com/shop//",
                "https://checkout.example.com/shop",
            ),
        ] {
            let client = CheckoutClient::new(CheckoutClientConfig::new(base)).unwrap();
            assert_eq!(
                client.session_url(id).as_str(),
                format!("{expected}/api/v1/checkout/session/{id}"),
                "{base}"
            );
        }
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused_at_start() {
        for base in ["not a url", "mailto:checkout@example.com"] {
            assert!(
                CheckoutClient::new(CheckoutClientConfig::new(base)).is_err(),
                "{base}"
            );
        }
    }
}
