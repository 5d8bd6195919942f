//! The operators' use cases on the confirmation outbox: see the events in one state and
//! send a failed or stuck one again. Only admins may; knows nothing of HTTP.

use crate::domain::{Actor, EventId};
use crate::storage::{OutboxRecord, OutboxStatus, SharedStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OutboxAdminError {
    #[error("only an admin may manage the outbox")]
    Forbidden,
    #[error("no undelivered event with this id")]
    UnknownEvent,
    #[error(transparent)]
    Store(StoreError),
}

pub struct OutboxAdmin {
    store: SharedStore,
}

impl OutboxAdmin {
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Events in `status`, oldest first.
    pub async fn list(
        &self,
        actor: &Actor,
        status: OutboxStatus,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, OutboxAdminError> {
        require_admin(actor)?;
        self.store
            .list_outbox(status, limit)
            .await
            .map_err(OutboxAdminError::Store)
    }

    /// Puts a failed or stuck event back in the queue, due now.
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
}

fn require_admin(actor: &Actor) -> Result<(), OutboxAdminError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(OutboxAdminError::Forbidden)
    }
}
