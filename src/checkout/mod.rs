//! The Checkout Service as this service sees it: an HTTP client that fetches a session,
//! and the session format it reads (with the variations real checkout services produce).

mod client;
mod session;
mod session_wire;

pub use client::{CheckoutClient, CheckoutClientConfig, CheckoutError};
pub use session::{
    CheckoutSession, DEFAULT_MAX_ITEMS_PER_ORDER, SessionParseError, SessionRejection,
};
