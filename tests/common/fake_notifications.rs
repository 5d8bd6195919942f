//! A Notification service the test controls: scripted statuses, every delivery recorded.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Delivery {
    pub idempotency_key: Option<String>,
    pub body: Value,
    pub answered: u16,
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<u16>>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

#[derive(Clone)]
pub struct FakeNotifications {
    pub url: String,
    pub addr: std::net::SocketAddr,
    shared: Shared,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let answered = shared.script.lock().unwrap().pop_front().unwrap_or(202);
    shared.deliveries.lock().unwrap().push(Delivery {
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl FakeNotifications {
    /// Starts on a free port, or on `addr` (to come back where a stopped one was).
    pub async fn start_on(addr: &str) -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/api/v1/notifications", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// The next answers, in order; after them every delivery gets 202.
    pub fn script(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }
}
