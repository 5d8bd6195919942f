//! Keeping a SQLite writer connection honest after an error.
//!
//! When a COMMIT fails with SQLITE_FULL or an I/O error, SQLite may roll the transaction
//! back by itself while sqlx still counts it as open (sqlx only lowers its depth when
//! COMMIT or ROLLBACK succeed). sqlx then turns the next `begin()` into a SAVEPOINT and
//! the next `commit()` into a RELEASE; after a second failure the connection stays inside
//! a transaction that is never committed, and every later write is lost when it closes.
//! So a connection goes back to its pool only when both SQLite and sqlx agree that it is
//! outside any transaction; otherwise it is closed and the pool opens a fresh one.

use crate::storage::pool::Pool;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection, Sqlite, SqliteConnection};
use std::path::{Path, PathBuf};

/// `after_release` hook for SQLite pools that write: `Ok(false)` (close it) when the
/// connection is inside a transaction by SQLite's or sqlx's account.
pub fn discard_if_in_transaction(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let outside = outside_transaction(conn).await?;
        if !outside {
            tracing::warn!("closing a SQLite connection left inside a transaction");
        }
        Ok(outside)
    })
}

/// True when SQLite is in autocommit mode and sqlx's transaction depth is 0.
pub(crate) async fn outside_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    // Locking the handle waits for the worker to run what was queued before, such as
    // the ROLLBACK of a dropped transaction.
    let autocommit = {
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is locked away from the worker thread while we read it, and
        // sqlite3_get_autocommit only reads the connection's state.
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) != 0 }
    };
    Ok(autocommit && !conn.is_in_transaction())
}

/// The probe write: one row rewritten, enough to append to the WAL.
pub(super) async fn probe(writer: &Pool<Sqlite>) -> Result<(), super::StoreError> {
    sqlx::query(super::health::PROBE_SQL)
        .execute(&mut *writer.acquire().await?)
        .await?;
    Ok(())
}

/// The database file with its `-wal` and `-shm` files, and the free space beside them.
pub(super) fn usage(database: &Path) -> super::StorageUsage {
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let sizes: Vec<u64> = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(with_suffix(suffix)).ok())
        .map(|m| m.len())
        .collect();
    let directory = database.parent().filter(|p| !p.as_os_str().is_empty());
    let free = rustix::fs::statvfs(directory.unwrap_or(Path::new(".")))
        .ok()
        .map(|fs| fs.f_bavail.saturating_mul(fs.f_frsize));
    super::StorageUsage {
        database_bytes: (!sizes.is_empty()).then(|| sizes.iter().sum()),
        free_bytes: free,
    }
}
