//! The `checkout.session.completed` webhook (docs/interface.md): queued with the completion,
//! signed with Standard Webhooks, retried until a 2xx, never redirected, given up on a 400.

use super::harness::{Checkout, db_url, seed_cart};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use order_service::outbox::Backoff;
use order_service::reference_checkout::OrderWebhookConfig;
use order_service::webhook_signature::{DEFAULT_TOLERANCE_SECS, WebhookSecrets};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(1800);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Received {
    path: &'static str,
    headers: HeaderMap,
    body: String,
}

/// An order service stand-in: answers from a script (then 200) and records every request.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn events(State(r): State<Receiver>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    r.received.lock().unwrap().push(Received {
        path: "events",
        headers,
        body,
    });
    let location = [(header::LOCATION, "/elsewhere")];
    (StatusCode::from_u16(status).unwrap(), location)
}

async fn elsewhere(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    r.received.lock().unwrap().push(Received {
        path: "elsewhere",
        headers,
        body,
    });
    StatusCode::OK
}

impl Receiver {
    async fn start(script: &[u16]) -> (Self, String) {
        let receiver = Self::default();
        receiver.script.lock().unwrap().extend(script);
        let app = Router::new()
            .route("/api/v1/checkout/events", post(events))
            .route("/elsewhere", post(elsewhere).get(elsewhere))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{n} webhook requests expected, got {:?}", self.received());
    }
}

fn config(url: &str) -> OrderWebhookConfig {
    OrderWebhookConfig {
        backoff: Backoff {
            first: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        },
        poll_interval: Duration::from_millis(20),
        ..OrderWebhookConfig::new(url, WebhookSecrets::parse(SECRET).unwrap())
    }
}

async fn completed_session(checkout: &Checkout) -> String {
    let id = checkout.create(&seed_cart()).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(checkout.complete(&id, json!("pi_1")).await.status, 200);
    id
}

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

fn verifies(r: &Received) -> bool {
    WebhookSecrets::parse(SECRET)
        .unwrap()
        .verify(
            header(r, "webhook-id"),
            header(r, "webhook-timestamp"),
            header(r, "webhook-signature"),
            r.body.as_bytes(),
            chrono::Utc::now().timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .is_ok()
}

async fn webhook_rows(checkout: &Checkout) -> Vec<(String, i64)> {
    let pool = sqlx::SqlitePool::connect(&db_url(&checkout.dir))
        .await
        .unwrap();
    let rows = sqlx::query_as("SELECT status, attempts FROM order_webhooks")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn a_completion_sends_one_signed_webhook_retried_until_2xx() {
    // 503, 429 and a redirect first: each is retried, the redirect never followed.
    let (receiver, url) = Receiver::start(&[503, 429, 307]).await;
    let checkout =
        Checkout::start_with(tempfile::tempdir().unwrap(), TTL, Some(config(&url))).await;
    let id = completed_session(&checkout).await;
    // Completing again with the same payment intent is a retry, not a second completion.
    assert_eq!(checkout.complete(&id, json!("pi_1")).await.status, 200);

    let received = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received_after = receiver.received();
    assert_eq!(
        received_after.len(),
        4,
        "delivered once, then silence: {received_after:?}"
    );
    assert!(
        received.iter().all(|r| r.path == "events"),
        "no redirect followed"
    );
    let body: Value = serde_json::from_str(&received[3].body).unwrap();
    assert_eq!(
        body,
        json!({"type": "checkout.session.completed", "data": {"id": id}})
    );
    assert!(
        received.iter().all(verifies),
        "every attempt carries a valid signature"
    );
    let ids: Vec<_> = received.iter().map(|r| header(r, "webhook-id")).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one webhook-id across retries: {ids:?}"
    );
    assert_eq!(
        header(&received[0], "content-type"),
        Some("application/json")
    );
    assert_eq!(
        webhook_rows(&checkout).await,
        vec![("DELIVERED".to_owned(), 4)]
    );
}

#[tokio::test]
async fn a_400_answer_stops_the_retries() {
    let (receiver, url) = Receiver::start(&[400]).await;
    let checkout =
        Checkout::start_with(tempfile::tempdir().unwrap(), TTL, Some(config(&url))).await;
    completed_session(&checkout).await;
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "refused for good: not sent again"
    );
    assert_eq!(
        webhook_rows(&checkout).await,
        vec![("FAILED".to_owned(), 1)]
    );
}

#[tokio::test]
async fn an_unreachable_order_service_gets_the_webhook_once_it_is_back() {
    // Nothing listens at first: the row stays queued and is retried.
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = spare.local_addr().unwrap();
    drop(spare);
    let url = format!("http://{addr}");
    let checkout =
        Checkout::start_with(tempfile::tempdir().unwrap(), TTL, Some(config(&url))).await;
    let id = completed_session(&checkout).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = webhook_rows(&checkout).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "PENDING");
    assert!(rows[0].1 >= 1, "attempted while down: {rows:?}");

    let receiver = Receiver::default();
    let app = Router::new()
        .route("/api/v1/checkout/events", post(events))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let received = receiver.wait_for(1).await;
    assert!(received[0].body.contains(&id));
    assert!(verifies(&received[0]));
}

#[tokio::test]
async fn without_a_webhook_url_nothing_is_queued() {
    let checkout = Checkout::start(TTL).await;
    completed_session(&checkout).await;
    assert_eq!(webhook_rows(&checkout).await, vec![]);
}
