//! Embedded SQLite backend (the default). WAL mode lets readers run beside the single
//! writer; writes go through a one-connection pool so they queue in the pool instead of
//! spinning on SQLite's busy lock. One process per database file.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn usage(&self) -> (u32, u32, u32) {
        let pools = [&self.writer, &self.reader];
        let idle: u32 = pools.iter().map(|p| p.num_idle() as u32).sum();
        let size: u32 = pools.iter().map(|p| p.size()).sum();
        let max: u32 = pools
            .iter()
            .map(|p| p.options().get_max_connections())
            .sum();
        (size.saturating_sub(idle), idle, max)
    }
}

super::sql::impl_order_store!(SqliteStore, sqlx::Sqlite, "sqlite", claim_suffix = "");
