//! Sessions in the reference Checkout Service's own SQLite database.
//!
//! One connection: every statement queues in the pool instead of racing for SQLite's
//! write lock, which also makes `sqlite::memory:` work. State changes are single guarded
//! `UPDATE`s (`WHERE status = 'PENDING' AND …`), so a session completes at most once and
//! never after it expired, whoever asks.

use super::request::NewSession;
use super::session::{CartSnapshot, Session, SessionItem, SessionStatus};
use crate::domain::{Address, Currency, Money};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
}

/// Why a session could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("no such checkout session")]
    NotFound,
    #[error("the checkout session expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the checkout session was already completed with another payment intent")]
    CompletedOtherwise,
    #[error(transparent)]
    Store(#[from] SessionStoreError),
}

/// A hundred years in milliseconds.
const MAX_TTL_MS: i64 = 100 * 366 * 24 * 3600 * 1000;

pub struct SessionStore {
    pool: SqlitePool,
}

fn corrupt(what: impl std::fmt::Display) -> SessionStoreError {
    SessionStoreError::Corrupt(what.to_string())
}

fn time(ms: i64) -> Result<DateTime<Utc>, SessionStoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(format!("timestamp {ms}")))
}

/// `minor_units`: the exponent of the session's currency, which the stored integers count in.
fn money(row: &SqliteRow, column: &str, minor_units: u32) -> Result<Money, SessionStoreError> {
    Money::from_minor_units(row.try_get(column)?, minor_units)
        .map_err(|e| corrupt(format!("{column}: {e}")))
}

fn address(text: Option<String>) -> Result<Option<Address>, SessionStoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(corrupt))
        .transpose()
}

impl SessionStore {
    /// Opens (creating if missing) the database and applies the embedded migrations.
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A connection left inside a transaction (a failed COMMIT) is closed, never reused.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(crate::storage::discard_if_in_transaction)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/checkout").run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn ping(&self) -> Result<(), SessionStoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Stores a new PENDING session that expires `ttl` after `now`, and returns it.
    pub async fn insert(
        &self,
        new: &NewSession,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Session, SessionStoreError> {
        let id = Uuid::new_v4();
        let created_ms = now.timestamp_millis();
        // Capped at a century so that an absurd SESSION_TTL_SECS still gives a real date.
        let ttl_ms = i64::try_from(ttl.as_millis())
            .unwrap_or(i64::MAX)
            .min(MAX_TTL_MS);
        let to_json = |a: &Address| serde_json::to_string(a).expect("address serializes");
        let t = &new.totals;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO checkout_sessions (id, user_id, email, status, currency, cart_id, \
             subtotal_minor, shipping_minor, tax_minor, discount_minor, total_minor, \
             shipping_address, billing_address, created_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(new.user_id.as_str())
        .bind(&new.email)
        .bind(&new.currency)
        .bind(&new.cart_id)
        .bind(t.subtotal.minor_units())
        .bind(t.shipping.minor_units())
        .bind(t.tax.minor_units())
        .bind(t.discount.minor_units())
        .bind(t.total.minor_units())
        .bind(to_json(&new.shipping_address))
        .bind(new.billing_address.as_ref().map(to_json))
        .bind(created_ms)
        .bind(created_ms.saturating_add(ttl_ms))
        .execute(&mut *tx)
        .await?;
        for (position, item) in new.items.iter().enumerate() {
            sqlx::query(
                "INSERT INTO checkout_session_items \
                 (session_id, position, product_id, name, price_minor, quantity) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(position as i64)
            .bind(&item.product_id)
            .bind(&item.name)
            .bind(item.price.minor_units())
            .bind(i64::from(item.quantity.get()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.read(id)
            .await?
            .ok_or_else(|| corrupt("inserted session vanished"))
    }

    /// The session as of `now`: a PENDING session past its expiry is marked EXPIRED first.
    pub async fn find(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, SessionStoreError> {
        sqlx::query(
            "UPDATE checkout_sessions SET status = 'EXPIRED' \
             WHERE id = ? AND status = 'PENDING' AND expires_at_ms <= ?",
        )
        .bind(id.to_string())
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await?;
        self.read(id).await
    }

    /// Marks a PENDING, unexpired session COMPLETED. Completing it again with the same
    /// payment intent answers the completed session (a client's retry is harmless).
    pub async fn complete(
        &self,
        id: Uuid,
        payment_intent_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Session, CompleteError> {
        let now_ms = now.timestamp_millis();
        let done = sqlx::query(
            "UPDATE checkout_sessions \
             SET status = 'COMPLETED', payment_intent_id = ?, completed_at_ms = ? \
             WHERE id = ? AND status = 'PENDING' AND expires_at_ms > ?",
        )
        .bind(payment_intent_id)
        .bind(now_ms)
        .bind(id.to_string())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(SessionStoreError::from)?;
        let session = self.find(id, now).await?.ok_or(CompleteError::NotFound)?;
        match session.status {
            SessionStatus::Completed
                if done.rows_affected() == 1
                    || session.payment_intent_id.as_deref() == Some(payment_intent_id) =>
            {
                Ok(session)
            }
            SessionStatus::Completed => Err(CompleteError::CompletedOtherwise),
            SessionStatus::Expired => Err(CompleteError::Expired(session.expires_at)),
            SessionStatus::Pending => Err(corrupt("pending session refused completion").into()),
        }
    }

    async fn read(&self, id: Uuid) -> Result<Option<Session>, SessionStoreError> {
        let Some(row) = sqlx::query("SELECT * FROM checkout_sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let currency: String = row.try_get("currency")?;
        let units = Currency::minor_units_of(&currency);
        let items = sqlx::query(
            "SELECT product_id, name, price_minor, quantity FROM checkout_session_items \
             WHERE session_id = ? ORDER BY position",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SessionItem {
                product_id: r.try_get("product_id")?,
                name: r.try_get("name")?,
                price: money(r, "price_minor", units)?,
                quantity: u32::try_from(r.try_get::<i64, _>("quantity")?).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>, SessionStoreError>>()?;
        session_from_row(&row, items, units).map(Some)
    }
}

fn session_from_row(
    row: &SqliteRow,
    items: Vec<SessionItem>,
    units: u32,
) -> Result<Session, SessionStoreError> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let shipping_address =
        address(row.try_get("shipping_address")?)?.ok_or_else(|| corrupt("no shipping address"))?;
    let billing_address =
        address(row.try_get("billing_address")?)?.unwrap_or_else(|| shipping_address.clone());
    Ok(Session {
        id: Uuid::parse_str(&id).map_err(corrupt)?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        status: SessionStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        currency: row.try_get("currency")?,
        cart_snapshot: CartSnapshot {
            cart_id: row.try_get("cart_id")?,
            items,
            subtotal: money(row, "subtotal_minor", units)?,
        },
        shipping_amount: money(row, "shipping_minor", units)?,
        tax_amount: money(row, "tax_minor", units)?,
        discount_amount: money(row, "discount_minor", units)?,
        total_amount: money(row, "total_minor", units)?,
        shipping_address,
        billing_address,
        payment_intent_id: row.try_get("payment_intent_id")?,
        created_at: time(row.try_get("created_at_ms")?)?,
        completed_at: row
            .try_get::<Option<i64>, _>("completed_at_ms")?
            .map(time)
            .transpose()?,
        expires_at: time(row.try_get("expires_at_ms")?)?,
    })
}
