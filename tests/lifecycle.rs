//! Order lifecycle (docs/interface.md §1): transitions, permissions, If-Match, races, history.

mod common;

use common::{Backend, TestApp, admin_token, token};
use order_service::outbox::OutboxStatus;
use serde_json::{Value, json};

const ALL: [&str; 5] = ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"];
const ALLOWED: [(&str, &str); 5] = [
    ("PENDING", "CONFIRMED"),
    ("CONFIRMED", "SHIPPED"),
    ("SHIPPED", "DELIVERED"),
    ("PENDING", "CANCELLED"),
    ("CONFIRMED", "CANCELLED"),
];

fn path_to(status: &str) -> &'static [&'static str] {
    match status {
        "PENDING" => &[],
        "CONFIRMED" => &["CONFIRMED"],
        "SHIPPED" => &["CONFIRMED", "SHIPPED"],
        "DELIVERED" => &["CONFIRMED", "SHIPPED", "DELIVERED"],
        "CANCELLED" => &["CANCELLED"],
        _ => unreachable!(),
    }
}

async fn set_status(app: &TestApp, id: &str, to: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/orders/{id}/status"),
        &admin_token(),
        json!({"status": to, "trackingNumber": "TRACK-1"}),
    )
    .await
}

async fn order_in(app: &TestApp, user: &str, status: &str) -> String {
    let id = app.order_for(user).await["id"].as_str().unwrap().to_owned();
    for step in path_to(status) {
        let (s, b) = set_status(app, &id, step).await;
        assert_eq!(s, 200, "moving to {step}: {b}");
    }
    id
}

async fn every_transition_is_allowed_or_refused_as_the_table_says(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for from in ALL {
        for to in ALL {
            let id = order_in(&app, "user-1", from).await;
            let (s, body) = set_status(&app, &id, to).await;
            if ALLOWED.contains(&(from, to)) {
                assert_eq!(s, 200, "{from} -> {to}: {body}");
                assert_eq!(body["status"], to);
            } else {
                assert_eq!(
                    (s, body["code"].as_str()),
                    (409, Some("INVALID_STATUS_TRANSITION")),
                    "{from} -> {to}: {body}"
                );
            }
        }
    }
    let id = order_in(&app, "user-1", "PENDING").await;
    let (s, b) = set_status(&app, &id, "LOST").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("VALIDATION_ERROR")));
}

async fn shipping_records_the_tracking_number(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = order_in(&app, "user-1", "SHIPPED").await;
    let (_, order) = app
        .get(&format!("/api/v1/orders/{id}"), &token("user-1", &[]))
        .await;
    assert_eq!(order["trackingNumber"], "TRACK-1");
    assert_eq!(order["version"], 3);
}

async fn permissions_on_each_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = order_in(&app, "owner", "PENDING").await;
    let owner = token("owner", &[]);
    let other = token("other", &[]);

    let (s, b) = app
        .post(
            &format!("/api/v1/orders/{id}/status"),
            &owner,
            json!({"status": "CONFIRMED"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "owners cannot confirm"
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/orders/{id}/status"),
            &other,
            json!({"status": "CONFIRMED"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = app
        .post(&format!("/api/v1/orders/{id}/cancel"), &other, json!({}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("ORDER_NOT_FOUND")),
        "another user's order stays hidden"
    );
    let (s, _) = app
        .get(&format!("/api/v1/orders/{id}/events"), &other)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(&format!("/api/v1/orders/{id}/events"), &admin_token())
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            &owner,
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["status"].as_str(), b["cancellationReason"].as_str()),
        (Some("CANCELLED"), Some("changed my mind"))
    );
    // An admin may cancel any order; a shipped one is past cancelling.
    let shipped = order_in(&app, "owner", "SHIPPED").await;
    let (s, b) = app
        .post(
            &format!("/api/v1/orders/{shipped}/cancel"),
            &admin_token(),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("INVALID_STATUS_TRANSITION"))
    );
    let confirmed = order_in(&app, "owner", "CONFIRMED").await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/orders/{confirmed}/cancel")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "cancel without a body");
}

async fn if_match_current_and_stale(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = order_in(&app, "user-1", "PENDING").await;
    let url = app.url(&format!("/api/v1/orders/{id}/status"));
    let send = |version: &str, status: &str| {
        app.http
            .post(&url)
            .bearer_auth(admin_token())
            .header("if-match", version.to_owned())
            .json(&json!({"status": status}))
            .send()
    };
    let (s, b) = common::status_and_json(send("1", "CONFIRMED").await.unwrap()).await;
    assert_eq!((s, b["version"].as_i64()), (200, Some(2)), "{b}");
    let (s, b) = common::status_and_json(send("1", "SHIPPED").await.unwrap()).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (412, Some("VERSION_MISMATCH")),
        "{b}"
    );
    let (s, _) = common::status_and_json(send("\"2\"", "SHIPPED").await.unwrap()).await;
    assert_eq!(s, 200);
    let (s, b) = common::status_and_json(send("abc", "DELIVERED").await.unwrap()).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("VALIDATION_ERROR")));
    let cancel = app
        .http
        .post(app.url(&format!("/api/v1/orders/{id}/cancel")))
        .bearer_auth(admin_token())
        .header("if-match", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 412);
}

