//! `driver-cost`: what one read by id costs the client process in each database driver,
//! without HTTP. Issue 13 asks to "measure before deciding" on the driver: sqlx (what the
//! service uses) against tokio-postgres on PostgreSQL, and against rusqlite (run on the
//! async worker thread itself, or through `spawn_blocking`) on SQLite.
//!
//! Every driver runs the service's own read statement (the order joined with its items, by
//! id, over orders the service created), decodes every column of every row into owned
//! values, and runs on a two-worker tokio runtime like the service's, `--concurrency` tasks
//! each with a connection of its own (no pool: the pool is the same whichever driver).
//! Prints one JSON line: reads per second and this process's CPU (user + system, from
//! `getrusage`) per read.

use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use sqlx::{Connection, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The service's `GET /api/v1/orders/{id}` statement (`select_orders` + `fetch_orders`).
const READ_PG: &str = "SELECT o.*, i.id AS item_id, i.product_id AS item_product_id, \
    i.name AS item_name, i.price_minor AS item_price_minor, i.quantity AS item_quantity \
    FROM (SELECT * FROM orders WHERE 1 = 1 AND id = $1) AS o \
    LEFT JOIN order_items AS i ON i.order_id = o.id ORDER BY o.seq DESC, i.position";

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Driver {
    /// sqlx on PostgreSQL (`PgConnection`).
    SqlxPg,
    /// tokio-postgres, the statement prepared once per connection.
    TokioPostgres,
    /// sqlx on SQLite (`SqliteConnection`: a worker thread per connection).
    SqlxSqlite,
    /// rusqlite, the statement run on the async worker thread itself.
    RusqliteInline,
    /// rusqlite, each read through `tokio::task::spawn_blocking`.
    RusqliteBlocking,
    /// rusqlite on two reader threads of its own, fed by one queue (flume); each read
    /// answered through a oneshot channel.
    RusqliteThreads,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum)]
    driver: Driver,
    /// postgres://… or sqlite://path (a database the service created orders in)
    #[arg(long)]
    database: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
}

/// What a read decodes, owned, per row (the service decodes the same columns).
#[allow(dead_code)] // decoded for what decoding costs, never read
struct Decoded {
    id: Uuid,
    seq: i64,
    user_id: String,
    email: Option<String>,
    checkout_session_id: Uuid,
    payment_intent_id: Option<String>,
    status: String,
    currency: String,
    amounts: [i64; 5],
    shipping_address: serde_json::Value,
    billing_address: serde_json::Value,
    tracking_number: Option<String>,
    cancellation_reason: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    item_id: Option<Uuid>,
    item_product_id: Option<String>,
    item_name: Option<String>,
    item_price_minor: Option<i64>,
    item_quantity: Option<i32>,
}

/// A `Decoded` from a row of sqlx or tokio-postgres (both have `try_get` by column name);
/// the JSON columns are read as `$json` and turned into a value by `$unwrap`.
macro_rules! decode {
    ($row:expr, $json:ty, $unwrap:expr) => {{
        let json = |v: $json| -> serde_json::Value { $unwrap(v) };
        let shipping: $json = $row.try_get("shipping_address")?;
        let billing: $json = $row.try_get("billing_address")?;
        Decoded {
            id: $row.try_get("id")?,
            seq: $row.try_get("seq")?,
            user_id: $row.try_get("user_id")?,
            email: $row.try_get("email")?,
            checkout_session_id: $row.try_get("checkout_session_id")?,
            payment_intent_id: $row.try_get("payment_intent_id")?,
            status: $row.try_get("status")?,
            currency: $row.try_get("currency")?,
            amounts: [
                $row.try_get("subtotal_minor")?,
                $row.try_get("shipping_minor")?,
                $row.try_get("tax_minor")?,
                $row.try_get("discount_minor")?,
                $row.try_get("total_minor")?,
            ],
            shipping_address: json(shipping),
            billing_address: json(billing),
            tracking_number: $row.try_get("tracking_number")?,
            cancellation_reason: $row.try_get("cancellation_reason")?,
            version: $row.try_get("version")?,
            created_at: $row.try_get("created_at")?,
            updated_at: $row.try_get("updated_at")?,
            item_id: $row.try_get("item_id")?,
            item_product_id: $row.try_get("item_product_id")?,
            item_name: $row.try_get("item_name")?,
            item_price_minor: $row.try_get("item_price_minor")?,
            item_quantity: $row.try_get("item_quantity")?,
        }
    }};
}

