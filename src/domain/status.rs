//! The order lifecycle: statuses and the one table of allowed transitions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// Written and parsed as the upper-case name (`PENDING`), in any case when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(
    serialize_all = "SCREAMING_SNAKE_CASE",
    ascii_case_insensitive,
    parse_err_ty = UnknownStatus,
    parse_err_fn = UnknownStatus::new
)]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

/// Who may perform a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    AdminOnly,
    OwnerOrAdmin,
}

/// The only allowed moves. Every status change in the service goes through this table.
const TRANSITIONS: &[(OrderStatus, OrderStatus, Permission)] = &[
    (
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        Permission::AdminOnly,
    ),
    (
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        Permission::AdminOnly,
    ),
    (
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        Permission::AdminOnly,
    ),
    (
        OrderStatus::Pending,
        OrderStatus::Cancelled,
        Permission::OwnerOrAdmin,
    ),
    (
        OrderStatus::Confirmed,
        OrderStatus::Cancelled,
        Permission::OwnerOrAdmin,
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot move from {from} to {to}")]
pub struct TransitionError {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status `{0}`")]
pub struct UnknownStatus(pub String);

impl UnknownStatus {
    fn new(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The permission a move needs, or the reason it is not allowed at all.
    pub fn transition_to(self, to: OrderStatus) -> Result<Permission, TransitionError> {
        TRANSITIONS
            .iter()
            .find(|(f, t, _)| *f == self && *t == to)
            .map(|(_, _, permission)| *permission)
            .ok_or(TransitionError { from: self, to })
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn every_pair_is_allowed_exactly_as_the_contract_table_says() {
        let allowed = [
            (Pending, Confirmed),
            (Confirmed, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Confirmed, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.transition_to(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn only_cancel_is_open_to_owners() {
        assert_eq!(
            Pending.transition_to(Cancelled),
            Ok(Permission::OwnerOrAdmin)
        );
        assert_eq!(Pending.transition_to(Confirmed), Ok(Permission::AdminOnly));
    }

    #[test]
    fn parses_any_case() {
        assert_eq!("shipped".parse::<OrderStatus>(), Ok(Shipped));
        assert!("LOST".parse::<OrderStatus>().is_err());
    }
}
