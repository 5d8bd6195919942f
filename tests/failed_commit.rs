//! A write that fails in the database, forced without filling a disk: triggers the test
//! adds to its own database make the insert of a marked order fail, either by rolling the
//! whole transaction back inside the statement (SQLite `RAISE(ROLLBACK)`) or at COMMIT
//! (a deferred foreign key). The failed order must not be acknowledged, and every order
//! acknowledged afterwards must be stored: readable, and still there after a restart.
//! (On SQLite these two failures used to leave the single writer connection inside a
//! transaction that was never committed; see `src/storage/sqlite_writer.rs`.)

mod common;

use common::{Backend, TestApp, session_json, token};
use serde_json::Value;

const FAIL_AT_COMMIT: &str = "pi_fail_at_commit";
const ROLL_BACK_INSIDE: &str = "pi_roll_back_inside";

async fn add_failure_triggers(backend: Backend, url: &str) {
    use sqlx::{Connection, Executor};
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE missing_parent (id BLOB PRIMARY KEY);
                 CREATE TABLE commit_guard (order_id BLOB
                     REFERENCES missing_parent (id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER fail_at_commit AFTER INSERT ON orders
                     WHEN NEW.payment_intent_id = '{FAIL_AT_COMMIT}'
                     BEGIN INSERT INTO commit_guard VALUES (NEW.id); END;
                 CREATE TRIGGER roll_back_inside BEFORE INSERT ON orders
                     WHEN NEW.payment_intent_id = '{ROLL_BACK_INSIDE}'
                     BEGIN SELECT RAISE(ROLLBACK, 'forced by the test'); END;"
            )))
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE missing_parent (id UUID PRIMARY KEY);
                 CREATE TABLE commit_guard (order_id UUID
                     REFERENCES missing_parent (id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE FUNCTION guard_order() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF NEW.payment_intent_id = '{FAIL_AT_COMMIT}' THEN
                         INSERT INTO commit_guard VALUES (NEW.id);
                     END IF;
                     RETURN NEW;
                 END $$;
                 CREATE TRIGGER fail_at_commit AFTER INSERT ON orders
                     FOR EACH ROW EXECUTE FUNCTION guard_order();"
            )))
            .await
            .unwrap();
        }
    }
}

/// A completed session whose payment intent is `payment_intent`; returns its id.
fn session_paid_with(app: &TestApp, user: &str, payment_intent: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&id, user);
    session["paymentIntentId"] = Value::from(payment_intent);
    app.checkout.put(&id, session);
    id
}

async fn orders_acknowledged_after_a_failed_commit_are_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_failure_triggers(backend, &app.db.url).await;
    let user = "user-1";
    let mut acknowledged = vec![app.order_for(user).await];

    if backend == Backend::Sqlite {
        // SQLite rolls the transaction back itself; sqlx still counts it as open.
        let session = session_paid_with(&app, user, ROLL_BACK_INSIDE);
        let (status, body) = app.create_order(user, &session).await;
        assert_ne!(status, 201, "{body}");
        assert!(body["code"].is_string(), "problem+json: {body}");
    }
    let failing = session_paid_with(&app, user, FAIL_AT_COMMIT);
    let (status, body) = app.create_order(user, &failing).await;
    match backend {
        // COMMIT itself failed: nothing stored, retry later.
        Backend::Sqlite => {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{body}");
        }
        // One implicit transaction per statement: the statement fails with the key.
        Backend::Postgres => assert!(status >= 500, "{status} {body}"),
    }

    for _ in 0..20 {
        acknowledged.push(app.order_for(user).await);
    }
    // The failed request, retried once the cause is gone, yields exactly one order.
    let mut session = session_json(&failing, user);
    session["paymentIntentId"] = Value::from("pi_ok");
    app.checkout.put(&failing, session);
    let (status, retried) = app.create_order(user, &failing).await;
    assert_eq!(status, 201, "{retried}");
    let (status, again) = app.create_order(user, &failing).await;
    assert_eq!((status, &again["id"]), (200, &retried["id"]), "{again}");
    acknowledged.push(retried);

    let ready = common::eventually(10, "readiness after the failure", || async {
        let (status, body) = app.get("/health/ready", "").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(ready["status"], "ready");

    let all_readable = |app: &TestApp| {
        let ids: Vec<String> = acknowledged
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        let http = app.http.clone();
        let base = app.base.clone();
        async move {
            for id in ids {
                let response = http
                    .get(format!("{base}/api/v1/orders/{id}"))
                    .bearer_auth(token(user, &[]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "acknowledged order {id} is missing");
            }
        }
    };
    all_readable(&app).await;
    let (db, checkout) = app.stop().await;
    let config = common::test_config(&db, &checkout);
    let app = TestApp::start(config, db, checkout).await;
    all_readable(&app).await;
    let (status, page) = app.get("/api/v1/orders?limit=100", &token(user, &[])).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        acknowledged.len(),
        "exactly the acknowledged orders are stored"
    );
}

crate::both_backends!(orders_acknowledged_after_a_failed_commit_are_stored);
