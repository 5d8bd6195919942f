//! The Notification service as a delivery sink: `POST /api/v1/notifications` with the
//! event id as `Idempotency-Key`, so the receiver can drop our at-least-once duplicates.

use super::{DeliveryOutcome, OutboxRecord};
use std::time::Duration;

#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    url: String,
}

impl Notifier {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("order-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let url = format!("{}/api/v1/notifications", base_url.trim_end_matches('/'));
        Ok(Self { http, url })
    }

    pub async fn send(&self, event: &OutboxRecord) -> DeliveryOutcome {
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", event.id.to_string())
            .body(event.payload.get().to_owned())
            .send()
            .await;
        match sent {
            Ok(response) => DeliveryOutcome::from_status(response.status().as_u16()),
            Err(e) if e.is_timeout() => DeliveryOutcome::Retry("timed out".into()),
            Err(e) => DeliveryOutcome::Retry(format!("unreachable: {e}")),
        }
    }
}
