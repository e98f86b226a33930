//! The wall clock as the wire uses it: deadlines, `started_at` and `finished_at` are Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; `None` when the system clock is set before 1970.
pub fn try_unix_now() -> Option<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Seconds since the Unix epoch, 0 when the clock is before 1970 (every deadline then looks
/// expired, which fails closed).
pub fn unix_now() -> u64 {
    try_unix_now().unwrap_or(0)
}
