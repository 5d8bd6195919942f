//! An order: what was bought, for how much, where it goes, and where it is in its
//! lifecycle. Its wire shapes live elsewhere (`http::order_response` for the REST API,
//! `event_body` for receivers of events), so neither changes the other.

use super::{
    Address, CheckoutSessionId, Money, NewOrderItem, OrderDraft, OrderEvent, OrderId, OrderItem,
    OrderStatus, StatusChange, TransitionError, UserId,
};
use chrono::{DateTime, Utc};

// Paths other modules use (`domain::order::now`, `domain::order::EVENT_*`).
pub use super::clock::now;
pub use super::history::{EVENT_ORDER_CREATED, EVENT_STATUS_CHANGED};

/// An order as stored; `version` counts its changes (compare-and-set on updates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub checkout_session_id: CheckoutSessionId,
    pub payment_intent_id: Option<String>,
    pub status: OrderStatus,
    pub currency: String,
    pub total_amount: Money,
    pub subtotal_amount: Money,
    pub shipping_amount: Money,
    pub tax_amount: Money,
    pub discount_amount: Money,
    pub items: Vec<OrderItem>,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub tracking_number: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Customer e-mail from the checkout session; used for notifications, not part of the API.
    pub email: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// A new PENDING order with fresh ids.
    pub fn place(draft: OrderDraft) -> Self {
        let created_at = now();
        let items = draft
            .items
            .into_iter()
            .map(NewOrderItem::into_item)
            .collect();
        Self {
            id: OrderId::generate(),
            user_id: draft.user_id,
            checkout_session_id: draft.checkout_session_id,
            payment_intent_id: draft.payment_intent_id,
            status: OrderStatus::Pending,
            currency: draft.currency,
            total_amount: draft.totals.total,
            subtotal_amount: draft.totals.subtotal,
            shipping_amount: draft.totals.shipping,
            tax_amount: draft.totals.tax,
            discount_amount: draft.totals.discount,
            items,
            shipping_address: draft.shipping_address,
            billing_address: draft.billing_address,
            tracking_number: None,
            cancellation_reason: None,
            email: draft.email,
            version: 1,
            created_at,
            updated_at: created_at,
        }
    }

    /// Applies a status change in memory after checking the transition table.
    /// The caller persists it with a compare-and-set on `version`.
    pub fn apply(&mut self, change: &StatusChange) -> Result<(), TransitionError> {
        self.status.transition_to(change.to)?;
        self.record(change, now());
        Ok(())
    }

    /// What a status change does to the order, made `at`; the transition is the caller's
    /// to check (`apply`) or was checked when it happened (`at_version`).
    fn record(&mut self, change: &StatusChange, at: DateTime<Utc>) {
        self.status = change.to;
        if change.to == OrderStatus::Shipped {
            self.tracking_number = change.tracking_number.clone();
        }
        if change.to == OrderStatus::Cancelled {
            self.cancellation_reason = change.reason.clone();
        }
        self.version += 1;
        self.updated_at = at;
    }

    /// The order as it was at `version`, replayed from its creation through `history`
    /// (its entries, any order): what an event of that version describes. Items, totals
    /// and addresses never change, so only the lifecycle is replayed. `None` when the
    /// history does not reach `version`.
    pub fn at_version(&self, history: &[OrderEvent], version: i64) -> Option<Order> {
        let mut entries: Vec<&OrderEvent> =
            history.iter().filter(|e| e.version <= version).collect();
        entries.sort_by_key(|e| e.version);
        let created = entries.iter().find(|e| e.version == 1);
        let mut order = Order {
            status: created.map_or(OrderStatus::Pending, |e| e.to_status),
            tracking_number: None,
            cancellation_reason: None,
            version: 1,
            updated_at: self.created_at,
            ..self.clone()
        };
        for entry in entries.iter().filter(|e| e.version > 1) {
            let change = StatusChange {
                to: entry.to_status,
                reason: entry.reason.clone(),
                tracking_number: entry.tracking_number.clone(),
            };
            order.record(&change, entry.at);
            if order.version != entry.version {
                return None;
            }
        }
        (order.version == version).then_some(order)
    }
}

