//! `POST /api/v1/checkout/events` (docs/interface.md): a signed hint from the Checkout Service
//! that a session completed. Signatures are checked (401), the session is read from
//! Checkout as on the storefront's path, and the order is the session owner's. The race of
//! storefront calls and webhooks on one session makes exactly one order.

mod common;

use common::{Backend, Behavior, TestApp, TestDb, admin_token, session_json, test_config, token};
use order_service::app::App;
use order_service::domain::CheckoutSessionId;
use order_service::webhook_signature::WebhookSecrets;
use serde_json::{Value, json};
use std::str::FromStr;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.checkout_webhook_secret = Some(SECRET.into())).await
}

fn completed_event(session_id: &str) -> String {
    json!({"type": "checkout.session.completed", "data": {"id": session_id}}).to_string()
}

/// Sends `body` to `base` signed with `secret` at `timestamp` (Unix seconds).
async fn send_signed(
    base: &str,
    body: &str,
    secret: Option<&str>,
    timestamp: i64,
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/checkout/events"))
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        let headers = WebhookSecrets::parse(secret).unwrap().headers(
            &format!("msg_{}", uuid::Uuid::new_v4().simple()),
            timestamp,
            body.as_bytes(),
        );
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, json) = common::status_and_json(response).await;
    (status, content_type, json)
}

async fn send_event(app: &TestApp, body: &str) -> (u16, Value) {
    let (status, _, json) = send_signed(
        &app.base,
        body,
        Some(SECRET),
        chrono::Utc::now().timestamp(),
    )
    .await;
    (status, json)
}

async fn stored_order(app: &TestApp, session_id: &str) -> Option<order_service::domain::Order> {
    let id = CheckoutSessionId::from_str(session_id).unwrap();
    app.store.order_by_checkout_session(id).await.unwrap()
}

async fn a_webhook_creates_the_order_of_the_sessions_owner(backend: Backend) {
    let app = spawn(backend).await;
    let session = app.completed_session("user-7");
    let (status, order) = send_event(&app, &completed_event(&session)).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["checkoutSessionId"], session.as_str());
    assert_eq!(order["userId"], "user-7");
    assert_eq!(order["totalAmount"], json!(123.45));
    // Again: the same order, nothing new.
    let (status, again) = send_event(&app, &completed_event(&session)).await;
    assert_eq!((status, &again["id"]), (200, &order["id"]));
    // The storefront's call arriving late gets the same order (200, not 201).
    let (status, from_client) = app.create_order("user-7", &session).await;
    assert_eq!((status, &from_client["id"]), (200, &order["id"]));
    // Another user still cannot see it through the storefront path.
    let (status, _) = app.create_order("user-8", &session).await;
    assert_eq!(status, 403);
    let path = format!("/api/v1/orders/{}/events", order["id"].as_str().unwrap());
    let (status, history) = app.get(&path, &token("user-7", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(history[0]["type"], "ORDER_CREATED");
    assert_eq!(history[0]["origin"], "webhook", "{history}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("orders_created_total{origin=\"webhook\"}"),
        "{metrics}"
    );
}

async fn sessions_that_can_never_become_orders_answer_400_and_store_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let pending = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&pending, "user-1");
    session["status"] = json!("PENDING");
    app.checkout.put(&pending, session);
    let (status, problem) = send_event(&app, &completed_event(&pending)).await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("CHECKOUT_SESSION_NOT_COMPLETED")),
        "{problem}"
    );
    assert!(stored_order(&app, &pending).await.is_none());

    let empty = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&empty, "user-1");
    session["cartSnapshot"]["items"] = json!([]);
    session["cartSnapshot"]["subtotal"] = json!(0);
    session["totalAmount"] = json!(31.47);
    app.checkout.put(&empty, session);
    let (status, problem) = send_event(&app, &completed_event(&empty)).await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("CHECKOUT_SESSION_EMPTY"))
    );
    assert!(stored_order(&app, &empty).await.is_none());

    // A malformed event: 400 without asking Checkout.
    let hits = app.checkout.hits();
    for body in [
        r#"{"type": "checkout.session.completed", "data": {"id": "not-a-uuid"}}"#,
        r#"{"type": "checkout.session.completed"}"#,
        "not json",
    ] {
        let (status, problem) = send_event(&app, body).await;
        assert_eq!(
            (status, &problem["code"]),
            (400, &json!("VALIDATION_ERROR")),
            "{body}"
        );
    }
    assert_eq!(app.checkout.hits(), hits);
}

async fn checkout_trouble_is_a_5xx_so_the_sender_retries(backend: Backend) {
    let app = spawn(backend).await;
    let session = uuid::Uuid::new_v4().to_string();
    app.checkout.set(&session, Behavior::Status(503));
    let (status, problem) = send_event(&app, &completed_event(&session)).await;
    assert_eq!(
        (status, &problem["code"]),
        (500, &json!("CHECKOUT_SERVICE_UNAVAILABLE"))
    );
    assert!(stored_order(&app, &session).await.is_none());
    // Once Checkout answers, the retried webhook creates the order.
    app.checkout.put(&session, session_json(&session, "user-1"));
    let (status, _) = send_event(&app, &completed_event(&session)).await;
    assert_eq!(status, 200);
    assert!(stored_order(&app, &session).await.is_some());
}

