//! The `checkout.session.completed` webhook to the order service (docs/interface.md).
//!
//! A row of `order_webhooks` is written in the transaction that completes the session
//! (`SessionStore::complete`); this sender posts it, signed with Standard Webhooks, to
//! `{ORDER_WEBHOOK_URL}/api/v1/checkout/events` and retries with exponential backoff and
//! jitter until a 2xx. The one exception is 400: the order service says the session can
//! never become an order (not completed, empty, invalid), and sending it again would get
//! the same answer forever, so the row is marked FAILED and logged at WARN. Every other
//! answer (401 for a secret mismatch, 404/503 while the endpoint is not configured, 5xx,
//! timeouts, 3xx — redirects are never followed) is retried, each wait capped.
//! One checkout-service process owns its SQLite file, so rows need no lease.

use crate::outbox::Backoff;
use crate::webhook_signature::WebhookSecrets;
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::store::SessionStoreError;

pub const EVENT_TYPE: &str = "checkout.session.completed";
const BATCH: i64 = 64;
const PARALLEL_SENDS: usize = 8;

/// Where and how the webhook is sent.
#[derive(Clone, Debug)]
pub struct OrderWebhookConfig {
    /// The order service's base URL (`ORDER_WEBHOOK_URL`).
    pub base_url: String,
    pub secrets: WebhookSecrets,
    /// Bound of one attempt, connection included.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// How often due rows are looked for when no completion woke the sender.
    pub poll_interval: Duration,
}

impl OrderWebhookConfig {
    pub fn new(base_url: &str, secrets: WebhookSecrets) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secrets,
            timeout: Duration::from_secs(5),
            backoff: Backoff {
                first: Duration::from_millis(500),
                cap: Duration::from_secs(300),
            },
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Queues the webhook of a completed session, inside the completion's transaction.
pub(super) async fn enqueue(
    tx: &mut Transaction<'_, Sqlite>,
    session_id: Uuid,
    now_ms: i64,
) -> Result<(), SessionStoreError> {
    let payload = json!({"type": EVENT_TYPE, "data": {"id": session_id}}).to_string();
    sqlx::query(
        "INSERT INTO order_webhooks (id, session_id, payload, status, next_attempt_at_ms, \
         created_at_ms) VALUES (?, ?, ?, 'PENDING', ?, ?)",
    )
    .bind(format!("msg_{}", Uuid::new_v4().simple()))
    .bind(session_id.to_string())
    .bind(payload)
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

struct DueWebhook {
    id: String,
    session_id: String,
    payload: String,
    attempts: i64,
}

enum Outcome {
    Delivered,
    Refused(String),
    Retry(String),
}

pub struct WebhookSender {
    pool: SqlitePool,
    http: reqwest::Client,
    url: String,
    config: OrderWebhookConfig,
    wake: Arc<Notify>,
}

impl WebhookSender {
    pub(super) fn new(
        pool: SqlitePool,
        config: OrderWebhookConfig,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(2)))
            .timeout(config.timeout)
            // A POST must not turn into a GET somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("checkout-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let url = format!("{}/api/v1/checkout/events", config.base_url);
        Ok(Self {
            pool,
            http,
            url,
            config,
            wake,
        })
    }

    /// Sends due webhooks until `stop` turns true; woken at once by each completion.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(url = %self.url, "order webhooks enabled");
        loop {
            match self.send_due().await {
                // A full batch: there may be more due right now.
                Ok(sent) if sent as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "order webhook queue unreadable"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// One pass over the due rows; returns how many were attempted.
    pub async fn send_due(&self) -> Result<usize, sqlx::Error> {
        let due: Vec<DueWebhook> = sqlx::query(
            "SELECT id, session_id, payload, attempts FROM order_webhooks \
             WHERE status = 'PENDING' AND next_attempt_at_ms <= ? \
             ORDER BY next_attempt_at_ms LIMIT ?",
        )
        .bind(Utc::now().timestamp_millis())
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(DueWebhook {
                id: row.try_get("id")?,
                session_id: row.try_get("session_id")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let count = due.len();
        let mut attempts = futures::stream::iter(due)
            .map(|webhook| async move {
                let outcome = self.attempt(&webhook).await;
                (webhook, outcome)
            })
            .buffer_unordered(PARALLEL_SENDS);
        while let Some((webhook, outcome)) = attempts.next().await {
            self.record(&webhook, outcome).await?;
        }
        Ok(count)
    }

    async fn attempt(&self, webhook: &DueWebhook) -> Outcome {
        // A fresh timestamp (and so signature) per attempt; the id stays for deduplication.
        let body = webhook.payload.as_bytes();
        let headers = self
            .config
            .secrets
            .headers(&webhook.id, Utc::now().timestamp(), body);
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json");
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        match request.body(webhook.payload.clone()).send().await {
            Ok(answer) if answer.status().is_success() => Outcome::Delivered,
            Ok(answer) if answer.status() == reqwest::StatusCode::BAD_REQUEST => {
                let text = answer.text().await.unwrap_or_default();
                Outcome::Refused(format!("HTTP 400: {}", truncate(&text, 300)))
            }
            Ok(answer) => Outcome::Retry(format!("HTTP {}", answer.status().as_u16())),
            Err(e) if e.is_timeout() => Outcome::Retry("timed out".into()),
            Err(e) => Outcome::Retry(format!("unreachable: {e}")),
        }
    }

    async fn record(&self, webhook: &DueWebhook, outcome: Outcome) -> Result<(), sqlx::Error> {
        let now_ms = Utc::now().timestamp_millis();
        let attempts = webhook.attempts + 1;
        let (status, next_ms, error) = match outcome {
            Outcome::Delivered => {
                tracing::info!(webhook_id = %webhook.id, session_id = %webhook.session_id, attempts, "order webhook delivered");
                ("DELIVERED", now_ms, None)
            }
            Outcome::Refused(error) => {
                tracing::warn!(webhook_id = %webhook.id, session_id = %webhook.session_id, attempts, %error, "order service refused the webhook for good: the session can never become an order");
                ("FAILED", now_ms, Some(error))
            }
            Outcome::Retry(error) => {
                let delay = self.config.backoff.delay(attempts.clamp(1, 32) as u32);
                tracing::warn!(webhook_id = %webhook.id, session_id = %webhook.session_id, attempts, %error, retry_in_ms = delay.as_millis() as u64, "order webhook not delivered, will retry");
                ("PENDING", now_ms + delay.as_millis() as i64, Some(error))
            }
        };
        let finished = (status != "PENDING").then_some(now_ms);
        sqlx::query(
            "UPDATE order_webhooks SET status = ?, attempts = ?, next_attempt_at_ms = ?, \
             last_error = ?, finished_at_ms = ? WHERE id = ?",
        )
        .bind(status)
        .bind(attempts)
        .bind(next_ms)
        .bind(error)
        .bind(finished)
        .bind(&webhook.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
