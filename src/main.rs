//! `order-service`: serve the API (default), apply migrations, or run the demo.

use clap::{Parser, Subcommand};
use order_service::app::{App, shutdown_signal};
use order_service::config::Config;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: 9–13 % fewer instructions per request, for about
/// 20 MB more resident memory, flat over a 30-minute soak (BENCHMARKS.md, "Session 7").
/// SQLite's own allocations still go through the C library's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "order-service",
    version,
    about = "Turns completed checkout sessions into orders"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply the embedded database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (the committed `openapi.json`) and exit.
    Openapi,
    /// Run the whole checkout flow on this machine (reference Checkout Service, a recording
    /// Notification service and this service, all in-process) and print each step.
    Demo,
    /// Sweep once: create the missing orders of the sessions the Checkout Service completed
    /// after `--since`, print what was found and created, and exit.
    Reconcile {
        /// RFC 3339 instant, e.g. 2026-11-30T00:00:00Z.
        #[arg(long)]
        since: chrono::DateTime<chrono::FixedOffset>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    order_service::telemetry::install_crypto_provider();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // Held to the end of `main`: dropping it flushes the queued log lines.
    let _log_writer = (!matches!(command, Command::Demo))
        .then(|| order_service::telemetry::init_tracing(&cli.config.log_format));
    let result = match command {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(&cli.config).await,
        Command::Openapi => {
            println!("{}", order_service::http::openapi::openapi_json());
            Ok(())
        }
        // The demo sets up its own quiet logging and its own configuration.
        Command::Demo => order_service::demo::run().await,
        Command::Reconcile { since } => reconcile(&cli.config, since.to_utc()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order-service: {e:#}");
            tracing::error!(error = %format!("{e:#}"), "order-service stopped");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    app.run_until(shutdown_signal()).await
}

async fn reconcile(config: &Config, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let report = order_service::app::reconcile_once(config, since).await?;
    println!(
        "reconcile since {}: found {} completed sessions, created {} orders ({} already existed, {} can never become orders)",
        report.since.to_rfc3339(),
        report.found,
        report.created,
        report.already_existed,
        report.refused
    );
    match report.stopped_early {
        Some(why) => anyhow::bail!("the sweep stopped early: {why}"),
        None => Ok(()),
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    order_service::storage::connect(&config.database_url, 1).await?;
    tracing::info!("migrations applied");
    Ok(())
}
