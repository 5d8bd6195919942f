//! `order-service demo`: the whole checkout flow of the seed on one machine, with nothing
//! installed. It starts the reference Checkout Service, a recording Notification service
//! and the Order Service in this process (SQLite files in a temporary directory, free
//! ports on 127.0.0.1, a random JWT secret), walks the sequence diagram step by step, and
//! fails loudly on the first step that does not behave as the contract says. Then a second
//! session is paid and the storefront never calls: the order appears from the Checkout
//! Service's signed webhook (docs/interface.md).

mod answers;
mod flow;
mod print;
mod push;
mod receiver;

pub use receiver::{NotificationReceiver, ReceivedNotification};

use crate::app::App;
use crate::config::Config;
use crate::reference_checkout;
use crate::webhook_signature::WebhookSecrets;
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing_subscriber::EnvFilter;

const DEMO_USER: &str = "user-123";

/// Runs the demo; `Ok` only when every step behaved as the contract says.
pub async fn run() -> anyhow::Result<()> {
    // The services' own logs would bury the walk-through: warnings only, on stderr.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    crate::telemetry::install_crypto_provider();
    let workdir = WorkDir::create().context("creating a temporary directory")?;
    let (stop, stopped) = watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };

    // Each service needs the other's address: bind Checkout's port first, start the order
    // service pointing at it, then start Checkout with the order service's webhook URL.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let checkout_url = format!("http://{}", listener.local_addr()?);
    let checkout_db = sqlite_url(&workdir.0.join("checkout.db"));
    let webhook_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(rand::rng().random::<[u8; 24]>())
    );

    // Confirmations are signed (Standard Webhooks); the receiver verifies with the secret.
    let signing_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(rand::rng().random::<[u8; 24]>())
    );
    let secrets = crate::webhook_signature::WebhookSecrets::parse(&signing_secret)?;
    let receiver = NotificationReceiver::start(Some(secrets))
        .await
        .context("starting the notification receiver")?;

    let secret = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
    let mut config = Config::defaults();
    config.database_url = sqlite_url(&workdir.0.join("orders.db"));
    config.checkout_service_url = checkout_url.clone();
    config.notification_service_url = Some(receiver.url().to_owned());
    config.notification_signing_secret = Some(signing_secret);
    config.jwt_secret = Some(secret.clone());
    config.outbox_poll_ms = 200;
    config.checkout_webhook_secret = Some(webhook_secret.clone());
    let app = App::build(config)
        .await
        .context("starting the order service")?;
    let order_url = format!("http://{}", app.local_addr());
    let orders = tokio::spawn(app.run_until(until_stopped()));

    let webhook = reference_checkout::OrderWebhookConfig::new(
        &order_url,
        WebhookSecrets::parse(&webhook_secret)?,
    );
    let service = reference_checkout::build(
        &checkout_db,
        reference_checkout::DEFAULT_SESSION_TTL,
        Some(webhook),
    )
    .await?;
    let checkout = tokio::spawn(reference_checkout::serve_router(
        listener,
        service.router,
        until_stopped(),
    ));
    // Checkout's webhook sender is held back until step 7, so steps 1–6 show the
    // storefront's own call creating the order rather than a race with the webhook.
    let release_webhooks = Arc::new(Notify::new());
    let webhooks = service.webhooks.map(|sender| {
        let (release, stop) = (release_webhooks.clone(), stop.subscribe());
        tokio::spawn(async move {
            release.notified().await;
            sender.run(stop).await
        })
    });

    println!("Order Service demo: the seed's checkout flow, end to end, on this machine");
    println!(
        "  checkout service      {checkout_url}  (reference, SQLite in {})",
        workdir.0.display()
    );
    println!(
        "  notification service  {}  (records what it receives)",
        receiver.url()
    );
    println!("  order service         {order_url}  (SQLite, bearer token for {DEMO_USER})");
    let flow = flow::Flow {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        checkout_url,
        order_url,
        token: mint_token(&secret, DEMO_USER)?,
        user_id: DEMO_USER.to_owned(),
        receiver: &receiver,
        release_webhooks,
    };
    let outcome = flow.walk().await;

    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), orders).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), checkout).await;
    if let Some(webhooks) = webhooks {
        let _ = tokio::time::timeout(Duration::from_secs(1), webhooks).await;
    }
    drop(workdir);
    match &outcome {
        Ok(()) => println!(
            "\nDemo complete: two paid sessions, two orders (one from the storefront's call, one from the webhook), confirmations sent."
        ),
        Err(_) => println!("\nDemo FAILED (see the error below)."),
    }
    outcome
}

/// An HS256 bearer token for `user`, valid for an hour.
fn mint_token(secret: &str, user: &str) -> anyhow::Result<String> {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = serde_json::json!({"sub": user, "exp": exp, "roles": []});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )?)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A fresh directory for the demo's databases, removed when the demo ends.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "order-service-demo-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
