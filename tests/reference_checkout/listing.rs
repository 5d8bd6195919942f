//! `GET /api/v1/checkout/sessions?status=COMPLETED…` (docs/interface.md): completed sessions
//! oldest first, keyset pages that neither skip nor repeat a session when several share
//! one completion time.

use super::harness::{Checkout, db_url, seed_cart};
use serde_json::{Value, json};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(1800);

async fn list(checkout: &Checkout, query: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/checkout/sessions?{query}", checkout.url);
    let answer = checkout.send(checkout.http.get(url)).await;
    (answer.status, answer.json)
}

/// Opens and completes `n` sessions; returns their ids.
async fn completed_sessions(checkout: &Checkout, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = checkout.create(&seed_cart()).await.json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = checkout.complete(&id, json!(format!("pi_{i}"))).await;
        assert_eq!(done.status, 200, "{}", done.text);
        ids.push(id);
    }
    ids
}

/// Sets completion times by hand, so ties are certain rather than lucky.
async fn set_completed_at(dir: &tempfile::TempDir, id: &str, ms: i64) {
    let pool = sqlx::SqlitePool::connect(&db_url(dir)).await.unwrap();
    sqlx::query("UPDATE checkout_sessions SET completed_at_ms = ? WHERE id = ?")
        .bind(ms)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn completed_sessions_come_oldest_first_in_stable_keyset_pages() {
    let checkout = Checkout::start(TTL).await;
    let sessions = completed_sessions(&checkout, 5).await;
    let pending = checkout.create(&seed_cart()).await.json["id"].clone();
    // One early session, then four completed in the same millisecond.
    set_completed_at(&checkout.dir, &sessions[0], 1_000).await;
    for id in &sessions[1..] {
        set_completed_at(&checkout.dir, id, 2_000).await;
    }
    let mut tied = sessions[1..].to_vec();
    tied.sort();
    let mut expected = vec![sessions[0].clone()];
    expected.extend(tied);

    let mut seen = Vec::new();
    let mut query = "status=COMPLETED&completedAfter=1970-01-01T00:00:00Z&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = list(&checkout, &query).await;
        assert_eq!(status, 200, "{page}");
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("status=COMPLETED&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every completed session once, in order");
    assert_eq!(pages, 3);
    assert!(!seen.contains(&pending.as_str().unwrap().to_owned()));

    // `completedAfter` is exclusive: the session at exactly 1 s is not "after" it.
    let (_, page) = list(
        &checkout,
        "status=completed&completedAfter=1970-01-01T00:00:01Z",
    )
    .await;
    assert_eq!(ids(&page), expected[1..].to_vec());
    assert_eq!(page["nextCursor"], Value::Null);
    let (_, page) = list(
        &checkout,
        "status=COMPLETED&completedAfter=1970-01-01T00:00:00.999Z",
    )
    .await;
    assert_eq!(ids(&page), expected);
    // Items are whole sessions in the §4 format.
    assert_eq!(page["items"][0]["status"], "COMPLETED");
    assert_eq!(page["items"][0]["totalAmount"], json!(123.45));
    let (_, page) = list(
        &checkout,
        "status=COMPLETED&completedAfter=2030-01-01T00:00:00%2B02:00",
    )
    .await;
    assert_eq!(ids(&page), Vec::<String>::new());
}

#[tokio::test]
async fn bad_listing_parameters_are_400() {
    let checkout = Checkout::start(TTL).await;
    for query in [
        "",
        "status=PENDING",
        "status=COMPLETED&completedAfter=yesterday",
        "status=COMPLETED&limit=0",
        "status=COMPLETED&limit=501",
        "status=COMPLETED&cursor=nonsense",
    ] {
        let (status, problem) = list(&checkout, query).await;
        assert_eq!(
            (status, &problem["code"]),
            (400, &json!("VALIDATION_ERROR")),
            "{query}: {problem}"
        );
    }
}
