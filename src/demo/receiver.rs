//! A stand-in Notification service: it answers `202` to every
//! `POST /api/v1/notifications` and remembers each body with its `Idempotency-Key`, so a
//! demo or a test can show what the order service sent. Given the signing secret, it
//! checks each request's Standard Webhooks signature as a receiver would.

use crate::webhook_signature::{
    DEFAULT_TOLERANCE_SECS, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecrets,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One notification as it arrived.
#[derive(Clone, Debug)]
pub struct ReceivedNotification {
    pub idempotency_key: Option<String>,
    pub body: serde_json::Value,
    /// The body exactly as sent (amounts keep their two decimals here).
    pub text: String,
    /// Whether the Standard Webhooks signature verified (`None`: no secret to check with).
    pub signature_verified: Option<bool>,
    /// The `webhook-signature` header as received.
    pub signature: Option<String>,
}

#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<ReceivedNotification>>>,
    arrived: Arc<Notify>,
    secrets: Option<WebhookSecrets>,
}

/// The receiver runs on its own port until dropped.
pub struct NotificationReceiver {
    inbox: Inbox,
    url: String,
    server: JoinHandle<()>,
}

impl NotificationReceiver {
    /// Starts on a free port of 127.0.0.1; it accepts requests as soon as this returns.
    pub async fn start(secrets: Option<WebhookSecrets>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let inbox = Inbox {
            secrets,
            ..Inbox::default()
        };
        let app = Router::new()
            .route("/api/v1/notifications", post(record))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "notification receiver stopped");
            }
        });
        Ok(Self { inbox, url, server })
    }

    /// Base URL, to be used as `NOTIFICATION_SERVICE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedNotification> {
        self.inbox.received.lock().expect("inbox lock").clone()
    }

    /// Waits until a notification matching `wanted` has arrived, or `timeout` passes.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&ReceivedNotification) -> bool,
    ) -> Option<ReceivedNotification> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so an arrival in between still wakes us.
            let arrived = self.inbox.arrived.notified();
            if let Some(found) = self.received().into_iter().find(|n| wanted(n)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

impl Drop for NotificationReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(body) = serde_json::from_str(&text) else {
        return StatusCode::BAD_REQUEST;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let idempotency_key = header("idempotency-key").map(str::to_owned);
    let signature_verified = inbox.secrets.as_ref().map(|secrets| {
        secrets
            .verify(
                header(HEADER_ID),
                header(HEADER_TIMESTAMP),
                header(HEADER_SIGNATURE),
                text.as_bytes(),
                chrono::Utc::now().timestamp(),
                DEFAULT_TOLERANCE_SECS,
            )
            .is_ok()
    });
    let signature = header(HEADER_SIGNATURE).map(str::to_owned);
    inbox
        .received
        .lock()
        .expect("inbox lock")
        .push(ReceivedNotification {
            idempotency_key,
            body,
            text,
            signature_verified,
            signature,
        });
    inbox.arrived.notify_waiters();
    StatusCode::ACCEPTED
}
