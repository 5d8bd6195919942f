//! `sqlite-ceiling`: the SQLite ceiling of `bench/run.sh`. It runs the service's per-order
//! write (order row, two item rows in one statement, `order_events` row, outbox row, in one
//! transaction) in a tight loop, with the service's settings (WAL, synchronous=FULL, one
//! writer connection shared by `--concurrency` tasks), and no HTTP, JSON or checkout call.
//! Ids as the service makes them: v7 for orders and items, v4 for events and sessions.
//!
//! `--group N`: the tasks hand their orders to one committer that writes whatever has
//! queued (up to N) in one transaction with one multi-row INSERT per table, like the
//! service's SQLite group commit.

use chrono::Utc;
use clap::Parser;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// e.g. sqlite:///tmp/ceiling.db (created if missing)
    #[arg(long)]
    database: String,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Most orders per transaction; 1 = every task commits its own order.
    #[arg(long, default_value_t = 1)]
    group: usize,
    #[arg(long, default_value = "")]
    label: String,
    /// SQLite's `wal_autocheckpoint` (pages; 0 = never, SQLite's default is 1000), to see
    /// what the checkpoints on the commit path cost.
    #[arg(long)]
    wal_autocheckpoint: Option<u32>,
}

const ADDRESS: &str =
    r#"{"street":"123 Main St","city":"Anytown","state":"CA","country":"US","postalCode":"12345"}"#;

async fn insert_one(tx: &mut Transaction<'_, Sqlite>, payload: &str) -> sqlx::Result<()> {
    let now = Utc::now();
    let order_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, user_id, email, checkout_session_id, payment_intent_id, \
         status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor, \
         total_minor, shipping_address, billing_address, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (checkout_session_id) DO NOTHING",
    )
    .bind(order_id)
    .bind("bench-user")
    .bind("bench@example.com")
    .bind(Uuid::new_v4())
    .bind("pi_bench")
    .bind("PENDING")
    .bind("USD")
    .bind(10048_i64)
    .bind(1200_i64)
    .bind(1947_i64)
    .bind(0_i64)
    .bind(13195_i64)
    .bind(ADDRESS)
    .bind(ADDRESS)
    .bind(1_i64)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_items (id, order_id, position, product_id, name, price_minor, quantity) \
         VALUES ($1, $2, 0, 'prod-1', 'Espresso cup', 4599, 2), ($3, $4, 1, 'prod-2', 'Saucer', 850, 1)",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(Uuid::now_v7())
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, \
         tracking_number, version, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(order_id)
    .bind("ORDER_CREATED")
    .bind(None::<&str>)
    .bind("PENDING")
    .bind("bench-user")
    .bind(None::<&str>)
    .bind(None::<&str>)
    .bind(1_i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (id, event_type, order_id, payload, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, $5)",
    )
    .bind(Uuid::new_v4())
    .bind("ORDER_CONFIRMATION")
    .bind(order_id)
    .bind(payload)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `orders` new orders as the service's SQLite group commit writes them: one multi-row
