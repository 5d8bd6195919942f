//! The order use cases: create an order from a checkout session, read, list and move it
//! through its lifecycle. Coordinates the checkout client, the store and the outbox;
//! knows nothing of HTTP.

use crate::checkout::{
    CheckoutClient, CheckoutError, DEFAULT_MAX_ITEMS_PER_ORDER, SessionRejection,
};
use crate::domain::{
    Actor, CheckoutSessionId, Order, OrderEvent, OrderId, OrderOrigin, OrderStatus, StatusChange,
    TransitionError, UserId,
};
use crate::outbox::NewOutboxEvent;
use crate::storage::{Inserted, OrderFilter, SharedStore, StatusChangeRecord, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Rejected(#[from] SessionRejection),
    #[error("the checkout session belongs to another user")]
    SessionOfAnotherUser,
    #[error("order not found")]
    NotFound,
    #[error("not allowed to {0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("order is at version {current}, not {expected}")]
    VersionMismatch { expected: i64, current: i64 },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => OrderError::NotFound,
            other => OrderError::Store(other),
        }
    }
}

/// A page of orders and the keyset position to continue after it.
pub struct OrderListing {
    pub orders: Vec<Order>,
    pub next: Option<i64>,
}

pub struct OrderService {
    store: SharedStore,
    checkout: CheckoutClient,
    outbox_wake: Arc<Notify>,
    max_items_per_order: usize,
}

impl OrderService {
    pub fn new(store: SharedStore, checkout: CheckoutClient, outbox_wake: Arc<Notify>) -> Self {
        Self {
            store,
            checkout,
            outbox_wake,
            max_items_per_order: DEFAULT_MAX_ITEMS_PER_ORDER,
        }
    }

