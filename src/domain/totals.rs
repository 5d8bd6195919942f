//! The amounts of an order, computed exactly from its lines.

use super::{Money, NewOrderItem};

/// The amounts of an order; `total = subtotal + shipping + tax - discount` always holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderTotals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("an amount overflowed")]
    Overflow,
    #[error("the discount is larger than the rest of the order")]
    NegativeTotal,
    #[error("stated total {stated} differs from computed total {computed}")]
    Mismatch { stated: Money, computed: Money },
    #[error("stated subtotal {stated} differs from the sum of the items {computed}")]
    SubtotalMismatch { stated: Money, computed: Money },
}

impl OrderTotals {
    /// Computes the totals exactly; a stated subtotal or total must match to the cent.
    pub fn compute(
        items: &[NewOrderItem],
        shipping: Money,
        tax: Money,
        discount: Money,
        stated_subtotal: Option<Money>,
        stated_total: Option<Money>,
    ) -> Result<Self, TotalsError> {
        let subtotal = items.iter().try_fold(Money::ZERO, |sum, item| {
            sum.checked_add(item.price.checked_mul(item.quantity.get())?)
        });
        let subtotal = subtotal.ok_or(TotalsError::Overflow)?;
        if let Some(stated) = stated_subtotal.filter(|s| *s != subtotal) {
            return Err(TotalsError::SubtotalMismatch {
                stated,
                computed: subtotal,
            });
        }
        let before_discount = subtotal
            .checked_add(shipping)
            .and_then(|m| m.checked_add(tax))
            .ok_or(TotalsError::Overflow)?;
        let total = before_discount
            .checked_sub(discount)
            .ok_or(TotalsError::NegativeTotal)?;
        if let Some(stated) = stated_total.filter(|s| *s != total) {
            return Err(TotalsError::Mismatch {
                stated,
                computed: total,
            });
        }
        Ok(Self {
            subtotal,
            shipping,
            tax,
            discount,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Quantity;

    fn item(price: &str, quantity: u64) -> NewOrderItem {
        NewOrderItem {
            product_id: "p".into(),
            name: None,
            price: Money::parse(price).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn totals_add_up_exactly() {
        let items = [item("45.99", 2)];
        let totals =
            OrderTotals::compute(&items, m("12"), m("19.47"), m("0"), None, Some(m("123.45")))
                .unwrap();
        assert_eq!(totals.subtotal, m("91.98"));
        assert_eq!(totals.total, m("123.45"));
    }

    #[test]
    fn a_total_off_by_one_cent_is_rejected() {
        let items = [item("0.10", 3)];
        let err = OrderTotals::compute(&items, m("0"), m("0"), m("0"), None, Some(m("0.31")));
        assert!(matches!(err, Err(TotalsError::Mismatch { .. })));
        let ok = OrderTotals::compute(&items, m("0"), m("0"), m("0"), None, None).unwrap();
        assert_eq!(ok.total.to_string(), "0.30");
    }

    #[test]
    fn discount_larger_than_order_is_rejected() {
        let items = [item("1", 1)];
        let err = OrderTotals::compute(&items, m("0"), m("0"), m("2"), None, None);
        assert_eq!(err, Err(TotalsError::NegativeTotal));
    }
}
