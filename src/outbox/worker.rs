//! The delivery worker that runs inside every service instance. It claims due events with
//! a fenced lease (database clock; renewed while the batch is being sent, so another
//! instance never takes over an event that is still in flight), delivers them to every
//! configured sink, and records the outcome and the attempt only while it still holds
//! the lease. It also deletes delivered events past their retention.

use super::{Backoff, DeliveryOutcome, NatsPublisher, Notifier, OutboxRecord, OutboxStats};
use crate::storage::{
    OutboxAttempt, OutboxClaim, OutboxCompletion, OutboxRetry, SharedStore, Sinks,
};
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
    /// An event still undelivered this long after it was queued is parked as FAILED.
    pub give_up_after: Duration,
    /// Delivered events (and their attempts) older than this are deleted.
    pub retention: Duration,
}

impl Default for OutboxWorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            batch_size: 64,
            concurrency: 16,
            backoff: Backoff::default(),
            give_up_after: Duration::from_secs(72 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Rows deleted per retention statement, so a purge never holds the writer for long.
const RETENTION_BATCH: u32 = 500;
/// How often the worker looks for delivered events past their retention.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

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
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        let short = uuid::Uuid::new_v4().simple().to_string();
        let worker_id = format!("{host}-{}-{}", std::process::id(), &short[..8]);
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
        let mut last_retention = Instant::now() - RETENTION_EVERY;
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
                        self.deliver_batch(batch).await;
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
            if last_retention.elapsed() >= RETENTION_EVERY {
                last_retention = Instant::now();
                self.purge_expired().await;
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

    /// Delivers a claimed batch, renewing its lease every third of the lease meanwhile, so
    /// no event of it can be claimed by another instance while it waits or is in flight.
    async fn deliver_batch(&self, batch: Vec<OutboxRecord>) {
        let Some(token) = batch.first().and_then(|e| e.lease_token) else {
            return;
        };
        let sends = futures::stream::iter(batch)
            .for_each_concurrent(self.config.concurrency, |event| self.deliver(event));
        tokio::pin!(sends);
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await;
        loop {
            tokio::select! {
                _ = &mut sends => break,
                _ = renew.tick() => {
                    if let Err(e) = self.store.renew_outbox_lease(token, self.config.lease).await {
                        tracing::warn!(error = %e, "could not renew the outbox lease");
                    }
                }
            }
        }
    }

    /// Deletes delivered events past their retention, a small batch at a time.
    async fn purge_expired(&self) {
        let Ok(age) = chrono::Duration::from_std(self.config.retention) else {
            return;
        };
        let before = chrono::Utc::now() - age;
        loop {
            match self
                .store
                .purge_delivered_outbox(before, RETENTION_BATCH)
                .await
            {
                Ok(0) => break,
                Ok(n) => {
                    tracing::info!(
                        deleted = n,
                        "delivered outbox events past retention deleted"
                    );
                    metrics::counter!("outbox_retention_deleted_total").increment(n);
                    if n < u64::from(RETENTION_BATCH) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox retention delete failed");
                    break;
                }
            }
        }
    }

    async fn deliver(&self, event: OutboxRecord) {
        let Some(token) = event.lease_token else {
            return;
        };
        // A fresh full lease for this event before it goes out; if the claim lost it while
        // the event waited its turn, another instance has it: do not send.
        match self
            .store
            .renew_outbox_event(event.id, token, self.config.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return self.lost_lease(&event, "not sent"),
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e, "could not renew the outbox lease before sending; not sent");
                return;
            }
        }
        let attempts = event.attempts + 1;
        let started = Instant::now();
        let at = chrono::Utc::now();
        let mut outcome = DeliveryOutcome::Delivered;
        let mut status_code = None;
        if let (Some(nats), None) = (&self.nats, event.published_at) {
            outcome = nats.publish(&event).await;
            if outcome == DeliveryOutcome::Delivered {
                match self
                    .store
                    .mark_outbox_sink_done(event.id, token, false)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return self.lost_lease(&event, "published"),
                    Err(e) => tracing::warn!(error = %e, "could not record the NATS publish"),
                }
            }
        }
        let webhook = self.notifier.is_some() && event.notified_at.is_none();
        if let (DeliveryOutcome::Delivered, Some(notifier), true) =
            (&outcome, &self.notifier, webhook)
        {
            let (sent, status) = notifier.send(&event).await;
            outcome = sent;
            status_code = status;
        }
        let attempt = OutboxAttempt {
            at,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            status_code: status_code.map(i32::from),
            error: match &outcome {
                DeliveryOutcome::Delivered => None,
                DeliveryOutcome::Retry(e) | DeliveryOutcome::Permanent(e) => Some(e.clone()),
            },
            instance: self.worker_id.clone(),
        };
        let age = (chrono::Utc::now() - event.created_at)
            .to_std()
            .unwrap_or_default();
        let gave_up;
        let completion = match (&outcome, &self.notifier) {
            (DeliveryOutcome::Delivered, Some(_)) => {
                tracing::info!(event_id = %event.id, order_id = %event.order_id, kind = %event.event_type, sequence = event.sequence, attempts, "outbox event delivered");
                metrics::counter!("outbox_deliveries_total", "result" => "delivered").increment(1);
                OutboxCompletion::Delivered { attempts, webhook }
            }
            // Published to NATS only; the webhook waits for NOTIFICATION_SERVICE_URL.
            // Release the claim now rather than at the end of the lease.
            (DeliveryOutcome::Delivered, None) => OutboxCompletion::Retry(OutboxRetry {
                attempts: event.attempts,
                next_attempt_at: chrono::Utc::now(),
                error: "published; waiting for NOTIFICATION_SERVICE_URL",
            }),
            (DeliveryOutcome::Retry(reason), _) if age >= self.config.give_up_after => {
                gave_up = format!(
                    "gave up after {:.1} h undelivered; last error: {reason}",
                    age.as_secs_f64() / 3600.0
                );
                tracing::error!(event_id = %event.id, order_id = %event.order_id, attempts, error = %gave_up, "outbox event parked as failed: too old");
                metrics::counter!("outbox_deliveries_total", "result" => "failed").increment(1);
                metrics::counter!("outbox_parked_total", "reason" => "give_up").increment(1);
                OutboxCompletion::Park {
                    attempts,
                    error: &gave_up,
                }
            }
            (DeliveryOutcome::Retry(reason), _) => {
                let wait = self.config.backoff.delay(attempts as u32);
                tracing::warn!(event_id = %event.id, attempts, error = %reason, retry_in_ms = wait.as_millis() as u64, "outbox delivery failed, will retry");
                metrics::counter!("outbox_deliveries_total", "result" => "retry").increment(1);
                let next = chrono::Utc::now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                OutboxCompletion::Retry(OutboxRetry {
                    attempts,
                    next_attempt_at: next,
                    error: reason,
                })
            }
            (DeliveryOutcome::Permanent(reason), _) => {
                tracing::error!(event_id = %event.id, order_id = %event.order_id, attempts, error = %reason, "outbox delivery refused, parked as failed");
                metrics::counter!("outbox_deliveries_total", "result" => "failed").increment(1);
                metrics::counter!("outbox_parked_total", "reason" => "refused").increment(1);
                OutboxCompletion::Park {
                    attempts,
                    error: reason,
                }
            }
        };
        let log = (webhook || self.nats.is_some()).then_some(&attempt);
        match self
            .store
            .complete_outbox(event.id, token, completion, log)
            .await
        {
            Ok(true) => {}
            Ok(false) => self.lost_lease(&event, "completed"),
            // The lease expires and another attempt follows; at-least-once holds.
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e, "could not record outbox outcome")
            }
        }
    }

    fn lost_lease(&self, event: &OutboxRecord, what: &str) {
        metrics::counter!("outbox_lost_leases_total").increment(1);
        tracing::warn!(event_id = %event.id, worker = %self.worker_id, "outbox event {what}: this instance lost its lease; nothing recorded");
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
