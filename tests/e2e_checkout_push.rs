//! Contracts §8 with the real binaries: `checkout-service` pushes its signed
//! `checkout.session.completed` webhook to `order-service`, and completed sessions become
//! orders although nobody calls `POST /api/v1/orders/checkout`; completions made while the
//! order service is down arrive once it is back. `order-service reconcile --since` creates
//! what is missing and says how many.

mod common;

use common::process::{CHECKOUT_BIN, ORDER_BIN, Process, free_port};
use common::{Backend, JWT_SECRET, TestDb, admin_token, eventually, token};
use serde_json::{Value, json};
use std::path::Path;

const SECRET: &str = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdGhyZWUtYnl0ZXMh";

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    common::status_and_json(request.send().await.unwrap()).await
}

fn sqlite(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// Opens a session for `user` and completes it unless `complete` is false; returns its id.
async fn checkout_session(base: &str, user: &str, complete: bool) -> String {
    let http = reqwest::Client::new();
    let cart = json!({
        "userId": user, "email": "ada@example.com", "currency": "USD",
        "items": [{"productId": "prod-1", "name": "Espresso cup", "price": "45.99", "quantity": 2}],
        "shippingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
        "shippingAmount": 12.00, "taxAmount": 19.47
    });
    let (status, session) = call(
        http.post(format!("{base}/api/v1/checkout/session"))
            .json(&cart),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    if complete {
        let url = format!("{base}/api/v1/checkout/session/{id}/complete");
        let (status, done) =
            call(http.post(url).json(&json!({"paymentIntentId": "pi_push"}))).await;
        assert_eq!((status, &done["status"]), (200, &json!("COMPLETED")));
    }
    id
}

/// Every order as the admin sees them: session id → order.
async fn orders_by_session(base: &str) -> std::collections::HashMap<String, Value> {
    let url = format!("{base}/api/v1/orders?limit=100");
    let (status, page) = call(reqwest::Client::new().get(url).bearer_auth(admin_token())).await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["checkoutSessionId"].as_str().unwrap().to_owned(),
                o.clone(),
            )
        })
        .collect()
}

async fn wait_for_orders(
    base: &str,
    sessions: &[String],
) -> std::collections::HashMap<String, Value> {
    eventually(20, "the pushed sessions to become orders", || async {
        let orders = orders_by_session(base).await;
        (orders.len() == sessions.len() && sessions.iter().all(|s| orders.contains_key(s)))
            .then_some(orders)
    })
    .await
}

async fn completed_sessions_become_orders_with_no_client_call(backend: Backend) {
    order_service::telemetry::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend).await;
    let (checkout_port, order_port) = (free_port(), free_port());
    let checkout_base = format!("http://127.0.0.1:{checkout_port}");
    let _checkout = Process::start(
        CHECKOUT_BIN,
        dir.path(),
        "checkout-service",
        checkout_port,
        &[
            ("DATABASE_URL", sqlite(dir.path(), "checkout.db")),
            (
                "ORDER_WEBHOOK_URL",
                format!("http://127.0.0.1:{order_port}"),
            ),
            ("ORDER_WEBHOOK_SECRET", SECRET.to_owned()),
            ("ORDER_WEBHOOK_RETRY_BASE_MS", "100".to_owned()),
        ],
        "/health",
    )
    .await;
    let order_env = [
        ("DATABASE_URL", db.url.clone()),
        ("CHECKOUT_SERVICE_URL", checkout_base.clone()),
        ("CHECKOUT_WEBHOOK_SECRET", SECRET.to_owned()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
    ];
    let start_orders = || {
        Process::start(
            ORDER_BIN,
            dir.path(),
            "order-service",
            order_port,
            &order_env,
            "/health/ready",
        )
    };
    let mut orders = start_orders().await;

    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(checkout_session(&checkout_base, &format!("user-{i}"), true).await);
    }
    let pending = checkout_session(&checkout_base, "user-9", false).await;
    let found = wait_for_orders(&orders.base, &sessions).await;
    assert!(
        !found.contains_key(&pending),
        "no order for an unpaid session"
    );
    for (i, session) in sessions.iter().enumerate() {
        let order = &found[session];
        let owner = format!("user-{i}");
        assert_eq!(
            order["userId"],
            owner.as_str(),
            "owned by the session's user"
        );
        assert_eq!(order["totalAmount"], json!(123.45));
        let url = format!(
            "{}/api/v1/orders/{}/events",
            orders.base,
            order["id"].as_str().unwrap()
        );
        let (status, history) = call(
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token(&owner, &[])),
        )
        .await;
        assert_eq!(
            (status, &history[0]["origin"]),
            (200, &json!("webhook")),
            "{history}"
        );
    }
    // The storefront calling late gets the existing order.
    let (status, late) = call(
        reqwest::Client::new()
            .post(format!("{}/api/v1/orders/checkout", orders.base))
            .bearer_auth(token("user-0", &[]))
            .json(&json!({"checkoutSessionId": sessions[0]})),
    )
    .await;
    assert_eq!((status, &late["id"]), (200, &found[&sessions[0]]["id"]));

    // Completions while the order service is down are delivered once it is back.
    assert!(orders.terminate().success());
    for i in 5..7 {
        sessions.push(checkout_session(&checkout_base, &format!("user-{i}"), true).await);
    }
    orders = start_orders().await;
    wait_for_orders(&orders.base, &sessions).await;
    assert!(orders.terminate().success());
}

async fn reconcile_since_creates_the_missing_orders_and_says_how_many(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend).await;
    let checkout_port = free_port();
    let checkout_base = format!("http://127.0.0.1:{checkout_port}");
    // No ORDER_WEBHOOK_URL: nobody tells the order service anything.
    let _checkout = Process::start(
        CHECKOUT_BIN,
        dir.path(),
        "checkout-service",
        checkout_port,
        &[("DATABASE_URL", sqlite(dir.path(), "checkout.db"))],
        "/health",
    )
    .await;
    let mut sessions = Vec::new();
    for i in 0..3 {
        sessions.push(checkout_session(&checkout_base, &format!("user-{i}"), true).await);
    }
    checkout_session(&checkout_base, "user-9", false).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let reconcile = || {
        let output = std::process::Command::new(ORDER_BIN)
            .args(["reconcile", "--since", &since])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("CHECKOUT_SERVICE_URL", &checkout_base)
            .env("JWT_SECRET", JWT_SECRET)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    let first = reconcile();
    assert!(
        first.contains("found 3 completed sessions, created 3 orders (0 already existed"),
        "{first}"
    );
    let second = reconcile();
    assert!(
        second.contains("found 3 completed sessions, created 0 orders (3 already existed"),
        "{second}"
    );
    let store = order_service::storage::connect(&db.url, 2).await.unwrap();
    for session in &sessions {
        let order = store
            .order_by_checkout_session(session.parse().unwrap())
            .await
            .unwrap()
            .expect("an order for every completed session");
        let history = store.order_history(order.id).await.unwrap();
        assert_eq!(history[0].origin.map(|o| o.as_str()), Some("sweep"));
    }

    // Checkout unreachable: the command fails and says so.
    let output = std::process::Command::new(ORDER_BIN)
        .args(["reconcile", "--since", &since])
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env(
            "CHECKOUT_SERVICE_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("stopped early"),
        "{output:?}"
    );
}

both_backends!(
    completed_sessions_become_orders_with_no_client_call,
    reconcile_since_creates_the_missing_orders_and_says_how_many,
);