async fn twenty_racing_cancels_make_one_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = order_in(&app, "user-1", "PENDING").await;
    let path = format!("/api/v1/orders/{id}/cancel");
    let owner = token("user-1", &[]);
    let results = futures::future::join_all(
        (0..20).map(|_| app.post(&path, &owner, json!({"reason": "race"}))),
    )
    .await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let conflict = results
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "INVALID_STATUS_TRANSITION")
        .count();
    assert_eq!((ok, conflict), (1, 19), "{results:?}");
    let (_, history) = app
        .get(&format!("/api/v1/orders/{id}/events"), &owner)
        .await;
    let cancels = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["toStatus"] == "CANCELLED")
        .count();
    assert_eq!(cancels, 1);
    let changes = app
        .store
        .list_outbox(OutboxStatus::Pending, 100)
        .await
        .unwrap();
    let status_events = changes
        .iter()
        .filter(|e| e.event_type == "ORDER_STATUS_CHANGED")
        .count();
    assert_eq!(status_events, 1, "one notification for one change");
}

async fn history_starts_with_creation_and_names_the_actors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = order_in(&app, "user-1", "SHIPPED").await;
    let (s, history) = app
        .get(
            &format!("/api/v1/orders/{id}/events"),
            &token("user-1", &[]),
        )
        .await;
    assert_eq!(s, 200);
    let events = history.as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["type"], "ORDER_CREATED");
    assert_eq!(events[0]["fromStatus"], Value::Null);
    assert_eq!(events[0]["toStatus"], "PENDING");
    assert_eq!(events[0]["actor"], "user-1");
    assert_eq!(
        (
            events[1]["fromStatus"].as_str(),
            events[1]["toStatus"].as_str()
        ),
        (Some("PENDING"), Some("CONFIRMED"))
    );
    assert_eq!(events[1]["actor"], "admin-1");
    assert_eq!(events[2]["type"], "STATUS_CHANGED");
    assert_eq!(events[2]["trackingNumber"], "TRACK-1");
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");

    let queued = app
        .store
        .list_outbox(OutboxStatus::Pending, 100)
        .await
        .unwrap();
    let changed: Vec<Value> = queued
        .iter()
        .filter(|e| e.event_type == "ORDER_STATUS_CHANGED")
        .map(|e| serde_json::from_str(e.payload.get()).unwrap())
        .collect();
    assert_eq!(changed.len(), 2);
    let shipped = changed
        .iter()
        .find(|p| p["toStatus"] == "SHIPPED")
        .expect("SHIPPED event");
    assert_eq!(
        (
            shipped["fromStatus"].as_str(),
            shipped["trackingNumber"].as_str()
        ),
        (Some("CONFIRMED"), Some("TRACK-1"))
    );
    assert_eq!(shipped["order"]["status"], "SHIPPED");
}

both_backends!(
    every_transition_is_allowed_or_refused_as_the_table_says,
    shipping_records_the_tracking_number,
    permissions_on_each_endpoint,
    if_match_current_and_stale,
    twenty_racing_cancels_make_one_change,
    history_starts_with_creation_and_names_the_actors,
);