/// The read through sqlx, on either backend's connection: every row decoded.
macro_rules! sqlx_read {
    ($conn:expr, $id:expr) => {
        sqlx::query(READ_PG)
            .bind($id)
            .fetch_all(&mut *$conn)
            .await?
            .iter()
            .map(|row| {
                let json = |j: sqlx::types::Json<serde_json::Value>| j.0;
                Ok::<_, sqlx::Error>(decode!(row, sqlx::types::Json<serde_json::Value>, json))
            })
            .collect::<Result<_, _>>()?
    };
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let ids = Arc::new(order_ids(&args.database).await?);
    anyhow::ensure!(!ids.is_empty(), "no orders in {}", args.database);
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..args.concurrency {
        let reader = Reader::open(args.driver, &args.database).await?;
        let (ids, counting, stop, reads) =
            (ids.clone(), counting.clone(), stop.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            let mut reader = reader;
            let mut next = task * 7919;
            while !stop.load(Ordering::Relaxed) {
                next = (next + 104_729) % ids.len();
                let rows = reader.read(ids[next]).await?;
                anyhow::ensure!(rows >= 1, "order {} not found", ids[next]);
                if counting.load(Ordering::Relaxed) {
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    counting.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    counting.store(false, Ordering::Relaxed);
    let (cpu, elapsed) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let n = reads.load(Ordering::Relaxed);
    let name = args.driver.to_possible_value().expect("named");
    println!(
        "{}",
        serde_json::json!({
            "driver": name.get_name(),
            "concurrency": args.concurrency,
            "reads": n,
            "per_s": (n as f64 / elapsed).round(),
            "cpu_us_per_read": (cpu * 1e6 / n.max(1) as f64 * 10.0).round() / 10.0,
        })
    );
    Ok(())
}

async fn order_ids(database: &str) -> anyhow::Result<Vec<Uuid>> {
    let sql = "SELECT id FROM orders ORDER BY seq LIMIT 5000";
    Ok(if database.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database).await?;
        sqlx::query_scalar(sql).fetch_all(&mut conn).await?
    } else {
        let mut conn = sqlx::PgConnection::connect(database).await?;
        sqlx::query_scalar(sql).fetch_all(&mut conn).await?
    })
}

enum Reader {
    SqlxPg(sqlx::PgConnection),
    TokioPostgres(tokio_postgres::Client, tokio_postgres::Statement),
    SqlxSqlite(sqlx::SqliteConnection),
    Rusqlite(Option<rusqlite::Connection>, bool),
    Threads(flume::Sender<Job>),
}

/// A read for the reader threads: the order's id, and where to send its rows.
type Job = (
    Uuid,
    tokio::sync::oneshot::Sender<anyhow::Result<Vec<Decoded>>>,
);

/// Two threads, each with its own read-only connection, serving one queue of reads.
fn reader_threads(path: &str) -> anyhow::Result<flume::Sender<Job>> {
    let (tx, rx) = flume::unbounded::<Job>();
    for _ in 0..2 {
        let conn = open_rusqlite(path)?;
        let rx = rx.clone();
        std::thread::spawn(move || {
            while let Ok((id, reply)) = rx.recv() {
                let _ = reply.send(rusqlite_read(&conn, id));
            }
        });
    }
    Ok(tx)
}

fn open_rusqlite(path: &str) -> anyhow::Result<rusqlite::Connection> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

impl Reader {
    async fn open(driver: Driver, database: &str) -> anyhow::Result<Self> {
        let path = database.trim_start_matches("sqlite://");
        Ok(match driver {
            Driver::SqlxPg => {
                // No TLS, as the service on a loopback server and as tokio-postgres here.
                let options = sqlx::postgres::PgConnectOptions::from_str(database)?
                    .ssl_mode(sqlx::postgres::PgSslMode::Disable);
                Self::SqlxPg(sqlx::PgConnection::connect_with(&options).await?)
            }
            Driver::TokioPostgres => {
                let (client, connection) =
                    tokio_postgres::connect(database, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                let statement = client.prepare(READ_PG).await?;
                Self::TokioPostgres(client, statement)
            }
            Driver::SqlxSqlite => {
                let options = format!("{database}?mode=ro");
                Self::SqlxSqlite(sqlx::SqliteConnection::connect(&options).await?)
            }
            Driver::RusqliteInline | Driver::RusqliteBlocking => Self::Rusqlite(
                Some(open_rusqlite(path)?),
                driver == Driver::RusqliteBlocking,
            ),
            Driver::RusqliteThreads => {
                static THREADS: std::sync::OnceLock<flume::Sender<Job>> =
                    std::sync::OnceLock::new();
                if THREADS.get().is_none() {
                    let _ = THREADS.set(reader_threads(path)?);
                }
                Self::Threads(THREADS.get().expect("set").clone())
            }
        })
    }

    /// Reads order `id` with its items; the number of rows.
    async fn read(&mut self, id: Uuid) -> anyhow::Result<usize> {
        let rows: Vec<Decoded> = match self {
            Self::SqlxPg(conn) => sqlx_read!(conn, id),
            Self::TokioPostgres(client, statement) => client
                .query(&*statement, &[&id])
                .await?
                .iter()
                .map(|row| Ok::<_, tokio_postgres::Error>(decode!(row, serde_json::Value, |j| j)))
                .collect::<Result<_, _>>()?,
            Self::SqlxSqlite(conn) => sqlx_read!(conn, id),
            Self::Rusqlite(slot, false) => {
                let rows = rusqlite_read(slot.as_ref().expect("connection"), id)?;
                // A request would await its socket next; without a yield the tasks
                // would never let the runtime's timers run.
                tokio::task::yield_now().await;
                rows
            }
            Self::Rusqlite(slot, true) => {
                let conn = slot.take().expect("connection");
                let (conn, rows) = tokio::task::spawn_blocking(move || {
                    let rows = rusqlite_read(&conn, id);
                    (conn, rows)
                })
                .await?;
                *slot = Some(conn);
                rows?
            }
            Self::Threads(queue) => {
                let (reply, rows) = tokio::sync::oneshot::channel();
                queue.send_async((id, reply)).await?;
                rows.await??
            }
        };
        Ok(rows.len())
    }
}

fn rusqlite_read(conn: &rusqlite::Connection, id: Uuid) -> anyhow::Result<Vec<Decoded>> {
    let mut statement = conn.prepare_cached(READ_PG)?;
    let mut rows = statement.query([id.as_bytes().as_slice()])?;
    let mut out = Vec::new();
    let uuid = |bytes: &[u8]| Uuid::from_slice(bytes);
    let time = |text: String| text.parse::<DateTime<Utc>>();
    let json = |text: String| serde_json::from_str::<serde_json::Value>(&text);
    while let Some(row) = rows.next()? {
        out.push(Decoded {
            id: uuid(row.get_ref("id")?.as_blob()?)?,
            seq: row.get("seq")?,
            user_id: row.get("user_id")?,
            email: row.get("email")?,
            checkout_session_id: uuid(row.get_ref("checkout_session_id")?.as_blob()?)?,
            payment_intent_id: row.get("payment_intent_id")?,
            status: row.get("status")?,
            currency: row.get("currency")?,
            amounts: [
                row.get("subtotal_minor")?,
                row.get("shipping_minor")?,
                row.get("tax_minor")?,
                row.get("discount_minor")?,
                row.get("total_minor")?,
            ],
            shipping_address: json(row.get("shipping_address")?)?,
            billing_address: json(row.get("billing_address")?)?,
            tracking_number: row.get("tracking_number")?,
            cancellation_reason: row.get("cancellation_reason")?,
            version: row.get("version")?,
            created_at: time(row.get("created_at")?)?,
            updated_at: time(row.get("updated_at")?)?,
            item_id: (row.get_ref("item_id")?.as_blob_or_null()?)
                .map(uuid)
                .transpose()?,
            item_product_id: row.get("item_product_id")?,
            item_name: row.get("item_name")?,
            item_price_minor: row.get("item_price_minor")?,
            item_quantity: row.get("item_quantity")?,
        });
    }
    Ok(out)
}
