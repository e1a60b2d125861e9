//! Time is stored as UTC everywhere; people see Asia/Shanghai.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

/// Formats a UTC instant as Beijing time, e.g. `2026-11-27 16:58`.
pub fn format_local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