/// Orders for the unit tests of this crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::domain::{OrderTotals, Quantity};

    /// A new PENDING order of two espresso cups for `user-1`.
    pub(crate) fn placed() -> Order {
        let address = Address::new("1 Main St", "Anytown", "CA", "US", "12345").unwrap();
        let items = vec![NewOrderItem {
            product_id: "prod-1".into(),
            name: Some("Espresso cup".into()),
            price: Money::parse("45.99").unwrap(),
            quantity: Quantity::new(2).unwrap(),
        }];
        let zero = Money::ZERO;
        let totals = OrderTotals::compute(&items, zero, zero, zero, None, None).unwrap();
        Order::place(OrderDraft {
            user_id: UserId::parse("user-1").unwrap(),
            email: Some("ada@example.com".into()),
            checkout_session_id: CheckoutSessionId(uuid::Uuid::new_v4()),
            payment_intent_id: Some("pi_1".into()),
            currency: "USD".into(),
            items,
            totals,
            shipping_address: address.clone(),
            billing_address: address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::placed;
    use super::*;
    use crate::domain::{EVENT_ORDER_CREATED, EVENT_STATUS_CHANGED};

    /// The history entry the store writes for `order` as it now is.
    fn entry(
        order: &Order,
        from: Option<OrderStatus>,
        change: Option<&StatusChange>,
    ) -> OrderEvent {
        OrderEvent {
            kind: if from.is_some() {
                EVENT_STATUS_CHANGED
            } else {
                EVENT_ORDER_CREATED
            }
            .into(),
            from_status: from,
            to_status: order.status,
            actor: "user-1".into(),
            at: order.updated_at,
            version: order.version,
            reason: change.and_then(|c| c.reason.clone()),
            tracking_number: change.and_then(|c| c.tracking_number.clone()),
            origin: None,
        }
    }

    #[test]
    fn an_order_replayed_to_each_version_equals_the_order_as_it_was_then() {
        let mut order = placed();
        let mut snapshots = vec![order.clone()];
        let mut history = vec![entry(&order, None, None)];
        let changes = [
            (OrderStatus::Confirmed, None, Some("paid")),
            (OrderStatus::Shipped, Some("TRACK-1"), None),
            (OrderStatus::Delivered, None, Some("left at the door")),
        ];
        for (to, tracking, reason) in changes {
            let change = StatusChange {
                to,
                reason: reason.map(str::to_owned),
                tracking_number: tracking.map(str::to_owned),
            };
            let from = order.status;
            std::thread::sleep(std::time::Duration::from_millis(2));
            order.apply(&change).unwrap();
            snapshots.push(order.clone());
            history.push(entry(&order, Some(from), Some(&change)));
        }
        history.reverse(); // any order
        let latest = snapshots.last().unwrap();
        for snapshot in &snapshots {
            assert_eq!(
                latest.at_version(&history, snapshot.version).as_ref(),
                Some(snapshot),
                "version {}",
                snapshot.version
            );
        }
        assert_eq!(latest.at_version(&history, 5), None, "beyond the history");
        assert_eq!(
            latest.at_version(&history[1..], 4),
            None,
            "a gap in the history"
        );
        assert_eq!(snapshots[3].tracking_number.as_deref(), Some("TRACK-1"));
    }

    #[test]
    fn a_cancelled_order_replays_its_reason() {
        let mut order = placed();
        let mut history = vec![entry(&order, None, None)];
        let change = StatusChange {
            to: OrderStatus::Cancelled,
            reason: Some("changed my mind".into()),
            tracking_number: None,
        };
        order.apply(&change).unwrap();
        history.push(entry(&order, Some(OrderStatus::Pending), Some(&change)));
        let then = order.at_version(&history, 2).unwrap();
        assert_eq!(then, order);
        assert_eq!(then.cancellation_reason.as_deref(), Some("changed my mind"));
        let first = order.at_version(&history, 1).unwrap();
        assert_eq!(first.status, OrderStatus::Pending);
        assert_eq!(first.cancellation_reason, None);
        assert_eq!(first.updated_at, order.created_at);
    }
}
