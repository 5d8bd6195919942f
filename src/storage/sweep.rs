//! The reconciliation sweep's row (docs/interface.md): its watermark and the lease that lets
//! one instance sweep at a time. A lease is taken only when free or expired, renewed with
//! each watermark move, and every move is fenced by the owner: an instance whose lease
//! expired and was taken over cannot move the watermark any more. PostgreSQL uses the
//! database clock; SQLite serves one process, whose clock is the only one.

use super::shared::SqlBackend;
use super::{PostgresStore, SqliteStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, SqliteConnection};
use std::time::Duration;

const SWEEP: &str = "checkout_sessions";

/// A held lease and the watermark it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepLease {
    pub watermark: Option<DateTime<Utc>>,
}

/// The sweep's row, on either backend.
#[async_trait]
pub trait SweepStore {
    /// Takes the lease for `lease` if it is free, expired or already ours.
    async fn acquire_sweep_lease(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SweepLease>, StoreError>;
    /// Moves the watermark forward (never back) and renews the lease; `false` when the
    /// lease is no longer ours.
    async fn advance_sweep_watermark(
        &self,
        owner: &str,
        watermark: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    async fn release_sweep_lease(&self, owner: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl SweepStore for PostgresStore {
    async fn acquire_sweep_lease(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SweepLease>, StoreError> {
        pg_acquire(&mut *self.pools().write().await?, owner, lease).await
    }
    async fn advance_sweep_watermark(
        &self,
        owner: &str,
        watermark: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        pg_advance(&mut *self.pools().write().await?, owner, watermark, lease).await
    }
    async fn release_sweep_lease(&self, owner: &str) -> Result<(), StoreError> {
        pg_release(&mut *self.pools().write().await?, owner).await
    }
}

#[async_trait]
impl SweepStore for SqliteStore {
    async fn acquire_sweep_lease(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SweepLease>, StoreError> {
        sqlite_acquire(&mut *self.pools().write().await?, owner, lease).await
    }
    async fn advance_sweep_watermark(
        &self,
        owner: &str,
        watermark: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        sqlite_advance(&mut *self.pools().write().await?, owner, watermark, lease).await
    }
    async fn release_sweep_lease(&self, owner: &str) -> Result<(), StoreError> {
        sqlite_release(&mut *self.pools().write().await?, owner).await
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn pg_acquire(
    conn: &mut PgConnection,
    owner: &str,
    lease: Duration,
) -> Result<Option<SweepLease>, StoreError> {
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "UPDATE reconcile_sweeps \
         SET lease_owner = $2, lease_until = now() + make_interval(secs => $3::float8 / 1000) \
         WHERE name = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now()) \
         RETURNING watermark",
    )
    .bind(SWEEP)
    .bind(owner)
    .bind(millis(lease))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(watermark,)| SweepLease { watermark }))
}

async fn pg_advance(
    conn: &mut PgConnection,
    owner: &str,
    watermark: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE reconcile_sweeps SET watermark = GREATEST(watermark, $3), \
         lease_until = now() + make_interval(secs => $4::float8 / 1000) \
         WHERE name = $1 AND lease_owner = $2",
    )
    .bind(SWEEP)
    .bind(owner)
    .bind(watermark)
    .bind(millis(lease))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn pg_release(conn: &mut PgConnection, owner: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE reconcile_sweeps SET lease_owner = NULL, lease_until = NULL \
         WHERE name = $1 AND lease_owner = $2",
    )
    .bind(SWEEP)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}

async fn sqlite_acquire(
    conn: &mut SqliteConnection,
    owner: &str,
    lease: Duration,
) -> Result<Option<SweepLease>, StoreError> {
    let now = Utc::now().timestamp_millis();
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE reconcile_sweeps SET lease_owner = ?2, lease_until_ms = ?3 + ?4 \
         WHERE name = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until_ms < ?3) \
         RETURNING watermark_ms",
    )
    .bind(SWEEP)
    .bind(owner)
    .bind(now)
    .bind(millis(lease))
    .fetch_optional(conn)
    .await?;
    row.map(|(watermark,)| {
        let watermark = watermark
            .map(|ms| {
                DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| StoreError::Corrupt(format!("sweep watermark {ms}")))
            })
            .transpose()?;
        Ok(SweepLease { watermark })
    })
    .transpose()
}

async fn sqlite_advance(
    conn: &mut SqliteConnection,
    owner: &str,
    watermark: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE reconcile_sweeps SET watermark_ms = max(coalesce(watermark_ms, ?3), ?3), \
         lease_until_ms = ?4 WHERE name = ?1 AND lease_owner = ?2",
    )
    .bind(SWEEP)
    .bind(owner)
    .bind(watermark.timestamp_millis())
    .bind(Utc::now().timestamp_millis().saturating_add(millis(lease)))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn sqlite_release(conn: &mut SqliteConnection, owner: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE reconcile_sweeps SET lease_owner = NULL, lease_until_ms = NULL \
         WHERE name = ?1 AND lease_owner = ?2",
    )
    .bind(SWEEP)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}
