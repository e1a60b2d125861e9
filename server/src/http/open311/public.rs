//! The public Open311 view (issue 11 item 8): what an anonymous caller, or a signed-in one who may
//! not see a case, learns about it. Service, status, a status note written for residents, dates,
//! the responsible agency and the estate; never the reporter's description or location note,
//! exact coordinates, or staff remarks.
//!
//! The public note of each status is data (`server/data/open311-public-status.toml`), not the
//! case's last internal remark, so a closed case never shows a stale return reason.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use xuncha_core::Estate;
use xuncha_core::geo::Geometry;
use xuncha_core::workflow::CaseStatus;

/// The residents' text of every status, compiled in.
pub const STATUS_NOTES_TOML: &str = include_str!("../../../data/open311-public-status.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusNotesFile {
    status: HashMap<String, String>,
}

/// Why the status-note file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusNotesError {
    #[error("open311-public-status.toml does not parse: {0}")]
    Parse(String),
    #[error("open311-public-status.toml names unknown status {0:?}")]
    UnknownStatus(String),
    #[error("open311-public-status.toml has no text for status {0}")]
    Missing(&'static str),
}

/// Parses a status-note file: one non-empty text for every status, no unknown status.
pub fn parse_status_notes(text: &str) -> Result<HashMap<CaseStatus, String>, StatusNotesError> {
    let file: StatusNotesFile =
        toml::from_str(text).map_err(|e| StatusNotesError::Parse(e.to_string()))?;
    let mut notes = HashMap::new();
    for (code, note) in file.status {
        let status = CaseStatus::from_code(&code).ok_or(StatusNotesError::UnknownStatus(code))?;
        let note = note.trim().to_owned();
        if !note.is_empty() {
            notes.insert(status, note);
        }
    }
    match CaseStatus::ALL.iter().find(|s| !notes.contains_key(s)) {
        Some(missing) => Err(StatusNotesError::Missing(missing.code())),
        None => Ok(notes),
    }
}

fn status_notes() -> &'static HashMap<CaseStatus, String> {
    static NOTES: OnceLock<HashMap<CaseStatus, String>> = OnceLock::new();
    NOTES.get_or_init(|| {
        parse_status_notes(STATUS_NOTES_TOML).unwrap_or_else(|e| {
            // A test keeps the compiled-in file valid; should it not be, fall back to names.
            tracing::error!(error = %e, "public status notes unusable; showing status names");
            HashMap::new()
        })
    })
}

/// The text residents read for `status`.
pub fn status_note(status: CaseStatus) -> String {
    status_notes()
        .get(&status)
        .cloned()
        .unwrap_or_else(|| format!("{}。", status.name_zh()))
}

/// Where the public sees a case: the middle of its estate's outline (the centre of the outer
/// rings' bounding box), rounded to 4 decimals. `None` for an estate without a usable outline.
pub fn estate_centre(estate: &Estate) -> Option<(f64, f64)> {
    let outer: Vec<&[f64; 2]> = match &estate.boundary {
        Geometry::Polygon(rings) => rings.first().into_iter().flatten().collect(),
        Geometry::MultiPolygon(polygons) => polygons
            .iter()
            .filter_map(|rings| rings.first())
            .flatten()
            .collect(),
    };
    let mut bounds: Option<(f64, f64, f64, f64)> = None;
    for &[lon, lat] in outer {
        if !lat.is_finite() || !lon.is_finite() {
            continue;
        }
        bounds = Some(match bounds {
            None => (lat, lat, lon, lon),
            Some((a, b, c, d)) => (a.min(lat), b.max(lat), c.min(lon), d.max(lon)),
        });
    }
    let (min_lat, max_lat, min_lon, max_lon) = bounds?;
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    Some((
        round(f64::midpoint(min_lat, max_lat)),
        round(f64::midpoint(min_lon, max_lon)),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_status_has_a_public_note_and_the_file_is_checked() {
        let notes = parse_status_notes(STATUS_NOTES_TOML).unwrap();
        for status in CaseStatus::ALL {
            let note = &notes[&status];
            assert!(!note.contains(status.code()), "{note}");
            assert_eq!(&status_note(status), note);
        }
        assert_eq!(
            parse_status_notes("[status]\nREPORTED = \"x\"").unwrap_err(),
            StatusNotesError::Missing("RESOLVED_ON_SITE")
        );
        assert!(matches!(
            parse_status_notes("[status]\nLOST = \"x\""),
            Err(StatusNotesError::UnknownStatus(_))
        ));
    }

    #[test]
    fn demo_estates_have_a_centre_inside_them() {
        for estate in xuncha_core::demo::estates().unwrap() {
            let (lat, lon) = estate_centre(&estate).unwrap();
            assert!(
                estate.boundary.contains(lat, lon),
                "{}: {lat},{lon}",
                estate.id
            );
        }
    }
}
