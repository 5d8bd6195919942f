//! SQLite's WAL stays bounded while orders are written and readers hold snapshots: the
//! checkpoint task, not the commits, copies the WAL back (PASSIVE) and starts it over
//! (RESTART) once it passes its size. Without it (automatic checkpoint off on the writer,
//! readers always active) the WAL would grow by every frame written.

mod common;

use common::new_order;
use order_service::domain::{OrderId, OrderOrigin};
use order_service::storage::{Inserted, NewOutboxEvent, OrderFilter, SharedStore, WalCheckpoints};
use sqlx::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The checkpoint task's default RESTART size (`CheckpointPolicy::default`).
const RESTART_BYTES: u64 = 16 << 20;
/// RESTARTs the test waits for: the WAL filled past its size this many times, so without
/// restarts it would be at least this many times larger than the bound asserted.
const RESTARTS: u64 = 4;

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `writers` tasks creating orders through the store's group commit until `stop`.
fn spawn_writers(
    store: &SharedStore,
    writers: usize,
    stop: &Arc<AtomicBool>,
    created: &Arc<Mutex<Vec<OrderId>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|writer| {
            let (store, stop, created) = (store.clone(), stop.clone(), created.clone());
            tokio::spawn(async move {
                let user = format!("user-{writer}");
                while !stop.load(Ordering::Relaxed) {
                    let order = new_order(&user);
                    let event = NewOutboxEvent::order_confirmation(&order);
                    let inserted = store
                        .insert_order(&order, &event, OrderOrigin::Client)
                        .await;
                    assert!(matches!(inserted, Ok(Inserted::Created)), "{inserted:?}");
                    created.lock().unwrap().push(order.id);
                }
            })
        })
        .collect()
}

/// Polls `done` every 10 ms for up to a minute.
async fn wait_for(what: &str, store: &SharedStore, done: impl Fn(&WalCheckpoints) -> bool) {
    let started = Instant::now();
    loop {
        let counts = store.storage_health().wal_checkpoints();
        if done(&counts) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: still {counts:?} after a minute"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_while_readers_hold_snapshots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("orders.db");
    let wal = dir.path().join("orders.db-wal");
    let url = format!("sqlite://{}", database.display());
    let store: SharedStore = order_service::storage::connect(&url, 4)
        .await
        .expect("store");
    let stop = Arc::new(AtomicBool::new(false));
    let created: Arc<Mutex<Vec<OrderId>>> = Arc::default();
    let reads = Arc::new(AtomicU64::new(0));
    // Writers: orders through the store's group commit, as the service creates them.
    let mut tasks = spawn_writers(&store, 16, &stop, &created);
    // Readers through the store's read pool: orders by id and listing pages.
    for reader in 0..3 {
        let (store, stop, created, reads) =
            (store.clone(), stop.clone(), created.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = {
                    let ids = created.lock().unwrap();
                    ids.get(ids.len().saturating_sub(1 + reader)).copied()
                };
                match id {
                    Some(id) => {
                        let order = store.order_by_id(id).await.expect("read by id");
                        assert!(order.is_some());
                    }
                    None => tokio::task::yield_now().await,
                }
                let page = OrderFilter {
                    limit: 20,
                    ..OrderFilter::default()
                };
                store.list_orders(&page).await.expect("listing");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // A reader that holds each snapshot for 20 ms, back to back: a checkpoint cannot copy
    // past its snapshot while it lasts, and the WAL cannot start over beneath it. On a
    // thread and runtime of its own, and with a read whose cost does not grow with the
    // tables, so that its snapshots last 20 ms however busy the writers keep the test's
    // runtime (a `count(*)` over all items, on the same runtime, held them ever longer as
    // the tables grew, and one snapshot over 50 ms stops a RESTART short).
    let holder = {
        let (stop, reads, url) = (stop.clone(), reads.clone(), url.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=ro"))
                    .await
                    .expect("reader");
                while !stop.load(Ordering::Relaxed) {
                    let mut tx = conn.begin().await.expect("begin");
                    let _: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM orders")
                        .fetch_one(&mut *tx)
                        .await
                        .expect("newest order");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    tx.commit().await.expect("end of the snapshot");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
    };

    let started = Instant::now();
    let mut largest_wal = 0;
    while store.storage_health().wal_checkpoints().restarts < RESTARTS {
        largest_wal = largest_wal.max(file_size(&wal));
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "only {:?} after 5 minutes, {} orders",
            store.storage_health().wal_checkpoints(),
            created.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("task");
    }
    holder.join().expect("snapshot holder");
    largest_wal = largest_wal.max(file_size(&wal));

    let counts = store.storage_health().wal_checkpoints();
    let orders = created.lock().unwrap().len();
    eprintln!(
        "{orders} orders, {} reads in {:?}; largest WAL {largest_wal} B; {counts:?}",
        reads.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(counts.passive > 0, "{counts:?}");
    assert_eq!(counts.failures, 0, "{counts:?}");
    assert!(reads.load(Ordering::Relaxed) > 0);
    // The WAL filled past RESTART_BYTES at least RESTARTS times, yet its file never grew
    // past twice that size: it was started over each time.
    assert!(
        largest_wal <= 2 * RESTART_BYTES,
        "largest WAL {largest_wal} B, {counts:?}"
    );
    // Every acknowledged order is there.
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=ro"))
        .await
        .expect("check");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(stored as usize, orders);
}

/// A reader that keeps one snapshot for 1.5 s stops every RESTART short (SQLite cannot
/// start the WAL over beneath it); the task then waits longer between attempts instead of
/// pausing the writer every round, and starts the WAL over once the reader is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_spaces_out_the_restarts_and_the_wal_starts_over_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let store: SharedStore = order_service::storage::connect(&url, 4)
        .await
        .expect("store");
    let stop = Arc::new(AtomicBool::new(false));
    let created: Arc<Mutex<Vec<OrderId>>> = Arc::default();
    let writers = spawn_writers(&store, 8, &stop, &created);
    wait_for("some orders", &store, |c| c.passive > 0 && c.wal_bytes > 0).await;

    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=ro"))
        .await
        .expect("reader");
    let mut snapshot = conn.begin().await.expect("begin");
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut *snapshot)
        .await
        .expect("count");
    wait_for("a RESTART stopped short", &store, |c| c.restarts_busy > 0).await;
    let restarts = store.storage_health().wal_checkpoints().restarts;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let busy = store.storage_health().wal_checkpoints().restarts_busy;
    snapshot.commit().await.expect("end of the snapshot");
    wait_for("a RESTART after the read", &store, |c| {
        c.restarts > restarts
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let counts = store.storage_health().wal_checkpoints();
    eprintln!("{} orders; {counts:?}", created.lock().unwrap().len());
    // Attempts 0.2 s, 0.4 s, 0.8 s … apart: at most 4 in 1.5 s (every 0.1-0.2 s without).
    assert!(
        busy <= 5,
        "{busy} RESTARTs stopped short in 1.5 s: {counts:?}"
    );
    assert_eq!(counts.failures, 0, "{counts:?}");
}
