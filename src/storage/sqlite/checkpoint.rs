//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the COMMIT
//! of whichever connection passes the threshold, so with it a group of orders waited for
//! the WAL to be copied into the database file and that file's fsync. The writer has it
//! off (`wal_autocheckpoint=0`); this task checkpoints on a connection of its own instead.
//!
//! A PASSIVE checkpoint never blocks the writer, but alone it cannot keep the WAL bounded:
//! SQLite starts the WAL over only when every frame has been copied back and no reader
//! still reads from it, and a busy writer keeps appending while the copy runs. So once the
//! WAL passes `restart_bytes`, the task takes the writer connection from its pool (writes
//! queue there, as behind any write) and runs a RESTART, which copies the few frames the
//! PASSIVE one left and waits at most `reader_wait` for readers to move on. The writer's
//! next transaction then writes from the WAL's start, and `journal_size_limit` trims the
//! file if it ever grew past that. Durability is unchanged: commits still fsync the WAL,
//! and a checkpoint fsyncs the database file before the WAL may be reused.

use crate::storage::StorageHealth;
use crate::storage::pool::Pool;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Sqlite, SqliteConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes the WAL file is trimmed to when SQLite starts it over (`journal_size_limit`).
pub(super) const JOURNAL_SIZE_LIMIT: u64 = 64 << 20;
/// The longest wait between RESTARTs after some stopped short.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// When and how hard the task checkpoints.
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckpointPolicy {
    /// How often a PASSIVE checkpoint copies what was committed since the last one.
    pub every: Duration,
    /// WAL size past which the task pauses the writer for a RESTART.
    pub restart_bytes: u64,
    /// The longest a RESTART waits for readers (SQLite's busy timeout on the checkpoint
    /// connection); it bounds the writer's pause when a reader holds an old snapshot.
    pub reader_wait: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every: Duration::from_millis(100),
            restart_bytes: 16 << 20,
            reader_wait: Duration::from_millis(50),
        }
    }
}

/// The checkpoint task; stops when dropped.
pub struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The service's checkpoint task, default policy, on `writer` (whose connections must have
/// `wal_autocheckpoint=0`): for the `sqlite-ceiling` benchmark, which measures the write
/// path with it. Stops when dropped.
pub async fn checkpoint_in_background(
    options: SqliteConnectOptions,
    writer: Pool<Sqlite>,
) -> anyhow::Result<Checkpointer> {
    let health = Arc::new(StorageHealth::default());
    Checkpointer::start(options, writer, health, CheckpointPolicy::default()).await
}

impl Checkpointer {
    pub(super) async fn start(
        options: SqliteConnectOptions,
        writer: Pool<Sqlite>,
        health: Arc<StorageHealth>,
        policy: CheckpointPolicy,
    ) -> anyhow::Result<Self> {
        let mut conn = options.busy_timeout(policy.reader_wait).connect().await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await?;
        let task = Task {
            conn,
            writer,
            health,
            policy,
            frame_bytes: u64::try_from(page_size).unwrap_or(4096) + 24,
            failing: false,
            restart_backoff: Duration::ZERO,
            restart_not_before: Instant::now(),
        };
        Ok(Self(tokio::spawn(task.run())))
    }
}

struct Task {
    conn: SqliteConnection,
    writer: Pool<Sqlite>,
    health: Arc<StorageHealth>,
    policy: CheckpointPolicy,
    /// A WAL frame: a page and its 24-byte header.
    frame_bytes: u64,
    /// Whether the last checkpoint failed (logged once per outage, not every round).
    failing: bool,
    /// After a RESTART stopped short (a reader kept an old snapshot past `reader_wait`),
    /// the next waits this long, doubling each time, so that one long read cannot pause
    /// writes every round; zero after a RESTART that worked.
    restart_backoff: Duration,
    restart_not_before: Instant,
}

/// What `PRAGMA wal_checkpoint` answers: whether it stopped short (a reader or writer was
/// in the way) and the frames in the WAL (-1 when not in WAL mode).
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
struct Outcome {
    busy: i64,
    log: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Passive,
    Restart,
}

impl Task {
    async fn run(mut self) {
        let mut ticks = tokio::time::interval(self.policy.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(passive) = self.checkpoint(Mode::Passive).await else {
                continue;
            };
            let wal_bytes = u64::try_from(passive.log).unwrap_or(0) * self.frame_bytes;
            if wal_bytes >= self.policy.restart_bytes && Instant::now() >= self.restart_not_before {
                self.restart().await;
            }
        }
    }

    /// Holds the writer connection (so no write is under way or starts) while a RESTART
    /// checkpoint copies the rest of the WAL and waits for readers to leave it.
    async fn restart(&mut self) {
        let held = match self.writer.acquire().await {
            Ok(held) => held,
            Err(e) => {
                self.failed(Mode::Restart, &e);
                return;
            }
        };
        let paused = Instant::now();
        let outcome = self.checkpoint(Mode::Restart).await;
        drop(held);
        metrics::histogram!("sqlite_wal_restart_pause_seconds")
            .record(paused.elapsed().as_secs_f64());
        self.restart_backoff = match outcome {
            Some(done) if done.busy == 0 => Duration::ZERO,
            _ => (self.restart_backoff * 2)
                .max(self.policy.every * 2)
                .min(MAX_RESTART_BACKOFF),
        };
        self.restart_not_before = Instant::now() + self.restart_backoff;
    }

    async fn checkpoint(&mut self, mode: Mode) -> Option<Outcome> {
        let sql = match mode {
            Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
        };
        match sqlx::query_as::<_, Outcome>(sql)
            .fetch_all(&mut self.conn)
            .await
        {
            Ok(rows) => {
                let outcome = *rows.first()?;
                if self.failing {
                    tracing::info!("SQLite WAL checkpoints succeed again");
                    self.failing = false;
                }
                let frames = u64::try_from(outcome.log).unwrap_or(0);
                self.health.record_checkpoint(
                    mode == Mode::Restart,
                    outcome.busy != 0,
                    frames * self.frame_bytes,
                );
                Some(outcome)
            }
            Err(e) => {
                self.failed(mode, &e);
                None
            }
        }
    }

    fn failed(&mut self, mode: Mode, error: &sqlx::Error) {
        self.health.record_checkpoint_failure();
        if !self.failing {
            tracing::warn!(?mode, error = %error, "SQLite WAL checkpoint failed; retrying");
            self.failing = true;
        }
    }
}
