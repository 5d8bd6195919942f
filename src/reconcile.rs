//! The reconciliation sweep (docs/interface.md): lists the sessions the Checkout Service
//! completed since a watermark kept in the database (minus an overlap for sessions
//! committed late) and creates each missing order through the same use case as the
//! storefront's call. The watermark only moves past sessions that were handled (an order
//! exists, or the session can never become one), so a Checkout or database outage loses
//! nothing: the next sweep starts where this one stopped. A lease row makes one instance
//! sweep at a time; a lost lease cannot move the watermark any more.

use crate::checkout::{CheckoutClient, CompletedSession};
use crate::orders::{OrderError, OrderService, Requester};
use crate::storage::{SharedStore, StoreError};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where a first sweep starts when no watermark was ever stored; older sessions are an
/// operator's `order-service reconcile --since` away.
pub const FIRST_SWEEP_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
const PAGE_SIZE: u32 = 200;
/// Sessions read from Checkout at once within a page.
const CONCURRENCY: usize = 8;
/// How long an instance may sweep before another may take over; renewed every page.
const LEASE: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("another instance is sweeping")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sweep saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub since: DateTime<Utc>,
    /// Completed sessions listed by the Checkout Service.
    pub found: usize,
    /// Orders this sweep created (the others already existed or cannot exist).
    pub created: usize,
    pub already_existed: usize,
    /// Sessions that can never become orders (empty, invalid…), logged and passed over.
    pub refused: usize,
    /// The stored watermark after the sweep.
    pub watermark: Option<DateTime<Utc>>,
    /// Why the sweep stopped before the end of the listing, if it did.
    pub stopped_early: Option<String>,
}

pub struct Reconciler {
    orders: Arc<OrderService>,
    checkout: CheckoutClient,
    store: SharedStore,
    overlap: Duration,
    /// Names this instance in the lease row.
    owner: String,
}

enum Handled {
    Created,
    Existed,
    Refused,
}

impl Reconciler {
    pub fn new(orders: Arc<OrderService>, checkout: CheckoutClient, overlap: Duration) -> Self {
        Self {
            store: orders.store().clone(),
            orders,
            checkout,
            overlap,
            owner: format!("sweep-{}", uuid::Uuid::new_v4()),
        }
    }

    /// One sweep from `since`, or from the stored watermark minus the overlap.
    pub async fn sweep(&self, since: Option<DateTime<Utc>>) -> Result<SweepReport, SweepError> {
        let lease = self
            .store
            .acquire_sweep_lease(&self.owner, LEASE)
            .await?
            .ok_or(SweepError::Busy)?;
        let result = self.sweep_holding_lease(since, lease.watermark).await;
        if let Err(e) = self.store.release_sweep_lease(&self.owner).await {
            tracing::warn!(error = %e, "could not release the sweep lease; it expires by itself");
        }
        result
    }

    async fn sweep_holding_lease(
        &self,
        since: Option<DateTime<Utc>>,
        stored: Option<DateTime<Utc>>,
    ) -> Result<SweepReport, SweepError> {
        // At least a second back, so a tie at the watermark is listed again, not skipped.
        let overlap = chrono::Duration::from_std(self.overlap.max(Duration::from_secs(1)))
            .unwrap_or(chrono::Duration::MAX);
        let since = since.unwrap_or_else(|| match stored {
            Some(watermark) => watermark - overlap,
            None => Utc::now() - chrono::Duration::from_std(FIRST_SWEEP_LOOKBACK).unwrap(),
        });
        let mut report = SweepReport {
            since,
            watermark: stored,
            ..SweepReport::default()
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = match self
                .checkout
                .list_completed_sessions(since, cursor.as_deref(), PAGE_SIZE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    report.stopped_early = Some(format!("listing completed sessions: {e}"));
                    break;
                }
            };
            report.found += page.sessions.len();
            let mut handled_up_to = None;
            let mut outcomes = futures::stream::iter(page.sessions)
                .map(|session| async move {
                    let outcome = self.handle(&session).await;
                    (session, outcome)
                })
                .buffered(CONCURRENCY);
            while let Some((session, outcome)) = outcomes.next().await {
                match outcome {
                    Ok(Handled::Created) => report.created += 1,
                    Ok(Handled::Existed) => report.already_existed += 1,
                    Ok(Handled::Refused) => report.refused += 1,
                    Err(e) => {
                        report.stopped_early = Some(format!("session {}: {e}", session.id));
                        break;
                    }
                }
                handled_up_to = Some(session.completed_at);
            }
            drop(outcomes);
            if let Some(at) = handled_up_to.filter(|at| report.watermark < Some(*at)) {
                if !self
                    .store
                    .advance_sweep_watermark(&self.owner, at, LEASE)
                    .await?
                {
                    report.stopped_early = Some("the sweep lease was lost".into());
                    break;
                }
                report.watermark = Some(at);
            }
            match page.next_cursor {
                Some(next) if report.stopped_early.is_none() => cursor = Some(next),
                _ => break,
            }
        }
        Ok(report)
    }

    async fn handle(&self, session: &CompletedSession) -> Result<Handled, OrderError> {
        match self
            .orders
            .create_order_from_checkout(Requester::Sweep, session.id, None)
            .await
        {
            Ok((_, true)) => Ok(Handled::Created),
            Ok((_, false)) => Ok(Handled::Existed),
            Err(OrderError::Rejected(why)) => {
                tracing::warn!(checkout_session_id = %session.id, reason = %why, "completed session can never become an order");
                Ok(Handled::Refused)
            }
            // Checkout unreadable, or a listed session it does not know (a lagging replica,
            // most likely): stop here, the next sweep tries again.
            Err(e) => Err(e),
        }
    }

    /// Sweeps every `interval` (the first at once) until `stop` turns true.
    pub async fn run(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            interval_secs = interval.as_secs(),
            overlap_secs = self.overlap.as_secs(),
            "reconciliation sweep enabled"
        );
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let result = self.sweep(None).await;
            record(&result);
            match result {
                Ok(report) if report.stopped_early.is_some() => {
                    tracing::warn!(
                        ?report,
                        "sweep stopped early; the next one resumes from its watermark"
                    )
                }
                Ok(report) if report.created > 0 => {
                    tracing::info!(
                        found = report.found,
                        created = report.created,
                        "sweep created missing orders"
                    )
                }
                Ok(report) => {
                    tracing::debug!(found = report.found, "sweep found nothing missing")
                }
                Err(SweepError::Busy) => tracing::debug!("another instance is sweeping"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    }
}

fn record(result: &Result<SweepReport, SweepError>) {
    let outcome = match result {
        Ok(report) if report.stopped_early.is_some() => "incomplete",
        Ok(_) => "complete",
        Err(SweepError::Busy) => "busy",
        Err(_) => "error",
    };
    metrics::counter!("reconcile_sweeps_total", "result" => outcome).increment(1);
    if let Ok(report) = result {
        metrics::counter!("reconcile_sessions_found_total").increment(report.found as u64);
    }
}
