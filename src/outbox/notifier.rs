//! The Notification service as a delivery sink: `POST /api/v1/notifications` with the
//! event id as `Idempotency-Key`, so the receiver can drop our at-least-once duplicates.
//! Redirects are never followed (a POST must not turn into a GET): a 3xx is a failed
//! attempt naming its target. With signing secrets, every request carries the Standard
//! Webhooks 1.0 headers (`crate::webhook_signature`).

use super::{DeliveryOutcome, OutboxRecord};
use crate::webhook_signature::WebhookSecrets;
use std::time::Duration;

#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    url: String,
    secrets: Option<WebhookSecrets>,
}

impl Notifier {
    pub fn new(
        base_url: &str,
        timeout: Duration,
        secrets: Option<WebhookSecrets>,
    ) -> anyhow::Result<Self> {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("order-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let url = format!("{}/api/v1/notifications", base_url.trim_end_matches('/'));
        Ok(Self { http, url, secrets })
    }

    /// One attempt: its outcome, and the HTTP status if the receiver answered.
    pub async fn send(&self, event: &OutboxRecord) -> (DeliveryOutcome, Option<u16>) {
        let id = event.id.to_string();
        let body = event.payload.get();
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &id);
        if let Some(secrets) = &self.secrets {
            let signed = secrets.headers(&id, chrono::Utc::now().timestamp(), body.as_bytes());
            for (name, value) in signed.pairs() {
                request = request.header(name, value);
            }
        }
        match request.body(body.to_owned()).send().await {
            Ok(response) if response.status().is_redirection() => {
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no Location header)");
                let error =
                    format!("HTTP {status} redirect to {location} (redirects are not followed)");
                (DeliveryOutcome::Retry(error), Some(status))
            }
            Ok(response) => {
                let status = response.status().as_u16();
                (DeliveryOutcome::from_status(status), Some(status))
            }
            Err(e) if e.is_timeout() => (DeliveryOutcome::Retry("timed out".into()), None),
            Err(e) => (DeliveryOutcome::Retry(format!("unreachable: {e}")), None),
        }
    }
}
