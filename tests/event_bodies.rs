//! An event's body is not stored with it since migration 0006: it is built from the order
//! when the event is read. Read at any later time, on either backend, it must be byte for
//! byte the body of the order as it was when the event was queued; a body stored by an
//! older version is returned as it was stored.

mod common;

use chrono::{DateTime, Utc};
use common::{Backend, TestDb, new_order};
use order_service::domain::{Actor, Order, OrderOrigin, OrderStatus, StatusChange, UserId};
use order_service::event_body::{ORDER_CONFIRMATION, ORDER_STATUS_CHANGED, OrderEventBody};
use order_service::storage::{
    self, NewOutboxEvent, OutboxClaim, OutboxFilter, SharedStore, Sinks, StatusChangeRecord,
};
use std::time::Duration;
use uuid::Uuid;

fn body(event: &NewOutboxEvent, order: &Order, from: Option<OrderStatus>) -> String {
    let kind = if from.is_some() {
        ORDER_STATUS_CHANGED
    } else {
        ORDER_CONFIRMATION
    };
    serde_json::to_string(&OrderEventBody::new(event.id, kind, order, from)).unwrap()
}

/// Moves `order` to `to` through the store, as the use case does; the event and the body
/// it had when queued.
async fn change(
    store: &SharedStore,
    order: &mut Order,
    to: OrderStatus,
    reason: Option<&str>,
    tracking: Option<&str>,
) -> (NewOutboxEvent, String) {
    let change = StatusChange {
        to,
        reason: reason.map(str::to_owned),
        tracking_number: tracking.map(str::to_owned),
    };
    let (from, previous_version) = (order.status, order.version);
    tokio::time::sleep(Duration::from_millis(2)).await;
    order.apply(&change).unwrap();
    let event = NewOutboxEvent::status_changed(order);
    let actor = Actor {
        user_id: UserId::parse("admin-1").unwrap(),
        is_admin: true,
    };
    store
        .save_status_change(&StatusChangeRecord {
            order,
            previous_version,
            from,
            actor: &actor,
            change: &change,
            outbox: &event,
        })
        .await
        .unwrap();
    let queued = body(&event, order, Some(from));
    (event, queued)
}

async fn a_read_body_is_the_order_as_it_was_when_the_event_was_queued(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = storage::connect(&db.url, 4).await.unwrap();

    // Two orders, so that each body is built from its own order and history.
    let mut expected = Vec::new();
    let mut orders = Vec::new();
    for user in ["user-1", "user-2"] {
        let mut order = new_order(user);
        order.items[0].name = Some("an \"escaped\" ünïcode name".to_owned());
        let confirmation = NewOutboxEvent::order_confirmation(&order);
        store
            .insert_order(&order, &confirmation, OrderOrigin::Client)
            .await
            .unwrap();
        expected.push((confirmation.id, body(&confirmation, &order, None)));
        orders.push(order);
    }
    let mut first = orders.remove(0);
    for (to, reason, tracking) in [
        (OrderStatus::Confirmed, Some("paid"), None),
        (OrderStatus::Shipped, None, Some("TRACK-1")),
        (OrderStatus::Delivered, None, None),
    ] {
        let (event, queued) = change(&store, &mut first, to, reason, tracking).await;
        expected.push((event.id, queued));
    }
    let mut second = orders.remove(0);
    let (event, queued) = change(
        &store,
        &mut second,
        OrderStatus::Cancelled,
        Some("changed my mind"),
        None,
    )
    .await;
    expected.push((event.id, queued));

    // Every event, read back long after: its body as queued, byte for byte.
    let listed = store
        .list_outbox_page(&OutboxFilter {
            limit: 100,
            ..OutboxFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), expected.len());
    for (id, queued) in &expected {
        let record = listed.iter().find(|r| r.id == *id).expect("listed");
        assert_eq!(record.payload.get(), queued, "event {id}");
        let one = store.outbox_event(*id).await.unwrap().unwrap();
        assert_eq!(one.payload.get(), queued, "event {id} alone");
    }
    let shipped: serde_json::Value = serde_json::from_str(&expected[3].1).unwrap();
    assert_eq!(shipped["order"]["status"], "SHIPPED");
    assert_eq!(shipped["trackingNumber"], "TRACK-1");

    // And as the delivery worker claims them: the confirmations (each order's first).
    let claimed = store
        .claim_outbox(OutboxClaim {
            worker: "test",
            lease: Duration::from_secs(30),
            limit: 10,
            sinks: Sinks {
                webhook: true,
                nats: false,
            },
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "one confirmation per order");
    for record in &claimed {
        let (_, queued) = expected.iter().find(|(id, _)| *id == record.id).unwrap();
        assert_eq!(record.payload.get(), queued);
        assert_eq!(record.sequence, 1);
    }
}

/// An event queued by a version that stored its body (before migration 0006).
async fn a_stored_body_is_returned_as_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = storage::connect(&db.url, 4).await.unwrap();
    let order = new_order("user-1");
    let event = NewOutboxEvent::order_confirmation(&order);
    store
        .insert_order(&order, &event, OrderOrigin::Client)
        .await
        .unwrap();
    let legacy = Uuid::new_v4();
    let stored = r#"{"eventId":"legacy","note":"as stored"}"#;
    let now: DateTime<Utc> = order_service::domain::now();
    let sql = "INSERT INTO outbox (id, event_type, order_id, sequence, payload, status, \
               attempts, next_attempt_at, created_at) \
               VALUES ($1, 'ORDER_CONFIRMATION', $2, 1, $3, 'FAILED', 0, $4, $4)";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(sql)
                .bind(legacy)
                .bind(order.id.0)
                .bind(stored)
                .bind(now)
                .execute(&pool)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(sql)
                .bind(legacy)
                .bind(order.id.0)
                .bind(stored)
                .bind(now)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let record = store
        .outbox_event(order_service::domain::EventId(legacy))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.payload.get(), stored);
    let built = store.outbox_event(event.id).await.unwrap().unwrap();
    assert_eq!(built.payload.get(), body(&event, &order, None));
}

both_backends!(
    a_read_body_is_the_order_as_it_was_when_the_event_was_queued,
    a_stored_body_is_returned_as_stored,
);