    /// Sessions with more lines than this are invalid (`MAX_ITEMS_PER_ORDER`).
    pub fn with_max_items_per_order(mut self, max: usize) -> Self {
        self.max_items_per_order = max;
        self
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The one way an order comes to exist, whoever learned of the session first: returns
    /// the order for the session and whether this call created it. The session is always
    /// read from the Checkout Service; the order belongs to the session's `userId`.
    pub async fn create_order_from_checkout(
        &self,
        requester: Requester<'_>,
        session_id: CheckoutSessionId,
        request_id: Option<&str>,
    ) -> Result<(Order, bool), OrderError> {
        // A repeat needs neither the Checkout Service nor a write.
        if let Some(existing) = self.store.order_by_checkout_session(session_id).await? {
            return requester.owned_by(existing).map(|order| (order, false));
        }
        let session = self.checkout.fetch_session(session_id, request_id).await?;
        if let Requester::Client(actor) = requester {
            let owner = session.user_id();
            if !actor.is_admin && owner.as_ref() != Some(&actor.user_id) {
                return Err(OrderError::SessionOfAnotherUser);
            }
        }
        let origin = requester.origin();
        let order = Order::place(session.into_draft_with(self.max_items_per_order)?);
        let confirmation = NewOutboxEvent::order_confirmation(&order);
        match self
            .store
            .insert_order(&order, &confirmation, origin)
            .await?
        {
            Inserted::Created => {
                metrics::counter!("orders_created_total", "origin" => origin.as_str()).increment(1);
                tracing::info!(order_id = %order.id, checkout_session_id = %session_id, %origin, event_id = %confirmation.id, total = %order.total_amount, "order created, confirmation queued");
                self.outbox_wake.notify_one();
                Ok((order, true))
            }
            Inserted::AlreadyExists(existing) => requester.owned_by(*existing).map(|o| (o, false)),
        }
    }

    pub async fn get_order(&self, actor: &Actor, id: OrderId) -> Result<Order, OrderError> {
        let order = self
            .store
            .order_by_id(id)
            .await?
            .ok_or(OrderError::NotFound)?;
        visible_to(actor, order)
    }

    pub async fn list_orders(
        &self,
        actor: &Actor,
        status: Option<OrderStatus>,
        user_filter: Option<UserId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<OrderListing, OrderError> {
        let user_id = if actor.is_admin {
            user_filter
        } else {
            Some(actor.user_id.clone())
        };
        let filter = OrderFilter {
            user_id,
            status,
            before,
            limit: limit + 1,
        };
        let mut page = self.store.list_orders(&filter).await?.orders;
        let next = if page.len() > limit as usize {
            page.truncate(limit as usize);
            page.last().map(|(seq, _)| *seq)
        } else {
            None
        };
        Ok(OrderListing {
            orders: page.into_iter().map(|(_, o)| o).collect(),
            next,
        })
    }

    pub async fn history(&self, actor: &Actor, id: OrderId) -> Result<Vec<OrderEvent>, OrderError> {
        self.get_order(actor, id).await?;
        Ok(self.store.order_history(id).await?)
    }

    /// Moves an order to another status: checked against the transition table and the
    /// caller's rights, persisted with a compare-and-set on `version` (retried on a lost
    /// race unless the caller pinned a version with `If-Match`).
    pub async fn change_status(
        &self,
        actor: &Actor,
        id: OrderId,
        change: StatusChange,
        if_match: Option<i64>,
    ) -> Result<Order, OrderError> {
        for _ in 0..8 {
            let mut order = self.get_order(actor, id).await?;
            if let Some(expected) = if_match.filter(|v| *v != order.version) {
                return Err(OrderError::VersionMismatch {
                    expected,
                    current: order.version,
                });
            }
            let from = order.status;
            let permission = from.transition_to(change.to)?;
            if !actor.may_perform(permission, &order.user_id) {
                return Err(OrderError::Forbidden("make this status change"));
            }
            let previous_version = order.version;
            order.apply(&change)?;
            let event = NewOutboxEvent::status_changed(&order);
            match self
                .store
                .save_status_change(&StatusChangeRecord {
                    order: &order,
                    previous_version,
                    from,
                    actor,
                    change: &change,
                    outbox: &event,
                })
                .await
            {
                Ok(()) => {
                    metrics::counter!("order_status_transitions_total", "from" => from.as_str(), "to" => change.to.as_str()).increment(1);
                    tracing::info!(order_id = %id, %from, to = %change.to, actor = %actor.user_id, "order status changed");
                    self.outbox_wake.notify_one();
                    return Ok(order);
                }
                Err(StoreError::Conflict) if if_match.is_none() => continue,
                Err(StoreError::Conflict) => {
                    let current = previous_version + 1;
                    return Err(OrderError::VersionMismatch {
                        expected: previous_version,
                        current,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(OrderError::Store(StoreError::Conflict))
    }
}

/// Another user's order is reported as missing so ids do not leak.
fn visible_to(actor: &Actor, order: Order) -> Result<Order, OrderError> {
    if actor.may_access(&order.user_id) {
        Ok(order)
    } else {
        Err(OrderError::NotFound)
    }
}

/// Who asks for a session's order (docs/interface.md): the storefront on behalf of a user, or
/// the Checkout Service's webhook, or the reconciliation sweep. It decides the origin
/// recorded and whether the session's owner must be the caller.
#[derive(Clone, Copy, Debug)]
pub enum Requester<'a> {
    Client(&'a Actor),
    Webhook,
    Sweep,
}

impl Requester<'_> {
    pub fn origin(self) -> OrderOrigin {
        match self {
            Requester::Client(_) => OrderOrigin::Client,
            Requester::Webhook => OrderOrigin::Webhook,
            Requester::Sweep => OrderOrigin::Sweep,
        }
    }

    /// A repeated create from another user is refused like a foreign session; the
    /// Checkout side's paths act for whoever owns the session.
    fn owned_by(self, order: Order) -> Result<Order, OrderError> {
        match self {
            Requester::Client(actor) if !actor.may_access(&order.user_id) => {
                Err(OrderError::SessionOfAnotherUser)
            }
            _ => Ok(order),
        }
    }
}
