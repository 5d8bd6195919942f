//! A checkout session exactly as docs/interface.md §2 shows it: what the Checkout Service answers
//! and what the order service reads.

use crate::domain::{Address, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Pending,
    Completed,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "PENDING",
            SessionStatus::Completed => "COMPLETED",
            SessionStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(SessionStatus::Pending),
            "COMPLETED" => Some(SessionStatus::Completed),
            "EXPIRED" => Some(SessionStatus::Expired),
            _ => None,
        }
    }
}

/// A session exactly as docs/interface.md §2 shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: Uuid,
    pub user_id: String,
    pub email: String,
    pub status: SessionStatus,
    pub currency: String,
    pub cart_snapshot: CartSnapshot,
    pub shipping_amount: Money,
    pub tax_amount: Money,
    pub discount_amount: Money,
    pub total_amount: Money,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub payment_intent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartSnapshot {
    pub cart_id: String,
    pub items: Vec<SessionItem>,
    pub subtotal: Money,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    pub product_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub price: Money,
    pub quantity: u32,
}
