//! The reference Checkout Service in-process on port 0 with a fresh SQLite file, and the
//! requests the tests send it.

use order_service::checkout::{CheckoutSession, SessionRejection};
use order_service::domain::{CheckoutSessionId, Money};
use order_service::reference_checkout;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Checkout {
    pub url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub location: Option<String>,
    pub text: String,
    pub json: Value,
}

impl Checkout {
    pub async fn start(ttl: Duration) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), ttl).await
    }

    pub async fn start_in(dir: tempfile::TempDir, ttl: Duration) -> Self {
        Self::start_with(dir, ttl, None).await
    }

    /// With the order webhook of docs/interface.md sent as `webhook` says.
    pub async fn start_with(
        dir: tempfile::TempDir,
        ttl: Duration,
        webhook: Option<reference_checkout::OrderWebhookConfig>,
    ) -> Self {
        order_service::telemetry::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = reference_checkout::serve_with_webhooks(listener, &db_url(&dir), ttl, webhook)
            .await
            .unwrap();
        tokio::spawn(server);
        Self {
            url,
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            location,
            text,
            json,
        }
    }

    pub async fn create(&self, body: &Value) -> Answer {
        self.create_raw(body.to_string()).await
    }

    pub async fn create_raw(&self, body: String) -> Answer {
        let url = format!("{}/api/v1/checkout/session", self.url);
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn complete(&self, id: &str, payment_intent_id: Value) -> Answer {
        let url = format!("{}/api/v1/checkout/session/{id}/complete", self.url);
        self.send(
            self.http
                .post(url)
                .json(&json!({"paymentIntentId": payment_intent_id})),
        )
        .await
    }

    pub async fn get(&self, id: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}/api/v1/checkout/session/{id}", self.url)),
        )
        .await
    }
}

/// The service's SQLite file, for tests that must look under the API.
pub fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/checkout.db", dir.path().display())
}

pub fn address() -> Value {
    json!({"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"})
}

/// The cart of the seed's example: 2 × 45.99 + 12.00 + 19.47 = 123.45.
pub fn seed_cart() -> Value {
    json!({
        "userId": "user-123", "email": "ada@example.com", "currency": "USD",
        "items": [{"productId": "prod-1", "name": "Espresso cup", "price": 45.99, "quantity": 2}],
        "shippingAddress": address(),
        "shippingAmount": 12.00, "taxAmount": "19.47", "discountAmount": 0
    })
}

/// Reads an answer the way the order service does.
pub fn as_order_service_reads_it(
    answer: &Answer,
) -> Result<order_service::domain::OrderDraft, SessionRejection> {
    let id: CheckoutSessionId = answer.json["id"].as_str().unwrap().parse().unwrap();
    CheckoutSession::parse(answer.text.as_bytes(), id)
        .expect("a session the order service can parse")
        .into_draft()
}

/// `value` with the member at `pointer` replaced (or removed when `new` is `None`).
pub fn edited(mut value: Value, pointer: &str, new: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match (value.pointer_mut(parent).unwrap(), new) {
        (Value::Array(items), Some(new)) => items[key.parse::<usize>().unwrap()] = new,
        (Value::Object(members), Some(new)) => drop(members.insert(key.to_owned(), new)),
        (Value::Object(members), None) => drop(members.remove(key)),
        (other, _) => panic!("cannot edit {pointer} in {other}"),
    }
    value
}

pub fn money(value: &Value) -> Money {
    Money::parse_json(&value.to_string()).unwrap()
}
