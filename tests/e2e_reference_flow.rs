//! End to end with the real binaries: `checkout-service` and `order-service` as separate
//! processes on their own SQLite files, a fake Notification service in the test. The seed's
//! sequence runs over real HTTP: session → completion → order (once) → one confirmation.

mod common;

use common::process::{CHECKOUT_BIN, ORDER_BIN, Process, free_port};
use common::{FakeNotifications, JWT_SECRET, admin_token, eventually, token};
use order_service::domain::Money;
use serde_json::{Value, json};

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    common::status_and_json(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_to_order_to_confirmation_with_the_real_binaries() {
    order_service::telemetry::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |file: &str| format!("sqlite://{}", dir.path().join(file).display());
    let notifications = FakeNotifications::start().await;
    let mut checkout = Process::start(
        CHECKOUT_BIN,
        dir.path(),
        "checkout-service",
        free_port(),
        &[("DATABASE_URL", sqlite("checkout.db"))],
        "/health",
    )
    .await;
    let mut orders = Process::start(
        ORDER_BIN,
        dir.path(),
        "order-service",
        free_port(),
        &[
            ("DATABASE_URL", sqlite("orders.db")),
            ("CHECKOUT_SERVICE_URL", checkout.base.clone()),
            ("NOTIFICATION_SERVICE_URL", notifications.url.clone()),
            ("JWT_SECRET", JWT_SECRET.to_owned()),
            ("OUTBOX_POLL_MS", "50".to_owned()),
        ],
        "/health/ready",
    )
    .await;
    let http = reqwest::Client::new();
    let user = token("user-1", &[]);
    let create_order = |session_id: &str| {
        http.post(format!("{}/api/v1/orders/checkout", orders.base))
            .bearer_auth(&user)
            .json(&json!({"checkoutSessionId": session_id}))
    };

    // Storefront → Checkout: a session for the seed's cart (2 × 45.99 + 12.00 + 19.47).
    let cart = json!({
        "userId": "user-1", "email": "ada@example.com", "currency": "USD",
        "items": [{"productId": "prod-1", "name": "Espresso cup", "price": "45.99", "quantity": 2}],
        "shippingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
        "shippingAmount": 12.00, "taxAmount": 19.47
    });
    let url = format!("{}/api/v1/checkout/session", checkout.base);
    let (status, session) = call(http.post(url).json(&cart)).await;
    assert_eq!(status, 201, "{session}");
    let session_id = session["id"].as_str().unwrap().to_owned();

    // Not paid yet: the order service reads the PENDING session and refuses.
    let (status, problem) = call(create_order(&session_id)).await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("CHECKOUT_SESSION_NOT_COMPLETED"))
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, problem) = call(create_order(&unknown)).await;
    assert_eq!(
        (status, &problem["code"]),
        (404, &json!("CHECKOUT_SESSION_NOT_FOUND"))
    );

    // Payment → Checkout: complete the session.
    let url = format!(
        "{}/api/v1/checkout/session/{session_id}/complete",
        checkout.base
    );
    let (status, completed) =
        call(http.post(url).json(&json!({"paymentIntentId": "pi_e2e"}))).await;
    assert_eq!((status, &completed["status"]), (200, &json!("COMPLETED")));

    // Storefront → Order: 201 with the order, then 200 with the same order.
    let (status, order) = call(create_order(&session_id)).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["checkoutSessionId"], session_id.as_str());
    assert_eq!(order["paymentIntentId"], "pi_e2e");
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["items"][0]["name"], "Espresso cup");
    assert_eq!(order["items"][0]["quantity"], 2);
    let total = Money::parse_json(&order["totalAmount"].to_string()).unwrap();
    assert_eq!(total.to_string(), "123.45");
    let (status, again) = call(create_order(&session_id)).await;
    assert_eq!((status, &again["id"]), (200, &json!(order_id)));
    let url = format!("{}/api/v1/orders/{order_id}", orders.base);
    let (status, read) = call(http.get(url).bearer_auth(&user)).await;
    assert_eq!((status, &read["totalAmount"]), (200, &order["totalAmount"]));

    // Order → Notification: once the outbox records the delivery, exactly one confirmation
    // has arrived, keyed by its event id.
    let outbox = format!("{}/api/v1/admin/outbox?status=DELIVERED", orders.base);
    let admin = admin_token();
    eventually(10, "the confirmation to be DELIVERED", || async {
        let (_, events) = call(http.get(&outbox).bearer_auth(&admin)).await;
        let delivered = events["items"]
            .as_array()?
            .iter()
            .any(|e| e["orderId"] == order_id.as_str());
        delivered.then_some(())
    })
    .await;
    let confirmations: Vec<_> = notifications
        .deliveries()
        .into_iter()
        .filter(|d| d.body["type"] == "ORDER_CONFIRMATION")
        .collect();
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    let confirmation = &confirmations[0];
    let event_id = confirmation.body["eventId"].as_str().unwrap();
    assert_eq!(confirmation.idempotency_key.as_deref(), Some(event_id));
    assert_eq!(confirmation.body["orderId"], order_id.as_str());
    assert_eq!(confirmation.body["userId"], "user-1");
    assert_eq!(confirmation.body["email"], "ada@example.com");
    assert_eq!(
        confirmation.body["order"]["totalAmount"],
        order["totalAmount"]
    );

    // Both stop cleanly on SIGTERM.
    assert!(orders.terminate().success(), "order-service exit status");
    assert!(
        checkout.terminate().success(),
        "checkout-service exit status"
    );
}