async fn bad_signatures_are_401_and_other_event_types_202(backend: Backend) {
    let app = spawn(backend).await;
    let session = app.completed_session("user-1");
    let body = completed_event(&session);
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("missing", None, now),
        ("wrong key", Some("whsec_d3Jvbmcta2V5LXdyb25nLWtleQ=="), now),
        ("stale", Some(SECRET), now - 360),
        ("future", Some(SECRET), now + 360),
    ];
    for (case, secret, at) in cases {
        let (status, content_type, problem) = send_signed(&app.base, &body, secret, at).await;
        assert_eq!(status, 401, "{case}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{case}");
        assert_eq!(problem["status"], 401, "{case}");
    }
    // A body changed after signing.
    let headers = WebhookSecrets::parse(SECRET)
        .unwrap()
        .headers("msg_1", now, body.as_bytes());
    let mut request = app.http.post(app.url("/api/v1/checkout/events"));
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let forged = completed_event(&app.completed_session("user-2"));
    let answer = request.body(forged).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        app.checkout.hits(),
        0,
        "nothing unverified reaches Checkout"
    );
    assert!(stored_order(&app, &session).await.is_none());

    // Within the tolerance either way is fine.
    let (status, _, _) = send_signed(&app.base, &body, Some(SECRET), now - 240).await;
    assert_eq!(status, 200);
    let ignored = json!({"type": "checkout.session.expired", "data": {"id": session}}).to_string();
    let (status, _) = send_event(&app, &ignored).await;
    assert_eq!(status, 202);
    // An ignored type must still be signed.
    let (status, _, _) = send_signed(&app.base, &ignored, None, now).await;
    assert_eq!(status, 401);
}

async fn without_a_secret_the_endpoint_is_503(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-1");
    let (status, _, problem) = send_signed(
        &app.base,
        &completed_event(&session),
        Some(SECRET),
        chrono::Utc::now().timestamp(),
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (503, &json!("WEBHOOKS_NOT_CONFIGURED"))
    );
    assert!(stored_order(&app, &session).await.is_none());
}

/// 30 sessions; for each, two storefront calls and two webhooks at once, spread over the
/// given instances: one order per session, every answer 200 or 201.
async fn race(bases: &[String], app: &TestApp, owners: usize) {
    let sessions: Vec<(String, String)> = (0..30)
        .map(|i| {
            let user = format!("user-{}", i % owners);
            (app.completed_session(&user), user)
        })
        .collect();
    let mut calls = Vec::new();
    for (i, (session, user)) in sessions.iter().enumerate() {
        for k in 0..4 {
            let base = bases[(i + k) % bases.len()].clone();
            let (session, user) = (session.clone(), user.clone());
            calls.push(tokio::spawn(async move {
                if k % 2 == 0 {
                    let response = reqwest::Client::new()
                        .post(format!("{base}/api/v1/orders/checkout"))
                        .bearer_auth(token(&user, &[]))
                        .json(&json!({"checkoutSessionId": session}))
                        .send()
                        .await
                        .unwrap();
                    let (status, body) = common::status_and_json(response).await;
                    ("client", session, status, body)
                } else {
                    let now = chrono::Utc::now().timestamp();
                    let (status, _, body) =
                        send_signed(&base, &completed_event(&session), Some(SECRET), now).await;
                    ("webhook", session, status, body)
                }
            }));
        }
    }
    let mut ids = std::collections::HashMap::<String, std::collections::HashSet<String>>::new();
    let mut created = 0;
    for call in calls {
        let (kind, session, status, body) = call.await.unwrap();
        assert!(
            status == 200 || status == 201,
            "{kind} for {session}: {status} {body}"
        );
        if status == 201 {
            assert_eq!(kind, "client", "only the storefront's call answers 201");
            created += 1;
        }
        ids.entry(session)
            .or_default()
            .insert(body["id"].as_str().unwrap().to_owned());
    }
    assert!(created <= 30);
    for (session, _) in &sessions {
        assert_eq!(ids[session].len(), 1, "one order id for {session}");
    }
    let (status, page) = app.get("/api/v1/orders?limit=100", &admin_token()).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        30,
        "exactly one order each"
    );
}

async fn storefront_and_webhooks_racing_make_one_order_per_session(backend: Backend) {
    let app = spawn(backend).await;
    race(std::slice::from_ref(&app.base), &app, 5).await;
}

async fn second_instance(db: &TestDb, app: &TestApp) -> String {
    let mut config = test_config(db, &app.checkout);
    config.checkout_webhook_secret = Some(SECRET.into());
    let other = App::build(config).await.expect("second instance starts");
    let base = format!("http://{}", other.local_addr());
    tokio::spawn(other.run_until(std::future::pending()));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL (PostgreSQL)"]
async fn two_instances_on_postgres_race_to_one_order_per_session() {
    common::require_postgres();
    let app = spawn(Backend::Postgres).await;
    let other = second_instance(&app.db, &app).await;
    race(&[app.base.clone(), other], &app, 5).await;
}

both_backends!(
    a_webhook_creates_the_order_of_the_sessions_owner,
    sessions_that_can_never_become_orders_answer_400_and_store_nothing,
    checkout_trouble_is_a_5xx_so_the_sender_retries,
    bad_signatures_are_401_and_other_event_types_202,
    without_a_secret_the_endpoint_is_503,
    storefront_and_webhooks_racing_make_one_order_per_session,
);
