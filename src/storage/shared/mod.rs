//! The part of `OrderStore` that both backends run alike: every statement here is the same
//! text on SQLite and PostgreSQL (numbered `$n` parameters, `ON CONFLICT`, `RETURNING`).
//! A backend implements `SqlBackend` (its pools, how it writes a new order, how it locks
//! a claim) and gets `OrderStore` from the generic implementation below.

mod backend;
mod fetch;

pub use backend::{Bind, Decoded, Pools, SqlBackend};
pub use fetch::{BindRows, insert_rows};

use super::outbox::{
    NewOutboxEvent, OutboxClaim, OutboxRecord, OutboxRetry, OutboxStats, OutboxStatus,
};
use super::rows::{HistoryRow, ItemRow, ListedOrderRow, NewOutboxRow, OutboxRow};
use super::{Inserted, OrderFilter, OrderPage, OrderStore, StatusChangeRecord, StoreError};
use crate::domain::order::{EVENT_STATUS_CHANGED, now};
use crate::domain::{CheckoutSessionId, EventId, Order, OrderEvent, OrderId, OrderOrigin};
use chrono::{DateTime, Utc};
use fetch::{fetch_orders, select_orders};
use sqlx::{Database, Executor, IntoArguments};
use uuid::Uuid;

#[async_trait::async_trait]
impl<B> OrderStore for B
where
    B: SqlBackend + crate::storage::SweepStore,
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: IntoArguments<B::Db>,
    Uuid: Bind<B::Db>,
    String: Bind<B::Db>,
    Option<String>: Bind<B::Db>,
    i64: Bind<B::Db>,
    i32: Bind<B::Db>,
    bool: Bind<B::Db>,
    DateTime<Utc>: Bind<B::Db>,
    ListedOrderRow: Decoded<B::Db>,
    ItemRow: Decoded<B::Db>,
    HistoryRow: Decoded<B::Db>,
    OutboxRow: Decoded<B::Db>,
    OutboxStats: Decoded<B::Db>,
    B::Db: BindRows,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pools().reader())
            .await?;
        Ok(())
    }

    fn pool_usage(&self) -> (u32, u32, u32) {
        self.pools().usage()
    }

    fn storage_health(&self) -> &crate::storage::StorageHealth {
        self.health()
    }

    async fn insert_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<Inserted, StoreError> {
        if self.write_new_order(order, outbox, origin).await? {
            return Ok(Inserted::Created);
        }
        let existing = self
            .order_by_checkout_session(order.checkout_session_id)
            .await?
            .ok_or(StoreError::Conflict)?;
        Ok(Inserted::AlreadyExists(Box::new(existing)))
    }

    async fn order_by_id(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut query = select_orders();
        query.push(" AND id = ").push_bind(id.0);
        Ok(first(fetch_orders(self.pools().reader(), query).await?))
    }

    async fn order_by_checkout_session(
        &self,
        id: CheckoutSessionId,
    ) -> Result<Option<Order>, StoreError> {
        let mut query = select_orders();
        query.push(" AND checkout_session_id = ").push_bind(id.0);
        Ok(first(fetch_orders(self.pools().reader(), query).await?))
    }

    async fn list_orders(&self, filter: &OrderFilter) -> Result<OrderPage, StoreError> {
        let mut query = select_orders();
        if let Some(user) = &filter.user_id {
            query
                .push(" AND user_id = ")
                .push_bind(user.as_str().to_owned());
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.to_string());
        }
        if let Some(before) = filter.before {
            query.push(" AND seq < ").push_bind(before);
        }
        query.push(" ORDER BY seq DESC LIMIT ");
        query.push_bind(i64::from(filter.limit));
        let orders = fetch_orders(self.pools().reader(), query).await?;
        Ok(OrderPage { orders })
    }

    async fn save_status_change(&self, record: &StatusChangeRecord<'_>) -> Result<(), StoreError> {
        let StatusChangeRecord {
            order,
            previous_version,
            from,
            actor,
            change,
            outbox,
        } = *record;
        let mut tx = self.pools().writer.begin().await?;
        let updated = sqlx::query(
            "UPDATE orders SET status = $1, tracking_number = $2, cancellation_reason = $3, \
             version = $4, updated_at = $5 WHERE id = $6 AND version = $7 RETURNING id",
        )
        .bind(order.status.to_string())
        .bind(order.tracking_number.clone())
        .bind(order.cancellation_reason.clone())
        .bind(order.version)
        .bind(order.updated_at)
        .bind(order.id.0)
        .bind(previous_version)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            tx.rollback().await?;
            return Err(StoreError::Conflict);
        }
        let history = HistoryRow::new(
            order,
            EVENT_STATUS_CHANGED,
            Some(from),
            actor.user_id.as_str(),
            change.reason.as_deref(),
            change.tracking_number.as_deref(),
        );
        insert_rows("order_events", &[history])
            .build()
            .execute(&mut *tx)
            .await?;
        let event = NewOutboxRow {
            event: outbox,
            now: order.updated_at,
        };
        insert_rows("outbox", &[event])
            .build()
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn order_history(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let sql = "SELECT * FROM order_events WHERE order_id = $1 ORDER BY id";
        let rows: Vec<HistoryRow> = sqlx::query_as(sql)
            .bind(id.0)
            .fetch_all(self.pools().reader())
            .await?;
        rows.into_iter().map(OrderEvent::try_from).collect()
    }

    async fn claim_outbox(&self, claim: OutboxClaim<'_>) -> Result<Vec<OutboxRecord>, StoreError> {
        let now = now();
        let lease = chrono::Duration::from_std(claim.lease);
        let lease = lease.unwrap_or(chrono::Duration::seconds(30));
        let sql = format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN \
             (SELECT id FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= $3 \
              AND (locked_until IS NULL OR locked_until < $3) \
              AND (($4 AND notified_at IS NULL) OR ($5 AND published_at IS NULL)) \
              ORDER BY next_attempt_at LIMIT $6 {}) RETURNING *",
            B::CLAIM_LOCK
        );
        let rows: Vec<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(claim.worker.to_owned())
            .bind(now + lease)
            .bind(now)
            .bind(claim.sinks.webhook)
            .bind(claim.sinks.nats)
            .bind(i64::from(claim.limit))
            .fetch_all(&self.pools().writer)
            .await?;
        rows.into_iter().map(OutboxRecord::try_from).collect()
    }

    async fn mark_outbox_sink_done(&self, id: EventId, webhook: bool) -> Result<(), StoreError> {
        let column = if webhook {
            "notified_at"
        } else {
            "published_at"
        };
        let sql = format!("UPDATE outbox SET {column} = $1 WHERE id = $2");
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now());
        query.bind(id.0).execute(&self.pools().writer).await?;
        Ok(())
    }

    async fn mark_outbox_delivered(&self, id: EventId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'DELIVERED', delivered_at = $1, locked_by = NULL, \
             locked_until = NULL, attempts = attempts + 1 WHERE id = $2",
        )
        .bind(now())
        .bind(id.0)
        .execute(&self.pools().writer)
        .await?;
        Ok(())
    }

    async fn reschedule_outbox(
        &self,
        id: EventId,
        retry: OutboxRetry<'_>,
    ) -> Result<(), StoreError> {
        let release = "locked_by = NULL, locked_until = NULL";
        let sql = format!(
            "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, {release} \
             WHERE id = $4"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(retry.attempts);
        let query = query
            .bind(retry.next_attempt_at)
            .bind(retry.error.to_owned());
        query.bind(id.0).execute(&self.pools().writer).await?;
        Ok(())
    }

    async fn list_outbox(
        &self,
        status: OutboxStatus,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = "SELECT * FROM outbox WHERE status = $1 ORDER BY created_at LIMIT $2";
        let rows: Vec<OutboxRow> = sqlx::query_as(sql)
            .bind(status.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.pools().reader())
            .await?;
        rows.into_iter().map(OutboxRecord::try_from).collect()
    }

    async fn park_outbox(&self, id: EventId, attempts: i32, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'FAILED', attempts = $1, last_error = $2, \
             locked_by = NULL, locked_until = NULL WHERE id = $3",
        )
        .bind(attempts)
        .bind(error.to_owned())
        .bind(id.0)
        .execute(&self.pools().writer)
        .await?;
        Ok(())
    }

    async fn requeue_outbox(&self, id: EventId) -> Result<OutboxRecord, StoreError> {
        let sql = "UPDATE outbox SET status = 'PENDING', next_attempt_at = $1, locked_by = NULL, \
             locked_until = NULL WHERE id = $2 AND status <> 'DELIVERED' RETURNING *";
        let row: Option<OutboxRow> = sqlx::query_as(sql)
            .bind(now())
            .bind(id.0)
            .fetch_optional(&self.pools().writer)
            .await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let stats = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'PENDING') AS pending, \
             (SELECT COUNT(*) FROM outbox WHERE status = 'FAILED') AS failed, \
             (SELECT MIN(created_at) FROM outbox WHERE status = 'PENDING') AS oldest_pending_at",
        )
        .fetch_one(self.pools().reader())
        .await?;
        Ok(stats)
    }
}

fn first(orders: Vec<(i64, Order)>) -> Option<Order> {
    orders.into_iter().next().map(|(_, order)| order)
}
