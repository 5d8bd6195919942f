//! Order confirmations through the outbox (docs/interface.md §3): delivery, retries, parking,
//! admin retry, several instances on one database, and NATS JetStream.

mod common;

use common::{Backend, FakeNotifications, TestApp, TestDb, admin_token, eventually};
use order_service::outbox::OutboxStatus;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A stand-in for the kernel's CPU pressure file (`/proc/pressure/cpu`): its `some` total
/// grows by `percent` of the wall time that passes.
struct FakePressure {
    file: std::path::PathBuf,
    percent: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
    writer: tokio::task::JoinHandle<()>,
}

impl FakePressure {
    fn start(percent: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cpu.pressure");
        let share = Arc::new(AtomicU64::new(percent));
        let (path, shared) = (file.clone(), share.clone());
        let write = move |total: f64| {
            let text = format!("some avg10=0.00 avg60=0.00 avg300=0.00 total={total:.0}\n");
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        };
        write(0.0);
        let writer = tokio::spawn(async move {
            let mut total = 0.0;
            let mut last = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let now = std::time::Instant::now();
                let share = shared.load(Ordering::Relaxed) as f64 / 100.0;
                total += now.duration_since(last).as_micros() as f64 * share;
                last = now;
                write(total);
            }
        });
        Self {
            file,
            percent: share,
            _dir: dir,
            writer,
        }
    }

    fn set(&self, percent: u64) {
        self.percent.store(percent, Ordering::Relaxed);
    }
}

impl Drop for FakePressure {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// While the machine is short of CPU, confirmations go out at the paced rate only (orders
/// are still created at once); when it has room again, the backlog is caught up.
async fn a_machine_short_of_cpu_paces_delivery_then_catches_up(backend: Backend) {
    const RATE: f64 = 2.0;
    const ORDERS: usize = 30;
    let pressure = FakePressure::start(90);
    let receiver = FakeNotifications::start().await;
    let (url, file) = (receiver.url.clone(), pressure.file.clone());
    let app = TestApp::spawn_with(backend, |c| {
        c.notification_service_url = Some(url);
        c.outbox_cpu_pressure_limit = 50.0;
        c.outbox_paced_rate = RATE as u32;
        c.outbox_cpu_pressure_file = Some(file);
    })
    .await;
    // Past the pacer's first measuring window.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = std::time::Instant::now();
    for i in 0..ORDERS {
        app.order_for(&format!("user-{i}")).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = receiver.deliveries().len();
    let elapsed = started.elapsed().as_secs_f64();
    // The rate's earnings over the time that passed, a second's worth saved at most, and
    // one event claimed in the window in which the pressure was first seen.
    let most = (RATE * elapsed + RATE + 1.0).floor() as usize;
    assert!(
        delivered <= most,
        "{delivered} delivered in {elapsed:.1} s while paced at {RATE}/s (at most {most})"
    );
    assert!(delivered >= 1, "paced delivery still delivers");
    assert!(
        delivered < ORDERS,
        "the backlog waits while the CPU is short ({elapsed:.1} s)"
    );
    pressure.set(5);
    eventually(
        15,
        "the backlog caught up once the CPU has room",
        || async { (receiver.deliveries().len() >= ORDERS).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.deliveries().len(), ORDERS, "each delivered once");
}

both_backends!(
    a_machine_short_of_cpu_paces_delivery_then_catches_up,
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
