//! PostgreSQL backend: one pool shared by every request and the outbox worker. Several
//! service instances may share the database; the unique key on the checkout session and
//! `FOR UPDATE SKIP LOCKED` claims keep them from stepping on each other.

mod new_order;

use super::health::{Monitor, PROBE_SQL, StorageUsage, monitor};
use super::outbox::NewOutboxEvent;
use super::pool::Pool;
use super::shared::{Pools, SqlBackend};
use super::{StorageHealth, StoreError};
use crate::domain::{Order, OrderOrigin};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct PostgresStore {
    /// One pool for reads and writes.
    pools: Pools<Postgres>,
    health: Arc<StorageHealth>,
    _monitor: Monitor,
    /// The pending count when this instance last analyzed the outbox (see
    /// `outbox_backlog_counted`).
    analyzed_at_backlog: AtomicI64,
}

/// A backlog smaller than this is planned well enough whatever the statistics say.
const ANALYZE_FROM_BACKLOG: i64 = 1_000;

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = connect_options(url, std::env::var_os("PGSSLMODE").is_some())?;
        let pool: Pool<Postgres> =
            Pool::connect(options, max_connections, std::time::Duration::from_secs(3)).await?;
        sqlx::migrate!("migrations/postgres")
            .run(&mut *pool.acquire().await?)
            .await?;
        let health = Arc::new(StorageHealth::default());
        let (probe_pool, sample_pool) = (pool.clone(), pool.clone());
        let monitor = monitor(
            health.clone(),
            Box::new(move || {
                let pool = probe_pool.clone();
                Box::pin(async move {
                    sqlx::query(PROBE_SQL)
                        .execute(&mut *pool.acquire().await?)
                        .await?;
                    Ok(())
                })
            }),
            Box::new(move || {
                let pool = sample_pool.clone();
                Box::pin(async move {
                    let Ok(mut conn) = pool.acquire().await else {
                        return StorageUsage::default();
                    };
                    let size: Option<i64> =
                        sqlx::query_scalar("SELECT pg_database_size(current_database())")
                            .fetch_one(&mut *conn)
                            .await
                            .ok();
                    StorageUsage {
                        database_bytes: size.and_then(|s| u64::try_from(s).ok()),
                        free_bytes: None,
                    }
                })
            }),
        );
        let pools = Pools {
            writer: pool,
            reader: None,
        };
        Ok(Self {
            pools,
            health,
            _monitor: monitor,
            analyzed_at_backlog: AtomicI64::new(0),
        })
    }
}

/// The connection options of `url`. Unless TLS is asked about (`sslmode` in the URL, or
/// `PGSSLMODE` set: `sslmode_set`), a server on the loopback interface or a Unix socket is
/// reached without TLS: its bytes never leave the machine, and TLS cost 6–8 % of the
/// instructions of a read or an order (BENCHMARKS.md). Any other server keeps the
/// driver's default, `prefer`.
fn connect_options(url: &str, sslmode_set: bool) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url)?;
    if sslmode_set || url.contains("sslmode=") {
        return Ok(options);
    }
    let host = options.get_host();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.starts_with('/')
        || host == "localhost"
        || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok(match local {
        true => options.ssl_mode(PgSslMode::Disable),
        false => options,
    })
}

#[async_trait::async_trait]
impl SqlBackend for PostgresStore {
    type Db = Postgres;
    const NAME: &'static str = "postgres";

    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<bool, StoreError> {
        let outcome = new_order::write_new_order(&self.pools.writer, order, outbox, origin).await;
        self.health.record_write(&outcome);
        outcome
    }

    /// Another instance's worker skips the rows this claim is taking instead of waiting.
    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";
    /// The database server's clock, shared by every instance.
    const NOW: &'static str = "clock_timestamp()";

    fn lease_until(param: &str) -> String {
        format!("(clock_timestamp() + {param}::float8 * interval '1 millisecond')")
    }

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn pools(&self) -> &Pools<Postgres> {
        &self.pools
    }

    fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// The claim walks the `outbox_due` index in due order and stops after a batch — when
    /// the planner knows the outbox holds many pending events. Autovacuum refreshes that
    /// knowledge only once 10 % of a table changed, and at most once a minute, so a backlog
    /// that grew from nothing in seconds (a receiver down in a sale) was planned as a few
    /// rows: every claim read, anti-joined and sorted all pending events (33 ms at 19,500,
    /// growing with the backlog; BENCHMARKS.md). So each time the backlog has doubled since
    /// this instance last looked, it analyzes the outbox (`SKIP_LOCKED`: never waits on
    /// another instance's or autovacuum's ANALYZE; a few tens of ms, reads and writes go
    /// on). A backlog that drained lets the next growth count again.
    async fn outbox_backlog_counted(&self, pending: i64) {
        let analyzed = self.analyzed_at_backlog.load(Ordering::Relaxed);
        if pending < analyzed / 4 {
            self.analyzed_at_backlog.store(pending, Ordering::Relaxed);
        }
        if pending < ANALYZE_FROM_BACKLOG || pending < analyzed.saturating_mul(2) {
            return;
        }
        self.analyzed_at_backlog.store(pending, Ordering::Relaxed);
        let analyzed = async {
            let mut conn = self.pools.write().await?;
            sqlx::query("ANALYZE (SKIP_LOCKED) outbox")
                .execute(&mut *conn)
                .await
        };
        match analyzed.await {
            Ok(_) => tracing::info!(pending, "outbox statistics refreshed for a growing backlog"),
            Err(e) => tracing::warn!(error = %e, "could not analyze the outbox"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str, sslmode_set: bool) -> PgSslMode {
        connect_options(url, sslmode_set).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_local_server_is_reached_without_tls_unless_tls_is_asked_about() {
        for local in [
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@localhost/db",
            "postgres://u@[::1]:5432/db",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
        ] {
            assert!(matches!(mode(local, false), PgSslMode::Disable), "{local}");
            assert!(
                !matches!(mode(local, true), PgSslMode::Disable),
                "{local}, PGSSLMODE"
            );
        }
        let asked = "postgres://u@127.0.0.1/db?sslmode=require";
        assert!(matches!(mode(asked, false), PgSslMode::Require));
        let remote = "postgres://u@db.example.com/db";
        assert!(matches!(mode(remote, false), PgSslMode::Prefer));
    }
}
