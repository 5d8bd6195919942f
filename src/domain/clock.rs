//! The time the domain stamps on orders and events.

use chrono::{DateTime, SubsecRound, Utc};

/// Current time at the precision both databases keep (microseconds), so a value read
/// back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
