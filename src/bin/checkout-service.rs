//! `checkout-service`: the reference Checkout Service (docs/interface.md §7) for local runs and
//! integration tests. Sessions are kept in an embedded SQLite database.

use anyhow::Context;
use clap::Parser;
use order_service::app::shutdown_signal;
use order_service::outbox::Backoff;
use order_service::reference_checkout::{self, DEFAULT_DATABASE_URL, OrderWebhookConfig};
use order_service::webhook_signature::WebhookSecrets;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "checkout-service",
    version,
    about = "Reference Checkout Service for local runs and tests"
)]
struct Cli {
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    host: String,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3005)]
    port: u16,
    /// `sqlite://path` (created on first start) or `sqlite::memory:`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Seconds a PENDING session waits for its payment before it expires.
    #[arg(long, env = "SESSION_TTL_SECS", default_value_t = 1800)]
    session_ttl_secs: u64,
    /// Base URL of the order service: each completion is pushed to
    /// `{ORDER_WEBHOOK_URL}/api/v1/checkout/events`. Unset: no webhooks.
    #[arg(long, env = "ORDER_WEBHOOK_URL")]
    order_webhook_url: Option<String>,
    /// Standard Webhooks secret(s) signing that webhook (`whsec_<base64>` or a raw string;
    /// several comma-separated while rotating). Required with `ORDER_WEBHOOK_URL`.
    #[arg(long, env = "ORDER_WEBHOOK_SECRET", hide_env_values = true)]
    order_webhook_secret: Option<String>,
    /// Bound of one webhook attempt, in milliseconds.
    #[arg(long, env = "ORDER_WEBHOOK_TIMEOUT_MS", default_value_t = 5000)]
    order_webhook_timeout_ms: u64,
    /// First retry delay of an undelivered webhook in milliseconds (doubling, with
    /// jitter, up to five minutes).
    #[arg(long, env = "ORDER_WEBHOOK_RETRY_BASE_MS", default_value_t = 500)]
    order_webhook_retry_base_ms: u64,
    /// `text` or `json` logs.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it flushes the queued log lines.
    let _log_writer = order_service::telemetry::init_tracing(&cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("checkout-service: {e:#}");
            tracing::error!(error = %format!("{e:#}"), "checkout service stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ttl = Duration::from_secs(cli.session_ttl_secs);
    let webhook = order_webhook(&cli)?;
    let service = reference_checkout::build(&cli.database_url, ttl, webhook).await?;
    let listener = TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .with_context(|| format!("binding {}:{}", cli.host, cli.port))?;
    tracing::info!(addr = %listener.local_addr()?, session_ttl_secs = cli.session_ttl_secs, "checkout service listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let sender = service
        .webhooks
        .map(|sender| tokio::spawn(sender.run(stop_rx)));
    reference_checkout::serve_router(listener, service.router, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    if let Some(sender) = sender {
        let _ = tokio::time::timeout(Duration::from_secs(1), sender).await;
    }
    tracing::info!("checkout service stopped");
    Ok(())
}

fn order_webhook(cli: &Cli) -> anyhow::Result<Option<OrderWebhookConfig>> {
    let Some(url) = cli
        .order_webhook_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let secret = cli.order_webhook_secret.as_deref().unwrap_or("");
    let secrets = WebhookSecrets::parse(secret)
        .context("ORDER_WEBHOOK_URL is set, so ORDER_WEBHOOK_SECRET must hold a valid secret")?;
    Ok(Some(OrderWebhookConfig {
        timeout: Duration::from_millis(cli.order_webhook_timeout_ms.max(1)),
        backoff: Backoff {
            first: Duration::from_millis(cli.order_webhook_retry_base_ms.max(1)),
            cap: Duration::from_secs(300),
        },
        ..OrderWebhookConfig::new(url.trim(), secrets)
    }))
}
