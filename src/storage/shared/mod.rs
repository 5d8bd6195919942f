//! The part of `OrderStore` that both backends run alike: every statement here is the same
//! text on SQLite and PostgreSQL (numbered `$n` parameters, `ON CONFLICT`, `RETURNING`).
//! A backend implements `SqlBackend` (its pools, how it writes a new order, how it locks
//! a claim) and gets `OrderStore` from the generic implementation below.

mod backend;
mod fetch;

pub use backend::{Bind, Decoded, Pools, SqlBackend};
pub use fetch::{BindRows, KeptTexts, insert_rows, insert_statement};

use super::outbox::{
    NewOutboxEvent, OUTBOX_COUNT_LIMIT, OutboxAttempt, OutboxClaim, OutboxCompletion, OutboxFilter,
    OutboxRecord, OutboxResult, OutboxStats, OutboxStatus,
};
use super::rows::{
    AttemptRow, HistoryRow, JoinedItemRow, ListedOrderRow, NewAttemptRow, NewOutboxRow, OutboxRow,
};
use super::{Inserted, OrderFilter, OrderPage, OrderStore, StatusChangeRecord, StoreError};
use crate::domain::order::{EVENT_STATUS_CHANGED, now};
use crate::domain::{CheckoutSessionId, EventId, Order, OrderEvent, OrderId, OrderOrigin};
use chrono::{DateTime, Utc};
use fetch::{fetch_orders, outbox_records, push_list, select_orders};
use sqlx::{Connection, Database, Executor, IntoArguments};
use std::time::Duration;
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
    JoinedItemRow: Decoded<B::Db>,
    HistoryRow: Decoded<B::Db>,
    OutboxRow: Decoded<B::Db>,
    AttemptRow: Decoded<B::Db>,
    (Uuid,): Decoded<B::Db>,
    OutboxStats: Decoded<B::Db>,
    B::Db: BindRows,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.pools().read().await?)
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
        Ok(first(
            fetch_orders(&mut *self.pools().read().await?, query).await?,
        ))
    }

    async fn order_by_checkout_session(
        &self,
        id: CheckoutSessionId,
    ) -> Result<Option<Order>, StoreError> {
        let mut query = select_orders();
        query.push(" AND checkout_session_id = ").push_bind(id.0);
        Ok(first(
            fetch_orders(&mut *self.pools().read().await?, query).await?,
        ))
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
        let orders = fetch_orders(&mut *self.pools().read().await?, query).await?;
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
        let mut conn = self.pools().write().await?;
        let mut tx = conn.begin().await?;
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
            .fetch_all(&mut *self.pools().read().await?)
            .await?;
        rows.into_iter().map(OrderEvent::try_from).collect()
    }

    async fn claim_outbox(&self, claim: OutboxClaim<'_>) -> Result<Vec<OutboxRecord>, StoreError> {
        self.outbox_write_turn().await;
        let token = Uuid::new_v4();
        let sql = format!(
            "UPDATE outbox SET locked_by = $1, lease_token = $2, locked_until = {lease} \
             WHERE id IN \
             (SELECT id FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= {now} \
              AND (locked_until IS NULL OR locked_until < {now}) \
              AND (($4 AND notified_at IS NULL) OR ($5 AND published_at IS NULL)) \
              AND NOT EXISTS (SELECT 1 FROM outbox AS earlier \
                  WHERE earlier.order_id = outbox.order_id AND earlier.status = 'PENDING' \
                  AND earlier.sequence < outbox.sequence) \
              ORDER BY next_attempt_at LIMIT $6 {lock}) RETURNING *",
            lease = B::lease_until("$3"),
            now = B::NOW,
            lock = B::CLAIM_LOCK
        );
        let rows: Vec<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(claim.worker.to_owned())
            .bind(token)
            .bind(millis(claim.lease))
            .bind(claim.sinks.webhook)
            .bind(claim.sinks.nats)
            .bind(i64::from(claim.limit))
            .fetch_all(&mut *self.pools().write().await?)
            .await?;
        outbox_records(&mut *self.pools().read().await?, rows).await
    }

    async fn renew_outbox_lease(
        &self,
        token: Uuid,
        ids: &[EventId],
        lease: Duration,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.outbox_write_turn().await;
        // By id (the primary key): the lease token is not indexed, so a claim and its
        // renewals change no index.
        let placeholders: Vec<String> = (3..ids.len() + 3).map(|n| format!("${n}")).collect();
        let sql = format!(
            "UPDATE outbox SET locked_until = {} WHERE lease_token = $2 AND status = 'PENDING' \
             AND id IN ({})",
            B::lease_until("$1"),
            placeholders.join(", ")
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(lease))
            .bind(token);
        for id in ids {
            update = update.bind(id.0);
        }
        let done = update.execute(&mut *self.pools().write().await?).await?;
        Ok(B::rows_affected(&done))
    }

    async fn renew_outbox_event(
        &self,
        id: EventId,
        token: Uuid,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.outbox_write_turn().await;
        let sql = format!(
            "UPDATE outbox SET locked_until = {} WHERE id = $1 AND lease_token = $2 \
             AND status = 'PENDING'",
            B::lease_until("$3")
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(token)
            .bind(millis(lease))
            .execute(&mut *self.pools().write().await?)
            .await?;
        Ok(B::rows_affected(&done) == 1)
    }

    async fn mark_outbox_sink_done(
        &self,
        id: EventId,
        token: Uuid,
        webhook: bool,
    ) -> Result<bool, StoreError> {
        self.outbox_write_turn().await;
        let column = if webhook {
            "notified_at"
        } else {
            "published_at"
        };
        let sql = format!(
            "UPDATE outbox SET {column} = $1 WHERE id = $2 AND lease_token = $3 \
             AND status = 'PENDING'"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now())
            .bind(id.0)
            .bind(token)
            .execute(&mut *self.pools().write().await?)
            .await?;
        Ok(B::rows_affected(&done) == 1)
    }

    async fn complete_outbox_batch(
        &self,
        token: Uuid,
        results: &[OutboxResult<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        const RELEASE: &str = "locked_by = NULL, locked_until = NULL, lease_token = NULL";
        const FENCE: &str = "WHERE id = $1 AND lease_token = $2 AND status = 'PENDING'";
        let attempts: Vec<NewAttemptRow> = (results.iter())
            .filter_map(|r| {
                r.attempt.map(|attempt| NewAttemptRow {
                    event_id: r.id,
                    attempt,
                })
            })
            .collect();
        self.outbox_write_turn().await;
        let mut conn = self.pools().write().await?;
        let mut tx = conn.begin().await?;
        if !attempts.is_empty() {
            insert_rows("outbox_attempts", &attempts)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        // Deliveries sharing their attempt count and sinks: one statement for them all.
        let mut delivered: Vec<((i32, bool), Vec<usize>)> = Vec::new();
        for (i, result) in results.iter().enumerate() {
            if let OutboxCompletion::Delivered { attempts, webhook } = *result.completion {
                match delivered
                    .iter_mut()
                    .find(|(key, _)| *key == (attempts, webhook))
                {
                    Some((_, members)) => members.push(i),
                    None => delivered.push(((attempts, webhook), vec![i])),
                }
            }
        }
        let mut held = vec![false; results.len()];
        for ((attempts, webhook), members) in delivered {
            let at = now();
            let mut update = sqlx::QueryBuilder::<B::Db>::new(
                "UPDATE outbox SET status = 'DELIVERED', last_error = NULL, ",
            );
            update.push(RELEASE).push(", delivered_at = ").push_bind(at);
            if webhook {
                update
                    .push(", notified_at = COALESCE(notified_at, ")
                    .push_bind(at)
                    .push(")");
            }
            update.push(", attempts = ").push_bind(attempts);
            update.push(" WHERE lease_token = ").push_bind(token);
            update.push(" AND status = 'PENDING' AND id IN ");
            push_list(&mut update, members.iter().map(|&i| results[i].id.0));
            update.push(" RETURNING id");
            let updated: Vec<(Uuid,)> = update.build_query_as().fetch_all(&mut *tx).await?;
            for i in members {
                held[i] = updated.iter().any(|(id,)| *id == results[i].id.0);
            }
        }
        for (i, result) in results.iter().enumerate() {
            let id = result.id;
            let done = match result.completion {
                OutboxCompletion::Delivered { .. } => continue,
                OutboxCompletion::Retry(retry) => {
                    let sql = format!(
                        "UPDATE outbox SET attempts = $3, next_attempt_at = $4, last_error = $5, \
                         {RELEASE} {FENCE}"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.0)
                        .bind(token)
                        .bind(retry.attempts)
                        .bind(retry.next_attempt_at)
                        .bind(retry.error.clone())
                        .execute(&mut *tx)
                        .await?
                }
                OutboxCompletion::Park { attempts, error } => {
                    let sql = format!(
                        "UPDATE outbox SET status = 'FAILED', attempts = $3, last_error = $4, \
                         {RELEASE} {FENCE}"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.0)
                        .bind(token)
                        .bind(attempts)
                        .bind(error.clone())
                        .execute(&mut *tx)
                        .await?
                }
            };
            held[i] = B::rows_affected(&done) == 1;
        }
        tx.commit().await?;
        Ok(held)
    }

    async fn list_outbox_page(
        &self,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut query = sqlx::QueryBuilder::<B::Db>::new("SELECT * FROM outbox WHERE 1 = 1");
        if let Some(status) = filter.status {
            // A literal, not a parameter: only then can the planner use the partial index
            // of that status.
            query.push(format_args!(" AND status = '{}'", status.as_str()));
        }
        if let Some(order) = filter.order_id {
            query.push(" AND order_id = ").push_bind(order.0);
        }
        if let Some((at, id)) = filter.after {
            query.push(" AND (created_at > ").push_bind(at);
            query.push(" OR (created_at = ").push_bind(at);
            query.push(" AND id > ").push_bind(id.0).push("))");
        }
        query.push(" ORDER BY created_at, id LIMIT ");
        query.push_bind(i64::from(filter.limit));
        let mut conn = self.pools().read().await?;
        let rows: Vec<OutboxRow> = query.build_query_as().fetch_all(&mut *conn).await?;
        outbox_records(&mut *conn, rows).await
    }

    async fn outbox_event(&self, id: EventId) -> Result<Option<OutboxRecord>, StoreError> {
        let mut conn = self.pools().read().await?;
        let row: Option<OutboxRow> = sqlx::query_as("SELECT * FROM outbox WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        let rows = Vec::from_iter(row);
        Ok(outbox_records(&mut *conn, rows).await?.pop())
    }

    async fn outbox_attempts(&self, id: EventId) -> Result<Vec<OutboxAttempt>, StoreError> {
        let rows: Vec<AttemptRow> =
            sqlx::query_as("SELECT * FROM outbox_attempts WHERE event_id = $1 ORDER BY id")
                .bind(id.0)
                .fetch_all(&mut *self.pools().read().await?)
                .await?;
        Ok(rows.into_iter().map(OutboxAttempt::from).collect())
    }

    async fn requeue_outbox(&self, id: EventId) -> Result<OutboxRecord, StoreError> {
        let sql = format!("{REQUEUE} WHERE id = $2 RETURNING *");
        let row: Option<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now())
            .bind(id.0)
            .fetch_optional(&mut *self.pools().write().await?)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        let mut records = outbox_records(&mut *self.pools().read().await?, vec![row]).await?;
        records.pop().ok_or(StoreError::NotFound)
    }

    async fn replay_outbox(
        &self,
        status: OutboxStatus,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // The status as a literal, so the planner can use that status's partial index.
        let sql = format!(
            "{REQUEUE} WHERE status = '{}' AND created_at >= $2 AND created_at < $3",
            status.as_str()
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now())
            .bind(since)
            .bind(until)
            .execute(&mut *self.pools().write().await?)
            .await?;
        Ok(B::rows_affected(&done))
    }

    async fn purge_delivered_outbox(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, StoreError> {
        self.outbox_write_turn().await;
        let mut conn = self.pools().write().await?;
        let mut tx = conn.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'DELIVERED' \
             AND delivered_at < $1 LIMIT $2) RETURNING id",
        )
        .bind(before)
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await?;
        if !ids.is_empty() {
            let mut attempts =
                sqlx::QueryBuilder::<B::Db>::new("DELETE FROM outbox_attempts WHERE event_id IN ");
            push_list(&mut attempts, ids.iter().copied());
            attempts.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE status = 'PENDING' \
               LIMIT {OUTBOX_COUNT_LIMIT}) AS p) AS pending, \
             (SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE status = 'FAILED' \
               LIMIT {OUTBOX_COUNT_LIMIT}) AS f) AS failed, \
             (SELECT MIN(created_at) FROM outbox WHERE status = 'PENDING') AS oldest_pending_at"
        );
        let stats: OutboxStats = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *self.pools().read().await?)
            .await?;
        self.outbox_backlog_counted(stats.pending).await;
        Ok(stats)
    }
}

/// Back in the queue, due at `$1`: PENDING again, a delivered one's sinks owed again (a
/// replay); the lease columns are left alone, so a live claim keeps its event.
const REQUEUE: &str = "UPDATE outbox SET \
     notified_at = CASE WHEN status = 'DELIVERED' THEN NULL ELSE notified_at END, \
     published_at = CASE WHEN status = 'DELIVERED' THEN NULL ELSE published_at END, \
     delivered_at = NULL, status = 'PENDING', next_attempt_at = $1, requeued_at = $1";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn first(orders: Vec<(i64, Order)>) -> Option<Order> {
    orders.into_iter().next().map(|(_, order)| order)
}
