//! The delivery worker that runs inside every service instance. It claims due events with
//! a lease (so a crashed instance's events are picked up again once the lease ends),
//! delivers them to every configured sink, and records the outcome.

use super::{Backoff, DeliveryOutcome, NatsPublisher, Notifier, OutboxRecord, OutboxStats};
use crate::storage::{OutboxClaim, OutboxRetry, SharedStore, Sinks};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

#[derive(Clone, Debug)]
pub struct OutboxWorkerConfig {
    pub poll_interval: Duration,
    pub lease: Duration,
    pub batch_size: u32,
    pub concurrency: usize,
    pub backoff: Backoff,
}

impl Default for OutboxWorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            batch_size: 64,
            concurrency: 16,
            backoff: Backoff::default(),
        }
    }
}

pub struct OutboxWorker {
    store: SharedStore,
    notifier: Option<Notifier>,
    nats: Option<NatsPublisher>,
    config: OutboxWorkerConfig,
    wake: Arc<Notify>,
    worker_id: String,
}

impl OutboxWorker {
    pub fn new(
        store: SharedStore,
        notifier: Option<Notifier>,
        nats: Option<NatsPublisher>,
        config: OutboxWorkerConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let worker_id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self {
            store,
            notifier,
            nats,
            config,
            wake,
            worker_id,
        }
    }

    fn sinks(&self) -> Sinks {
        Sinks {
            webhook: self.notifier.is_some(),
            nats: self.nats.is_some(),
        }
    }

    /// Runs until `shutdown` turns true; events in flight finish first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.notifier.is_none() {
            tracing::warn!(
                "NOTIFICATION_SERVICE_URL is not set: order confirmations stay queued in the outbox"
            );
        }
        let mut last_stats = Instant::now() - Duration::from_secs(60);
        let mut last_backlog_log = Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let mut busy = false;
            let sinks = self.sinks();
            if sinks.webhook || sinks.nats {
                match self
                    .store
                    .claim_outbox(OutboxClaim {
                        worker: &self.worker_id,
                        lease: self.config.lease,
                        limit: self.config.batch_size,
                        sinks,
                    })
                    .await
                {
                    Ok(batch) => {
                        busy = batch.len() as u32 == self.config.batch_size;
                        futures::stream::iter(batch)
                            .for_each_concurrent(self.config.concurrency, |event| {
                                self.deliver(event)
                            })
                            .await;
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox claim failed"),
                }
            }
            if last_stats.elapsed() >= Duration::from_secs(2) {
                last_stats = Instant::now();
                if let Ok(stats) = self.store.outbox_stats().await {
                    record_outbox_stats(&stats);
                    if self.notifier.is_none()
                        && stats.pending > 0
                        && last_backlog_log.elapsed() >= Duration::from_secs(30)
                    {
                        last_backlog_log = Instant::now();
                        tracing::info!(
                            pending = stats.pending,
                            "confirmations queued, waiting for NOTIFICATION_SERVICE_URL"
                        );
                    }
                }
            }
            if !busy {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn deliver(&self, event: OutboxRecord) {
        let attempts = event.attempts + 1;
        let mut outcome = DeliveryOutcome::Delivered;
        if let (Some(nats), None) = (&self.nats, event.published_at) {
            outcome = nats.publish(&event).await;
            if outcome == DeliveryOutcome::Delivered {
                self.record(self.store.mark_outbox_sink_done(event.id, false).await);
            }
        }
        if let (DeliveryOutcome::Delivered, Some(notifier), None) =
            (&outcome, &self.notifier, event.notified_at)
        {
            outcome = notifier.send(&event).await;
        }
        let result = match (&outcome, &self.notifier) {
            (DeliveryOutcome::Delivered, Some(_)) => {
                tracing::info!(event_id = %event.id, order_id = %event.order_id, kind = %event.event_type, attempts, "outbox event delivered");
                metrics::counter!("outbox_deliveries_total", "result" => "delivered").increment(1);
                self.store.mark_outbox_delivered(event.id).await
            }
            // Published to NATS only; the webhook waits for NOTIFICATION_SERVICE_URL.
            // Release the claim now rather than at the end of the lease.
            (DeliveryOutcome::Delivered, None) => {
                let now = crate::domain::order::now();
                let note = "published; waiting for NOTIFICATION_SERVICE_URL";
                self.store
                    .reschedule_outbox(event.id, retry(event.attempts, now, note))
                    .await
            }
            (DeliveryOutcome::Retry(reason), _) => {
                let wait = self.config.backoff.delay(attempts as u32);
                tracing::warn!(event_id = %event.id, attempts, error = %reason, retry_in_ms = wait.as_millis() as u64, "outbox delivery failed, will retry");
                metrics::counter!("outbox_deliveries_total", "result" => "retry").increment(1);
                let next = crate::domain::order::now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                self.store
                    .reschedule_outbox(event.id, retry(attempts, next, reason))
                    .await
            }
            (DeliveryOutcome::Permanent(reason), _) => {
                tracing::error!(event_id = %event.id, attempts, error = %reason, "outbox delivery refused, parked as failed");
                metrics::counter!("outbox_deliveries_total", "result" => "failed").increment(1);
                self.store.park_outbox(event.id, attempts, reason).await
            }
        };
        self.record(result);
    }

    fn record(&self, result: Result<(), crate::storage::StoreError>) {
        if let Err(e) = result {
            // The lease expires and another attempt follows; at-least-once holds.
            tracing::warn!(error = %e, "could not record outbox outcome");
        }
    }
}

fn retry(
    attempts: i32,
    next_attempt_at: chrono::DateTime<chrono::Utc>,
    error: &str,
) -> OutboxRetry<'_> {
    OutboxRetry {
        attempts,
        next_attempt_at,
        error,
    }
}

/// The outbox gauges of `/metrics`, from the latest stats.
fn record_outbox_stats(stats: &OutboxStats) {
    metrics::gauge!("outbox_backlog").set(stats.pending as f64);
    metrics::gauge!("outbox_failed").set(stats.failed as f64);
    let age = stats
        .oldest_pending_at
        .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics::gauge!("outbox_oldest_pending_age_seconds").set(age);
}
