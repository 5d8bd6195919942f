//! A Checkout Service the test controls (a `wiremock` server): per-session answers, hits
//! and forwarded request ids recorded.
//!
//! The answers live in one responder rather than in one mock per session, so that
//! `put`/`set` stay synchronous and a later `set` replaces an earlier one for the same id.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Longer than any timeout of the service under test: the request never gets its answer.
const HANG: Duration = Duration::from_secs(600);

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
struct Sessions {
    by_id: Arc<Mutex<HashMap<String, Behavior>>>,
    hits: Arc<AtomicUsize>,
    request_ids: Arc<Mutex<Vec<String>>>,
}

impl Respond for Sessions {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.hits.fetch_add(1, Ordering::SeqCst);
        if let Some(rid) = request
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            self.request_ids.lock().unwrap().push(rid.to_owned());
        }
        let id = request.url.path().rsplit('/').next().unwrap_or_default();
        let behavior = {
            let mut sessions = self.by_id.lock().unwrap();
            match sessions.get_mut(id) {
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
            None => ResponseTemplate::new(404),
            Some(Behavior::Session(body)) => ResponseTemplate::new(200).set_body_json(body),
            Some(Behavior::Status(code)) => ResponseTemplate::new(code),
            Some(Behavior::Raw(text)) => ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(text),
            Some(Behavior::Flaky { .. }) => unreachable!("resolved above"),
            Some(Behavior::Hang) => ResponseTemplate::new(200).set_delay(HANG),
        }
    }
}

#[derive(Clone)]
pub struct FakeCheckout {
    pub url: String,
    sessions: Sessions,
    _server: Arc<MockServer>,
}

impl FakeCheckout {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let sessions = Sessions::default();
        Mock::given(method("GET"))
            .and(path_regex(r"^/api/v1/checkout/session/[^/]+$"))
            .respond_with(sessions.clone())
            .mount(&server)
            .await;
        Self {
            url: server.uri(),
            sessions,
            _server: Arc::new(server),
        }
    }

    pub fn put(&self, id: &str, session: Value) {
        self.set(id, Behavior::Session(session));
    }

    pub fn set(&self, id: &str, behavior: Behavior) {
        self.sessions
            .by_id
            .lock()
            .unwrap()
            .insert(id.to_owned(), behavior);
    }

    pub fn hits(&self) -> usize {
        self.sessions.hits.load(Ordering::SeqCst)
    }

    pub fn request_ids(&self) -> Vec<String> {
        self.sessions.request_ids.lock().unwrap().clone()
    }
}
