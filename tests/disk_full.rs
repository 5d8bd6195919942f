//! The embedded database on a disk that really fills up: the release-style binary with
//! its SQLite file on a 48 MB tmpfs, four clients creating orders while a filler file
//! takes the free space, then the filler is deleted. Every 201 must be stored (through
//! the API, and after a restart), every failure must be a 503 that can be retried into
//! exactly one order, writes must work again within seconds of the space coming back,
//! and the file must pass `PRAGMA integrity_check`.
//!
//! Mounting needs root, so the test is ignored by a plain `cargo test`; CI (root) runs it
//! with `--include-ignored`, and there it fails rather than skips when not root.

mod common;

use common::{FakeCheckout, JWT_SECRET, eventually, session_json, status_and_json, token};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_order-service");
const CLIENTS: usize = 4;
/// Room left beside the filler under load: enough for a few thousand orders.
const LEFT_FREE_UNDER_LOAD: &str = "8M";
/// Room left beside the filler when idle: a few orders.
const LEFT_FREE_IDLE: &str = "64K";
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);

/// Unmounts the tmpfs however the test ends.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(dir: &Path) -> Option<Self> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(database: &Path, checkout: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .env_clear()
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("JWT_SECRET", JWT_SECRET)
            .env("DATABASE_URL", format!("sqlite://{}", database.display()))
            .env("CHECKOUT_SERVICE_URL", checkout)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("order-service starts");
        let base = format!("http://127.0.0.1:{port}");
        let health = format!("{base}/health");
        let client = reqwest::Client::new();
        eventually(20, "the service to answer /health", || async {
            let response = client.get(&health).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
        Self { child, base }
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the service did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create(http: &reqwest::Client, base: &str, session: &str) -> (u16, Value) {
    let response = http
        .post(format!("{base}/api/v1/orders/checkout"))
        .bearer_auth(token("user-1", &[]))
        .json(&json!({"checkoutSessionId": session}))
        .send()
        .await
        .expect("the service answers");
    status_and_json(response).await
}

async fn ready(http: &reqwest::Client, base: &str) -> (u16, Value) {
    status_and_json(
        http.get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Fills the filesystem of `path` up to `left_free` (a `truncate` size: 8M, 64K).
fn fill(path: &Path, left_free: &str) {
    // dd stops at ENOSPC (non-zero status, expected); then give some room back.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", path.display()))
        .stderr(Stdio::null())
        .status();
    let shrunk = Command::new("truncate")
        .args(["-s", &format!("-{left_free}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(shrunk.success());
}

/// Every answer to a creation: session → (status, order id or error code).
type Answers = Arc<Mutex<Vec<(String, u16, String)>>>;

/// One client creating orders for fresh sessions until `stop`.
async fn client(base: String, checkout: FakeCheckout, answers: Answers, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::new();
    while !stop.load(Ordering::Relaxed) {
        let session = uuid::Uuid::new_v4().to_string();
        checkout.put(&session, session_json(&session, "user-1"));
        let (status, body) = create(&http, &base, &session).await;
        let what = if status == 201 {
            &body["id"]
        } else {
            &body["code"]
        };
        let what = what.as_str().unwrap_or_default().to_owned();
        answers.lock().await.push((session, status, what));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root to mount a size-limited tmpfs (CI runs it with --include-ignored)"]
async fn a_full_disk_loses_no_acknowledged_order() {
    assert!(
        running_as_root(),
        "this test mounts a tmpfs and must run as root (CI does)"
    );
    order_service::telemetry::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let _mounted = Mounted::tmpfs(dir.path()).expect("mount a 48 MB tmpfs");
    let database = dir.path().join("orders.db");
    let filler = dir.path().join("filler");
    let checkout = FakeCheckout::start().await;
    let service = Service::start(&database, &checkout.url).await;
    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("{}/metrics", service.base))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    let gauge = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")));
        let value = line.and_then(|l| l.split(' ').nth(1)?.parse().ok());
        value.unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
    };
    let free = gauge("db_filesystem_free_bytes");
    assert!(
        free > 0.0 && free <= 48.0 * 1024.0 * 1024.0,
        "free bytes of the tmpfs: {free}"
    );
    assert!(gauge("db_size_bytes") > 0.0);

    let answers: Answers = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (base, checkout) = (service.base.clone(), checkout.clone());
            tokio::spawn(client(base, checkout, answers.clone(), stop.clone()))
        })
        .collect();
    let failures = || async {
        let answers = answers.lock().await;
        answers
            .iter()
            .filter(|(_, status, _)| *status != 201)
            .count()
    };

    fill(&filler, LEFT_FREE_UNDER_LOAD);
    eventually(120, "orders to fail on the full disk", || async {
        (failures().await >= 20).then_some(())
    })
    .await;
    let (status, body) = ready(&http, &service.base).await;
    assert_eq!(status, 503, "readiness while the disk is full: {body}");
    assert_eq!(body["reason"], "STORAGE_FULL", "{body}");
    let failed_while_full = failures().await;

    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let answered_before = answers.lock().await.len();
    let recovered = eventually(
        RECOVERY_LIMIT.as_secs(),
        "a 201 after space is back",
        || async {
            let answers = answers.lock().await;
            answers[answered_before..]
                .iter()
                .any(|(_, status, _)| *status == 201)
                .then(|| freed.elapsed())
        },
    )
    .await;
    let ready_again = eventually(
        RECOVERY_LIMIT.as_secs(),
        "readiness after space is back",
        || async { (ready(&http, &service.base).await.0 == 200).then(|| freed.elapsed()) },
    )
    .await;
    // Some more load on the recovered database, then stop the clients.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    // Without traffic, readiness must recover through the service's own probe.
    fill(&filler, LEFT_FREE_IDLE);
    // Fresh sessions until one fails: the first few may still find room.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (idle_session, status, body) = loop {
        assert!(
            Instant::now() < deadline,
            "the full disk never refused a write"
        );
        let session = uuid::Uuid::new_v4().to_string();
        checkout.put(&session, session_json(&session, "user-1"));
        let (status, body) = create(&http, &service.base, &session).await;
        if status != 201 {
            break (session, status, body);
        }
        let id = body["id"].as_str().unwrap().to_owned();
        answers.lock().await.push((session, 201, id));
    };
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("STORAGE_FULL")),
        "{body}"
    );
    assert_eq!(ready(&http, &service.base).await.0, 503);
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let probed_ready = eventually(
        RECOVERY_LIMIT.as_secs(),
        "readiness without traffic",
        || async { (ready(&http, &service.base).await.0 == 200).then(|| freed.elapsed()) },
    )
    .await;
    answers
        .lock()
        .await
        .push((idle_session, 503, "STORAGE_FULL".into()));

    let answers = answers.lock().await.clone();
    let mut orders: HashMap<String, String> = HashMap::new(); // session → order id
    for (session, status, what) in &answers {
        match status {
            201 => {
                orders.insert(session.clone(), what.clone());
            }
            503 => assert!(
                what == "STORAGE_FULL" || what == "DATABASE_UNAVAILABLE",
                "a failed creation answers 503 with a storage code, got {what}"
            ),
            other => panic!("creation answered {other} {what}"),
        }
    }
    let acknowledged = orders.len();
    let failed = answers.len() - acknowledged;
    // Every failed request, retried now, yields exactly one order.
    for (session, status, _) in answers.iter().filter(|(_, s, _)| *s != 201) {
        let (retried, body) = create(&http, &service.base, session).await;
        assert_eq!(
            retried, 201,
            "retry of a failed creation (was {status}): {body}"
        );
        let (again, same) = create(&http, &service.base, session).await;
        assert_eq!((again, &same["id"]), (200, &body["id"]));
        orders.insert(session.clone(), body["id"].as_str().unwrap().to_owned());
    }

    let all_readable = |base: String, orders: HashMap<String, String>| async move {
        let http = reqwest::Client::new();
        for id in orders.values() {
            let response = http
                .get(format!("{base}/api/v1/orders/{id}"))
                .bearer_auth(token("user-1", &[]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "acknowledged order {id} is missing");
        }
    };
    all_readable(service.base.clone(), orders.clone()).await;
    service.stop();
    let service = Service::start(&database, &checkout.url).await;
    all_readable(service.base.clone(), orders.clone()).await;
    service.stop();

    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stored as usize,
        orders.len(),
        "one order per session, no more"
    );
    conn.close().await.unwrap();
    eprintln!(
        "disk full: {} requests, {acknowledged} acknowledged, {failed} failed (all 503; \
         {failed_while_full} when readiness was checked), first 201 {:.2} s after space was \
         freed, ready {:.2} s after (without traffic: {:.2} s), all failed requests retried into one order each, \
         acknowledged-and-missing 0",
        answers.len(),
        recovered.as_secs_f64(),
        ready_again.as_secs_f64(),
        probed_ready.as_secs_f64()
    );
}
