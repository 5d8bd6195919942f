//! Orders first at the SQLite writer. Every write goes through one connection, and with
//! synchronous=FULL every transaction waits for its own fsync; the group commit of new
//! orders holds that connection nearly all the time when creation runs at its peak. A
//! confirmation's writes (its claim, lease renewals, its outcome) are deferred work: they
//! wait for a moment when no new order is queued or being committed, for at most
//! `MOST_WAIT`, so a saturated writer keeps committing orders and delivery still gets a
//! turn (at worst one write per `MOST_WAIT`) and catches up when creation slows.

use std::time::Duration;
use tokio::sync::watch;

/// The longest a deferred write waits for the writer to be free of new orders.
pub(super) const MOST_WAIT: Duration = Duration::from_millis(500);

/// Whether the group commit has new orders in hand, shared with deferred writes.
pub(super) struct OrdersFirst {
    idle: watch::Sender<bool>,
}

impl Default for OrdersFirst {
    fn default() -> Self {
        Self {
            idle: watch::Sender::new(true),
        }
    }
}

impl OrdersFirst {
    /// Called by the group commit: `true` while it waits for new orders with none queued,
    /// `false` from the moment it takes orders until it has committed them.
    pub fn set_idle(&self, idle: bool) {
        self.idle.send_if_modified(|now| {
            let changed = *now != idle;
            *now = idle;
            changed
        });
    }

    /// Waits until no new order is queued or being committed, or `most` has passed.
    /// `true` when the writer was free of orders.
    pub async fn wait_turn(&self, most: Duration) -> bool {
        let mut idle = self.idle.subscribe();
        tokio::time::timeout(most, idle.wait_for(|idle| *idle))
            .await
            .is_ok_and(|seen| seen.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_deferred_write_goes_at_once_while_no_order_is_in_hand() {
        let gate = OrdersFirst::default();
        let start = Instant::now();
        assert!(gate.wait_turn(MOST_WAIT).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deferred_write_waits_for_the_orders_in_hand() {
        let gate = Arc::new(OrdersFirst::default());
        gate.set_idle(false);
        let start = Instant::now();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { (gate.wait_turn(MOST_WAIT).await, start.elapsed()) }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        gate.set_idle(true);
        let (free, waited) = waiter.await.unwrap();
        assert!(free);
        assert_eq!(waited, Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_never_free_of_orders_still_lets_a_deferred_write_through() {
        let gate = OrdersFirst::default();
        gate.set_idle(false);
        let start = Instant::now();
        assert!(!gate.wait_turn(MOST_WAIT).await);
        assert_eq!(start.elapsed(), MOST_WAIT);
    }
}
