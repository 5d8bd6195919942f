//! The demo's second path (docs/interface.md): a customer pays and the storefront never calls
//! (closed tab, lost network); the Checkout Service's signed webhook makes the order anyway.

use super::answers::{OrderView, SessionView, call, expect};
use super::flow::Flow;
use super::print::{line, step};
use anyhow::{bail, ensure};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long the order may take to appear from the webhook.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl Flow<'_> {
    pub(super) async fn storefront_never_calls(&self) -> anyhow::Result<()> {
        step(
            7,
            "A second checkout: paid, then the tab is closed; the storefront never calls",
        );
        line(
            "Checkout's webhook sender starts now (held back so steps 1–6 showed the storefront's call;",
        );
        line(" the first session's webhook now finds its order and changes nothing)");
        self.release_webhooks.notify_one();
        let session = self.open_quiet_session().await?;
        let payment_intent_id = format!("pi_demo_{}", Uuid::new_v4().simple());
        let started = Instant::now();
        self.complete_quietly(&session, &payment_intent_id).await?;
        line(format!(
            "Payment → Checkout: session {} COMPLETED with {payment_intent_id}; no POST /api/v1/orders/checkout follows",
            session.id
        ));
        line(
            "  Checkout → Order: POST /api/v1/checkout/events  {\"type\": \"checkout.session.completed\", …}",
        );
        line(
            "    signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)",
        );
        line("  Order: signature checked, the session read from Checkout, the order created");

        step(
            8,
            "Storefront → Order: the customer's orders list shows it anyway",
        );
        let order = self.await_order_of(&session).await?;
        line(format!(
            "→ order {} {} for session {}, total {} {}, {} ms after the completion",
            order.id,
            order.status,
            session.id,
            order.total_amount,
            order.currency,
            started.elapsed().as_millis()
        ));
        let origin = self.creation_origin(&order).await?;
        ensure!(
            origin == "webhook",
            "the order's creation event names origin {origin}, expected webhook"
        );
        line(format!(
            "GET /api/v1/orders/{}/events → ORDER_CREATED, origin \"{origin}\"",
            order.id
        ));
        line("  (with RECONCILE_INTERVAL_SECS set, a periodic sweep of the Checkout Service's");
        line("   completed sessions catches what even the webhook missed)");
        Ok(())
    }

    async fn open_quiet_session(&self) -> anyhow::Result<SessionView> {
        let cart = serde_json::json!({
            "userId": self.user_id, "email": "ada@example.com", "currency": "USD",
            "items": [{"productId": "prod-2", "name": "Milk jug", "price": "18.50", "quantity": 1}],
            "shippingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA",
                                "country": "US", "postalCode": "12345"}
        });
        let what = "creating the second checkout session";
        let request = self
            .http
            .post(format!("{}/api/v1/checkout/session", self.checkout_url))
            .json(&cart);
        let (session, _) = expect(what, StatusCode::CREATED, call(what, request).await?)?;
        Ok(session)
    }

    async fn complete_quietly(
        &self,
        session: &SessionView,
        payment_intent_id: &str,
    ) -> anyhow::Result<()> {
        let what = "completing the second checkout session";
        let url = format!(
            "{}/api/v1/checkout/session/{}/complete",
            self.checkout_url, session.id
        );
        let request = self
            .http
            .post(url)
            .json(&serde_json::json!({"paymentIntentId": payment_intent_id}));
        let (done, _) = expect::<SessionView>(what, StatusCode::OK, call(what, request).await?)?;
        ensure!(done.status == "COMPLETED", "session is {}", done.status);
        Ok(())
    }

    /// Polls the customer's order list until the session's order shows up.
    async fn await_order_of(&self, session: &SessionView) -> anyhow::Result<OrderView> {
        line(format!(
            "GET /api/v1/orders  (polling up to {} s)",
            WEBHOOK_TIMEOUT.as_secs()
        ));
        let deadline = Instant::now() + WEBHOOK_TIMEOUT;
        let what = "GET /api/v1/orders";
        loop {
            let request = self
                .http
                .get(format!("{}/api/v1/orders", self.order_url))
                .bearer_auth(&self.token);
            let (page, _) = expect::<Value>(what, StatusCode::OK, call(what, request).await?)?;
            let found = page["items"].as_array().and_then(|items| {
                items
                    .iter()
                    .find(|o| o["checkoutSessionId"].as_str() == Some(&session.id.to_string()))
            });
            if let Some(order) = found {
                return Ok(serde_json::from_value(order.clone())?);
            }
            if Instant::now() > deadline {
                bail!(
                    "no order for session {} appeared within {} s: the webhook did not arrive",
                    session.id,
                    WEBHOOK_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn creation_origin(&self, order: &OrderView) -> anyhow::Result<String> {
        let what = "GET /api/v1/orders/{id}/events";
        let request = self
            .http
            .get(format!(
                "{}/api/v1/orders/{}/events",
                self.order_url, order.id
            ))
            .bearer_auth(&self.token);
        let (history, _) = expect::<Value>(what, StatusCode::OK, call(what, request).await?)?;
        Ok(history[0]["origin"].as_str().unwrap_or("none").to_owned())
    }
}
