//! How many units of a product an order line holds.

use serde::Serialize;
use utoipa::ToSchema;

/// A whole number of units, at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1_000_000;

    pub fn new(value: u64) -> Option<Self> {
        (1..=u64::from(Self::MAX))
            .contains(&value)
            .then_some(Self(value as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn quantity_is_at_least_one() {
        assert!(Quantity::new(0).is_none());
        assert_eq!(Quantity::new(3).unwrap().get(), 3);
        assert!(Quantity::new(u64::from(Quantity::MAX) + 1).is_none());
    }
}
