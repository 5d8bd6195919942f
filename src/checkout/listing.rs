//! The Checkout Service's listing of completed sessions (docs/interface.md), read by the
//! reconciliation sweep: only each session's id and completion time matter here, since
//! every session is then read on its own exactly as the storefront's path reads it.

use super::client::{CheckoutClient, CheckoutError, read_limited};
use super::session::SessionParseError;
use crate::domain::CheckoutSessionId;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

/// A page of listed sessions can hold many whole sessions.
const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedSession {
    pub id: CheckoutSessionId,
    pub completed_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct CompletedSessionsPage {
    /// Oldest completion first.
    pub sessions: Vec<CompletedSession>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageBody {
    items: Vec<ListedSession>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedSession {
    id: String,
    completed_at: Option<DateTime<Utc>>,
}

impl CheckoutClient {
    /// One page of the sessions completed after `after` (exclusive), or after `cursor`.
    pub async fn list_completed_sessions(
        &self,
        after: DateTime<Utc>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<CompletedSessionsPage, CheckoutError> {
        let base = format!(
            "{}/api/v1/checkout/sessions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut url = reqwest::Url::parse(&base)
            .map_err(|e| CheckoutError::Transport(format!("bad CHECKOUT_SERVICE_URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("status", "COMPLETED")
                .append_pair(
                    "completedAfter",
                    &after.to_rfc3339_opts(SecondsFormat::Millis, true),
                )
                .append_pair("limit", &limit.to_string());
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
        }
        let request = self
            .http
            .get(url)
            .header("accept", "application/json")
            .timeout(self.config.timeout);
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                CheckoutError::Timeout(self.config.timeout)
            } else {
                CheckoutError::Transport(e.to_string())
            }
        })?;
        if !response.status().is_success() {
            return Err(CheckoutError::Status(response.status().as_u16()));
        }
        let body = read_limited(&mut response, MAX_PAGE_BYTES).await?;
        let page: PageBody = serde_json::from_slice(&body)
            .map_err(|e| SessionParseError::Malformed(format!("session listing: {e}")))?;
        let sessions = page
            .items
            .into_iter()
            .map(|s| {
                let id = s.id.parse().map_err(|_| {
                    SessionParseError::Malformed(format!("listed session id {:?}", s.id))
                })?;
                let completed_at = s.completed_at.ok_or_else(|| {
                    SessionParseError::Malformed(format!(
                        "listed session {} has no completedAt",
                        s.id
                    ))
                })?;
                Ok(CompletedSession { id, completed_at })
            })
            .collect::<Result<Vec<_>, SessionParseError>>()?;
        Ok(CompletedSessionsPage {
            sessions,
            next_cursor: page.next_cursor,
        })
    }
}
