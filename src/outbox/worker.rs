//! The delivery worker that runs inside every service instance. It claims due events with
//! a fenced lease (database clock; renewed while the batch is being sent, so another
//! instance never takes over an event that is still in flight), delivers them to every
//! configured sink, and records the outcome and the attempt only while it still holds
//! the lease. It also deletes delivered events past their retention.

use super::pacing::{Pacer, PacingConfig};
use super::{Backoff, DeliveryOutcome, NatsPublisher, Notifier, OutboxRecord, OutboxStats};
use crate::storage::{
    OutboxAttempt, OutboxClaim, OutboxCompletion, OutboxResult, OutboxRetry, SharedStore, Sinks,
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
    /// How long new events gather after the first before they are claimed, and outcomes
    /// before they are recorded (`OUTBOX_BATCH_WAIT_MS`).
    pub batch_wait: Duration,
    pub backoff: Backoff,
    /// An event still undelivered this long after it was queued is parked as FAILED.
    pub give_up_after: Duration,
    /// Delivered events (and their attempts) older than this are deleted.
    pub retention: Duration,
    /// Give way to order creation when the machine is short of CPU; `None`: never.
    pub pacing: Option<PacingConfig>,
}

impl Default for OutboxWorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            batch_size: 64,
            concurrency: 16,
            batch_wait: Duration::from_millis(100),
            backoff: Backoff::default(),
            give_up_after: Duration::from_secs(72 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            pacing: None,
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
        let mut pacer = self.config.pacing.clone().and_then(Pacer::new);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let mut busy = false;
            let sinks = self.sinks();
            if sinks.webhook || sinks.nats {
                let limit = match pacer.as_mut() {
                    Some(pacer) => tokio::select! {
                        limit = pacer.allowance(self.config.batch_size) => limit,
                        _ = shutdown.changed() => continue,
                    },
                    None => self.config.batch_size,
                };
                let claimed_at = Instant::now();
                match self
                    .store
                    .claim_outbox(OutboxClaim {
                        worker: &self.worker_id,
                        lease: self.config.lease,
                        limit,
                        sinks,
                    })
                    .await
                {
                    Ok(batch) => {
                        busy = batch.len() as u32 == limit;
                        if let Some(pacer) = pacer.as_mut() {
                            pacer.claimed(batch.len());
                        }
                        self.deliver_batch(batch, claimed_at).await;
                        if let Some(pacer) = pacer.as_mut() {
                            pacer.delivered();
                        }
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
                    // A new event: let those committed right after it join the same claim,
                    // so a steady trickle of orders is delivered in groups (one claim and
                    // one record transaction per group) rather than one by one.
                    _ = self.wake.notified() => {
                        tokio::select! {
                            _ = tokio::time::sleep(self.config.batch_wait) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// Delivers a claimed batch (claimed at `claimed_at`, local clock). Beside the sends
    /// run two tasks of their own: one renews the claim's lease every third of the lease,
    /// so no event of it can be claimed by another instance while it waits or is in
    /// flight; one records outcomes as they come, all those ready at once in one
    /// transaction (on SQLite every commit is an fsync through the one writer that also
    /// commits new orders). Neither waits inside this task: a database call awaited here
    /// would stop the sends being polled while one of them may hold a pool connection.
    async fn deliver_batch(&self, batch: Vec<OutboxRecord>, claimed_at: Instant) {
        let Some(token) = batch.first().and_then(|e| e.lease_token) else {
            return;
        };
        let claim = Arc::new(ClaimState::new(claimed_at + self.config.lease, batch.len()));
        let (finished_tx, finished_rx) = tokio::sync::mpsc::channel(batch.len().max(1));
        let recorder = tokio::spawn(record_outcomes(
            self.store.clone(),
            self.worker_id.clone(),
            token,
            finished_rx,
            claim.clone(),
            self.config.batch_wait,
        ));
        let renewer = tokio::spawn(renew_lease(
            self.store.clone(),
            token,
            batch.iter().map(|e| e.id).collect(),
            self.config.lease,
            claim.clone(),
        ));
        futures::stream::iter(batch)
            .for_each_concurrent(self.config.concurrency, |event| {
                let finished_tx = finished_tx.clone();
                let claim = &claim;
                async move {
                    if let Some(finished) = self.attempt(event, claim).await {
                        let _ = finished_tx.send(finished).await;
                    }
                }
            })
            .await;
        drop(finished_tx);
        if let Err(e) = recorder.await {
            tracing::error!(error = %e, "the outbox outcome recorder failed");
        }
        renewer.abort();
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

    /// One attempt at `event`: sends it to every sink it still owes and says how it ended;
    /// `None` if it was not sent because the claim no longer holds it.
    async fn attempt(&self, event: OutboxRecord, claim: &ClaimState) -> Option<Finished> {
        let token = event.lease_token?;
        // Sent only while the claim's lease is sure to last: the batch renewal keeps it
        // so; when that renewal is late or the claim lost events, the event gets a fresh
        // full lease of its own first, and is not sent if another instance has it.
        if !claim.lasts(self.config.lease / 2) {
            match self
                .store
                .renew_outbox_event(event.id, token, self.config.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    lost_lease(&self.worker_id, &event, "not sent");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(event_id = %event.id, error = %e, "could not renew the outbox lease before sending; not sent");
                    return None;
                }
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
                    Ok(false) => {
                        lost_lease(&self.worker_id, &event, "published");
                        return None;
                    }
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
        let age = (chrono::Utc::now() - event.queued_since())
            .to_std()
            .unwrap_or_default();
        let completion = match (outcome, &self.notifier) {
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
                error: "published; waiting for NOTIFICATION_SERVICE_URL".into(),
            }),
            (DeliveryOutcome::Retry(reason), _) if age >= self.config.give_up_after => {
                let error = format!(
                    "gave up after {:.1} h undelivered; last error: {reason}",
                    age.as_secs_f64() / 3600.0
                );
                tracing::error!(event_id = %event.id, order_id = %event.order_id, attempts, error = %error, "outbox event parked as failed: too old");
                metrics::counter!("outbox_deliveries_total", "result" => "failed").increment(1);
                metrics::counter!("outbox_parked_total", "reason" => "give_up").increment(1);
                OutboxCompletion::Park { attempts, error }
            }
            (DeliveryOutcome::Retry(reason), _) => {
                let wait = self.config.backoff.delay(attempts as u32);
                tracing::warn!(event_id = %event.id, attempts, error = %reason, retry_in_ms = wait.as_millis() as u64, "outbox delivery failed, will retry");
                metrics::counter!("outbox_deliveries_total", "result" => "retry").increment(1);
                let next_attempt_at = chrono::Utc::now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                OutboxCompletion::Retry(OutboxRetry {
                    attempts,
                    next_attempt_at,
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
        let logged = webhook || self.nats.is_some();
        Some(Finished {
            event,
            completion,
            attempt: logged.then_some(attempt),
        })
    }
}

/// Outcomes recorded per transaction, at most.
const RECORD_BATCH: usize = 64;

/// What the sends, the renewer and the recorder of one claim share.
struct ClaimState {
    inner: std::sync::Mutex<ClaimProgress>,
}

struct ClaimProgress {
    /// Until when the lease surely lasts (local clock); `None`: unknown, so each event
    /// gets its own renewal before it is sent.
    held_until: Option<Instant>,
    /// Events of the claim whose outcome is not recorded yet (still PENDING under its token
    /// unless another instance took them over).
    outstanding: usize,
    /// Of those, how many the recorder is writing right now.
    recording: usize,
}

impl ClaimState {
    fn new(held_until: Instant, events: usize) -> Self {
        Self {
            inner: std::sync::Mutex::new(ClaimProgress {
                held_until: Some(held_until),
                outstanding: events,
                recording: 0,
            }),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, ClaimProgress> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the lease surely lasts `margin` more.
    fn lasts(&self, margin: Duration) -> bool {
        (self.progress().held_until).is_some_and(|until| until > Instant::now() + margin)
    }
}

/// Renews the claim's lease every third of `lease` until aborted. A renewal that covers
/// every event not yet recorded says the whole claim is held until it was sent plus
/// `lease`; one that covers fewer says some were taken over, so each event is checked
/// before it goes out.
async fn renew_lease(
    store: SharedStore,
    token: uuid::Uuid,
    ids: Vec<crate::domain::EventId>,
    lease: Duration,
    claim: Arc<ClaimState>,
) {
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let sent = Instant::now();
        let (outstanding, recording) = {
            let p = claim.progress();
            (p.outstanding, p.recording)
        };
        match store.renew_outbox_lease(token, &ids, lease).await {
            Ok(renewed) => {
                let renewed = renewed as usize;
                // Outcomes being recorded meanwhile may or may not be counted.
                let all = renewed <= outstanding && renewed + recording >= outstanding;
                claim.progress().held_until = all.then_some(sent + lease);
                if !all {
                    tracing::debug!(
                        renewed,
                        outstanding,
                        "outbox claim no longer holds every event"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the outbox lease"),
        }
    }
}

/// Records finished attempts as they arrive: those that finish within `wait` of the first
/// unrecorded one (up to `RECORD_BATCH`) in one transaction; all that are left at once
/// when the batch's sends are over.
async fn record_outcomes(
    store: SharedStore,
    worker_id: String,
    token: uuid::Uuid,
    mut finished: tokio::sync::mpsc::Receiver<Finished>,
    claim: Arc<ClaimState>,
    wait: Duration,
) {
    let mut group = Vec::with_capacity(RECORD_BATCH);
    while finished.recv_many(&mut group, RECORD_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + wait;
        while group.len() < RECORD_BATCH {
            let room = RECORD_BATCH - group.len();
            match tokio::time::timeout_at(deadline, finished.recv_many(&mut group, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        claim.progress().recording = group.len();
        let results: Vec<OutboxResult> = group.iter().map(Finished::result).collect();
        match store.complete_outbox_batch(token, &results).await {
            Ok(held) => {
                for (done, held) in group.iter().zip(held) {
                    if !held {
                        lost_lease(&worker_id, &done.event, "completed");
                    }
                }
            }
            // The leases expire and other attempts follow; at-least-once holds.
            Err(e) => {
                tracing::warn!(events = group.len(), error = %e, "could not record outbox outcomes")
            }
        }
        {
            let mut p = claim.progress();
            p.outstanding = p.outstanding.saturating_sub(group.len());
            p.recording = 0;
        }
        group.clear();
    }
}

fn lost_lease(worker_id: &str, event: &OutboxRecord, what: &str) {
    metrics::counter!("outbox_lost_leases_total").increment(1);
    tracing::warn!(event_id = %event.id, worker = %worker_id, "outbox event {what}: this instance lost its lease; nothing recorded");
}

/// A finished attempt waiting to be recorded.
struct Finished {
    event: OutboxRecord,
    completion: OutboxCompletion,
    attempt: Option<OutboxAttempt>,
}

impl Finished {
    fn result(&self) -> OutboxResult<'_> {
        OutboxResult {
            id: self.event.id,
            completion: &self.completion,
            attempt: self.attempt.as_ref(),
        }
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
