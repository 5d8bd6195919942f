//! Builds the service from its configuration and runs the HTTP server beside the outbox
//! worker until shutdown.

use crate::auth::Authenticator;
use crate::checkout::{CheckoutClient, CheckoutClientConfig};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::orders::OrderService;
use crate::outbox::{Backoff, NatsPublisher, Notifier, OutboxWorker, OutboxWorkerConfig};
use crate::outbox_admin::OutboxAdmin;
use crate::reconcile::{Reconciler, SweepReport};
use crate::storage::{self, SharedStore};
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    worker: OutboxWorker,
    /// The periodic sweep and its interval, when `RECONCILE_INTERVAL_SECS` is set.
    reconciler: Option<(Reconciler, Duration)>,
    store: SharedStore,
    /// Where the data lives, for the start-up line: the SQLite file's path or the
    /// PostgreSQL host and database (never the password).
    database: String,
    grace: Duration,
}

impl App {
    /// Connects to the database (applying migrations), the optional NATS server, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        crate::telemetry::install_crypto_provider();
        let store = storage::connect(&config.database_url, config.database_max_connections).await?;
        let database = describe_database(&config.database_url);
        let checkout = checkout_client(&config)?;
        let notification_timeout = Duration::from_millis(config.notification_timeout_ms);
        let notifier = config
            .notification_service_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(|url| Notifier::new(url, notification_timeout, config.signing_secrets()?))
            .transpose()?;
        let nats = match config.nats_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => Some(NatsPublisher::connect(url, Duration::from_secs(5)).await?),
            None => None,
        };
        let wake = Arc::new(Notify::new());
        let worker = OutboxWorker::new(
            store.clone(),
            notifier,
            nats,
            OutboxWorkerConfig {
                poll_interval: Duration::from_millis(config.outbox_poll_ms.max(10)),
                lease: Duration::from_secs(config.outbox_lease_secs.max(1)),
                batch_wait: Duration::from_millis(config.outbox_batch_wait_ms),
                backoff: Backoff {
                    first: Duration::from_millis(config.outbox_retry_base_ms.max(1)),
                    cap: Duration::from_secs(config.outbox_retry_max_delay_secs.max(1)),
                },
                give_up_after: Duration::from_secs_f64(config.outbox_give_up_hours * 3600.0),
                retention: Duration::from_secs_f64(config.outbox_retention_days * 86400.0),
                pacing: config.outbox_pacing(),
                ..OutboxWorkerConfig::default()
            },
            wake.clone(),
        );
        let auth = match config.auth_settings() {
            Some(settings) => Authenticator::new(settings)?,
            None => {
                tracing::warn!("AUTH_DISABLED=true: every request is treated as an admin");
                Authenticator::Disabled
            }
        };
        let orders = Arc::new(
            OrderService::new(store.clone(), checkout.clone(), wake)
                .with_max_items_per_order(config.max_items_per_order),
        );
        let reconciler = config.reconcile_interval().map(|interval| {
            let overlap = Duration::from_secs(config.reconcile_overlap_secs);
            (Reconciler::new(orders.clone(), checkout, overlap), interval)
        });
        let state = AppState {
            orders,
            outbox_admin: Arc::new(OutboxAdmin::new(store.clone())),
            store: store.clone(),
            auth: Arc::new(auth),
            metrics: crate::telemetry::metrics_handle(),
            body_limit: config.body_limit_bytes,
            webhook_secrets: config.checkout_webhook_secrets()?.map(Arc::new),
        };
        let router = http::router(
            state,
            &config.cors_origins(),
            Duration::from_millis(config.request_timeout_ms),
        );
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:{} (is another process using port {}? set PORT)",
                    config.host, config.port, config.port
                )
            })?;
        Ok(Self {
            listener,
            router,
            worker,
            reconciler,
            store,
            database,
            grace: Duration::from_secs(config.shutdown_grace_secs),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish (up to the grace period) and stops the outbox worker.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(addr = %self.local_addr(), backend = self.store.backend(), database = %self.database, "order service listening");
        let mut worker = tokio::spawn(self.worker.run(stop_rx.clone()));
        let sweeper = self
            .reconciler
            .map(|(reconciler, every)| tokio::spawn(reconciler.run(every, stop_rx.clone())));
        let mut server_stop = stop_rx.clone();
        let server = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stopped| *stopped).await;
            })
            .into_future();
        let server = tokio::spawn(server);
        supervise(server, &mut worker, shutdown, &stop_tx, self.grace).await?;
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), worker).await;
        if let Some(sweeper) = sweeper {
            let _ = tokio::time::timeout(Duration::from_secs(1), sweeper).await;
        }
        tracing::info!("order service stopped");
        Ok(())
    }
}

