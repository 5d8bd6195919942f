//! The Checkout Service as this service sees it: an HTTP client that fetches a session,
//! and the session format it reads (with the variations real checkout services produce).

mod client;
mod listing;
mod session;

pub use client::{CheckoutClient, CheckoutClientConfig, CheckoutError};
pub use listing::{CompletedSession, CompletedSessionsPage};
pub use session::{CheckoutSession, SessionParseError, SessionRejection};
