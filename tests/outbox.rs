//! Order confirmations through the outbox (docs/interface.md §3): delivery, retries, parking,
//! admin retry, several instances on one database, and NATS JetStream.

mod common;

use common::{Backend, FakeNotifications, TestApp, TestDb, admin_token, eventually};
use order_service::outbox::OutboxStatus;
use serde_json::Value;
use std::time::Duration;

async fn with_notifications(backend: Backend, receiver: &FakeNotifications) -> TestApp {
    let url = receiver.url.clone();
    TestApp::spawn_with(backend, |c| c.notification_service_url = Some(url)).await
}

async fn outbox_status(
    app: &TestApp,
    status: OutboxStatus,
) -> Vec<order_service::outbox::OutboxRecord> {
    app.store.list_outbox(status, 500).await.unwrap()
}

async fn a_confirmation_is_delivered_once_with_the_right_body(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    let app = with_notifications(backend, &receiver).await;
    let order = app.order_for("user-1").await;
    let delivery = eventually(10, "the confirmation", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    let body = &delivery.body;
    assert_eq!(
        delivery.idempotency_key.as_deref(),
        body["eventId"].as_str()
    );
    assert_eq!(body["type"], "ORDER_CONFIRMATION");
    assert_eq!(body["schemaVersion"], 1);
    assert_eq!(body["orderId"], order["id"]);
    assert_eq!(body["userId"], "user-1");
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(
        body["order"], order,
        "the order exactly as the API returned it"
    );
    chrono::DateTime::parse_from_rfc3339(body["occurredAt"].as_str().unwrap()).unwrap();
    eventually(5, "DELIVERED status", || async {
        (outbox_status(&app, OutboxStatus::Delivered).await.len() == 1).then_some(())
    })
    .await;
    // A repeat of the create queues nothing and sends nothing.
    let (s, _) = app
        .create_order("user-1", order["checkoutSessionId"].as_str().unwrap())
        .await;
    assert_eq!(s, 200);
    let later = app.order_for("user-2").await;
    eventually(10, "second confirmation", || async {
        (receiver.deliveries().len() == 2).then_some(())
    })
    .await;
    let deliveries = receiver.deliveries();
    assert_eq!(
        deliveries[1].body["orderId"], later["id"],
        "exactly one delivery per order"
    );
}

async fn an_outage_delays_delivery_but_not_the_order(backend: Backend) {
    // Reserve a port, then leave it closed: connections are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let app = TestApp::spawn_with(backend, |c| c.notification_service_url = Some(url)).await;
    let started = std::time::Instant::now();
    let order = app.order_for("user-1").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "order creation does not wait for notifications"
    );
    let event_id = eventually(10, "a failed attempt", || async {
        let pending = outbox_status(&app, OutboxStatus::Pending).await;
        pending
            .first()
            .filter(|e| e.attempts >= 1)
            .map(|e| e.id.to_string())
    })
    .await;
    let receiver = FakeNotifications::start_on(&addr.to_string()).await;
    let delivery = eventually(15, "delivery after the outage", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    assert_eq!(
        delivery.idempotency_key.as_deref(),
        Some(event_id.as_str()),
        "same eventId as queued"
    );
    assert_eq!(delivery.body["orderId"], order["id"]);
}

async fn server_errors_are_retried_until_delivered(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[503, 503, 200]);
    let app = with_notifications(backend, &receiver).await;
    app.order_for("user-1").await;
    eventually(15, "third attempt", || async {
        (outbox_status(&app, OutboxStatus::Delivered).await.len() == 1).then_some(())
    })
    .await;
    let deliveries = receiver.deliveries();
    let answers: Vec<u16> = deliveries.iter().map(|d| d.answered).collect();
    assert_eq!(answers, vec![503, 503, 200]);
    let keys: std::collections::HashSet<_> = deliveries
        .iter()
        .map(|d| d.idempotency_key.clone())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same Idempotency-Key"
    );
}

