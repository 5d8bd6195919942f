//! `order-service demo` as a person runs it: the built binary, nothing else installed.

use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_order-service");

/// The first whitespace-delimited word after `marker` in `text`.
fn word_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let rest = text
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{text}"));
    rest.split_whitespace().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walks_the_checkout_flow_and_exits_0() {
    let cwd = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(BIN)
        .arg("demo")
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the demo finishes within a minute")
        .expect("the demo starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );

    let session_id = word_after(&stdout, "201 Created: session ");
    assert!(uuid::Uuid::parse_str(session_id).is_ok(), "{session_id}");
    assert!(
        stdout.contains(&format!("session {session_id} COMPLETED with pi_demo_")),
        "{stdout}"
    );

    let order_id = word_after(&stdout, "201 Created: order ");
    assert!(uuid::Uuid::parse_str(order_id).is_ok(), "{order_id}");
    assert!(
        stdout.contains(&format!("200 OK: the same order {order_id}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("GET /api/v1/orders/{order_id}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "200 OK: order {order_id} PENDING, total 123.45 USD"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ORDER_CONFIRMATION for order {order_id}")),
        "{stdout}"
    );

    // The confirmation as received, with its key equal to the event id; money kept exact.
    let key = word_after(&stdout, "Idempotency-Key: ");
    assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
    assert!(
        stdout.contains(&format!("\"eventId\": \"{key}\"")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\"orderId\": \"{order_id}\"")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"type\": \"ORDER_CONFIRMATION\""),
        "{stdout}"
    );
    assert!(stdout.contains("\"shippingAmount\": 12.00"), "{stdout}");
    assert!(stdout.contains("Demo complete"), "{stdout}");

    // The second path: paid, the storefront never calls, the webhook makes the order.
    assert!(
        stdout.contains("no POST /api/v1/orders/checkout follows"),
        "{stdout}"
    );
    let pushed = word_after(&stdout, "→ order ");
    assert!(uuid::Uuid::parse_str(pushed).is_ok(), "{pushed}");
    assert_ne!(pushed, order_id, "a second order");
    assert!(
        stdout.contains(&format!(
            "GET /api/v1/orders/{pushed}/events → ORDER_CREATED, origin \"webhook\""
        )),
        "{stdout}"
    );

    // Nothing left behind: the temporary databases are gone, the working directory untouched.
    let workdir = word_after(&stdout, "SQLite in ").trim_end_matches(')');
    assert!(workdir.contains("order-service-demo-"), "{workdir}");
    assert!(
        !std::path::Path::new(workdir).exists(),
        "{workdir} was not removed"
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "files written to the working directory"
    );
}