/// Serves until `shutdown`, then drains in-flight requests for up to `grace`. The worker
/// only returns on shutdown: if it ends first (a panic), the service would go on taking
/// orders that are never confirmed, so it stops serving, says why at ERROR and fails.
async fn supervise(
    mut server: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: &mut tokio::task::JoinHandle<()>,
    shutdown: impl Future<Output = ()>,
    stop: &watch::Sender<bool>,
    grace: Duration,
) -> anyhow::Result<()> {
    tokio::select! {
        result = &mut server => { result??; }
        ended = worker => {
            let why = match ended {
                Ok(()) => "returned".to_owned(),
                Err(e) if e.is_panic() => "panicked".to_owned(),
                Err(e) => e.to_string(),
            };
            tracing::error!(reason = %why, "the outbox delivery worker stopped unexpectedly: shutting down");
            let _ = stop.send(true);
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                server.abort();
            }
            anyhow::bail!("the outbox delivery worker stopped unexpectedly ({why})");
        }
        _ = shutdown => {
            tracing::info!("shutdown requested: draining in-flight requests");
            let _ = stop.send(true);
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!("in-flight requests did not finish within {grace:?}");
                server.abort();
            }
        }
    }
    Ok(())
}

fn checkout_client(config: &Config) -> anyhow::Result<CheckoutClient> {
    CheckoutClient::new(CheckoutClientConfig {
        timeout: config.checkout_timeout(),
        connect_timeout: Duration::from_millis(config.checkout_connect_timeout_ms),
        ..CheckoutClientConfig::new(config.checkout_service_url.clone())
    })
}

/// `order-service reconcile --since`: one sweep from `since`, with the same store, Checkout
/// client and use case as the server (confirmations are queued for the server's worker).
pub async fn reconcile_once(config: &Config, since: DateTime<Utc>) -> anyhow::Result<SweepReport> {
    crate::telemetry::install_crypto_provider();
    let store = storage::connect(&config.database_url, config.database_max_connections).await?;
    let checkout = checkout_client(config)?;
    let orders = Arc::new(
        OrderService::new(store, checkout.clone(), Arc::new(Notify::new()))
            .with_max_items_per_order(config.max_items_per_order),
    );
    let overlap = Duration::from_secs(config.reconcile_overlap_secs);
    Ok(Reconciler::new(orders, checkout, overlap)
        .sweep(Some(since))
        .await?)
}

/// The SQLite file's absolute path, or `host/database` of a PostgreSQL URL.
fn describe_database(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or(rest);
        return std::path::absolute(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_owned());
    }
    // postgres://user:password@host:port/db?options -> host:port/db
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let after_credentials = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    after_credentials
        .split('?')
        .next()
        .unwrap_or(after_credentials)
        .to_owned()
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::{describe_database, supervise};
    use std::time::Duration;
    use tokio::sync::watch;

    /// A delivery worker that dies takes the service down with an error, and the server
    /// is told to stop, instead of serving on with no delivery.
    #[tokio::test]
    async fn a_worker_that_panics_stops_the_service_with_an_error() {
        let (stop, mut stopped) = watch::channel(false);
        // A server that ends once told to stop, as axum's graceful shutdown does.
        let server = tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            Ok(())
        });
        let mut worker = tokio::spawn(async { panic!("a bug in the worker") });
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            supervise(
                server,
                &mut worker,
                std::future::pending(),
                &stop,
                Duration::from_secs(1),
            ),
        )
        .await
        .expect("supervision does not hang");
        let error = ended.expect_err("the service fails").to_string();
        assert!(
            error.contains("worker stopped unexpectedly (panicked)"),
            "{error}"
        );
        assert!(*stop.borrow(), "the server was told to stop");
    }

    #[tokio::test]
    async fn a_requested_shutdown_ends_cleanly() {
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            Ok(())
        });
        let mut worker = tokio::spawn(std::future::pending::<()>());
        supervise(server, &mut worker, async {}, &stop, Duration::from_secs(1))
            .await
            .expect("a clean stop");
        assert!(*stop.borrow());
    }

    #[test]
    fn the_start_up_line_names_the_sqlite_file_and_hides_passwords() {
        let sqlite = describe_database("sqlite://data/orders.db?mode=rwc");
        assert!(sqlite.ends_with("data/orders.db"), "{sqlite}");
        assert!(std::path::Path::new(&sqlite).is_absolute(), "{sqlite}");
        assert_eq!(
            describe_database("postgres://app:secret@db.internal:5432/orders?sslmode=require"),
            "db.internal:5432/orders"
        );
    }
}
