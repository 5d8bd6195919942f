//! Confirmations receivers can trust (contracts §5): redirects are failures, leases are
//! fenced, bodies are signed, an order's events arrive in sequence, attempts are logged,
//! old events give up, periods can be replayed and delivered events expire.

mod common;

use common::{
    Backend, FakeNotifications, SlowReceiver, TestApp, TestDb, admin_token, eventually, token,
};
use order_service::outbox::OutboxStatus;
use order_service::storage::{OutboxClaim, OutboxCompletion, Sinks};
use serde_json::{Value, json};
use std::time::Duration;

async fn with_receiver(backend: Backend, receiver: &FakeNotifications) -> TestApp {
    let url = receiver.url.clone();
    TestApp::spawn_with(backend, |c| c.notification_service_url = Some(url)).await
}

async fn only_event(
    app: &TestApp,
    status: OutboxStatus,
) -> Option<order_service::outbox::OutboxRecord> {
    app.store
        .list_outbox(status, 10)
        .await
        .unwrap()
        .into_iter()
        .next()
}

async fn a_redirect_is_a_failed_attempt_naming_its_target(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[302]);
    let app = with_receiver(backend, &receiver).await;
    app.order_for("user-1").await;
    let delivered = eventually(15, "delivery after the redirect", || async {
        only_event(&app, OutboxStatus::Delivered).await
    })
    .await;
    let answers: Vec<u16> = receiver.deliveries().iter().map(|d| d.answered).collect();
    assert_eq!(
        answers,
        vec![302, 202],
        "the 302 was retried, as a POST, here"
    );
    assert_eq!(delivered.attempts, 2);
    let (s, detail) = app
        .get(
            &format!("/api/v1/admin/outbox/{}", delivered.id),
            &admin_token(),
        )
        .await;
    assert_eq!(s, 200, "{detail}");
    let first = &detail["attempts"][0];
    assert_eq!(first["statusCode"], 302);
    let error = first["error"].as_str().unwrap();
    assert!(
        error.contains(common::fake_notifications::REDIRECT_TARGET),
        "the error names the redirect target: {error}"
    );
}

async fn a_redirect_is_never_marked_delivered(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[301; 40]);
    let app = with_receiver(backend, &receiver).await;
    app.order_for("user-1").await;
    let pending = eventually(10, "two failed attempts", || async {
        only_event(&app, OutboxStatus::Pending)
            .await
            .filter(|e| e.attempts >= 2)
    })
    .await;
    assert!(pending.last_error.unwrap().contains("redirect"));
    assert!(only_event(&app, OutboxStatus::Delivered).await.is_none());
}

/// The HMAC of the Standard Webhooks spec, computed here with `hmac`/`sha2` directly
/// (not through the service's module).
fn independent_signature(key: &[u8], id: &str, ts: &str, body: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

const OLD_KEY_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_RAW_SECRET: &str = "a-raw-rotation-secret";

async fn confirmations_are_signed_with_every_configured_secret(backend: Backend) {
    use base64::Engine;
    let receiver = FakeNotifications::start().await;
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(backend, |c| {
        c.notification_service_url = Some(url);
        c.notification_signing_secret = Some(format!("whsec_{OLD_KEY_B64}, {NEW_RAW_SECRET}"));
    })
    .await;
    app.order_for("user-1").await;
    let delivery = eventually(10, "the confirmation", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    let (id, ts, signature) = delivery.webhook.clone().expect("signed headers");
    assert_eq!(Some(id.as_str()), delivery.body["eventId"].as_str());
    let sent_at: i64 = ts.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    let old_key = base64::engine::general_purpose::STANDARD
        .decode(OLD_KEY_B64)
        .unwrap();
    let expected = [
        independent_signature(&old_key, &id, &ts, &delivery.raw_body),
        independent_signature(NEW_RAW_SECRET.as_bytes(), &id, &ts, &delivery.raw_body),
    ];
    let sent: Vec<&str> = signature.split(' ').collect();
    assert_eq!(sent, expected, "one v1 signature per secret, in order");
}

async fn an_orders_events_arrive_in_sequence(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[503, 503]);
    let app = with_receiver(backend, &receiver).await;
    let order = app.order_for("user-1").await;
    let id = order["id"].as_str().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            &token("user-1", &[]),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    eventually(15, "both events delivered", || async {
        (receiver
            .deliveries()
            .iter()
            .filter(|d| d.answered == 202)
            .count()
            == 2)
            .then_some(())
    })
    .await;
    let sequences: Vec<(i64, u16)> = receiver
        .deliveries()
        .iter()
        .map(|d| (d.body["sequence"].as_i64().unwrap(), d.answered))
        .collect();
    assert_eq!(
        sequences,
        vec![(1, 503), (1, 503), (1, 202), (2, 202)],
        "the status change waits until the confirmation is delivered"
    );
    assert_eq!(
        receiver.deliveries()[3].body["type"],
        "ORDER_STATUS_CHANGED"
    );
}

async fn an_event_too_old_is_parked_as_failed(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[503; 200]);
    let url = receiver.url.clone();
    let app = TestApp::spawn_with(backend, |c| {
        c.notification_service_url = Some(url);
        c.outbox_give_up_hours = 1.0 / 3600.0; // one second
    })
    .await;
    app.order_for("user-1").await;
    let failed = eventually(15, "the event parked", || async {
        only_event(&app, OutboxStatus::Failed).await
    })
    .await;
    let error = failed.last_error.unwrap();
    assert!(error.starts_with("gave up after"), "{error}");
    assert!(error.contains("HTTP 503"), "{error}");
    let attempts = receiver.deliveries().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        receiver.deliveries().len(),
        attempts,
        "parked means no more attempts"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("outbox_parked_total{reason=\"give_up\"}"),
        "counted in /metrics"
    );

    // Requeued by an operator while the receiver still fails, it gets a fresh age limit:
    // retried (not parked again at its first failure), then parked once that runs out.
    let (s, requeued) = app
        .post(
            &format!("/api/v1/admin/outbox/{}/retry", failed.id),
            &admin_token(),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{requeued}");
    assert!(requeued["requeuedAt"].is_string(), "{requeued}");
    let parked_again = eventually(15, "the event parked again", || async {
        only_event(&app, OutboxStatus::Failed).await
    })
    .await;
    let after_requeue = receiver.deliveries().len() - attempts;
    assert!(
        after_requeue >= 2,
        "retried after the requeue, not parked at once: {after_requeue} attempt(s)"
    );
    assert!(
        parked_again
            .last_error
            .unwrap()
            .starts_with("gave up after")
    );
}

