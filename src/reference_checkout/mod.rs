//! The reference Checkout Service (docs/interface.md §7): just enough of the Checkout side of the
//! flow — open a session from a cart, complete it with a payment intent, read it back in
//! the §4 format — for local runs, the demo and integration tests. Sessions live in the
//! service's own SQLite database; a PENDING session turns EXPIRED once its time to live
//! has passed (checked whenever it is read or completed).
//!
//! | call | answer |
//! | --- | --- |
//! | `POST /api/v1/checkout/session` | 201 PENDING session; 400 `VALIDATION_ERROR` |
//! | `POST /api/v1/checkout/session/{id}/complete` `{"paymentIntentId"}` | 200 COMPLETED session (again 200 for the same payment intent); 404 `CHECKOUT_SESSION_NOT_FOUND`; 409 `CHECKOUT_SESSION_EXPIRED`, or `CHECKOUT_SESSION_NOT_PENDING` when completed with another payment intent; 400 `VALIDATION_ERROR` |
//! | `GET /api/v1/checkout/session/{id}` | 200 the session; 404 `CHECKOUT_SESSION_NOT_FOUND` (also for an id that is not a UUID) |
//! | `GET /api/v1/checkout/sessions?status=COMPLETED&completedAfter=&limit=&cursor=` | 200 `{"items": [sessions completed after the instant, oldest first], "nextCursor"}`; 400 `VALIDATION_ERROR` |
//! | `GET /health` | 200 while the database answers |
//!
//! With an `OrderWebhookConfig` (`ORDER_WEBHOOK_URL`), each completion also queues a signed
//! `checkout.session.completed` webhook to the order service (see `webhooks`).

mod http;
mod listing;
pub mod request;
pub mod session;
mod store;
mod webhooks;

pub use http::CheckoutState;
pub use session::{Session, SessionStatus};
pub use store::SessionStore;
pub use webhooks::{EVENT_TYPE, OrderWebhookConfig, WebhookSender};

use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Where sessions live when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://checkout-service.db";
/// How long a PENDING session waits for its payment when `SESSION_TTL_SECS` is not set.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(1800);

/// The service's API and, when the order webhook is configured, its sender (run it beside
/// the server).
pub struct ReferenceCheckout {
    pub router: Router,
    pub webhooks: Option<WebhookSender>,
}

/// Opens the database (creating it and applying the embedded migrations) and builds the API.
pub async fn router(database_url: &str, session_ttl: Duration) -> anyhow::Result<Router> {
    Ok(build(database_url, session_ttl, None).await?.router)
}

/// Like `router`, and with `order_webhook` every completion queues the webhook of §8.
pub async fn build(
    database_url: &str,
    session_ttl: Duration,
    order_webhook: Option<OrderWebhookConfig>,
) -> anyhow::Result<ReferenceCheckout> {
    let mut store = SessionStore::connect(database_url)
        .await
        .map_err(|e| e.context(format!("opening the checkout database {database_url}")))?;
    let wake = Arc::new(Notify::new());
    let webhooks = match order_webhook {
        Some(config) => {
            store = store.with_webhook_queue();
            Some(WebhookSender::new(
                store.pool().clone(),
                config,
                wake.clone(),
            )?)
        }
        None => None,
    };
    let router = http::router(CheckoutState {
        store: Arc::new(store),
        session_ttl,
        webhook_wake: wake,
    });
    Ok(ReferenceCheckout { router, webhooks })
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .into_future()
}

/// Starts the service in-process: once this returns, the database is ready and the
/// returned future serves `listener` for as long as it is polled (spawn it).
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("http://{}", listener.local_addr()?);
/// let server = order_service::reference_checkout::serve(
///     listener, "sqlite::memory:", std::time::Duration::from_secs(1800),
/// ).await?;
/// tokio::spawn(server);
/// // `url` now answers /api/v1/checkout/session …
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    database_url: &str,
    session_ttl: Duration,
) -> anyhow::Result<impl Future<Output = std::io::Result<()>> + Send + 'static> {
    serve_with_webhooks(listener, database_url, session_ttl, None).await
}

/// `serve`, also sending the order webhook when `order_webhook` is given.
pub async fn serve_with_webhooks(
    listener: TcpListener,
    database_url: &str,
    session_ttl: Duration,
    order_webhook: Option<OrderWebhookConfig>,
) -> anyhow::Result<impl Future<Output = std::io::Result<()>> + Send + 'static> {
    let service = build(database_url, session_ttl, order_webhook).await?;
    let server = serve_router(listener, service.router, std::future::pending());
    Ok(async move {
        // Never stopped: the in-process service lives as long as its task.
        let (_stop_tx, stop_rx) = watch::channel(false);
        match service.webhooks {
            Some(sender) => tokio::join!(server, sender.run(stop_rx)).0,
            None => server.await,
        }
    })
}
