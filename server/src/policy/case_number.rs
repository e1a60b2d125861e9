//! Case numbers (案件编号, issue 13): a short, speakable, unique number the server gives a case
//! when it ingests the case's REPORT, e.g. `和平-20261204-0012` — the estate district's short
//! name, the Beijing date of the server time at ingest, and a sequence per district and day
//! starting at 0001. Decided here; storage keeps the counter per [`NumberKey`] and writes the number in the
//! same transaction as the case (`storage::ops::ingest`). A number is never reused or changed.

use chrono::{DateTime, Utc};
use xuncha_core::Estate;

use crate::policy::catalog::Catalog;

/// Short name of a district for case numbers whose estate is not in the catalog (never the
/// case for a REPORT that ingest accepts; kept so a number is always well formed).
pub const UNKNOWN_DISTRICT: &str = "未知";

/// The counter a case number is drawn from: one sequence per district and Beijing day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberKey {
    /// The district's short name, e.g. `和平`.
    pub district: String,
    /// The Beijing date, `YYYYMMDD`.
    pub day: String,
}

impl NumberKey {
    /// The key of a case of `estate` reported (ingested) at server time `at`.
    pub fn of(estate: Option<&Estate>, at: DateTime<Utc>) -> NumberKey {
        let district = estate.map_or(UNKNOWN_DISTRICT, |e| district_short_name(&e.district));
        // Server time is always representable in Beijing time; UTC's date is the fallback.
        let day = xuncha_core::time::to_local(at).map_or_else(
            || at.format("%Y%m%d").to_string(),
            |local| local.format("%Y%m%d").to_string(),
        );
        NumberKey {
            district: district.to_owned(),
            day,
        }
    }

    /// The key of a case of estate `estate_id` in the catalog, ingested at `at`.
    pub fn in_catalog(catalog: &Catalog, estate_id: &str, at: DateTime<Utc>) -> NumberKey {
        NumberKey::of(catalog.estate(estate_id), at)
    }

    /// The number with sequence `seq` of this key, e.g. `和平-20261204-0012` (four digits at
    /// least; a 10 000th case of a district in one day gets five).
    pub fn number(&self, seq: i64) -> String {
        format!("{}-{}-{seq:04}", self.district, self.day)
    }
}

/// `和平区` → `和平`, `滨海新区` → `滨海新`: the district's name without its trailing 区 (or 县).
/// A name that is only the suffix, or blank, is kept as written (trimmed), or [`UNKNOWN_DISTRICT`].
pub fn district_short_name(district: &str) -> &str {
    let district = district.trim();
    let short = district
        .strip_suffix('区')
        .or_else(|| district.strip_suffix('县'))
        .unwrap_or(district);
    if !short.is_empty() {
        short
    } else if !district.is_empty() {
        district
    } else {
        UNKNOWN_DISTRICT
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn district_names_lose_their_suffix() {
        assert_eq!(district_short_name("和平区"), "和平");
        assert_eq!(district_short_name(" 河西区 "), "河西");
        assert_eq!(district_short_name("区"), "区");
        assert_eq!(district_short_name(""), UNKNOWN_DISTRICT);
    }

    #[test]
    fn the_day_is_beijing_time_and_the_sequence_has_four_digits() {
        // 2026-12-03 16:30 UTC is already 12-04 in Beijing.
        let at: DateTime<Utc> = "2026-12-03T16:30:00Z".parse().unwrap();
        let key = NumberKey {
            district: "和平".into(),
            day: NumberKey::of(None, at).day,
        };
        assert_eq!(key.number(12), "和平-20261204-0012");
        assert_eq!(key.number(12345), "和平-20261204-12345");
        assert_eq!(NumberKey::of(None, at).district, UNKNOWN_DISTRICT);
    }
}
