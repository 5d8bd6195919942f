//! Which path created an order (docs/interface.md): the storefront's call, the Checkout
//! Service's webhook, or the reconciliation sweep. Recorded in the creation event and
//! counted in `/metrics`.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderOrigin {
    Client,
    Webhook,
    Sweep,
}

impl OrderOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderOrigin::Client => "client",
            OrderOrigin::Webhook => "webhook",
            OrderOrigin::Sweep => "sweep",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client" => Some(OrderOrigin::Client),
            "webhook" => Some(OrderOrigin::Webhook),
            "sweep" => Some(OrderOrigin::Sweep),
            _ => None,
        }
    }
}

impl std::fmt::Display for OrderOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
