//! NATS JetStream as a second sink of the outbox: each event is published on
//! `orders.<type>` with `Nats-Msg-Id` = event id, so JetStream drops our duplicates.

use super::{DeliveryOutcome, OutboxRecord};
use async_nats::jetstream;
use std::time::Duration;

pub const STREAM_NAME: &str = "ORDERS";

#[derive(Clone)]
pub struct NatsPublisher {
    context: jetstream::Context,
    timeout: Duration,
}

impl NatsPublisher {
    /// Connects and makes sure the `ORDERS` stream exists for `orders.>`.
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .connect(url)
            .await?;
        let context = jetstream::new(client);
        tokio::time::timeout(
            timeout,
            context.get_or_create_stream(jetstream::stream::Config {
                name: STREAM_NAME.to_owned(),
                subjects: vec!["orders.>".to_owned()],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            }),
        )
        .await??;
        Ok(Self { context, timeout })
    }

    pub fn subject(event_type: &str) -> String {
        format!("orders.{}", event_type.to_ascii_lowercase())
    }

    pub async fn publish(&self, event: &OutboxRecord) -> DeliveryOutcome {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
        let payload = bytes::Bytes::copy_from_slice(event.payload.get().as_bytes());
        let publish = async {
            let ack = self
                .context
                .publish_with_headers(Self::subject(&event.event_type), headers, payload)
                .await?;
            ack.await.map_err(anyhow::Error::from)
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Ok(Ok(_)) => DeliveryOutcome::Delivered,
            Ok(Err(e)) => DeliveryOutcome::Retry(format!("nats: {e}")),
            Err(_) => DeliveryOutcome::Retry("nats: timed out".into()),
        }
    }
}
