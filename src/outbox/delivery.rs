//! What one delivery attempt means for an event, and when to try again.

use rand::Rng;
use std::time::Duration;

/// Result of one attempt at one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Worth trying again later (5xx, 408, 429, timeout, connection refused).
    Retry(String),
    /// Will never succeed as sent (other 4xx); parked as failed.
    Permanent(String),
}

impl DeliveryOutcome {
    /// Classifies an HTTP status answered by the Notification service.
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => DeliveryOutcome::Delivered,
            408 | 429 | 500..=599 => DeliveryOutcome::Retry(format!("HTTP {status}")),
            _ => DeliveryOutcome::Permanent(format!("HTTP {status}")),
        }
    }
}

/// Exponential backoff with jitter: attempt 1 waits about `first`, doubling up to `cap`
/// (`OUTBOX_RETRY_BASE_MS`, `OUTBOX_RETRY_MAX_DELAY_SECS`); each wait is drawn between half
/// and all of the nominal value so retries spread out.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        let nominal = self.first.saturating_mul(factor).min(self.cap);
        let millis = nominal.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_as_the_contract_says() {
        assert_eq!(
            DeliveryOutcome::from_status(202),
            DeliveryOutcome::Delivered
        );
        for retry in [500, 503, 408, 429] {
            assert!(matches!(
                DeliveryOutcome::from_status(retry),
                DeliveryOutcome::Retry(_)
            ));
        }
        for permanent in [400, 404, 409, 422] {
            assert!(matches!(
                DeliveryOutcome::from_status(permanent),
                DeliveryOutcome::Permanent(_)
            ));
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let backoff = Backoff::default();
        let first = backoff.delay(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        let late = backoff.delay(30);
        assert!(late >= Duration::from_secs(150) && late <= Duration::from_secs(300));
        assert!(backoff.delay(3) <= Duration::from_secs(4));
    }
}
