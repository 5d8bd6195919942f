//! A new order in one statement: the order, its items, its creation event and its outbox
//! event as one CTE, so one round trip and one implicit transaction instead of BEGIN, four
//! INSERTs and COMMIT. When the session already has an order, `new_order` is empty and
//! nothing is written.

use crate::domain::Order;
use crate::domain::order::EVENT_ORDER_CREATED;
use crate::storage::StoreError;
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::rows::{HistoryRow, ItemRow, NewOutboxRow, OrderRow};
use crate::storage::shared::push_insert;
use sqlx::{PgPool, Postgres, QueryBuilder};

pub(super) async fn write_new_order(
    pool: &PgPool,
    order: &Order,
    outbox: &NewOutboxEvent,
) -> Result<bool, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new("WITH new_order AS (");
    push_insert(
        &mut query,
        "orders",
        OrderRow::COLUMNS,
        [&OrderRow::from(order)],
    );
    query.push(" ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id), items AS (");
    push_items(&mut query, order);
    // The history entry and the outbox event exist only if the order row was written:
    // each selects its values once per row of `new_order` (one or none).
    query.push(format!(
        "), history AS (INSERT INTO order_events ({}) SELECT v.* FROM (",
        HistoryRow::COLUMNS
    ));
    let history = HistoryRow::new(
        order,
        EVENT_ORDER_CREATED,
        None,
        order.user_id.as_str(),
        None,
        None,
    );
    query.push_values([&history], |values, row| {
        crate::storage::rows::PushRow::push_row(row, values)
    });
    query.push(format!(
        ") AS v ({}), new_order), confirmation AS (INSERT INTO outbox ({}) SELECT v.* FROM (",
        HistoryRow::COLUMNS,
        NewOutboxRow::COLUMNS
    ));
    let event = NewOutboxRow {
        event: outbox,
        now: order.created_at,
    };
    query.push_values([&event], |values, row| {
        crate::storage::rows::PushRow::push_row(row, values)
    });
    query.push(format!(
        ") AS v ({}), new_order) SELECT COUNT(*) FROM new_order",
        NewOutboxRow::COLUMNS
    ));
    let created: i64 = query.build_query_scalar().fetch_one(pool).await?;
    Ok(created > 0)
}

/// The items as one array per column, so the statement has the same parameters whatever
/// the number of items.
fn push_items(query: &mut QueryBuilder<Postgres>, order: &Order) {
    let rows: Vec<ItemRow> = (order.items.iter().enumerate())
        .map(|(position, item)| ItemRow::new(order, position, item))
        .collect();
    query.push(format!(
        "INSERT INTO order_items ({0}) SELECT item.* FROM new_order, UNNEST(",
        ItemRow::COLUMNS
    ));
    let mut arrays = query.separated(", ");
    arrays.push_bind(rows.iter().map(|r| r.id).collect::<Vec<_>>());
    arrays.push_unseparated("::uuid[]");
    arrays.push_bind(rows.iter().map(|r| r.order_id).collect::<Vec<_>>());
    arrays.push_unseparated("::uuid[]");
    arrays.push_bind(rows.iter().map(|r| r.position).collect::<Vec<_>>());
    arrays.push_unseparated("::int4[]");
    arrays.push_bind(
        rows.iter()
            .map(|r| r.product_id.clone())
            .collect::<Vec<_>>(),
    );
    arrays.push_unseparated("::text[]");
    arrays.push_bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>());
    arrays.push_unseparated("::text[]");
    arrays.push_bind(rows.iter().map(|r| r.price_minor).collect::<Vec<_>>());
    arrays.push_unseparated("::int8[]");
    arrays.push_bind(rows.iter().map(|r| r.quantity).collect::<Vec<_>>());
    arrays.push_unseparated("::int4[]");
    query.push(format!(") AS item ({})", ItemRow::COLUMNS));
}
