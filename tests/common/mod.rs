//! Test harness: the real service on port 0 with a fresh database per test (SQLite file or
//! a new PostgreSQL database), a fake Checkout Service the test controls, and HTTP helpers.
#![allow(dead_code, unused_imports)]

pub mod fake_checkout;
pub mod fake_notifications;
pub mod process;
pub mod slow_receiver;

pub use fake_checkout::{Behavior, FakeCheckout};
pub use fake_notifications::FakeNotifications;
pub use slow_receiver::SlowReceiver;

use order_service::app::App;
use order_service::config::Config;
use order_service::storage::SharedStore;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const JWT_SECRET: &str = "test-secret-for-order-service";
pub const PG_ENV: &str = "TEST_DATABASE_URL";
pub const NATS_ENV: &str = "TEST_NATS_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` on SQLite and on PostgreSQL: `name::sqlite` and `name::postgres`.
/// The PostgreSQL half is `#[ignore]`d with its reason, so a plain `cargo test` lists it as
/// not run; `cargo test -- --include-ignored` (CI) runs it and fails if the URL is missing.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs TEST_DATABASE_URL (PostgreSQL)"]
            async fn postgres() {
                $crate::common::require_postgres();
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

/// The URL in `var`; a test that needs it was asked to run (`--include-ignored`), so a
/// missing one is a failure, never a silent pass.
pub fn require_env(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{var} is not set: this test needs {what}. Set it (see README, Tests) or run \
             plain `cargo test`, which lists this test as ignored"
        ),
    }
}

/// The PostgreSQL server tests create their databases on.
pub fn require_postgres() -> String {
    require_env(PG_ENV, "a PostgreSQL server it may create databases on")
}

/// The NATS server with JetStream the publishing test talks to.
pub fn require_nats() -> String {
    require_env(NATS_ENV, "a NATS server with JetStream")
}

/// A database of its own for one test; PostgreSQL databases are dropped afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/orders.db", dir.path().display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = require_postgres();
                let name = format!("order_test_{}", uuid::Uuid::new_v4().simple());
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {PG_ENV} is unreachable: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub checkout: FakeCheckout,
    pub store: SharedStore,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The configuration every test starts from.
pub fn test_config(db: &TestDb, checkout: &FakeCheckout) -> Config {
    let mut config = Config::defaults();
    config.database_url = db.url.clone();
    config.checkout_service_url = checkout.url.clone();
    config.jwt_secret = Some(JWT_SECRET.into());
    config.checkout_timeout_ms = 1500;
    config.outbox_poll_ms = 50;
    config.outbox_retry_base_ms = 100;
    // The suite itself keeps the machine's CPU busy: paced delivery would make the tests'
    // timing depend on that. Pacing has tests of its own that turn it on.
    config.outbox_cpu_pressure_limit = 0.0;
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        let checkout = FakeCheckout::start().await;
        let mut config = test_config(&db, &checkout);
        adjust(&mut config);
        Self::start(config, db, checkout).await
    }

    pub async fn start(config: Config, db: TestDb, checkout: FakeCheckout) -> Self {
        let app = App::build(config).await.expect("service starts");
        let addr = app.local_addr();
        let store = app.store();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            checkout,
            store,
            db,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Stops the service gracefully and hands back its database and fake checkout.
    pub async fn stop(mut self) -> (TestDb, FakeCheckout) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
        let db = std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                _dir: None,
                pg: None,
            },
        );
        let checkout = self.checkout.clone();
        (db, checkout)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// POST /api/v1/orders/checkout as `user`.
    pub async fn create_order(&self, user: &str, session_id: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/orders/checkout"))
            .bearer_auth(token(user, &[]))
            .json(&json!({ "checkoutSessionId": session_id }))
            .send()
            .await
            .expect("request");
        status_and_json(response).await
    }

    /// A COMPLETED session for `user` put into the fake checkout; returns its id.
    pub fn completed_session(&self, user: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.checkout.put(&id, session_json(&id, user));
        id
    }

    /// Creates an order as `user` and returns it.
    pub async fn order_for(&self, user: &str) -> Value {
        let session = self.completed_session(user);
        let (status, body) = self.create_order(user, &session).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        status_and_json(response).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        status_and_json(response).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: i64,
    roles: Vec<&'a str>,
}

