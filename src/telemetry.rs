//! Logs, metrics and process-wide crypto setup.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

mod plain_lines;
use plain_lines::{PlainFields, PlainLines};

/// Structured logs to stdout; `json` for machines, anything else for humans. Colours only
/// when stdout is a terminal, so files and log collectors get plain text.
///
/// Lines are formatted on the thread that logs but written by a writer thread, so a
/// request never waits on a `write` to stdout, and lines queued together go out in one
/// write. Nothing is dropped: when 128 k lines are queued, logging waits. The returned
/// guard flushes what is queued when dropped: keep it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_tracing(format: &str) -> WorkerGuard {
    let (stdout, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let terminal = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_target(false)
        .with_writer(stdout);
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().flatten_event(true).try_init()
    } else if terminal {
        builder.try_init()
    } else {
        // The same text as the default format without colours, written for less.
        (builder.fmt_fields(PlainFields))
            .event_format(PlainLines)
            .try_init()
    };
    guard
}

/// Both `ring` (sqlx, NATS) and reqwest use rustls; one process-wide provider avoids panics.
pub fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The process-wide Prometheus recorder (installed once, shared by every app in a process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            spawn_upkeep(handle.clone());
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe_metrics();
            handle
        })
        .clone()
}

/// `build_recorder()` leaves histogram upkeep to the caller: without it every sample is
/// kept until the next scrape, so memory grows per request where nothing scrapes.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histograms drain only on scrape");
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, route and status"
    );
    describe_histogram!("http_request_duration_seconds", "HTTP request latency");
    describe_counter!(
        "orders_created_total",
        "Orders created from checkout sessions"
    );
    describe_counter!(
        "order_status_transitions_total",
        "Order status changes by from/to"
    );
    describe_histogram!(
        "checkout_request_duration_seconds",
        "Checkout Service lookup latency"
    );
    describe_counter!(
        "checkout_request_failures_total",
        "Checkout lookups failed, by kind"
    );
    describe_gauge!("outbox_backlog", "Outbox events waiting for delivery");
    describe_gauge!("outbox_failed", "Outbox events parked as failed");
    describe_gauge!(
        "outbox_oldest_pending_age_seconds",
        "Age of the oldest undelivered event"
    );
    describe_counter!(
        "outbox_deliveries_total",
        "Outbox delivery attempts by result"
    );
    describe_gauge!("db_pool_connections", "Database pool connections by state");
    describe_gauge!(
        "db_size_bytes",
        "Bytes the database takes (SQLite: file, WAL and shm; PostgreSQL: pg_database_size), sampled every 10 s"
    );
    describe_gauge!(
        "db_filesystem_free_bytes",
        "Bytes free on the SQLite database's filesystem, sampled every 10 s"
    );
    describe_gauge!(
        "sqlite_wal_bytes",
        "Bytes of WAL in use after the last checkpoint (SQLite only)"
    );
    describe_counter!(
        "sqlite_checkpoints_total",
        "SQLite WAL checkpoints by mode (passive, restart) and result (done, busy: a reader held an old snapshot; error)"
    );
    describe_histogram!(
        "sqlite_wal_restart_pause_seconds",
        "How long writes waited while a RESTART checkpoint started the WAL over (SQLite only)"
    );
    describe_gauge!(
        "db_writes_failing",
        "1 while database writes fail (readiness answers 503), else 0"
    );
}

/// The sampled database size and free space (absent until known), and whether writes fail.
pub fn record_storage(database_bytes: Option<u64>, free_bytes: Option<u64>, writes_failing: bool) {
    if let Some(bytes) = database_bytes {
        metrics::gauge!("db_size_bytes").set(bytes as f64);
    }
    if let Some(bytes) = free_bytes {
        metrics::gauge!("db_filesystem_free_bytes").set(bytes as f64);
    }
    metrics::gauge!("db_writes_failing").set(if writes_failing { 1.0 } else { 0.0 });
}

/// SQLite's checkpoint counts (left out when no checkpoint ran: PostgreSQL).
pub fn record_wal_checkpoints(checkpoints: &crate::storage::WalCheckpoints) {
    let c = checkpoints;
    if c.passive + c.restarts + c.restarts_busy + c.failures == 0 {
        return;
    }
    metrics::gauge!("sqlite_wal_bytes").set(c.wal_bytes as f64);
    let counts = [
        ("passive", "done", c.passive),
        ("restart", "done", c.restarts),
        ("restart", "busy", c.restarts_busy),
        ("any", "error", c.failures),
    ];
    for (mode, result, n) in counts {
        metrics::counter!("sqlite_checkpoints_total", "mode" => mode, "result" => result)
            .absolute(n);
    }
}

pub fn record_pool_usage((in_use, idle, max): (u32, u32, u32)) {
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "max").set(f64::from(max));
}
