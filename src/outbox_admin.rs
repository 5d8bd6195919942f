//! The operators' use cases on the confirmation outbox: see the events (by status, by
//! order, page by page), one event with its attempt log, send one again, replay a period.
//! Only admins may; knows nothing of HTTP.

use crate::domain::{Actor, EventId};
use crate::storage::{
    OutboxAttempt, OutboxFilter, OutboxRecord, OutboxStatus, SharedStore, StoreError,
};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum OutboxAdminError {
    #[error("only an admin may manage the outbox")]
    Forbidden,
    #[error("no event with this id")]
    UnknownEvent,
    #[error(transparent)]
    Store(StoreError),
}

pub struct OutboxAdmin {
    store: SharedStore,
}

/// A page of events and, when more may follow, the position after its last one.
pub struct OutboxPage {
    pub items: Vec<OutboxRecord>,
    pub next: Option<(DateTime<Utc>, EventId)>,
}

impl OutboxAdmin {
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Events matching `filter`, oldest first, one page of `filter.limit`.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &OutboxFilter,
    ) -> Result<OutboxPage, OutboxAdminError> {
        require_admin(actor)?;
        let items = self
            .store
            .list_outbox_page(filter)
            .await
            .map_err(OutboxAdminError::Store)?;
        let full = items.len() as u32 == filter.limit;
        let next = full
            .then(|| items.last().map(|e| (e.created_at, e.id)))
            .flatten();
        Ok(OutboxPage { items, next })
    }

    /// One event with its attempts, oldest first.
    pub async fn event(
        &self,
        actor: &Actor,
        id: EventId,
    ) -> Result<(OutboxRecord, Vec<OutboxAttempt>), OutboxAdminError> {
        require_admin(actor)?;
        let event = self
            .store
            .outbox_event(id)
            .await
            .map_err(OutboxAdminError::Store)?
            .ok_or(OutboxAdminError::UnknownEvent)?;
        let attempts = self
            .store
            .outbox_attempts(id)
            .await
            .map_err(OutboxAdminError::Store)?;
        Ok((event, attempts))
    }

    /// Puts an event back in the queue, due now (a delivered one too: a replay).
    pub async fn retry(
        &self,
        actor: &Actor,
        id: EventId,
    ) -> Result<OutboxRecord, OutboxAdminError> {
        require_admin(actor)?;
        let record = self.store.requeue_outbox(id).await.map_err(|e| match e {
            StoreError::NotFound => OutboxAdminError::UnknownEvent,
            other => OutboxAdminError::Store(other),
        })?;
        tracing::info!(event_id = %id, admin = %actor.user_id, "outbox event requeued");
        Ok(record)
    }

    /// Requeues every event in `status` created in [`since`, `until`); how many.
    pub async fn replay(
        &self,
        actor: &Actor,
        status: OutboxStatus,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, OutboxAdminError> {
        require_admin(actor)?;
        let n = self
            .store
            .replay_outbox(status, since, until)
            .await
            .map_err(OutboxAdminError::Store)?;
        tracing::info!(requeued = n, %status, %since, %until, admin = %actor.user_id, "outbox events replayed");
        Ok(n)
    }
}

fn require_admin(actor: &Actor) -> Result<(), OutboxAdminError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(OutboxAdminError::Forbidden)
    }
}
