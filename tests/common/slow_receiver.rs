//! A slow Notification service that deduplicates like Stripe's API: a request whose
//! Idempotency-Key is still being processed gets 409 and is counted as a concurrent
//! duplicate; every other request takes `delay` and gets 202.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Seen {
    in_flight: HashSet<String>,
    accepted: Vec<String>,
    concurrent_duplicates: Vec<String>,
}

#[derive(Clone)]
pub struct SlowReceiver {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
}

impl SlowReceiver {
    pub async fn start(delay: Duration) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Router::new()
            .route("/api/v1/notifications", post(receive))
            .with_state((seen.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    /// Keys accepted (202), in arrival order; a key accepted twice was sent twice, one
    /// after the other.
    pub fn accepted(&self) -> Vec<String> {
        self.seen.lock().unwrap().accepted.clone()
    }

    /// Keys that arrived while a request with the same key was still in flight.
    pub fn concurrent_duplicates(&self) -> Vec<String> {
        self.seen.lock().unwrap().concurrent_duplicates.clone()
    }
}

async fn receive(
    State((seen, delay)): State<(Arc<Mutex<Seen>>, Duration)>,
    headers: HeaderMap,
) -> StatusCode {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return StatusCode::BAD_REQUEST;
    };
    {
        let mut seen = seen.lock().unwrap();
        if !seen.in_flight.insert(key.clone()) {
            seen.concurrent_duplicates.push(key);
            return StatusCode::CONFLICT;
        }
    }
    tokio::time::sleep(delay).await;
    let mut seen = seen.lock().unwrap();
    seen.in_flight.remove(&key);
    seen.accepted.push(key);
    StatusCode::ACCEPTED
}
