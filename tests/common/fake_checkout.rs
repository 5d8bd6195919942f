//! A Checkout Service the test controls: per-session answers, hits counted.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub enum Behavior {
    Session(Value),
    Status(u16),
    Raw(String),
    Hang,
    /// Answers `status` for the first `failures` calls, then the session.
    Flaky {
        failures: usize,
        status: u16,
        session: Value,
    },
}

#[derive(Clone, Default)]
struct Shared {
    sessions: Arc<Mutex<HashMap<String, Behavior>>>,
    hits: Arc<AtomicUsize>,
    request_ids: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
pub struct FakeCheckout {
    pub url: String,
    shared: Shared,
}

async fn session(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    if let Some(rid) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        shared.request_ids.lock().unwrap().push(rid.to_owned());
    }
    let behavior = {
        let mut sessions = shared.sessions.lock().unwrap();
        match sessions.get_mut(&id) {
            Some(Behavior::Flaky {
                failures, status, ..
            }) if *failures > 0 => {
                *failures -= 1;
                Some(Behavior::Status(*status))
            }
            Some(Behavior::Flaky { session, .. }) => Some(Behavior::Session(session.clone())),
            other => other.cloned(),
        }
    };
    match behavior {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Behavior::Session(body)) => axum::Json(body).into_response(),
        Some(Behavior::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Behavior::Raw(text)) => ([("content-type", "application/json")], text).into_response(),
        Some(Behavior::Flaky { .. }) => unreachable!("resolved above"),
        Some(Behavior::Hang) => {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            StatusCode::OK.into_response()
        }
    }
}

impl FakeCheckout {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/api/v1/checkout/session/{id}", get(session))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    pub fn put(&self, id: &str, session: Value) {
        self.set(id, Behavior::Session(session));
    }

    pub fn set(&self, id: &str, behavior: Behavior) {
        self.shared
            .sessions
            .lock()
            .unwrap()
            .insert(id.to_owned(), behavior);
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn request_ids(&self) -> Vec<String> {
        self.shared.request_ids.lock().unwrap().clone()
    }
}
