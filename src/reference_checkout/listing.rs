//! The completed-sessions listing of the reference Checkout Service (docs/interface.md), read
//! by the order service's reconciliation sweep.

use super::session::Session;
use super::store::{SessionStore, SessionStoreError, corrupt};
use uuid::Uuid;

impl SessionStore {
    /// Sessions completed after `after` (Unix ms), or after the keyset position `cursor`
    /// (completion ms, id) when given: oldest first, ties broken by id, so a page boundary
    /// between equal timestamps neither skips nor repeats a session.
    pub async fn completed_after(
        &self,
        after_ms: i64,
        cursor: Option<(i64, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Session>, SessionStoreError> {
        let (at_ms, after_id) = match cursor {
            Some((ms, id)) => (ms, id.to_string()),
            // No id sorts after U+10FFFF, so this reads "completed strictly after `after_ms`".
            None => (after_ms, "\u{10FFFF}".to_owned()),
        };
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM checkout_sessions WHERE status = 'COMPLETED' \
             AND (completed_at_ms > ? OR (completed_at_ms = ? AND id > ?)) \
             ORDER BY completed_at_ms, id LIMIT ?",
        )
        .bind(at_ms)
        .bind(at_ms)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(corrupt)?;
            sessions.push(
                self.read(id)
                    .await?
                    .ok_or_else(|| corrupt("listed session vanished"))?,
            );
        }
        Ok(sessions)
    }
}
