//! Time is stored as UTC everywhere; people see Asia/Shanghai.
//!
//! China has kept UTC+08:00 all year since 1991 (no daylight saving), so Beijing time is a fixed
//! offset here rather than the IANA database: chrono-tz's tables of every zone were the largest
//! data in the phone library (BENCHMARKS.md, mobile library size). Instants before 1991 are never
//! shown by this system.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeDelta, Utc};

/// Beijing time, UTC+08:00.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

/// `at` in Beijing time, or `None` when the wall clock would pass chrono's last representable
/// instant (a device clock can claim any time up to `+262142-12-31T23:59:59Z`; chrono panics when
/// such a value is shifted by +08:00 and then formatted or split into date parts).
pub fn to_local(at: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
    let shift = TimeDelta::seconds(i64::from(SHANGHAI.local_minus_utc()));
    at.naive_utc().checked_add_signed(shift)?;
    Some(at.with_timezone(&SHANGHAI))
}

/// Formats with `pattern` in Beijing time; an instant whose Beijing time cannot be represented
/// is shown in UTC with a `UTC` suffix instead. Never panics.
fn format_with(at: DateTime<Utc>, pattern: &str) -> String {
    match to_local(at) {
        Some(local) => local.format(pattern).to_string(),
        None => format!("{} UTC", at.format(pattern)),
    }
}

/// Formats a UTC instant as Beijing time, e.g. `2026-11-27 16:58`. Never panics.
pub fn format_local(at: DateTime<Utc>) -> String {
    format_with(at, "%Y-%m-%d %H:%M")
}

/// The Beijing calendar date, e.g. `2026-11-27`. Never panics.
pub fn format_local_date(at: DateTime<Utc>) -> String {
    format_with(at, "%Y-%m-%d")
}

/// ISO 8601 / RFC 3339 with the Beijing offset and whole seconds, e.g.
/// `2026-11-27T17:30:05+08:00`; UTC (`…Z`) when the Beijing time cannot be represented. Never
/// panics.
pub fn rfc3339_local(at: DateTime<Utc>) -> String {
    match to_local(at) {
        Some(local) => local.to_rfc3339_opts(SecondsFormat::Secs, false),
        None => at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
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

    #[test]
    fn the_ends_of_chronos_range_format_without_panicking() {
        // Issue 11 item 1: a device clock claiming this instant crashed Open311 and the dashboard.
        let last: DateTime<Utc> = "+262142-12-31T16:00:01Z".parse().unwrap();
        assert!(to_local(last).is_none());
        assert_eq!(format_local(last), "+262142-12-31 16:00 UTC");
        assert_eq!(format_local_date(last), "+262142-12-31 UTC");
        assert_eq!(rfc3339_local(last), "+262142-12-31T16:00:01Z");
        for at in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            assert!(!format_local(at).is_empty());
            assert!(!rfc3339_local(at).is_empty());
        }
        let normal: DateTime<Utc> = "2026-11-27T09:30:05Z".parse().unwrap();
        assert_eq!(rfc3339_local(normal), "2026-11-27T17:30:05+08:00");
        assert_eq!(format_local_date(normal), "2026-11-27");
    }
}