async fn every_attempt_is_logged_and_shown_oldest_first(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    receiver.script(&[503, 429]);
    let app = with_receiver(backend, &receiver).await;
    app.order_for("user-1").await;
    let event = eventually(15, "delivery", || async {
        only_event(&app, OutboxStatus::Delivered).await
    })
    .await;
    assert!(event.notified_at.is_some(), "notifiedAt is written");
    let (s, detail) = app
        .get(
            &format!("/api/v1/admin/outbox/{}", event.id),
            &admin_token(),
        )
        .await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["id"], event.id.to_string());
    assert_eq!(detail["status"], "DELIVERED");
    assert_eq!(detail["sequence"], 1);
    let attempts = detail["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![503, 429, 202]);
    assert_eq!(attempts[0]["error"], "HTTP 503");
    assert_eq!(attempts[1]["error"], "HTTP 429");
    assert!(attempts[2].get("error").is_none());
    let times: Vec<chrono::DateTime<chrono::Utc>> = attempts
        .iter()
        .map(|a| a["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    for a in attempts {
        assert!(a["durationMs"].as_i64().unwrap() >= 0);
        assert!(!a["instance"].as_str().unwrap().is_empty());
    }
    let (s, _) = app
        .get(
            &format!("/api/v1/admin/outbox/{}", uuid::Uuid::new_v4()),
            &admin_token(),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(
            &format!("/api/v1/admin/outbox/{}", event.id),
            &token("user-1", &[]),
        )
        .await;
    assert_eq!(s, 403);
}

async fn listing_filters_by_order_and_pages_and_replay_takes_a_time_range(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    let app = with_receiver(backend, &receiver).await;
    let first = app.order_for("user-1").await;
    eventually(10, "first delivery", || async {
        (receiver.deliveries().len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = app.order_for("user-2").await;
    eventually(10, "second delivery", || async {
        (only_event(&app, OutboxStatus::Delivered).await.is_some()
            && app
                .store
                .list_outbox(OutboxStatus::Delivered, 10)
                .await
                .unwrap()
                .len()
                == 2)
            .then_some(())
    })
    .await;
    let admin = admin_token();
    let (s, page) = app
        .get(
            &format!(
                "/api/v1/admin/outbox?orderId={}",
                second["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["orderId"], second["id"]);
    let (_, one) = app
        .get("/api/v1/admin/outbox?status=DELIVERED&limit=1", &admin)
        .await;
    assert_eq!(one["items"][0]["orderId"], first["id"], "oldest first");
    let cursor = one["nextCursor"].as_str().expect("a next page").to_owned();
    let (_, two) = app
        .get(
            &format!("/api/v1/admin/outbox?status=DELIVERED&limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(two["items"][0]["orderId"], second["id"]);
    let (s, _) = app
        .get("/api/v1/admin/outbox?cursor=not-ours", &admin)
        .await;
    assert_eq!(s, 400);

    // Replay the DELIVERED events created from `middle` on: only the second order's.
    let until = chrono::Utc::now() + chrono::Duration::minutes(1);
    let (s, replayed) = app
        .post(
            "/api/v1/admin/outbox/replay",
            &admin,
            json!({"status": "DELIVERED", "since": middle.to_rfc3339(), "until": until.to_rfc3339()}),
        )
        .await;
    assert_eq!((s, &replayed), (200, &json!({"requeued": 1})));
    let again = eventually(10, "the replayed delivery", || async {
        receiver.deliveries().get(2).cloned()
    })
    .await;
    assert_eq!(again.body["orderId"], second["id"]);
    assert_eq!(
        again.idempotency_key,
        receiver.deliveries()[1].idempotency_key,
        "a replay keeps its eventId"
    );
    eventually(10, "delivered again", || async {
        (app.store
            .list_outbox(OutboxStatus::Delivered, 10)
            .await
            .unwrap()
            .len()
            == 2)
            .then_some(())
    })
    .await;
    let (s, _) = app
        .post(
            "/api/v1/admin/outbox/replay",
            &token("user-1", &[]),
            json!({"status": "FAILED", "since": middle.to_rfc3339(), "until": until.to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post(
            "/api/v1/admin/outbox/replay",
            &admin,
            json!({"status": "FAILED", "since": until.to_rfc3339(), "until": middle.to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 400);
}

async fn delivered_events_past_retention_are_deleted_with_their_attempts(backend: Backend) {
    let receiver = FakeNotifications::start().await;
    let app = with_receiver(backend, &receiver).await;
    app.order_for("user-1").await;
    let delivered = eventually(10, "delivery", || async {
        only_event(&app, OutboxStatus::Delivered).await
    })
    .await;
    // Stop delivering, and leave one event pending.
    let (db, checkout) = app.stop().await;
    let app = TestApp::start(common::test_config(&db, &checkout), db, checkout).await;
    app.order_for("user-2").await;
    assert_eq!(
        app.store.outbox_attempts(delivered.id).await.unwrap().len(),
        1
    );
    let store = &app.store;
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        store.purge_delivered_outbox(an_hour_ago, 10).await.unwrap(),
        0,
        "too young"
    );
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.purge_delivered_outbox(soon, 10).await.unwrap(), 1);
    assert!(store.outbox_event(delivered.id).await.unwrap().is_none());
    assert!(
        store
            .outbox_attempts(delivered.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_outbox(OutboxStatus::Pending, 10)
            .await
            .unwrap()
            .len(),
        1,
        "pending events are kept"
    );
}

async fn a_completion_after_a_lost_lease_changes_nothing(backend: Backend) {
    // No Notification URL: the service's own worker claims nothing.
    let app = TestApp::spawn(backend).await;
    app.order_for("user-1").await;
    let store = &app.store;
    let sinks = Sinks {
        webhook: true,
        nats: false,
    };
    let claim = |worker, lease| OutboxClaim {
        worker,
        lease,
        limit: 10,
        sinks,
    };
    let stale = store
        .claim_outbox(claim("stale", Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    let stale_token = stale[0].lease_token.unwrap();
    let id = stale[0].id;
    assert!(
        store
            .claim_outbox(claim("other", Duration::from_secs(30)))
            .await
            .unwrap()
            .is_empty(),
        "a live lease is not taken over"
    );
    // Renewal keeps it; then the holder goes quiet and the lease lapses.
    assert_eq!(
        store
            .renew_outbox_lease(stale_token, &[id], Duration::from_millis(300))
            .await
            .unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        store
            .claim_outbox(claim("other", Duration::from_secs(30)))
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = store
        .claim_outbox(claim("fresh", Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 1, "an expired lease is taken over");
    let fresh_token = fresh[0].lease_token.unwrap();
    assert_ne!(fresh_token, stale_token, "a fresh fencing token per claim");

    // The stale holder's outcomes are refused, whatever they are.
    let park = OutboxCompletion::Park {
        attempts: 1,
        error: "HTTP 422".into(),
    };
    assert!(
        !store
            .complete_outbox(id, stale_token, &park, None)
            .await
            .unwrap()
    );
    let delivered = OutboxCompletion::Delivered {
        attempts: 1,
        webhook: true,
    };
    assert!(
        !store
            .complete_outbox(id, stale_token, &delivered, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_outbox_sink_done(id, stale_token, true)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .renew_outbox_lease(stale_token, &[id], Duration::from_secs(30))
            .await
            .unwrap(),
        0
    );
    let event = store.outbox_event(id).await.unwrap().unwrap();
    assert_eq!(event.status, OutboxStatus::Pending);
    assert_eq!(event.attempts, 0);
    assert!(event.notified_at.is_none());

    // An admin retry does not steal the live lease either.
    store.requeue_outbox(id).await.unwrap();
    assert!(
        store
            .claim_outbox(claim("other", Duration::from_secs(30)))
            .await
            .unwrap()
            .is_empty()
    );

    // The holder's outcome counts, once.
    assert!(
        store
            .complete_outbox(id, fresh_token, &delivered, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_outbox(id, fresh_token, &park, None)
            .await
            .unwrap()
    );
    let event = store.outbox_event(id).await.unwrap().unwrap();
    assert_eq!(event.status, OutboxStatus::Delivered);
    assert!(event.notified_at.is_some());
}

both_backends!(
    a_redirect_is_a_failed_attempt_naming_its_target,
    a_redirect_is_never_marked_delivered,
    confirmations_are_signed_with_every_configured_secret,
    an_orders_events_arrive_in_sequence,
    an_event_too_old_is_parked_as_failed,
    every_attempt_is_logged_and_shown_oldest_first,
    listing_filters_by_order_and_pages_and_replay_takes_a_time_range,
    delivered_events_past_retention_are_deleted_with_their_attempts,
    a_completion_after_a_lost_lease_changes_nothing,
);

/// Two instances on one PostgreSQL, a backlog of 80, a receiver slower than a third of
/// the lease that answers 409 to a key still in flight: every event delivered, none
/// failed, no two concurrent sends of one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs TEST_DATABASE_URL (PostgreSQL)"]
async fn two_instances_and_a_slow_receiver_never_send_one_event_twice_at_once() {
    common::require_postgres();
    const EVENTS: usize = 80;
    let receiver = SlowReceiver::start(Duration::from_millis(1500)).await;
    // Queue the backlog with no receiver configured, then start two delivering instances.
    let queueing = TestApp::spawn(Backend::Postgres).await;
    for i in 0..EVENTS {
        queueing.order_for(&format!("user-{i}")).await;
    }
    let (db, checkout) = queueing.stop().await;
    let mut config = common::test_config(&db, &checkout);
    config.notification_service_url = Some(receiver.url.clone());
    config.outbox_lease_secs = 2;
    config.notification_timeout_ms = 10_000;
    let first = TestApp::start(config.clone(), db, checkout.clone()).await;
    let second = TestApp::start(config, TestDb::new(Backend::Sqlite).await, checkout).await;
    let store = first.store.clone();
    // Wait until nothing is pending, then say what happened: a concurrent duplicate is
    // answered 409 and parks its event, which would otherwise show only as a timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let pending = store.list_outbox(OutboxStatus::Pending, 500).await.unwrap();
        if pending.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            for e in &pending {
                let attempts = store.outbox_attempts(e.id).await;
                eprintln!(
                    "still pending: {} {:?} attempts: {attempts:?}",
                    e.id, e.last_error
                );
            }
            panic!(
                "{} events still pending; receiver accepted {}, duplicates {:?}",
                pending.len(),
                receiver.accepted().len(),
                receiver.concurrent_duplicates()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed: Vec<_> = (store.list_outbox(OutboxStatus::Failed, 500).await.unwrap())
        .into_iter()
        .map(|e| (e.id, e.last_error))
        .collect();
    assert_eq!(
        receiver.concurrent_duplicates(),
        Vec::<String>::new(),
        "0 concurrent duplicates (events parked: {failed:?})"
    );
    assert_eq!(failed, vec![], "no event failed");
    let delivered = store
        .list_outbox(OutboxStatus::Delivered, 500)
        .await
        .unwrap();
    assert_eq!(delivered.len(), EVENTS);
    let accepted = receiver.accepted();
    let unique: std::collections::HashSet<_> = accepted.iter().collect();
    assert_eq!(unique.len(), EVENTS);
    println!(
        "{} events, {} accepted requests (sequential repeats: {})",
        EVENTS,
        accepted.len(),
        accepted.len() - unique.len()
    );
    drop(second);
}

/// The Standard Webhooks reference library for Python verifies a confirmation as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with the standardwebhooks package (pip install standardwebhooks)"]
async fn the_reference_library_verifies_a_delivered_confirmation() {
    use std::io::Write;
    let receiver = FakeNotifications::start().await;
    let url = receiver.url.clone();
    let secret = format!("whsec_{OLD_KEY_B64}");
    let configured = format!("{secret},{NEW_RAW_SECRET}");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.notification_service_url = Some(url);
        c.notification_signing_secret = Some(configured);
    })
    .await;
    app.order_for("user-1").await;
    let delivery = eventually(10, "the confirmation", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    let (id, ts, signature) = delivery.webhook.unwrap();
    let case = json!({"id": id, "timestamp": ts.parse::<i64>().unwrap(),
        "body": delivery.raw_body, "signature": signature});
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/standard_webhooks.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = json!({"secret": secret, "cases": [case]}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "is standardwebhooks installed?");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["verified"], json!([true]));
}
