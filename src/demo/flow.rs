//! The seed's sequence diagram, walked one call at a time against running services, with
//! every answer checked: a step that does not behave as the contract says ends the demo.

use super::answers::{OrderView, SessionView, call, expect};
use super::print::{json, line, step};
use super::receiver::NotificationReceiver;
use anyhow::{bail, ensure};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long the confirmation may take to reach the notification receiver.
const CONFIRMATION_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Flow<'a> {
    pub http: reqwest::Client,
    pub checkout_url: String,
    pub order_url: String,
    pub token: String,
    pub user_id: String,
    pub receiver: &'a NotificationReceiver,
    /// Starts the Checkout Service's webhook sender (step 7).
    pub release_webhooks: std::sync::Arc<tokio::sync::Notify>,
}

impl Flow<'_> {
    pub async fn walk(&self) -> anyhow::Result<()> {
        let session = self.open_session().await?;
        let payment_intent_id = format!("pi_demo_{}", Uuid::new_v4().simple());
        self.complete_session(&session, &payment_intent_id).await?;
        let order = self.create_order(&session, &payment_intent_id).await?;
        self.repeat_create(&session, &order).await?;
        self.read_order(&order).await?;
        self.await_confirmation(&order).await?;
        self.storefront_never_calls().await
    }

    async fn open_session(&self) -> anyhow::Result<SessionView> {
        step(
            1,
            "Storefront → Checkout: open a checkout session with a snapshot of the cart",
        );
        // Text rather than `json!`, so it prints in this order and with these amounts.
        let user = serde_json::to_string(&self.user_id)?;
        let cart = format!(
            r#"{{"userId": {user}, "email": "ada@example.com", "currency": "USD",
               "items": [{{"productId": "prod-1", "name": "Espresso cup", "price": 45.99, "quantity": 2}}],
               "shippingAddress": {{"street": "123 Main St", "city": "Anytown", "state": "CA",
                                   "country": "US", "postalCode": "12345"}},
               "shippingAmount": 12.00, "taxAmount": 19.47, "discountAmount": 0}}"#
        );
        line("POST /api/v1/checkout/session");
        json(&cart);
        let what = "creating the checkout session";
        let request = self
            .http
            .post(format!("{}/api/v1/checkout/session", self.checkout_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(cart);
        let answer = call(what, request).await?;
        let (session, _) = expect::<SessionView>(what, StatusCode::CREATED, answer)?;
        ensure!(
            session.status == "PENDING",
            "new session is {}, expected PENDING",
            session.status
        );
        ensure!(
            session.total_amount.to_string() == "123.45",
            "session total is {}, expected 123.45",
            session.total_amount
        );
        line(format!(
            "→ 201 Created: session {} PENDING, total {} {}, expires {}",
            session.id, session.total_amount, session.currency, session.expires_at
        ));
        Ok(session)
    }

    async fn complete_session(
        &self,
        session: &SessionView,
        payment_intent_id: &str,
    ) -> anyhow::Result<()> {
        step(
            2,
            "Payment → Checkout: the payment went through; complete the session",
        );
        line(format!(
            "POST /api/v1/checkout/session/{}/complete  {{\"paymentIntentId\": \"{payment_intent_id}\"}}",
            session.id
        ));
        let what = "completing the checkout session";
        let url = format!(
            "{}/api/v1/checkout/session/{}/complete",
            self.checkout_url, session.id
        );
        let answer = call(
            what,
            self.http
                .post(url)
                .json(&json!({"paymentIntentId": payment_intent_id})),
        )
        .await?;
        let (done, _) = expect::<SessionView>(what, StatusCode::OK, answer)?;
        ensure!(
            done.status == "COMPLETED",
            "completed session is {}, expected COMPLETED",
            done.status
        );
        ensure!(
            done.payment_intent_id.as_deref() == Some(payment_intent_id),
            "session lost its payment intent"
        );
        line(format!(
            "→ 200 OK: session {} COMPLETED with {payment_intent_id}",
            done.id
        ));
        Ok(())
    }

    async fn post_checkout(
        &self,
        session: &SessionView,
        want: StatusCode,
    ) -> anyhow::Result<(OrderView, String)> {
        let what = "POST /api/v1/orders/checkout";
        let request = self
            .http
            .post(format!("{}/api/v1/orders/checkout", self.order_url))
            .bearer_auth(&self.token)
            .json(&json!({"checkoutSessionId": session.id}));
        expect(what, want, call(what, request).await?)
    }

    async fn create_order(
        &self,
        session: &SessionView,
        payment_intent_id: &str,
    ) -> anyhow::Result<OrderView> {
        step(
            3,
            "Storefront → Order: create the order from the checkout session",
        );
        line(format!(
            "POST /api/v1/orders/checkout  {{\"checkoutSessionId\": \"{}\"}}",
            session.id
        ));
        line(format!(
            "  Order → Checkout: GET /api/v1/checkout/session/{}",
            session.id
        ));
        line(
            "  Order: session is COMPLETED and adds up; order + confirmation stored in one transaction",
        );
        let (order, body) = self.post_checkout(session, StatusCode::CREATED).await?;
        ensure!(
            order.checkout_session_id == session.id,
            "order names session {}, expected {}",
            order.checkout_session_id,
            session.id
        );
        ensure!(
            order.total_amount == session.total_amount,
            "order total {} differs from the session's {}",
            order.total_amount,
            session.total_amount
        );
        ensure!(
            order.payment_intent_id.as_deref() == Some(payment_intent_id),
            "order lost the payment intent"
        );
        ensure!(
            order.status == "PENDING",
            "new order is {}, expected PENDING",
            order.status
        );
        line(format!(
            "→ 201 Created: order {} {}, total {} {}",
            order.id, order.status, order.total_amount, order.currency
        ));
        json(&body);
        Ok(order)
    }

    async fn repeat_create(&self, session: &SessionView, order: &OrderView) -> anyhow::Result<()> {
        step(
            4,
            "Storefront retries the same call (say, after a timeout): no second order",
        );
        line(format!(
            "POST /api/v1/orders/checkout  {{\"checkoutSessionId\": \"{}\"}}",
            session.id
        ));
        let (again, _) = self.post_checkout(session, StatusCode::OK).await?;
        ensure!(
            again.id == order.id,
            "the retry answered order {}, expected the same order {}",
            again.id,
            order.id
        );
        line(format!("→ 200 OK: the same order {}", again.id));
        Ok(())
    }

    async fn read_order(&self, order: &OrderView) -> anyhow::Result<()> {
        step(5, "Storefront → Order: read the order back");
        line(format!("GET /api/v1/orders/{}", order.id));
        let what = "GET /api/v1/orders/{id}";
        let request = self
            .http
            .get(format!("{}/api/v1/orders/{}", self.order_url, order.id))
            .bearer_auth(&self.token);
        let (read, _) = expect::<OrderView>(what, StatusCode::OK, call(what, request).await?)?;
        ensure!(
            read.id == order.id && read.total_amount == order.total_amount,
            "read back a different order"
        );
        line(format!(
            "→ 200 OK: order {} {}, total {} {}",
            read.id, read.status, read.total_amount, read.currency
        ));
        Ok(())
    }

    async fn await_confirmation(&self, order: &OrderView) -> anyhow::Result<()> {
        step(
            6,
            "Order → Notification: the order confirmation, delivered from the outbox",
        );
        line(format!(
            "waiting up to {} s for POST /api/v1/notifications …",
            CONFIRMATION_TIMEOUT.as_secs()
        ));
        let started = Instant::now();
        let order_id = order.id.to_string();
        let is_confirmation = |n: &super::ReceivedNotification| {
            n.body["type"] == "ORDER_CONFIRMATION"
                && n.body["orderId"].as_str() == Some(order_id.as_str())
        };
        let Some(confirmation) = self
            .receiver
            .wait_for(CONFIRMATION_TIMEOUT, is_confirmation)
            .await
        else {
            bail!(
                "no ORDER_CONFIRMATION for order {} reached the notification receiver within {} s ({} other notifications)",
                order.id,
                CONFIRMATION_TIMEOUT.as_secs(),
                self.receiver.received().len()
            );
        };
        let key = confirmation.idempotency_key.clone().unwrap_or_default();
        ensure!(
            confirmation.body["eventId"].as_str() == Some(key.as_str()),
            "Idempotency-Key `{key}` is not the eventId"
        );
        line(format!(
            "→ received after {:.1} s: ORDER_CONFIRMATION for order {}",
            started.elapsed().as_secs_f64(),
            order.id
        ));
        line(format!(
            "  Idempotency-Key: {key}  (= eventId, so the receiver can drop redelivered duplicates)"
        ));
        ensure!(
            confirmation.signature_verified == Some(true),
            "the confirmation's Standard Webhooks signature did not verify"
        );
        line(format!(
            "  webhook-signature: {}  (Standard Webhooks; verified by the receiver with NOTIFICATION_SIGNING_SECRET)",
            confirmation.signature.as_deref().unwrap_or_default()
        ));
        json(&confirmation.text);
        Ok(())
    }
}
