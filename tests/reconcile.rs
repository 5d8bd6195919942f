//! The reconciliation sweep (docs/interface.md) against the real reference Checkout Service
//! (in-process, no webhook): completed sessions nobody reported become orders, exactly
//! once; the watermark is stored and survives a restart; a Checkout outage loses nothing;
//! one instance sweeps at a time.

mod common;

use common::{Backend, TestApp, admin_token, eventually, token};
use order_service::checkout::{CheckoutClient, CheckoutClientConfig};
use order_service::orders::OrderService;
use order_service::reconcile::Reconciler;
use order_service::reference_checkout;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The reference Checkout Service on `addr` (or a free port), stoppable and restartable
/// on the same address and database file.
struct RefCheckout {
    addr: SocketAddr,
    url: String,
    dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
}

impl RefCheckout {
    async fn start(dir: Arc<tempfile::TempDir>, addr: Option<SocketAddr>) -> Self {
        order_service::telemetry::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let db = format!("sqlite://{}/checkout.db", dir.path().display());
        let service = reference_checkout::build(&db, Duration::from_secs(1800), None)
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(reference_checkout::serve_router(
            listener,
            service.router,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            url: format!("http://{addr}"),
            dir,
            stop: Some(stop),
        }
    }

    async fn new() -> Self {
        Self::start(Arc::new(tempfile::tempdir().unwrap()), None).await
    }

    fn stop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }

