//! Newtypes for identifiers so an order id can never be passed where a session id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifier of an order (UUID v7, so ids sort roughly by creation time).
    OrderId
);
uuid_id!(
    /// Identifier of one line of an order.
    OrderItemId
);
uuid_id!(
    /// Identifier of a checkout session in the Checkout Service.
    CheckoutSessionId
);
uuid_id!(
    /// Identifier of an outbox event; sent as `Idempotency-Key` and `Nats-Msg-Id`.
    EventId
);

impl OrderId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl OrderItemId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl EventId {
    /// Time-ordered (v7), like order ids: new events and their attempt-log entries land at
    /// the end of the indexes keyed by event id instead of on a random page each.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

/// The identity of a customer as the token's `sub` and the session's `userId` name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct UserId(String);

impl UserId {
    /// A user id is any non-blank string of at most 255 characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty() && trimmed.len() <= 255).then(|| Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
