//! The release-style binary as operators run it: configuration refusal, the embedded
//! default database, SIGTERM draining, and a SIGKILL between the 201 and the confirmation.

mod common;

use common::{
    Behavior, FakeCheckout, FakeNotifications, JWT_SECRET, eventually, session_json, token,
};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_order-service");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(dir: &std::path::Path, port: u16, env: &[(&str, String)]) -> Self {
        order_service::telemetry::install_crypto_provider();
        let mut command = Command::new(BIN);
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("JWT_SECRET", JWT_SECRET)
            .env("OUTBOX_POLL_MS", "50")
            .env("OUTBOX_RETRY_BASE_MS", "100")
            .env("OUTBOX_LEASE_SECS", "2")
            .stderr(Stdio::null());
        // Only a test that reads the log captures it; an unread pipe could fill and block.
        let reads_log = env.iter().any(|(key, _)| *key == "LOG_FORMAT");
        command.stdout(if reads_log {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("order-service starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let health = format!("{base}/health");
        eventually(20, "the service to answer /health", || async {
            client
                .get(&health)
                .send()
                .await
                .ok()
                .filter(|r| r.status() == 200)
                .map(|_| ())
        })
        .await;
        Self { child, base }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not exit within {within:?}"
            );
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

async fn create(base: &str, session: &str) -> (u16, serde_json::Value) {
    order_service::telemetry::install_crypto_provider();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/orders/checkout"))
        .bearer_auth(token("user-1", &[]))
        .json(&json!({"checkoutSessionId": session}))
        .send()
        .await
        .unwrap();
    common::status_and_json(response).await
}

#[test]
fn refuses_to_start_without_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", free_port().to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_database_and_migrate_command() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .arg("migrate")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        dir.path().join("order-service.db").exists(),
        "the default SQLite file is created"
    );
    let checkout = FakeCheckout::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    checkout.put(&id, session_json(&id, "user-1"));
    let service = Service::start(
        dir.path(),
        free_port(),
        &[("CHECKOUT_SERVICE_URL", checkout.url.clone())],
    )
    .await;
    let (s, order) = create(&service.base, &id).await;
    assert_eq!(s, 201, "{order}");
    let ready = reqwest::get(format!("{}/health/ready", service.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = FakeCheckout::start().await;
    let slow = uuid::Uuid::new_v4().to_string();
    checkout.set(&slow, Behavior::Hang);
    let env = [
        ("CHECKOUT_SERVICE_URL", checkout.url.clone()),
        ("CHECKOUT_TIMEOUT_MS", "1500".to_owned()),
    ];
    let mut service = Service::start(dir.path(), free_port(), &env).await;
    let base = service.base.clone();
    let in_flight = tokio::spawn(async move { create(&base, &slow).await });
    eventually(5, "the request to reach Checkout", || async {
        (checkout.hits() == 1).then_some(())
    })
    .await;
    let started = Instant::now();
    service.signal("TERM");
    let (s, body) = in_flight.await.unwrap();
    assert_eq!(
        (s, body["code"].as_str()),
        (500, Some("CHECKOUT_SERVICE_UNAVAILABLE")),
        "answered, not cut off"
    );
    let status = tokio::task::spawn_blocking(move || service.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "exit code {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_survives_sigkill_after_the_201() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = FakeCheckout::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    checkout.put(&id, session_json(&id, "user-1"));
    // The Notification service is down (nothing listens on this port) when the order is made.
    let notify_port = free_port();
    let port = free_port();
    let env = [
        ("CHECKOUT_SERVICE_URL", checkout.url.clone()),
        (
            "NOTIFICATION_SERVICE_URL",
            format!("http://127.0.0.1:{notify_port}"),
        ),
    ];
    let mut service = Service::start(dir.path(), port, &env).await;
    let (s, order) = create(&service.base, &id).await;
    assert_eq!(s, 201);
    service.signal("KILL");
    service.wait_exit(Duration::from_secs(5));
    let receiver = FakeNotifications::start_on(&format!("127.0.0.1:{notify_port}")).await;
    let _restarted = Service::start(dir.path(), port, &env).await;
    let delivery = eventually(15, "the confirmation after restart", || async {
        receiver.deliveries().first().cloned()
    })
    .await;
    assert_eq!(delivery.body["orderId"], order["id"]);
    assert_eq!(
        delivery.idempotency_key.as_deref(),
        delivery.body["eventId"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(
        dir.path(),
        free_port(),
        &[("LOG_FORMAT", "json".to_owned())],
    )
    .await;
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/orders", service.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    service.signal("TERM");
    service.wait_exit(Duration::from_secs(10));
    let mut stdout = String::new();
    use std::io::Read;
    service
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let line = stdout
        .lines()
        .find(|l| l.contains("trace-me-42"))
        .unwrap_or_else(|| panic!("no log line with the request id:\n{stdout}"));
    let parsed: serde_json::Value = serde_json::from_str(line).expect("each log line is JSON");
    assert!(parsed["timestamp"].is_string(), "{parsed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_plain_name_the_database_file_and_end_with_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(
        dir.path(),
        free_port(),
        &[("LOG_FORMAT", "text".to_owned())],
    )
    .await;
    service.signal("TERM");
    assert!(service.wait_exit(Duration::from_secs(10)).success());
    let mut stdout = String::new();
    use std::io::Read;
    service
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        !stdout.contains('\u{1b}'),
        "no colour codes when stdout is a pipe:\n{stdout}"
    );
    let database = dir.path().join("order-service.db");
    let listening = stdout
        .lines()
        .find(|l| l.contains("order service listening"))
        .unwrap_or_else(|| panic!("no start-up line:\n{stdout}"));
    assert!(
        listening.contains(&database.display().to_string()),
        "the start-up line names {}: {listening}",
        database.display()
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("order service stopped"), "last line: {last}");
}

#[test]
fn a_taken_port_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("AUTH_DISABLED", "true")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}
