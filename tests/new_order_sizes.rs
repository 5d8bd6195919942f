//! Orders of different sizes written one after another: on PostgreSQL the statement that
//! writes a new order is built once per number of items and reused, with each order's
//! own values bound; every order must come back exactly as written, whatever size came
//! before it.

mod common;

use common::{Backend, TestDb, create_and_read_back, new_order};
use order_service::domain::OrderOrigin;
use order_service::storage::{self, Inserted, NewOutboxEvent};

async fn orders_of_interleaved_sizes_come_back_as_written(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = storage::connect(&db.url, 4).await.unwrap();
    for (n, items) in [2, 1, 2, 1, 1, 2].into_iter().enumerate() {
        let mut order = new_order(&format!("user-{n}"));
        order.items.truncate(items);
        create_and_read_back(&store, &order).await;
        // The same session again: nothing written, the first order answered.
        let event = NewOutboxEvent::order_confirmation(&order);
        let again = store
            .insert_order(&order, &event, OrderOrigin::Client)
            .await
            .unwrap();
        assert!(matches!(again, Inserted::AlreadyExists(existing) if *existing == order));
    }
}

both_backends!(orders_of_interleaved_sizes_come_back_as_written);