/// A valid HS256 token for `sub` with `roles`, expiring in an hour.
pub fn token(sub: &str, roles: &[&str]) -> String {
    token_with(sub, roles, 3600, JWT_SECRET)
}

pub fn admin_token() -> String {
    token("admin-1", &["admin"])
}

pub fn token_with(sub: &str, roles: &[&str], expires_in_secs: i64, secret: &str) -> String {
    let claims = Claims {
        sub,
        exp: chrono::Utc::now().timestamp() + expires_in_secs,
        roles: roles.to_vec(),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
}

/// The session of docs/interface.md §2 with the given id and owner.
pub fn session_json(id: &str, user: &str) -> Value {
    json!({
        "id": id,
        "userId": user,
        "email": "ada@example.com",
        "status": "COMPLETED",
        "currency": "USD",
        "cartSnapshot": {
            "cartId": "0b7e0000-0000-0000-0000-000000000000",
            "items": [{"productId": "prod-1", "name": "Espresso cup", "price": 45.99, "quantity": 2}],
            "subtotal": 91.98
        },
        "shippingAmount": 12.00,
        "taxAmount": 19.47,
        "discountAmount": 0,
        "totalAmount": 123.45,
        "shippingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
        "billingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
        "paymentIntentId": "pi_3Nabc",
        "createdAt": "2023-11-01T11:50:00Z",
        "completedAt": "2023-11-01T11:59:30Z",
        "expiresAt": "2023-11-01T12:30:00Z"
    })
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Writes `order` (with its confirmation) through `store` as a client's order, and checks
/// that it was created and reads back exactly as written.
pub async fn create_and_read_back(store: &SharedStore, order: &order_service::domain::Order) {
    use order_service::domain::OrderOrigin;
    use order_service::storage::{Inserted, NewOutboxEvent};
    let event = NewOutboxEvent::order_confirmation(order);
    let inserted = store
        .insert_order(order, &event, OrderOrigin::Client)
        .await
        .unwrap();
    assert!(
        matches!(inserted, Inserted::Created),
        "{} not created",
        order.id
    );
    let stored = store.order_by_id(order.id).await.unwrap().expect("stored");
    assert_eq!(&stored, order, "{} as read back", order.id);
}

/// A new PENDING order for `user` (two items, USD, one address for shipping and
/// billing), for tests that write through the store directly.
pub fn new_order(user: &str) -> order_service::domain::Order {
    use order_service::domain::{
        Address, CheckoutSessionId, Money, NewOrderItem, Order, OrderDraft, OrderTotals, Quantity,
        UserId,
    };
    let address = Address::new("123 Main St", "Anytown", "CA", "US", "12345").expect("address");
    let money = |minor| Money::from_minor_units(minor, 2).expect("amount");
    let item = |product: &str, price, quantity| NewOrderItem {
        product_id: product.to_owned(),
        name: Some("Espresso cup".to_owned()),
        price: money(price),
        quantity: Quantity::new(quantity).expect("quantity"),
    };
    Order::place(OrderDraft {
        user_id: UserId::parse(user).expect("user"),
        email: Some("ada@example.com".to_owned()),
        checkout_session_id: CheckoutSessionId(uuid::Uuid::new_v4()),
        payment_intent_id: Some("pi_test".to_owned()),
        currency: "USD".to_owned(),
        items: vec![item("prod-1", 4599, 2), item("prod-2", 850, 1)],
        totals: OrderTotals {
            subtotal: money(10048),
            shipping: money(1200),
            tax: money(1947),
            discount: money(0),
            total: money(13195),
        },
        shipping_address: address.clone(),
        billing_address: address,
    })
}
