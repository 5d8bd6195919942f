//! What every handler can reach.

use crate::auth::Authenticator;
use crate::orders::OrderService;
use crate::outbox_admin::OutboxAdmin;
use crate::storage::SharedStore;
use crate::webhook_signature::WebhookSecrets;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub orders: Arc<OrderService>,
    pub outbox_admin: Arc<OutboxAdmin>,
    pub store: SharedStore,
    pub auth: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    pub body_limit: usize,
    /// `CHECKOUT_WEBHOOK_SECRET`; `None`: the checkout events endpoint answers 503.
    pub webhook_secrets: Option<Arc<WebhookSecrets>>,
}