async fn a_client_error_is_parked_and_an_admin_can_retry_it(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[422]);
    let app = with_notifications(backend, &receiver).await;
    app.order_for("user-1").await;
    let failed = eventually(10, "the event parked as failed", || async {
        outbox_status(&app, OutboxStatus::Failed)
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 422"));
    // Parked means parked: several poll intervals later, still one attempt.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.deliveries().len(), 1, "a 422 is not retried");

    let (s, listed) = app
        .get("/api/v1/admin/outbox?status=failed", &admin_token())
        .await;
    assert_eq!(s, 200);
    assert_eq!(listed["items"][0]["id"], failed.id.to_string());
    assert_eq!(listed["nextCursor"], Value::Null);
    let (s, _) = app
        .get("/api/v1/admin/outbox", &common::token("user-1", &[]))
        .await;
    assert_eq!(s, 403);
    let (s, requeued) = app
        .post(
            &format!("/api/v1/admin/outbox/{}/retry", failed.id),
            &admin_token(),
            Value::Null,
        )
        .await;
    assert_eq!(
        (s, requeued["status"].as_str()),
        (200, Some("PENDING")),
        "{requeued}"
    );
    eventually(10, "delivery after the retry", || async {
        (receiver.deliveries().len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        receiver.deliveries()[1].idempotency_key,
        receiver.deliveries()[0].idempotency_key
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/outbox/{}/retry", uuid::Uuid::new_v4()),
            &admin_token(),
            Value::Null,
        )
        .await;
    assert_eq!(s, 404);
}

async fn without_a_url_confirmations_wait_until_one_is_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order = app.order_for("user-1").await;
    let pending = outbox_status(&app, OutboxStatus::Pending).await;
    assert_eq!(pending.len(), 1);
    let (db, checkout) = app.stop().await;
    let receiver = FakeNotifications::start().await;
    let mut config = common::test_config(&db, &checkout);
    config.notification_service_url = Some(receiver.url.clone());
    let _app = TestApp::start(config, db, checkout).await;
    let delivery = eventually(10, "delivery once configured", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    assert_eq!(delivery.body["orderId"], order["id"]);
    assert_eq!(delivery.idempotency_key, Some(pending[0].id.to_string()));
}

both_backends!(
    a_confirmation_is_delivered_once_with_the_right_body,
    an_outage_delays_delivery_but_not_the_order,
    server_errors_are_retried_until_delivered,
    a_client_error_is_parked_and_an_admin_can_retry_it,
    without_a_url_confirmations_wait_until_one_is_set,
);

/// Two instances on one PostgreSQL database share the queue: each event delivered, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs TEST_DATABASE_URL (PostgreSQL)"]
async fn two_instances_on_one_postgres_deliver_each_event_once() {
    common::require_postgres();
    let receiver = FakeNotifications::start().await;
    let first = with_notifications(Backend::Postgres, &receiver).await;
    let mut config = common::test_config(&first.db, &first.checkout);
    config.notification_service_url = Some(receiver.url.clone());
    let second_db = TestDb::new(Backend::Sqlite).await; // unused; the config points at the shared database
    let second = TestApp::start(config, second_db, first.checkout.clone()).await;
    let mut sessions = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &first } else { &second };
        sessions.push(app.order_for(&format!("user-{i}")).await["id"].clone());
    }
    eventually(20, "30 confirmations", || async {
        (receiver.deliveries().len() >= 30).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries = receiver.deliveries();
    let keys: std::collections::HashSet<_> = deliveries
        .iter()
        .map(|d| d.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(keys.len(), 30, "every event delivered");
    assert_eq!(deliveries.len(), 30, "no duplicates in normal operation");
}

/// With `NATS_URL`, each event also lands in JetStream once, with the eventId as message id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_NATS_URL (NATS with JetStream)"]
async fn events_are_published_to_jetstream_once() {
    use async_nats::jetstream::{self, consumer};
    use futures::StreamExt;
    let nats_url = common::require_nats();
    let receiver = FakeNotifications::start().await;
    let nats = nats_url.clone();
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.nats_url = Some(nats);
        c.notification_service_url = Some(url);
    })
    .await;
    let js = jetstream::new(async_nats::connect(&nats_url).await.unwrap());
    let stream = js.get_stream("ORDERS").await.unwrap();
    let watcher: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: "orders.order_confirmation".into(),
            deliver_policy: consumer::DeliverPolicy::New,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let order = app.order_for("user-1").await;
    let delivery = eventually(10, "webhook delivery", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    let event_id = delivery.idempotency_key.unwrap();
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline && found.is_empty() {
        let mut batch = watcher
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(message)) = batch.next().await {
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string());
            if id.as_deref() == Some(event_id.as_str()) {
                found.push(serde_json::from_slice::<Value>(&message.payload).unwrap());
            }
        }
    }
    assert_eq!(found.len(), 1, "one JetStream message for the event");
    assert_eq!(found[0]["orderId"], order["id"]);
    assert_eq!(found[0]["eventId"], event_id.as_str());
}

/// A backlog that grows from nothing in seconds must not leave PostgreSQL planning the
/// claim for an empty outbox (a scan and sort of every pending event per claim): once the
/// backlog counted by the worker passes 1,000 and each time it doubles, the store analyzes
/// the outbox table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL (PostgreSQL)"]
async fn a_fast_growing_backlog_refreshes_the_planner_statistics_on_postgres() {
    use futures::StreamExt;
    use order_service::domain::OrderOrigin;
    use order_service::outbox::NewOutboxEvent;
    use sqlx::Connection;

    let db = TestDb::new(Backend::Postgres).await;
    let store = order_service::storage::connect(&db.url, 8).await.unwrap();
    let analyzed = || async {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let count: i64 = sqlx::query_scalar(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'outbox'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        count
    };
    assert_eq!(store.outbox_stats().await.unwrap().pending, 0);
    futures::stream::iter(0..1_100)
        .for_each_concurrent(16, |i| {
            let store = store.clone();
            async move {
                let order = common::new_order(&format!("user-{i}"));
                let confirmation = NewOutboxEvent::order_confirmation(&order);
                store
                    .insert_order(&order, &confirmation, OrderOrigin::Client)
                    .await
                    .unwrap();
            }
        })
        .await;
    assert_eq!(analyzed().await, 0, "nothing analyzed the outbox yet");
    assert_eq!(store.outbox_stats().await.unwrap().pending, 1_100);
    eventually(10, "an ANALYZE of the outbox", || async {
        (analyzed().await >= 1).then_some(())
    })
    .await;
}
