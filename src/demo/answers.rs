//! What the demo reads from the services' answers, and how it checks a call's status.

use crate::domain::Money;
use anyhow::{Context, ensure};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionView {
    pub(super) id: Uuid,
    pub(super) status: String,
    pub(super) currency: String,
    pub(super) total_amount: Money,
    pub(super) payment_intent_id: Option<String>,
    pub(super) expires_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderView {
    pub(super) id: Uuid,
    pub(super) status: String,
    pub(super) currency: String,
    pub(super) total_amount: Money,
    pub(super) checkout_session_id: Uuid,
    pub(super) payment_intent_id: Option<String>,
}

/// Sends a request and returns its status and body text.
pub(super) async fn call(
    what: &str,
    request: RequestBuilder,
) -> anyhow::Result<(StatusCode, String)> {
    let response = request
        .send()
        .await
        .with_context(|| format!("{what}: no answer"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("{what}: unreadable answer"))?;
    Ok((status, body))
}

pub(super) fn expect<T: DeserializeOwned>(
    what: &str,
    want: StatusCode,
    (status, body): (StatusCode, String),
) -> anyhow::Result<(T, String)> {
    ensure!(
        status == want,
        "{what} answered {status}, expected {want}: {body}"
    );
    let parsed =
        serde_json::from_str(&body).with_context(|| format!("{what}: unexpected answer {body}"))?;
    Ok((parsed, body))
}
