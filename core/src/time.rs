//! Time is stored as UTC everywhere; people see Asia/Shanghai.
//!
//! China has kept UTC+08:00 all year since 1991 (no daylight saving), so Beijing time is a fixed
//! offset here rather than the IANA database: chrono-tz's tables of every zone were the largest
//! data in the phone library (BENCHMARKS.md, mobile library size). Instants before 1991 are never
//! shown by this system.

use chrono::{DateTime, FixedOffset, Utc};

/// Beijing time, UTC+08:00.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

/// Formats a UTC instant as Beijing time, e.g. `2026-11-27 16:58`.
pub fn format_local(at: DateTime<Utc>) -> String {
    at.with_timezone(&SHANGHAI)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn summer_and_winter_2026_are_both_plus_eight() {
        for utc in ["2026-07-15T04:30:00Z", "2026-01-15T04:30:00Z"] {
            let at: DateTime<Utc> = utc.parse().unwrap();
            let local = at.with_timezone(&SHANGHAI);
            assert_eq!(local.offset().local_minus_utc(), 8 * 3600, "{utc}");
            assert_eq!(
                local.to_rfc3339(),
                utc.replace("04:30:00Z", "12:30:00+08:00")
            );
        }
    }

    #[test]
    fn format_local_shows_beijing_wall_clock() {
        let at: DateTime<Utc> = "2026-11-27T08:58:00Z".parse().unwrap();
        assert_eq!(format_local(at), "2026-11-27 16:58");
        // Crossing midnight moves the date too.
        let late: DateTime<Utc> = "2026-12-31T17:30:00Z".parse().unwrap();
        assert_eq!(format_local(late), "2027-01-01 01:30");
    }
}
