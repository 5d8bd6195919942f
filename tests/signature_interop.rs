//! Our Standard Webhooks signatures against the reference library for Python: what we sign
//! it verifies, what it signs we verify, and a wrong key fails on both sides. Needs
//! `python3` with `pip install standardwebhooks`, hence ignored by default:
//! `cargo test --test signature_interop -- --ignored`.

use order_service::webhook_signature::{DEFAULT_TOLERANCE_SECS, WebhookSecrets};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn reference_library(secret: &str, cases: &[Value]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/standard_webhooks.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let input = json!({"secret": secret, "cases": cases}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Python script failed (is standardwebhooks installed?)"
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
#[ignore = "needs python3 with the standardwebhooks package (pip install standardwebhooks)"]
fn the_reference_library_and_ours_agree_both_ways() {
    let now = chrono::Utc::now().timestamp();
    let bodies = [
        r#"{"type": "checkout.session.completed", "data": {"id": "6f1c2b1e-2a53-4a4e-9d0a-1b1f1b7f2c10"}}"#,
        r#"{"test": 2432232314}"#,
        "{\"unicode\": \"caf\u{e9} \u{2603}\", \"empty\": []}",
        "",
    ];
    for secret in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        // 33 bytes (no padding), then 32 bytes written without its `=` padding.
        "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdGhyZWUtYnl0ZXMh",
        "whsec_dGhpcnR5LXR3by1ieXRlcy1vZi1zZWNyZXQta2V5ISE",
    ] {
        let ours = WebhookSecrets::parse(secret).unwrap();
        // A rotation: another key signs too; the reference library must find its own.
        let rotating = WebhookSecrets::parse(&format!("whsec_b3RoZXIta2V5, {secret}")).unwrap();
        let wrong = WebhookSecrets::parse("whsec_d3Jvbmcta2V5LXdyb25nLWtleQ==").unwrap();
        let mut cases = Vec::new();
        let mut expected = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let id = format!("msg_{i}");
            let ts = now - 60 * i as i64;
            for (signer, valid) in [(&ours, true), (&rotating, true), (&wrong, false)] {
                let signature = signer.sign(&id, ts, body.as_bytes());
                cases
                    .push(json!({"id": id, "timestamp": ts, "body": body, "signature": signature}));
                expected.push(valid);
            }
        }
        let answer = reference_library(secret, &cases);
        let verified: Vec<bool> = serde_json::from_value(answer["verified"].clone()).unwrap();
        assert_eq!(
            verified, expected,
            "the reference library verifies ours ({secret})"
        );
        for (case, signature) in cases.iter().zip(answer["signed"].as_array().unwrap()) {
            let ts = case["timestamp"].as_i64().unwrap().to_string();
            let check = |secrets: &WebhookSecrets| {
                secrets.verify(
                    case["id"].as_str(),
                    Some(&ts),
                    signature.as_str(),
                    case["body"].as_str().unwrap().as_bytes(),
                    now,
                    DEFAULT_TOLERANCE_SECS,
                )
            };
            assert_eq!(
                check(&ours),
                Ok(()),
                "we verify the reference library's signature"
            );
            assert_eq!(check(&rotating), Ok(()));
            assert!(check(&wrong).is_err());
            // Same key, same input, same bytes.
            let id = case["id"].as_str().unwrap();
            let body = case["body"].as_str().unwrap().as_bytes();
            let ts: i64 = ts.parse().unwrap();
            assert_eq!(ours.sign(id, ts, body), signature.as_str().unwrap());
        }
    }
}
