//! `checkout-service`: the reference Checkout Service (docs/interface.md §7) for local runs and
//! integration tests. Sessions are kept in an embedded SQLite database.

use anyhow::Context;
use clap::Parser;
use order_service::app::shutdown_signal;
use order_service::reference_checkout::{self, DEFAULT_DATABASE_URL};
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

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
    /// `text` or `json` logs.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    order_service::telemetry::init_tracing(&cli.log_format);
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
    let router = reference_checkout::router(&cli.database_url, ttl).await?;
    let listener = TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .with_context(|| format!("binding {}:{}", cli.host, cli.port))?;
    tracing::info!(addr = %listener.local_addr()?, session_ttl_secs = cli.session_ttl_secs, "checkout service listening");
    reference_checkout::serve_router(listener, router, shutdown_signal()).await?;
    tracing::info!("checkout service stopped");
    Ok(())
}
