//! `sqlite-ceiling`: the SQLite ceiling of `bench/run.sh`. It runs the service's per-order
//! write (order row, two item rows in one statement, `order_events` row, outbox row, in one
//! transaction) in a tight loop, with the service's settings (WAL, synchronous=FULL, one
//! writer connection shared by `--concurrency` tasks), and no HTTP, JSON or checkout call.
//! Ids as the service makes them: v7 for orders and items, v4 for events and sessions.
//!
//! `--group N`: the tasks hand their orders to one committer that writes whatever has
//! queued (up to N) in one transaction with one multi-row INSERT per table, like the
//! service's SQLite group commit. Every write goes through the service's own
//! `write_orders_together`, so the bench writes the columns the service writes.

use clap::Parser;
use order_service::domain::{
    Address, CheckoutSessionId, Money, NewOrderItem, Order, OrderDraft, OrderOrigin, OrderTotals,
    Quantity, UserId,
};
use order_service::storage::{
    NewOutboxEvent, Pool, checkpoint_in_background, write_orders_together,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Sqlite};
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
    /// The service's checkpoint task instead of SQLite's automatic checkpoint
    /// (`wal_autocheckpoint=0` on the writer; PASSIVE every 100 ms, RESTART past 16 MiB).
    #[arg(long)]
    checkpoint_task: bool,
}

/// A new order as the service places it (v7 ids), with a fresh checkout session.
fn bench_order() -> Order {
    let address = Address::new("123 Main St", "Anytown", "CA", "US", "12345").expect("address");
    let money = |minor| Money::from_minor_units(minor, 2).expect("amount");
    let item = |product: &str, name: &str, price, quantity| NewOrderItem {
        product_id: product.to_owned(),
        name: Some(name.to_owned()),
        price: money(price),
        quantity: Quantity::new(quantity).expect("quantity"),
    };
    Order::place(OrderDraft {
        user_id: UserId::parse("bench-user").expect("user"),
        email: Some("bench@example.com".to_owned()),
        checkout_session_id: CheckoutSessionId(Uuid::new_v4()),
        payment_intent_id: Some("pi_bench".to_owned()),
        currency: "USD".to_owned(),
        items: vec![
            item("prod-1", "Espresso cup", 4599, 2),
            item("prod-2", "Saucer", 850, 1),
        ],
        totals: OrderTotals {
            subtotal: money(10048),
            shipping: money(1200),
            tax: money(1947),
            discount: money(0),
            total: money(13195),
        },
        shipping_address: address.clone(),
        billing_address: address,
    })
}

/// `orders` new orders in one transaction, written by the service's own group-commit write
/// (one multi-row INSERT per table).
async fn commit_orders(pool: &Pool<Sqlite>, orders: usize) -> anyhow::Result<()> {
    let orders: Vec<(Order, NewOutboxEvent)> = (0..orders)
        .map(|_| {
            let order = bench_order();
            let event = NewOutboxEvent::order_confirmation(&order);
            (order, event)
        })
        .collect();
    let group: Vec<_> = orders
        .iter()
        .map(|(order, event)| (order, event, OrderOrigin::Client))
        .collect();
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    write_orders_together(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(())
}

/// The group committer: whatever orders have queued (up to `group`) in one transaction.
async fn committer(
    pool: Pool<Sqlite>,
    group: usize,
    mut queue: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let mut waiting = Vec::with_capacity(group);
    while queue.recv_many(&mut waiting, group).await > 0 {
        commit_orders(&pool, waiting.len())
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
    let writer_options = match (args.checkpoint_task, args.wal_autocheckpoint) {
        (true, _) => options.clone().pragma("wal_autocheckpoint", "0"),
        (false, Some(pages)) => options
            .clone()
            .pragma("wal_autocheckpoint", pages.to_string()),
        (false, None) => options.clone(),
    };
    let pool: Pool<Sqlite> = Pool::connect(writer_options, 1, Duration::from_secs(5)).await?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&mut *pool.acquire().await?)
        .await?;
    let _checkpoints = match args.checkpoint_task {
        true => Some(checkpoint_in_background(options, pool.clone()).await?),
        false => None,
    };
    let stop_at = Instant::now() + Duration::from_secs_f64(args.duration);
    let (queue, pending) = mpsc::channel(1024);
    if args.group > 1 {
        tokio::spawn(committer(pool.clone(), args.group, pending));
    }
    let tasks = (0..args.concurrency).map(|_| {
        let pool = pool.clone();
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
                    commit_orders(&pool, 1).await.expect("ceiling transaction");
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
