//! What readiness and `/metrics` know about the database without asking it on every
//! request: whether writes fail right now (set by the writer on each outcome, cleared by
//! a later success or by a small probe write retried every second while they fail), and
//! the database's size and free disk space, sampled every few seconds.

use super::StoreError;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::error::DatabaseError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a failed database is probed with a small write.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often the database size and free space are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Why a write could not be made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// No room left: SQLITE_FULL (ENOSPC), PostgreSQL `disk_full`.
    Full,
    /// Anything else that keeps the database from writing (I/O error, locked, gone).
    Unavailable,
}

/// Writes fail since `since`; `reason` is the database's own message.
#[derive(Clone, Debug)]
pub struct WriteOutage {
    pub failure: WriteFailure,
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// Sampled sizes; `None` when unknown (not sampled yet, an in-memory database).
#[derive(Clone, Copy, Debug, Default)]
pub struct StorageUsage {
    /// Bytes the database takes: its files with the WAL (SQLite), `pg_database_size`.
    pub database_bytes: Option<u64>,
    /// Bytes free for the database on its filesystem (SQLite only).
    pub free_bytes: Option<u64>,
}

/// SQLite's WAL checkpoints as the checkpoint task counts them (all zero on PostgreSQL).
#[derive(Clone, Copy, Debug, Default)]
pub struct WalCheckpoints {
    /// Bytes of WAL frames in use after the last checkpoint (the file may be larger).
    pub wal_bytes: u64,
    /// PASSIVE checkpoints run (they never block a writer).
    pub passive: u64,
    /// RESTART checkpoints that emptied the WAL, so the writer starts it over.
    pub restarts: u64,
    /// RESTART checkpoints that stopped short: a reader held an old snapshot too long.
    pub restarts_busy: u64,
    /// Checkpoints that failed with an error.
    pub failures: u64,
}

#[derive(Default)]
pub struct StorageHealth {
    outage: Mutex<Option<WriteOutage>>,
    usage: Mutex<StorageUsage>,
    checkpoints: Mutex<WalCheckpoints>,
}

impl StorageHealth {
    /// `Some` while writes fail.
    pub fn write_outage(&self) -> Option<WriteOutage> {
        self.outage.lock().expect("health lock").clone()
    }

    pub fn usage(&self) -> StorageUsage {
        *self.usage.lock().expect("health lock")
    }

    pub fn wal_checkpoints(&self) -> WalCheckpoints {
        *self.checkpoints.lock().expect("health lock")
    }

    /// Counts a checkpoint that ran; `busy`: it could not copy or restart everything.
    pub(super) fn record_checkpoint(&self, restart: bool, busy: bool, wal_bytes: u64) {
        let mut counts = self.checkpoints.lock().expect("health lock");
        counts.wal_bytes = wal_bytes;
        match (restart, busy) {
            (false, _) => counts.passive += 1,
            (true, false) => counts.restarts += 1,
            (true, true) => counts.restarts_busy += 1,
        }
    }

    pub(super) fn record_checkpoint_failure(&self) {
        self.checkpoints.lock().expect("health lock").failures += 1;
    }

    /// Notes the outcome of a write: a success ends an outage, a failure of the database
    /// (not of one statement's data) starts one.
    pub(super) fn record_write<T>(&self, outcome: &Result<T, StoreError>) {
        let failure = match outcome {
            Ok(_) => None,
            Err(StoreError::Full(reason)) => Some((WriteFailure::Full, reason)),
            Err(StoreError::Unavailable(reason)) => Some((WriteFailure::Unavailable, reason)),
            Err(_) => return,
        };
        let mut outage = self.outage.lock().expect("health lock");
        match (failure, outage.as_ref()) {
            (None, None) => {}
            (None, Some(_)) => {
                tracing::info!("database writes succeed again");
                *outage = None;
            }
            (Some((failure, reason)), current) => {
                if current.is_none() {
                    tracing::error!(?failure, %reason, "database writes fail");
                }
                *outage = Some(WriteOutage {
                    failure,
                    reason: reason.clone(),
                    since: current.map_or_else(Utc::now, |c| c.since),
                });
            }
        }
    }
}

/// Sorts a database error into the failures that make the database unwritable; `None`
/// for errors about the statement or its data.
pub(super) fn classify(error: &dyn DatabaseError) -> Option<WriteFailure> {
    if let Some(sqlite) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        let code: i32 = sqlite.code()?.parse().ok()?;
        // Primary result codes (the low byte of an extended code).
        return match code & 0xff {
            13 => Some(WriteFailure::Full), // SQLITE_FULL
            // BUSY, LOCKED, NOMEM, READONLY, IOERR, CANTOPEN, PROTOCOL
            5 | 6 | 7 | 8 | 10 | 14 | 15 => Some(WriteFailure::Unavailable),
            _ => None,
        };
    }
    let state = error.code()?;
    match state.as_ref() {
        "53100" => Some(WriteFailure::Full), // disk_full
        // insufficient resources, operator intervention, connection, system (I/O) errors,
        // read-only transaction (a standby)
        s if ["53", "57", "08", "58"]
            .iter()
            .any(|class| s.starts_with(class)) =>
        {
            Some(WriteFailure::Unavailable)
        }
        "25006" => Some(WriteFailure::Unavailable),
        _ => None,
    }
}

/// A small write that tells whether the database can be written again.
pub(super) type Probe = Box<dyn Fn() -> BoxFuture<'static, Result<(), StoreError>> + Send + Sync>;
/// Measures the database's size and free space.
pub(super) type Sampler = Box<dyn Fn() -> BoxFuture<'static, StorageUsage> + Send + Sync>;

/// Probes while writes fail and samples the usage, until dropped.
pub(super) struct Monitor(tokio::task::JoinHandle<()>);

impl Drop for Monitor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) fn monitor(health: Arc<StorageHealth>, probe: Probe, sample: Sampler) -> Monitor {
    Monitor(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PROBE_EVERY);
        let samples_every = (SAMPLE_EVERY.as_secs() / PROBE_EVERY.as_secs()).max(1);
        for tick in 0u64.. {
            ticks.tick().await;
            if health.write_outage().is_some() {
                health.record_write(&probe().await);
            }
            if tick % samples_every == 0 {
                let usage = sample().await;
                *health.usage.lock().expect("health lock") = usage;
            }
        }
    }))
}

/// The probe write, the same text on both backends (table from the second migration).
pub(super) const PROBE_SQL: &str = "INSERT INTO storage_probe (id, probes) VALUES (1, 1) \
    ON CONFLICT (id) DO UPDATE SET probes = storage_probe.probes + 1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_starts_an_outage_and_a_success_ends_it() {
        let health = StorageHealth::default();
        assert!(health.write_outage().is_none());
        health.record_write::<()>(&Err(StoreError::Full("disk full".into())));
        let first = health.write_outage().expect("outage");
        assert_eq!(first.failure, WriteFailure::Full);
        // A failure about one statement's data says nothing about the database.
        health.record_write::<()>(&Err(StoreError::Conflict));
        health.record_write::<()>(&Err(StoreError::Unavailable("io".into())));
        let later = health.write_outage().expect("still failing");
        assert_eq!(later.failure, WriteFailure::Unavailable);
        assert_eq!(later.since, first.since, "the outage keeps its start");
        health.record_write(&Ok(()));
        assert!(health.write_outage().is_none());
    }
}
