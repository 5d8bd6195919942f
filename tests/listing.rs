//! GET /api/v1/orders: keyset pagination, filters, visibility, bad parameters.

mod common;

use common::{Backend, TestApp, admin_token, token};
use serde_json::{Value, json};
use std::collections::HashSet;

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn pages_have_no_gaps_or_repeats_under_concurrent_inserts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut created = Vec::new();
    for _ in 0..25 {
        created.push(
            app.order_for("user-1").await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let user = token("user-1", &[]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/orders?limit=10&cursor={c}"),
            None => "/api/v1/orders?limit=10".to_owned(),
        };
        let (s, page) = app.get(&path, &user).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        // New orders arrive between pages; they must not shift what comes next.
        app.order_for("user-1").await;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "newest first, each order exactly once");
}

async fn users_see_their_own_and_admins_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.order_for("alice").await;
    let bob = app.order_for("bob").await;
    let (_, page) = app.get("/api/v1/orders", &token("alice", &[])).await;
    assert_eq!(ids(&page), vec![alice["id"].as_str().unwrap().to_owned()]);
    assert_eq!(page["nextCursor"], Value::Null);
    let (_, page) = app
        .get("/api/v1/orders?userId=alice", &token("bob", &[]))
        .await;
    assert_eq!(
        ids(&page),
        vec![bob["id"].as_str().unwrap().to_owned()],
        "userId is an admin filter"
    );
    let (_, page) = app.get("/api/v1/orders", &admin_token()).await;
    assert_eq!(ids(&page).len(), 2);
    let (_, page) = app.get("/api/v1/orders?userId=bob", &admin_token()).await;
    assert_eq!(ids(&page), vec![bob["id"].as_str().unwrap().to_owned()]);

    let bob_id = bob["id"].as_str().unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/orders/{bob_id}/cancel"),
            &token("bob", &[]),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, page) = app
        .get("/api/v1/orders?status=cancelled", &admin_token())
        .await;
    assert_eq!(ids(&page), vec![bob_id.to_owned()]);
    let (_, page) = app
        .get("/api/v1/orders?status=PENDING", &admin_token())
        .await;
    assert_eq!(ids(&page), vec![alice["id"].as_str().unwrap().to_owned()]);
}

async fn bad_parameters_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = token("user-1", &[]);
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=xyz",
        "cursor=",
        "status=LOST",
    ] {
        let (s, b) = app.get(&format!("/api/v1/orders?{query}"), &user).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{query}: {b}"
        );
    }
    let (s, b) = app.get("/api/v1/orders?limit=100", &user).await;
    assert_eq!((s, b["items"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, _) = app.get("/api/v1/orders/not-a-uuid", &user).await;
    assert_eq!(s, 400);
}

async fn default_page_is_twenty(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..21 {
        app.order_for("user-1").await;
    }
    let (_, page) = app.get("/api/v1/orders", &token("user-1", &[])).await;
    let unique: HashSet<String> = ids(&page).into_iter().collect();
    assert_eq!(unique.len(), 20);
    assert!(page["nextCursor"].is_string());
}

both_backends!(
    pages_have_no_gaps_or_repeats_under_concurrent_inserts,
    users_see_their_own_and_admins_filter,
    bad_parameters_are_400,
    default_page_is_twenty,
);