/// INSERT per table.
async fn insert_many(
    tx: &mut Transaction<'_, Sqlite>,
    orders: usize,
    payload: &str,
) -> sqlx::Result<()> {
    let now = Utc::now();
    let ids: Vec<Uuid> = (0..orders).map(|_| Uuid::now_v7()).collect();
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO orders (id, user_id, email, checkout_session_id, payment_intent_id, \
         status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor, \
         total_minor, shipping_address, billing_address, version, created_at, updated_at) ",
    );
    query.push_values(&ids, |mut row, id| {
        row.push_bind(*id)
            .push_bind("bench-user")
            .push_bind("bench@example.com")
            .push_bind(Uuid::new_v4())
            .push_bind("pi_bench")
            .push_bind("PENDING")
            .push_bind("USD")
            .push_bind(10048_i64)
            .push_bind(1200_i64)
            .push_bind(1947_i64)
            .push_bind(0_i64)
            .push_bind(13195_i64)
            .push_bind(ADDRESS)
            .push_bind(ADDRESS)
            .push_bind(1_i64)
            .push_bind(now)
            .push_bind(now);
    });
    query.push(" ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id");
    let created: Vec<Uuid> = query.build_query_scalar().fetch_all(&mut **tx).await?;
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO order_items (id, order_id, position, product_id, name, price_minor, quantity) ",
    );
    let lines: Vec<(Uuid, i32)> = created.iter().flat_map(|id| [(*id, 0), (*id, 1)]).collect();
    query.push_values(&lines, |mut row, (id, position)| {
        let (product, name, price, quantity) = if *position == 0 {
            ("prod-1", "Espresso cup", 4599_i64, 2_i32)
        } else {
            ("prod-2", "Saucer", 850, 1)
        };
        row.push_bind(Uuid::now_v7())
            .push_bind(*id)
            .push_bind(*position)
            .push_bind(product)
            .push_bind(name)
            .push_bind(price)
            .push_bind(quantity);
    });
    query.build().execute(&mut **tx).await?;
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, \
         tracking_number, version, at) ",
    );
    query.push_values(&created, |mut row, id| {
        row.push_bind(*id)
            .push_bind("ORDER_CREATED")
            .push("NULL")
            .push_bind("PENDING")
            .push_bind("bench-user")
            .push("NULL")
            .push("NULL")
            .push_bind(1_i64)
            .push_bind(now);
    });
    query.build().execute(&mut **tx).await?;
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO outbox (id, event_type, order_id, payload, status, attempts, \
         next_attempt_at, created_at) ",
    );
    query.push_values(&created, |mut row, id| {
        row.push_bind(Uuid::new_v4())
            .push_bind("ORDER_CONFIRMATION")
            .push_bind(*id)
            .push_bind(payload)
            .push("'PENDING'")
            .push("0")
            .push_bind(now)
            .push_bind(now);
    });
    query.build().execute(&mut **tx).await?;
    Ok(())
}

async fn commit_orders(pool: &SqlitePool, orders: usize, payload: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if orders == 1 {
        insert_one(&mut tx, payload).await?;
    } else {
        insert_many(&mut tx, orders, payload).await?;
    }
    tx.commit().await
}

/// The group committer: whatever orders have queued (up to `group`) in one transaction.
async fn committer(
    pool: SqlitePool,
    group: usize,
    payload: String,
    mut queue: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let mut waiting = Vec::with_capacity(group);
    while queue.recv_many(&mut waiting, group).await > 0 {
        commit_orders(&pool, waiting.len(), &payload)
            .await
            .expect("ceiling transaction");
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = SqliteConnectOptions::from_str(&args.database)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let options = match args.wal_autocheckpoint {
        Some(pages) => options.pragma("wal_autocheckpoint", pages.to_string()),
        None => options,
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    // ~ the size of a real ORDER_CONFIRMATION payload (the order JSON in an envelope).
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(1100));
    let stop_at = Instant::now() + Duration::from_secs_f64(args.duration);
    let (queue, pending) = mpsc::channel(1024);
    if args.group > 1 {
        tokio::spawn(committer(
            pool.clone(),
            args.group,
            payload.clone(),
            pending,
        ));
    }
    let tasks = (0..args.concurrency).map(|_| {
        let pool = pool.clone();
        let payload = payload.clone();
        let queue = queue.clone();
        let grouped = args.group > 1;
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < stop_at {
                let started = Instant::now();
                if grouped {
                    let (done, committed) = oneshot::channel();
                    queue.send(done).await.expect("committer");
                    committed.await.expect("ceiling transaction");
                } else {
                    commit_orders(&pool, 1, &payload)
                        .await
                        .expect("ceiling transaction");
                }
                latencies.push(started.elapsed());
            }
            latencies
        })
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("task"))
        .collect();
    latencies.sort_unstable();
    let orders = latencies.len();
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "label": args.label,
            "concurrency": args.concurrency,
            "group": args.group,
            "duration_s": args.duration,
            "orders": orders,
            "rps": round(orders as f64 / args.duration),
            "p50_ms": round(percentile(&latencies, 50.0)),
            "p95_ms": round(percentile(&latencies, 95.0)),
            "p99_ms": round(percentile(&latencies, 99.0)),
            "max_ms": round(percentile(&latencies, 100.0)),
        })
    );
    Ok(())
}
