//! The connection pool: deadpool holding sqlx connections.
//!
//! sqlx's own pool makes a round trip on every connection it takes back (a ping, to send
//! a ROLLBACK queued by a transaction dropped mid-way and to check the connection), one
//! more exchange with PostgreSQL or one more hand-off to a SQLite worker thread for every
//! statement; and that ping has no timeout, so a connection whose network path stalls
//! keeps its place in the pool for good (sqlx issue #4349). This pool does that work only
//! for a connection that needs it, bounded by a timeout:
//! - a connection comes back with nothing pending: it is reused at once, no round trip;
//! - it comes back with a ROLLBACK queued or a transaction open (by sqlx's count): a task
//!   sends the ROLLBACK or checks with the database (`PoolDb::settle`), within
//!   `SETTLE_TIMEOUT`, and returns it only if it is outside any transaction; otherwise
//!   it is closed (the database rolls back what it left open);
//! - a connection idle for `PING_IF_IDLE_FOR` is pinged before it is handed out (the one
//!   most likely to have been cut, by a database restart in a quiet hour) and replaced if
//!   the ping fails; one older than `MAX_LIFETIME` is replaced;
//! - connections unused for `IDLE_TIMEOUT` are closed, all but one (`close_idle`).
//!
//! A connection cut while busy fails the statement under way, and sqlx gives no way to
//! tell from the connection that it is dead. So the store reports such failures
//! (`connection_failure_seen`, called for every error that means the database is
//! unreachable), and a connection handed out before the last one is pinged at its next
//! hand-out, whatever its idle time: a dead one is replaced, a live one pinged once.

use deadpool::managed::{
    self, Metrics, Object, PoolError, QueueMode, RecycleError, RecycleResult, WeakPool,
};
use futures::future::BoxFuture;
use sqlx::{ConnectOptions, Connection, Database, Postgres, Sqlite};
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);
/// A connection older than this is closed and replaced when next handed out (sqlx's
/// default too): a server-side memory leak or a load balancer's rebalancing cannot
/// stick to one connection for ever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// A connection unused this long is closed, all but one per pool (sqlx's default too): a
/// quiet instance gives the database its connection slots back.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The longest a returned connection may take to send its queued ROLLBACK or to report
/// that it is outside any transaction before it is closed instead.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// When a statement last failed because the database was unreachable, as nanoseconds
/// after `clock_start()` plus one (0: never). One for the process: a connection failure
/// is rare and costs at most one ping per pooled connection.
static LAST_CONNECTION_FAILURE: AtomicU64 = AtomicU64::new(0);

fn clock_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn nanos_since_start() -> u64 {
    u64::try_from(clock_start().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Records that a statement failed because the database could not be reached (an I/O
/// error, a connection cut by the server): every pooled connection handed out before now
/// is pinged at its next hand-out.
pub fn connection_failure_seen() {
    LAST_CONNECTION_FAILURE.store(nanos_since_start().saturating_add(1), Ordering::Relaxed);
}

/// Whether a connection failure was recorded in the last `window`.
fn connection_failure_within(window: Duration) -> bool {
    match LAST_CONNECTION_FAILURE.load(Ordering::Relaxed) {
        0 => false,
        at => {
            let ago = nanos_since_start().saturating_sub(at - 1);
            u128::from(ago) <= window.as_nanos()
        }
    }
}

/// What the pool needs to know of a database to take a connection back.
pub trait PoolDb: Database {
    /// Whether a connection coming back needs work before it can be reused: a ROLLBACK
    /// of a dropped transaction still to send, or a transaction sqlx counts as open.
    fn unsettled(conn: &Self::Connection) -> bool;
    /// That work: `Ok(true)` when the connection is outside any transaction and can be
    /// reused.
    fn settle(conn: &mut Self::Connection) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
}

impl PoolDb for Postgres {
    fn unsettled(conn: &Self::Connection) -> bool {
        conn.should_flush() || conn.is_in_transaction()
    }

    fn settle(conn: &mut Self::Connection) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // Sends what a dropped transaction queued (its ROLLBACK): the server ends the
            // transaction and frees its locks now, not at the connection's next use.
            conn.flush().await?;
            Ok(!conn.is_in_transaction())
        })
    }
}

impl PoolDb for Sqlite {
    fn unsettled(conn: &Self::Connection) -> bool {
        // A dropped transaction's ROLLBACK is already on its way to the worker thread,
        // which lowers sqlx's count once it has run.
        conn.is_in_transaction()
    }

    fn settle(conn: &mut Self::Connection) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(super::sqlite_writer::outside_transaction(conn))
    }
}

/// Opens connections with the options it was given and checks them when handed out.
pub struct Manager<DB: Database> {
    options: <DB::Connection as Connection>::Options,
}

