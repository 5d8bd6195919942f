//! A Notification service the test controls (a `wiremock` server): scripted statuses,
//! every delivery recorded with the status it was answered.

use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Clone, Debug)]
pub struct Delivery {
    pub idempotency_key: Option<String>,
    pub body: Value,
    /// The body exactly as received (signatures cover these bytes).
    pub raw_body: String,
    /// The Standard Webhooks headers, if sent: webhook-id, webhook-timestamp,
    /// webhook-signature.
    pub webhook: Option<(String, String, String)>,
    pub answered: u16,
}

/// Where a scripted 3xx answer points.
pub const REDIRECT_TARGET: &str = "https://elsewhere.example/api/v1/notifications";

/// Answers the scripted statuses in order, then 202, and records what it answered
/// (wiremock's own request log does not keep the response).
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answered = self.script.lock().unwrap().pop_front().unwrap_or(202);
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let webhook = match (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) {
            (Some(id), Some(ts), Some(sig)) => Some((id, ts, sig)),
            _ => None,
        };
        self.deliveries.lock().unwrap().push(Delivery {
            raw_body: body.clone(),
            webhook,
            idempotency_key: request
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            answered,
        });
        let template = ResponseTemplate::new(answered);
        if (300..400).contains(&answered) {
            template.insert_header("location", REDIRECT_TARGET)
        } else {
            template
        }
    }
}

#[derive(Clone)]
pub struct FakeNotifications {
    pub url: String,
    pub addr: std::net::SocketAddr,
    receiver: Receiver,
    _server: Arc<MockServer>,
}

impl FakeNotifications {
    /// Starts on a free port, or on `addr` (to come back where a stopped one was).
    pub async fn start_on(addr: &str) -> Self {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        let receiver = Receiver::default();
        Mock::given(method("POST"))
            .and(path("/api/v1/notifications"))
            .respond_with(receiver.clone())
            .mount(&server)
            .await;
        Self {
            url: server.uri(),
            addr: *server.address(),
            receiver,
            _server: Arc::new(server),
        }
    }

    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// The next answers, in order; after them every delivery gets 202.
    pub fn script(&self, statuses: &[u16]) {
        self.receiver
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.receiver.deliveries.lock().unwrap().clone()
    }
}
