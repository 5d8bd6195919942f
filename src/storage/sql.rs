//! The SQL both backends share. The statements are the same text on SQLite and PostgreSQL
//! (numbered `$n` parameters, `ON CONFLICT`, `RETURNING`); only the outbox claim differs,
//! so each backend passes its own. Each backend also writes a new order its own fastest
//! way (`write_new_order`: one statement on PostgreSQL, group commit on SQLite). A macro
//! rather than generics because sqlx's per-type trait bounds for two databases would drown
//! the queries.

pub(super) const ORDER_COLUMNS: &str = "seq, id, user_id, email, checkout_session_id, \
    payment_intent_id, status, currency, subtotal_minor, shipping_minor, tax_minor, \
    discount_minor, total_minor, shipping_address, billing_address, tracking_number, \
    cancellation_reason, version, created_at, updated_at";

pub(super) const OUTBOX_COLUMNS: &str = "id, event_type, order_id, payload, status, attempts, \
    notified_at, published_at, next_attempt_at, last_error, created_at, delivered_at";

/// `$sinks` conditions shared by both claim statements.
pub(super) const DUE_OUTBOX: &str = "status = 'PENDING' AND next_attempt_at <= $3 \
    AND (locked_until IS NULL OR locked_until < $3) \
    AND (($4 AND notified_at IS NULL) OR ($5 AND published_at IS NULL))";