    /// A session for `user`, completed unless `complete` is false; returns (id, completedAt).
    async fn session(&self, user: &str, complete: bool) -> (String, Value) {
        let http = reqwest::Client::new();
        let cart = json!({
            "userId": user, "email": "ada@example.com", "currency": "USD",
            "items": [{"productId": "prod-1", "name": "Espresso cup", "price": "45.99", "quantity": 2}],
            "shippingAddress": {"street": "1 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"}
        });
        let created: Value = http
            .post(format!("{}/api/v1/checkout/session", self.url))
            .json(&cart)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        if !complete {
            return (id, Value::Null);
        }
        let done: Value = http
            .post(format!(
                "{}/api/v1/checkout/session/{id}/complete",
                self.url
            ))
            .json(&json!({"paymentIntentId": format!("pi_{id}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(done["status"], "COMPLETED");
        (id, done["completedAt"].clone())
    }
}

impl Drop for RefCheckout {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn spawn(backend: Backend, checkout: &RefCheckout, sweep: bool) -> TestApp {
    let url = checkout.url.clone();
    TestApp::spawn_with(backend, move |c| {
        c.checkout_service_url = url;
        c.reconcile_interval_secs = sweep.then_some(SWEEP_EVERY.as_secs());
        c.reconcile_overlap_secs = 1;
    })
    .await
}

/// Every order, as the admin sees them (fewer than 100 in these tests).
async fn orders(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get("/api/v1/orders?limit=100", &admin_token()).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn session_ids(orders: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = orders
        .iter()
        .map(|o| o["checkoutSessionId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Waits for exactly `expected` (sorted) sessions to have orders; returns the time it took.
async fn wait_for_orders(app: &TestApp, expected: &[String]) -> Duration {
    let started = Instant::now();
    eventually(10, "the sweep to create the orders", || async {
        (session_ids(&orders(app).await) == expected).then_some(())
    })
    .await;
    started.elapsed()
}

fn reconciler(app: &TestApp, checkout_url: &str) -> Reconciler {
    let client = CheckoutClient::new(CheckoutClientConfig {
        timeout: Duration::from_millis(1500),
        ..CheckoutClientConfig::new(checkout_url)
    })
    .unwrap();
    let orders = Arc::new(OrderService::new(
        app.store.clone(),
        client.clone(),
        Arc::new(Notify::new()),
    ));
    Reconciler::new(orders, client, Duration::from_secs(1))
}

async fn the_sweep_turns_unreported_completions_into_orders_once(backend: Backend) {
    let checkout = RefCheckout::new().await;
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(checkout.session(&format!("user-{i}"), true).await.0);
    }
    let (pending, _) = checkout.session("user-9", false).await;
    expected.sort();
    let app = spawn(backend, &checkout, true).await;
    // Two intervals, plus slack for a loaded machine; the first sweep runs at start.
    let took = wait_for_orders(&app, &expected).await;
    assert!(
        took < 2 * SWEEP_EVERY + Duration::from_millis(1500),
        "{took:?}"
    );

    // Sessions completed later are swept too.
    for i in 3..5 {
        expected.push(checkout.session(&format!("user-{i}"), true).await.0);
    }
    expected.sort();
    let took = wait_for_orders(&app, &expected).await;
    assert!(
        took < 2 * SWEEP_EVERY + Duration::from_millis(1500),
        "{took:?}"
    );
    // More sweeps make no duplicates and never an order for the PENDING session.
    tokio::time::sleep(2 * SWEEP_EVERY).await;
    let all = orders(&app).await;
    assert_eq!(session_ids(&all), expected);
    assert!(!session_ids(&all).contains(&pending));

    let order = &all[0];
    let path = format!("/api/v1/orders/{}/events", order["id"].as_str().unwrap());
    let owner = order["userId"].as_str().unwrap();
    let (_, history) = app.get(&path, &token(owner, &[])).await;
    assert_eq!(history[0]["origin"], "sweep", "{history}");
    let metrics = app.metrics().await;
    // One recorder per test process (other tests sweep too): the series, not its value.
    assert!(
        metrics.contains("orders_created_total{origin=\"sweep\"}"),
        "{metrics}"
    );
}

async fn the_watermark_is_stored_and_survives_a_restart(backend: Backend) {
    let checkout = RefCheckout::new().await;
    let mut last_completed = Value::Null;
    let mut expected = Vec::new();
    for i in 0..3 {
        let (id, at) = checkout.session(&format!("user-{i}"), true).await;
        expected.push(id);
        last_completed = at;
    }
    expected.sort();
    let app = spawn(backend, &checkout, true).await;
    wait_for_orders(&app, &expected).await;
    let (db, fake) = app.stop().await;

    // Restarted without the periodic sweep: the stored watermark is the last completion.
    let mut config = common::test_config(&db, &fake);
    config.checkout_service_url = checkout.url.clone();
    let app = TestApp::start(config, db, fake).await;
    let last: chrono::DateTime<chrono::Utc> = last_completed.as_str().unwrap().parse().unwrap();
    let lease = app
        .store
        .acquire_sweep_lease("probe", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the lease is free");
    assert_eq!(lease.watermark, Some(last));
    app.store.release_sweep_lease("probe").await.unwrap();
    // A sweep resumes from it (minus the overlap) and finds nothing missing.
    let report = reconciler(&app, &checkout.url).sweep(None).await.unwrap();
    assert_eq!(report.since, last - chrono::Duration::seconds(1));
    assert_eq!((report.created, report.stopped_early), (0, None));
    assert_eq!(session_ids(&orders(&app).await), expected);
}

async fn an_unreachable_checkout_loses_nothing_and_the_next_sweep_catches_up(backend: Backend) {
    let mut checkout = RefCheckout::new().await;
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(checkout.session(&format!("user-{i}"), true).await.0);
    }
    expected.sort();
    let app = spawn(backend, &checkout, false).await;
    let sweeper = reconciler(&app, &checkout.url);
    checkout.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = sweeper.sweep(None).await.unwrap();
    assert!(report.stopped_early.is_some(), "{report:?}");
    assert_eq!((report.created, report.watermark), (0, None));
    assert!(orders(&app).await.is_empty());

    // Checkout is back on the same address with the same sessions (and one more).
    let checkout = RefCheckout::start(checkout.dir.clone(), Some(checkout.addr)).await;
    expected.push(checkout.session("user-3", true).await.0);
    expected.sort();
    let report = sweeper.sweep(None).await.unwrap();
    assert_eq!(report.stopped_early, None);
    assert_eq!((report.found, report.created), (4, 4));
    assert!(report.watermark.is_some());
    assert_eq!(session_ids(&orders(&app).await), expected);
    // And once more: all found, none created.
    let report = sweeper.sweep(None).await.unwrap();
    assert_eq!(report.created, 0);
}

async fn one_instance_sweeps_at_a_time(backend: Backend) {
    let checkout = RefCheckout::new().await;
    let app = spawn(backend, &checkout, false).await;
    let store = &app.store;
    let lease = Duration::from_secs(60);
    assert!(
        store
            .acquire_sweep_lease("a", lease)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .acquire_sweep_lease("b", lease)
            .await
            .unwrap()
            .is_none()
    );
    // While "a" holds it, a sweep elsewhere is refused and "b" cannot move the watermark.
    let busy = reconciler(&app, &checkout.url).sweep(None).await;
    assert!(matches!(
        busy,
        Err(order_service::reconcile::SweepError::Busy)
    ));
    let now = chrono::Utc::now();
    assert!(
        !store
            .advance_sweep_watermark("b", now, lease)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_sweep_watermark("a", now, lease)
            .await
            .unwrap()
    );
    // The watermark never moves back.
    let earlier = now - chrono::Duration::hours(1);
    assert!(
        store
            .advance_sweep_watermark("a", earlier, lease)
            .await
            .unwrap()
    );
    store.release_sweep_lease("a").await.unwrap();
    let taken = store
        .acquire_sweep_lease("b", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        taken.watermark.map(|w| w.timestamp_millis()),
        Some(now.timestamp_millis())
    );
    // An expired lease can be taken over, and its old holder is fenced out.
    store.release_sweep_lease("b").await.unwrap();
    assert!(
        store
            .acquire_sweep_lease("c", Duration::from_millis(1))
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        store
            .acquire_sweep_lease("d", lease)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !store
            .advance_sweep_watermark("c", now, lease)
            .await
            .unwrap()
    );
}

both_backends!(
    the_sweep_turns_unreported_completions_into_orders_once,
    the_watermark_is_stored_and_survives_a_restart,
    an_unreachable_checkout_loses_nothing_and_the_next_sweep_catches_up,
    one_instance_sweeps_at_a_time,
);