impl<DB: PoolDb> managed::Manager for Manager<DB> {
    type Type = DB::Connection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<DB::Connection, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(
        &self,
        conn: &mut DB::Connection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.age() >= MAX_LIFETIME {
            return Err(RecycleError::message("past its lifetime"));
        }
        let since_handed_out = metrics.last_used();
        if since_handed_out >= PING_IF_IDLE_FOR || connection_failure_within(since_handed_out) {
            conn.ping().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

/// A pool of connections to one database (cheap to clone: clones share the pool).
pub struct Pool<DB: PoolDb> {
    inner: managed::Pool<Manager<DB>>,
    acquire_timeout: Duration,
}

impl<DB: PoolDb> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            acquire_timeout: self.acquire_timeout,
        }
    }
}

impl<DB: PoolDb> Pool<DB> {
    /// A pool of at most `max_connections`, where `acquire` gives up after
    /// `acquire_timeout` (waiting for a free connection, opening one, checking an idle
    /// one). Opens one connection first, so an unreachable database fails here. Connections
    /// unused for 10 minutes are closed, all but one.
    pub async fn connect(
        options: <DB::Connection as Connection>::Options,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        Self::connect_closing_idle(options, max_connections, acquire_timeout, IDLE_TIMEOUT).await
    }

    /// `connect`, closing connections unused for `idle_timeout` instead of 10 minutes.
    pub async fn connect_closing_idle(
        options: <DB::Connection as Connection>::Options,
        max_connections: u32,
        acquire_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let inner = managed::Pool::builder(Manager { options })
            .max_size(usize::try_from(max_connections.max(1)).unwrap_or(1))
            .queue_mode(QueueMode::Lifo)
            .build()
            .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        let pool = Self {
            inner,
            acquire_timeout,
        };
        drop(pool.acquire().await?);
        tokio::spawn(close_idle::<DB>(pool.inner.weak(), idle_timeout));
        Ok(pool)
    }

    /// A connection, back in the pool when the returned guard is dropped. Errors are
    /// sqlx's: `PoolTimedOut` after the acquire timeout, `PoolClosed`, or why a new
    /// connection could not be opened.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        match tokio::time::timeout(self.acquire_timeout, self.inner.get()).await {
            Ok(Ok(object)) => Ok(PoolConnection {
                object: Some(object),
            }),
            Ok(Err(PoolError::Backend(e))) => Err(e),
            Ok(Err(PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(PoolError::Timeout(_))) | Err(_) => Err(sqlx::Error::PoolTimedOut),
            Ok(Err(other)) => Err(sqlx::Error::Protocol(other.to_string())),
        }
    }

    /// Connections open, of which idle, and the most it may open.
    pub fn usage(&self) -> (u32, u32, u32) {
        let status = self.inner.status();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (
            count(status.size),
            count(status.available),
            count(status.max_size),
        )
    }

    /// Refuses new acquires and closes idle connections; those in use close on return.
    pub fn close(&self) {
        self.inner.close();
    }
}

/// A connection taken from a `Pool`; use it as `&mut *conn` wherever sqlx wants an
/// executor. Dropping it returns the connection (see the module comment for when that
/// takes work first).
pub struct PoolConnection<DB: PoolDb> {
    object: Option<Object<Manager<DB>>>,
}

impl<DB: PoolDb> Deref for PoolConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.object.as_ref().expect("present until dropped")
    }
}

impl<DB: PoolDb> DerefMut for PoolConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.object.as_mut().expect("present until dropped")
    }
}

impl<DB: PoolDb> Drop for PoolConnection<DB> {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        if !DB::unsettled(&object) {
            return; // straight back to the pool
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(settle::<DB>(object));
            }
            // No runtime left to do the work: close it.
            Err(_) => drop(Object::take(object)),
        }
    }
}

/// Every tenth of `idle_timeout`, closes the connections of `pool` unused for that long,
/// keeping one; ends with the pool.
async fn close_idle<DB: PoolDb>(pool: WeakPool<Manager<DB>>, idle_timeout: Duration) {
    let mut rounds = tokio::time::interval((idle_timeout / 10).max(Duration::from_millis(10)));
    rounds.tick().await;
    loop {
        rounds.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut kept = 0;
        let closed = pool.retain(|_, metrics| {
            let keep = kept == 0 || metrics.last_used() < idle_timeout;
            kept += usize::from(keep);
            keep
        });
        drop(closed);
    }
}

/// Returns `object` to its pool once it is outside any transaction, or closes it.
async fn settle<DB: PoolDb>(mut object: Object<Manager<DB>>) {
    let outcome = tokio::time::timeout(SETTLE_TIMEOUT, DB::settle(&mut object)).await;
    let reason = match outcome {
        Ok(Ok(true)) => return, // dropped here: back to the pool
        Ok(Ok(false)) => "left inside a transaction".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {SETTLE_TIMEOUT:?}"),
    };
    tracing::warn!(
        database = DB::NAME,
        %reason,
        "closing a pooled connection instead of reusing it"
    );
    drop(Object::take(object));
}