macro_rules! impl_order_store {
    ($store:ty, $db:ty, $backend:literal, claim_suffix = $claim_suffix:literal) => {
        use $crate::domain::{
            Actor, Address, CheckoutSessionId, EventId, Money, Order, OrderEvent, OrderId,
            OrderItem, OrderItemId, OrderStatus, Quantity, StatusChange, UserId,
        };
        use $crate::outbox::{NewOutboxEvent, OutboxRecord, OutboxStats, OutboxStatus};
        use $crate::storage::sql::{DUE_OUTBOX, ORDER_COLUMNS, OUTBOX_COLUMNS};
        use $crate::storage::{
            Inserted, OrderFilter, OrderPage, OrderStore, Sinks, StoreError,
        };
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;
        use sqlx::{QueryBuilder, Row};
        use std::collections::HashMap;
        use std::time::Duration;
        use uuid::Uuid;

        type DbRow = <$db as sqlx::Database>::Row;

        fn corrupt(what: impl std::fmt::Display) -> StoreError {
            StoreError::Corrupt(what.to_string())
        }

        fn money(row: &DbRow, column: &str) -> Result<Money, StoreError> {
            Money::from_minor_units(row.try_get(column)?).map_err(|e| corrupt(format!("{column}: {e}")))
        }

        fn status(text: &str) -> Result<OrderStatus, StoreError> {
            text.parse().map_err(corrupt)
        }

        /// An order row without its items, and its keyset position.
        fn order_from_row(row: &DbRow) -> Result<(i64, Order), StoreError> {
            let user_id: String = row.try_get("user_id")?;
            let status_text: String = row.try_get("status")?;
            let order = Order {
                id: OrderId(row.try_get("id")?),
                user_id: UserId::parse(&user_id).ok_or_else(|| corrupt("blank user_id"))?,
                checkout_session_id: CheckoutSessionId(row.try_get("checkout_session_id")?),
                payment_intent_id: row.try_get("payment_intent_id")?,
                status: status(&status_text)?,
                currency: row.try_get("currency")?,
                total_amount: money(row, "total_minor")?,
                subtotal_amount: money(row, "subtotal_minor")?,
                shipping_amount: money(row, "shipping_minor")?,
                tax_amount: money(row, "tax_minor")?,
                discount_amount: money(row, "discount_minor")?,
                items: Vec::new(),
                shipping_address: row.try_get::<Json<Address>, _>("shipping_address")?.0,
                billing_address: row.try_get::<Json<Address>, _>("billing_address")?.0,
                tracking_number: row.try_get("tracking_number")?,
                cancellation_reason: row.try_get("cancellation_reason")?,
                email: row.try_get("email")?,
                version: row.try_get("version")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            };
            Ok((row.try_get("seq")?, order))
        }

        fn item_from_row(row: &DbRow) -> Result<(Uuid, OrderItem), StoreError> {
            let quantity: i32 = row.try_get("quantity")?;
            let item = OrderItem {
                id: OrderItemId(row.try_get("id")?),
                product_id: row.try_get("product_id")?,
                name: row.try_get("name")?,
                price: money(row, "price_minor")?,
                quantity: u64::try_from(quantity)
                    .ok()
                    .and_then(Quantity::new)
                    .ok_or_else(|| corrupt("quantity"))?,
            };
            Ok((row.try_get("order_id")?, item))
        }

        fn outbox_from_row(row: &DbRow) -> Result<OutboxRecord, StoreError> {
            let status_text: String = row.try_get("status")?;
            let payload: String = row.try_get("payload")?;
            Ok(OutboxRecord {
                id: EventId(row.try_get("id")?),
                event_type: row.try_get("event_type")?,
                order_id: OrderId(row.try_get("order_id")?),
                status: OutboxStatus::parse(&status_text).ok_or_else(|| corrupt("outbox status"))?,
                attempts: row.try_get("attempts")?,
                notified_at: row.try_get("notified_at")?,
                published_at: row.try_get("published_at")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                delivered_at: row.try_get("delivered_at")?,
                payload: serde_json::value::RawValue::from_string(payload).map_err(corrupt)?,
            })
        }

        async fn insert_outbox<'c, E>(executor: E, event: &NewOutboxEvent, now: DateTime<Utc>) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO outbox (id, event_type, order_id, payload, status, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, $5)",
            )
            .bind(event.id.0)
            .bind(event.event_type)
            .bind(event.order_id.0)
            .bind(&event.payload)
            .bind(now)
            .execute(executor)
            .await?;
            Ok(())
        }

        #[allow(clippy::too_many_arguments)]
        async fn insert_history<'c, E>(
            executor: E,
            order: &Order,
            kind: &str,
            from: Option<OrderStatus>,
            actor: &str,
            reason: Option<&str>,
            tracking_number: Option<&str>,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, \
                 tracking_number, version, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(order.id.0)
            .bind(kind)
            .bind(from.map(|s| s.as_str()))
            .bind(order.status.as_str())
            .bind(actor)
            .bind(reason)
            .bind(tracking_number)
            .bind(order.version)
            .bind(order.updated_at)
            .execute(executor)
            .await?;
            Ok(())
        }

        impl $store {
            /// Loads the items of `orders` in one query and attaches them in position order.
            async fn attach_items(&self, orders: &mut [(i64, Order)]) -> Result<(), StoreError> {
                if orders.is_empty() {
                    return Ok(());
                }
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT id, order_id, product_id, name, price_minor, quantity FROM order_items \
                     WHERE order_id IN (",
                );
                let mut ids = query.separated(", ");
                for (_, order) in orders.iter() {
                    ids.push_bind(order.id.0);
                }
                query.push(") ORDER BY order_id, position");
                let rows = query.build().fetch_all(self.reader()).await?;
                let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
                for row in &rows {
                    let (order_id, item) = item_from_row(row)?;
                    by_order.entry(order_id).or_default().push(item);
                }
                for (_, order) in orders.iter_mut() {
                    order.items = by_order.remove(&order.id.0).unwrap_or_default();
                }
                Ok(())
            }

            async fn order_where(&self, column: &str, value: Uuid) -> Result<Option<Order>, StoreError> {
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {column} = $1");
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(self.reader()).await? else {
                    return Ok(None);
                };
                let mut found = [order_from_row(&row)?];
                self.attach_items(&mut found).await?;
                let [(_, order)] = found;
                Ok(Some(order))
            }
        }

        #[async_trait::async_trait]
        impl OrderStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            fn pool_usage(&self) -> (u32, u32, u32) {
                self.usage()
            }

            async fn insert_order(&self, order: &Order, outbox: &NewOutboxEvent, origin: $crate::domain::OrderOrigin) -> Result<Inserted, StoreError> {
                // Each backend writes the order its fastest way (see `write_new_order`).
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
                self.order_where("id", id.0).await
            }

            async fn order_by_checkout_session(&self, id: CheckoutSessionId) -> Result<Option<Order>, StoreError> {
                self.order_where("checkout_session_id", id.0).await
            }

            async fn list_orders(&self, filter: &OrderFilter) -> Result<OrderPage, StoreError> {
                let mut query = QueryBuilder::<$db>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE 1 = 1"));
                if let Some(user) = &filter.user_id {
                    query.push(" AND user_id = ").push_bind(user.as_str().to_owned());
                }
                if let Some(status) = filter.status {
                    query.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(before) = filter.before {
                    query.push(" AND seq < ").push_bind(before);
                }
                query.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(filter.limit));
                let rows = query.build().fetch_all(self.reader()).await?;
                let mut orders = rows.iter().map(order_from_row).collect::<Result<Vec<_>, _>>()?;
                self.attach_items(&mut orders).await?;
                Ok(OrderPage { orders })
            }

            async fn save_status_change(
                &self,
                order: &Order,
                previous_version: i64,
                from: OrderStatus,
                actor: &Actor,
                change: &StatusChange,
                outbox: &NewOutboxEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE orders SET status = $1, tracking_number = $2, cancellation_reason = $3, \
                     version = $4, updated_at = $5 WHERE id = $6 AND version = $7",
                )
                .bind(order.status.as_str())
                .bind(order.tracking_number.as_deref())
                .bind(order.cancellation_reason.as_deref())
                .bind(order.version)
                .bind(order.updated_at)
                .bind(order.id.0)
                .bind(previous_version)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict);
                }
                insert_history(
                    &mut *tx,
                    order,
                    $crate::domain::order::EVENT_STATUS_CHANGED,
                    Some(from),
                    actor.user_id.as_str(),
                    change.reason.as_deref(),
                    change.tracking_number.as_deref(),
                )
                .await?;
                insert_outbox(&mut *tx, outbox, order.updated_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn order_history(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT kind, from_status, to_status, actor, reason, tracking_number, version, at, \
                     origin FROM order_events WHERE order_id = $1 ORDER BY id",
                )
                .bind(id.0)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        let from: Option<String> = row.try_get("from_status")?;
                        let to: String = row.try_get("to_status")?;
                        Ok(OrderEvent {
                            kind: row.try_get("kind")?,
                            from_status: from.as_deref().map(status).transpose()?,
                            to_status: status(&to)?,
                            actor: row.try_get("actor")?,
                            at: row.try_get("at")?,
                            version: row.try_get("version")?,
                            reason: row.try_get("reason")?,
                            tracking_number: row.try_get("tracking_number")?,
                            origin: row
                                .try_get::<Option<String>, _>("origin")?
                                .map(|o| $crate::domain::OrderOrigin::parse(&o).ok_or_else(|| StoreError::Corrupt(format!("origin {o}"))))
                                .transpose()?,
                        })
                    })
                    .collect()
            }

            async fn claim_outbox(&self, worker: &str, lease: Duration, limit: u32, sinks: Sinks) -> Result<Vec<OutboxRecord>, StoreError> {
                let now = $crate::domain::order::now();
                let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
                let sql = format!(
                    "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN \
                     (SELECT id FROM outbox WHERE {DUE_OUTBOX} ORDER BY next_attempt_at LIMIT $6 {}) \
                     RETURNING {OUTBOX_COLUMNS}",
                    $claim_suffix
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(sinks.webhook)
                    .bind(sinks.nats)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await?;
                rows.iter().map(outbox_from_row).collect()
            }

            async fn mark_outbox_sink_done(&self, id: EventId, webhook: bool) -> Result<(), StoreError> {
                let column = if webhook { "notified_at" } else { "published_at" };
                let sql = format!("UPDATE outbox SET {column} = $1 WHERE id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind($crate::domain::order::now()).bind(id.0).execute(self.writer()).await?;
                Ok(())
            }

            async fn mark_outbox_delivered(&self, id: EventId) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET status = 'DELIVERED', delivered_at = $1, locked_by = NULL, \
                     locked_until = NULL, attempts = attempts + 1 WHERE id = $2",
                )
                .bind($crate::domain::order::now())
                .bind(id.0)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn reschedule_outbox(&self, id: EventId, attempts: i32, next_attempt_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, \
                     locked_by = NULL, locked_until = NULL WHERE id = $4",
                )
                .bind(attempts)
                .bind(next_attempt_at)
                .bind(error)
                .bind(id.0)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn park_outbox(&self, id: EventId, attempts: i32, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET status = 'FAILED', attempts = $1, last_error = $2, \
                     locked_by = NULL, locked_until = NULL WHERE id = $3",
                )
                .bind(attempts)
                .bind(error)
                .bind(id.0)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn list_outbox(&self, status: OutboxStatus, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
                let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = $1 ORDER BY created_at LIMIT $2");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(status.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(outbox_from_row).collect()
            }

            async fn requeue_outbox(&self, id: EventId) -> Result<OutboxRecord, StoreError> {
                let sql = format!(
                    "UPDATE outbox SET status = 'PENDING', next_attempt_at = $1, locked_by = NULL, \
                     locked_until = NULL WHERE id = $2 AND status <> 'DELIVERED' RETURNING {OUTBOX_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind($crate::domain::order::now())
                    .bind(id.0)
                    .fetch_optional(self.writer())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                outbox_from_row(&row)
            }

            async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
                let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'PENDING'")
                    .fetch_one(self.reader())
                    .await?;
                let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'FAILED'")
                    .fetch_one(self.reader())
                    .await?;
                let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
                    "SELECT created_at FROM outbox WHERE status = 'PENDING' ORDER BY created_at LIMIT 1",
                )
                .fetch_optional(self.reader())
                .await?;
                Ok(OutboxStats { pending, failed, oldest_pending_at: oldest })
            }
        }
    };
}

pub(super) use impl_order_store;
