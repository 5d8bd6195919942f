//! What every handler can reach.

use crate::auth::Authenticator;
use crate::orders::OrderService;
use crate::outbox_admin::OutboxAdmin;
use crate::storage::SharedStore;
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
}
