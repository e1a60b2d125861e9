//! Capture API of the device (feature `device`): what an inspector does on site, offline.
//!
//! It lives on [`Store`] as methods that take the signed-in [`Actor`] explicitly (the app or the
//! FFI layer holds the session; the store holds no global "current user"). Every call is
//! synchronous and may block on disk and image decoding: call it off the UI thread.
//!
//! Each action is built as an [`Event`], run through the shared [`workflow::apply`] — the same
//! function the server runs, so the phone refuses exactly what the server would — and stored with
//! the new case view in one durable transaction. Photos are processed first (outside the
//! transaction) by the photo pipeline; only file paths cross the FFI.
//!
//! At capture the core warns, without blocking: GPS accuracy worse than 50 m, a point outside
//! the chosen estate (naming the estate that contains it), and open cases of the same category
//! within 50 m (returned, so the app can offer "add to the existing case").
//!
//! Photo provenance (DESIGN F3): each photo's EXIF capture time and position are compared with
//! the moment and the device's fix of the report; a photo taken long before (e.g. picked from the
//! gallery) or far from where the inspector stands is flagged ([`ProvenanceLimits`]). Warnings
//! only: the inspector may have a good reason, and the reviewer sees the same facts.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Category;
use crate::estate::{Estate, EstateId};
use crate::geo::{self, GpsFix};
use crate::ids::new_id;
use crate::photo::{PhotoOptions, ProcessedPhoto, process_file};
use crate::routing::{RoutingDecision, route};
use crate::store::error::{Error, Result};
use crate::store::{PhotoRecord, Store, StoreError, cases, now, outbox, photos, reference};
use crate::workflow::{self, Action, ActionKind, Actor, Case, Event, PhotoKind, PhotoRef};

/// A fix less precise than this (68 % radius, metres) is flagged.
pub const MAX_GOOD_ACCURACY_M: f64 = 50.0;

/// How far a photo's own EXIF facts may be from the report before the app warns (F3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceLimits {
    /// A photo taken more than this many minutes before the report is flagged.
    pub max_photo_age_minutes: u32,
    /// A photo whose EXIF position is farther than this from the device's fix is flagged.
    pub max_photo_distance_m: f64,
}

impl Default for ProvenanceLimits {
    /// 30 minutes, 200 m: an inspector photographs and reports on the spot.
    fn default() -> Self {
        ProvenanceLimits {
            max_photo_age_minutes: 30,
            max_photo_distance_m: 200.0,
        }
    }
}

/// Metres per degree of latitude (and of longitude at the equator), for the duplicate search box.
const METRES_PER_DEGREE: f64 = 111_320.0;

/// What the inspector filled in for a new case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDraft {
    pub category: Category,
    pub estate_id: EstateId,
    #[serde(default)]
    pub building: Option<String>,
    /// Stairwell / door number (单元).
    #[serde(default)]
    pub unit_no: Option<String>,
    #[serde(default)]
    pub location_note: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The phone's fix, WGS-84, with its accuracy and provider.
    #[serde(default)]
    pub gps: Option<GpsFix>,
}

/// An action on an existing case (dissuade, escalate, verify, comment …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDraft {
    pub action: Action,
    #[serde(default)]
    pub gps: Option<GpsFix>,
    #[serde(default)]
    pub note: Option<String>,
    /// What the attached photos show.
    pub photo_kind: PhotoKind,
}

/// A non-blocking warning shown at capture. `code()` is stable API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureWarning {
    /// The fix is less precise than [`MAX_GOOD_ACCURACY_M`].
    LowGpsAccuracy { accuracy_m: f64, limit_m: f64 },
    /// The point lies outside the chosen estate's boundary.
    OutsideEstate {
        chosen_estate_id: EstateId,
        chosen_estate_name: String,
        /// The cached estate whose boundary contains the point, if any.
        containing_estate_id: Option<EstateId>,
        containing_estate_name: Option<String>,
    },
    /// Open cases of the same category within the duplicate radius, nearest first.
    PossibleDuplicates {
        radius_m: f64,
        cases: Vec<DuplicateCandidate>,
    },
    /// The photo's EXIF time is older than [`ProvenanceLimits::max_photo_age_minutes`] before
    /// the report: probably not taken on site now (e.g. chosen from the gallery).
    PhotoTakenEarlier {
        sha256: String,
        taken_at: DateTime<Utc>,
        age_minutes: i64,
        limit_minutes: u32,
    },
    /// The photo's EXIF position is farther than [`ProvenanceLimits::max_photo_distance_m`]
    /// from the device's fix.
    PhotoFarFromFix {
        sha256: String,
        distance_m: f64,
        limit_m: f64,
    },
}

/// An open case near the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCandidate {
    pub case: Case,
    pub distance_m: f64,
}

impl CaptureWarning {
    pub fn code(&self) -> &'static str {
        match self {
            CaptureWarning::LowGpsAccuracy { .. } => "LOW_GPS_ACCURACY",
            CaptureWarning::OutsideEstate { .. } => "OUTSIDE_ESTATE",
            CaptureWarning::PossibleDuplicates { .. } => "POSSIBLE_DUPLICATES",
            CaptureWarning::PhotoTakenEarlier { .. } => "PHOTO_TAKEN_EARLIER",
            CaptureWarning::PhotoFarFromFix { .. } => "PHOTO_FAR_FROM_FIX",
        }
    }

    /// The warning as the app shows it (Chinese).
    pub fn message_zh(&self) -> String {
        match self {
            CaptureWarning::LowGpsAccuracy {
                accuracy_m,
                limit_m,
            } => {
                format!("定位精度较差（约 {accuracy_m:.0} 米，超过 {limit_m:.0} 米），请确认位置")
            }
            CaptureWarning::OutsideEstate {
                chosen_estate_name,
                containing_estate_name: Some(other),
                ..
            } => format!("当前位置不在「{chosen_estate_name}」范围内，位于「{other}」"),
            CaptureWarning::OutsideEstate {
                chosen_estate_name, ..
            } => {
                format!("当前位置不在「{chosen_estate_name}」范围内，也不在任何已管理小区内")
            }
            CaptureWarning::PossibleDuplicates { radius_m, cases } => format!(
                "附近 {radius_m:.0} 米内已有 {} 件同类未结案件，可能重复，可追加到已有案件",
                cases.len()
            ),
            CaptureWarning::PhotoTakenEarlier {
                taken_at,
                age_minutes,
                limit_minutes,
                ..
            } => format!(
                "照片拍摄于 {}（北京时间），比上报早 {age_minutes} 分钟（超过 {limit_minutes} 分钟），可能不是现场拍摄，请确认",
                crate::time::format_local(*taken_at)
            ),
            CaptureWarning::PhotoFarFromFix {
                distance_m,
                limit_m,
                ..
            } => format!(
                "照片拍摄位置距当前定位约 {distance_m:.0} 米（超过 {limit_m:.0} 米），请确认是现场照片"
            ),
        }
    }
}

/// A new case as stored, with the warnings to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Captured {
    pub case: Case,
    pub event: Event,
    pub warnings: Vec<CaptureWarning>,
}

/// A case after an action, with the event stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub case: Case,
    pub event: Event,
}

impl Store {
    /// The warnings a draft would get, without saving anything (for a live form).
    pub fn check_draft(&self, draft: &CaseDraft) -> Result<Vec<CaptureWarning>, StoreError> {
        Ok(self.read(|conn| warnings(conn, draft))?)
    }

    /// Creates a case: processes the photos (camera files; PNG accepted), then stores the
    /// photos, the REPORT event and the case in one durable transaction. Returns the case and
    /// the warnings; warnings never block.
    pub fn create_case(
        &self,
        actor: &Actor,
        draft: &CaseDraft,
        photo_paths: &[PathBuf],
    ) -> Result<Captured, StoreError> {
        self.create_case_with_limits(actor, draft, photo_paths, &ProvenanceLimits::default())
    }

    /// [`Store::create_case`] with the app's own photo provenance limits.
    pub fn create_case_with_limits(
        &self,
        actor: &Actor,
        draft: &CaseDraft,
        photo_paths: &[PathBuf],
        limits: &ProvenanceLimits,
    ) -> Result<Captured, StoreError> {
        let photos = self.process_photos(photo_paths)?;
        self.create_case_checked(actor, draft, &photos, limits)
    }

    /// [`Store::create_case`] for photos the pipeline already processed.
    pub fn create_case_with_photos(
        &self,
        actor: &Actor,
        draft: &CaseDraft,
        photos: &[PhotoRecord],
    ) -> Result<Captured, StoreError> {
        self.create_case_checked(actor, draft, photos, &ProvenanceLimits::default())
    }

    fn create_case_checked(
        &self,
        actor: &Actor,
        draft: &CaseDraft,
        photos: &[PhotoRecord],
        limits: &ProvenanceLimits,
    ) -> Result<Captured, StoreError> {
        let event = Event {
            id: new_id(),
            case_id: new_id(),
            action: Action::Report {
                category: draft.category,
                estate_id: draft.estate_id.clone(),
                building: clean(&draft.building),
                unit_no: clean(&draft.unit_no),
                location_note: clean(&draft.location_note),
                description: clean(&draft.description),
            },
            actor: actor.clone(),
            device_time: now(),
            server_time: None,
            gps: draft.gps.clone(),
            photos: photo_refs(photos, PhotoKind::Before),
            note: None,
        };
        let case = workflow::apply(None, &event).map_err(refused)?;
        self.write(|tx| {
            if let Some(refusal) = outside_area(tx, actor, &draft.estate_id)? {
                return Ok(Err(refusal));
            }
            let mut warnings = warnings(tx, draft)?;
            warnings.extend(photo_provenance(
                photos,
                draft.gps.as_ref(),
                event.device_time,
                limits,
            ));
            for photo in photos {
                photos::insert_photo(tx, photo)?;
            }
            cases::write_view(tx, &case)?;
            outbox::insert_local_event(tx, &event)?;
            Ok(Ok(Captured {
                case: case.clone(),
                event: event.clone(),
                warnings,
            }))
        })?
    }

    /// Fires an action on a case offline: processes the photos, runs the shared workflow on the
    /// current view, and stores the event and the new view in one durable transaction. Refusals
    /// carry the workflow's code (`ROLE_NOT_ALLOWED`, `INVALID_STATE`, `MISSING_EVIDENCE` …).
    pub fn record_event(
        &self,
        actor: &Actor,
        case_id: Uuid,
        draft: &EventDraft,
        photo_paths: &[PathBuf],
    ) -> Result<Recorded, StoreError> {
        let photos = self.process_photos(photo_paths)?;
        self.record_event_with_photos(actor, case_id, draft, &photos)
    }

    /// [`Store::record_event`] for photos the pipeline already processed.
    pub fn record_event_with_photos(
        &self,
        actor: &Actor,
        case_id: Uuid,
        draft: &EventDraft,
        photos: &[PhotoRecord],
    ) -> Result<Recorded, StoreError> {
        if matches!(draft.action, Action::Report { .. }) {
            return Err(StoreError::InvalidInput {
                message: "REPORT creates a case: use create_case".to_owned(),
            });
        }
        let event = Event {
            id: new_id(),
            case_id,
            action: draft.action.clone(),
            actor: actor.clone(),
            device_time: now(),
            server_time: None,
            gps: draft.gps.clone(),
            photos: photo_refs(photos, draft.photo_kind),
            note: clean(&draft.note),
        };
        self.write(|tx| {
            let current = cases::load_view(tx, case_id)?.ok_or(Error::UnknownCase(case_id))?;
            let case = match workflow::apply(Some(&current), &event) {
                Ok(case) => case,
                Err(error) => return Ok(Err(refused(error))),
            };
            for photo in photos {
                photos::insert_photo(tx, photo)?;
            }
            cases::write_view(tx, &case)?;
            outbox::insert_local_event(tx, &event)?;
            Ok(Ok(Recorded {
                case,
                event: event.clone(),
            }))
        })?
    }

    /// Adds photos (and an optional note) to a case: a COMMENT event.
    pub fn add_photos(
        &self,
        actor: &Actor,
        case_id: Uuid,
        photo_paths: &[PathBuf],
        kind: PhotoKind,
        note: Option<String>,
    ) -> Result<Recorded, StoreError> {
        let draft = EventDraft {
            action: Action::Comment,
            gps: None,
            note,
            photo_kind: kind,
        };
        self.record_event(actor, case_id, &draft, photo_paths)
    }

    /// Adds a note to a case: a COMMENT event.
    pub fn add_note(
        &self,
        actor: &Actor,
        case_id: Uuid,
        note: &str,
    ) -> Result<Recorded, StoreError> {
        let draft = EventDraft {
            action: Action::Comment,
            gps: None,
            note: Some(note.to_owned()),
            photo_kind: PhotoKind::Before,
        };
        self.record_event_with_photos(actor, case_id, &draft, &[])
    }

    /// The actions `actor` may fire on a case now (the app's buttons).
    pub fn allowed_actions(
        &self,
        actor: &Actor,
        case_id: Uuid,
    ) -> Result<Vec<ActionKind>, StoreError> {
        let case = self
            .case(case_id)?
            .ok_or(StoreError::UnknownCase { case_id })?;
        Ok(workflow::allowed_actions(Some(&case), actor))
    }

    /// Who will handle a draft and on what legal basis, with the cached rules and directory.
    pub fn preview_routing(
        &self,
        category: Category,
        estate_id: &str,
    ) -> Result<RoutingDecision, StoreError> {
        let estate = self
            .estate(estate_id)?
            .ok_or_else(|| StoreError::UnknownEstate {
                estate_id: estate_id.to_owned(),
            })?;
        let rules = self.routing_rules()?;
        let directory = self.unit_directory()?;
        route(&rules, &directory, category, &estate).map_err(|e| StoreError::Routing {
            code: e.code(),
            message: e.to_string(),
        })
    }

    /// Runs the photo pipeline on camera files, writing into the photo folder.
    pub fn process_photos(&self, paths: &[PathBuf]) -> Result<Vec<PhotoRecord>, StoreError> {
        let options = PhotoOptions::default();
        paths
            .iter()
            .map(|path| process_one(path, self.photo_dir(), &options))
            .collect()
    }
}

fn process_one(
    path: &Path,
    out_dir: &Path,
    options: &PhotoOptions,
) -> Result<PhotoRecord, StoreError> {
    process_file(path, out_dir, options)
        .map(PhotoRecord::from)
        .map_err(|e| StoreError::Photo {
            code: e.code(),
            message: format!("{}: {e}", path.display()),
        })
}

impl From<ProcessedPhoto> for PhotoRecord {
    fn from(p: ProcessedPhoto) -> Self {
        PhotoRecord {
            sha256: p.sha256,
            path: p.path,
            thumbnail_path: p.thumbnail_path,
            width: p.width,
            height: p.height,
            bytes: p.bytes,
            exif_time: p.exif_time,
            exif_gps: p.exif_gps.map(|g| (g.lat, g.lon)),
        }
    }
}

/// The server's area rule at capture ([`crate::estate::serves_estate`], the function the server's
/// access checks call): a case in an estate outside the actor's area is refused here with the
/// server's code, `ESTATE_FORBIDDEN`, before anything is stored for sync. Decided only when the
/// cached reference data knows the estate and the actor's unit (a company's staff need only the
/// estate); otherwise the server decides.
fn outside_area(conn: &Connection, actor: &Actor, estate_id: &str) -> Result<Option<StoreError>> {
    let Some(estate) = reference::load_estate(conn, estate_id)? else {
        return Ok(None);
    };
    let unit = reference::load_unit(conn, &actor.unit_id)?;
    let decidable = unit.is_some()
        || matches!(
            actor.role,
            crate::org::Role::Admin | crate::org::Role::CompanyStaff
        );
    if !decidable
        || crate::estate::serves_estate(actor.role, &actor.unit_id, unit.as_ref(), &estate)
    {
        return Ok(None);
    }
    Ok(Some(StoreError::Workflow {
        code: "ESTATE_FORBIDDEN",
        message: format!(
            "「{}」不在您所在单位的巡查范围内，不能在此小区登记案件 (estate {} is outside this user's area)",
            estate.name, estate.id
        ),
    }))
}

fn refused(error: workflow::WorkflowError) -> StoreError {
    StoreError::Workflow {
        code: error.code(),
        message: error.to_string(),
    }
}

fn photo_refs(photos: &[PhotoRecord], kind: PhotoKind) -> Vec<PhotoRef> {
    photos
        .iter()
        .map(|p| PhotoRef {
            sha256: p.sha256.clone(),
            kind,
        })
        .collect()
}

/// Trims free text; blank becomes `None`.
fn clean(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The capture warnings for a draft, against the cached estates and stored cases.
fn warnings(conn: &Connection, draft: &CaseDraft) -> Result<Vec<CaptureWarning>> {
    let estate = reference::load_estate(conn, &draft.estate_id)?
        .ok_or_else(|| Error::UnknownEstate(draft.estate_id.clone()))?;
    let mut warnings = Vec::new();
    let Some(fix) = &draft.gps else {
        return Ok(warnings);
    };
    if let Some(accuracy_m) = fix.accuracy_m.filter(|a| *a > MAX_GOOD_ACCURACY_M) {
        warnings.push(CaptureWarning::LowGpsAccuracy {
            accuracy_m,
            limit_m: MAX_GOOD_ACCURACY_M,
        });
    }
    if !estate.boundary.contains(fix.lat, fix.lon) {
        let containing = reference::load_estates(conn)?
            .into_iter()
            .find(|e: &Estate| e.boundary.contains(fix.lat, fix.lon));
        warnings.push(CaptureWarning::OutsideEstate {
            chosen_estate_id: estate.id.clone(),
            chosen_estate_name: estate.name.clone(),
            containing_estate_id: containing.as_ref().map(|e| e.id.clone()),
            containing_estate_name: containing.map(|e| e.name),
        });
    }
    let duplicates = nearby_open_cases(conn, draft.category, fix, DEFAULT_DUPLICATE_RADIUS_M)?;
    if !duplicates.is_empty() {
        warnings.push(CaptureWarning::PossibleDuplicates {
            radius_m: DEFAULT_DUPLICATE_RADIUS_M,
            cases: duplicates,
        });
    }
    Ok(warnings)
}

/// F3: each photo's EXIF time against `now`, its EXIF position against the device's `fix`. A
/// photo without EXIF facts (screenshots, some editors strip them) gets no warning: there is
/// nothing to compare, and the reviewer sees the photo without them.
pub fn photo_provenance(
    photos: &[PhotoRecord],
    fix: Option<&GpsFix>,
    now: DateTime<Utc>,
    limits: &ProvenanceLimits,
) -> Vec<CaptureWarning> {
    let mut warnings = Vec::new();
    for photo in photos {
        if let Some(taken_at) = photo.exif_time {
            let age_minutes = (now - taken_at).num_minutes();
            if age_minutes > i64::from(limits.max_photo_age_minutes) {
                warnings.push(CaptureWarning::PhotoTakenEarlier {
                    sha256: photo.sha256.clone(),
                    taken_at,
                    age_minutes,
                    limit_minutes: limits.max_photo_age_minutes,
                });
            }
        }
        if let (Some((lat, lon)), Some(fix)) = (photo.exif_gps, fix) {
            let distance_m = geo::haversine_m(lat, lon, fix.lat, fix.lon);
            if distance_m > limits.max_photo_distance_m {
                warnings.push(CaptureWarning::PhotoFarFromFix {
                    sha256: photo.sha256.clone(),
                    distance_m,
                    limit_m: limits.max_photo_distance_m,
                });
            }
        }
    }
    warnings
}

/// Radius within which an open case of the same category counts as a possible duplicate.
pub const DEFAULT_DUPLICATE_RADIUS_M: f64 = 50.0;

/// Open cases of `category` reported within `radius_m` of a point, nearest first. Cases without a
/// location are never duplicates of anything.
pub fn possible_duplicates<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
    category: Category,
    lat: f64,
    lon: f64,
    radius_m: f64,
) -> Vec<&'a Case> {
    let mut near: Vec<(f64, &Case)> = cases
        .into_iter()
        .filter(|c| c.category == category && c.status.is_open())
        .filter_map(|c| {
            let at = c.location.as_ref()?;
            let d = geo::haversine_m(lat, lon, at.lat, at.lon);
            (d <= radius_m).then_some((d, c))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    near.into_iter().map(|(_, c)| c).collect()
}

/// Open cases of `category` within `radius_m` of the fix, nearest first.
fn nearby_open_cases(
    conn: &Connection,
    category: Category,
    fix: &GpsFix,
    radius_m: f64,
) -> Result<Vec<DuplicateCandidate>> {
    let dlat = radius_m / METRES_PER_DEGREE;
    let dlon = radius_m / (METRES_PER_DEGREE * fix.lat.to_radians().cos().abs().max(0.01));
    let candidates = cases::open_cases_in_box(
        conn,
        category,
        (fix.lat - dlat, fix.lat + dlat),
        (fix.lon - dlon, fix.lon + dlon),
    )?;
    let mut found: Vec<DuplicateCandidate> =
        possible_duplicates(&candidates, category, fix.lat, fix.lon, radius_m)
            .into_iter()
            .map(|case| {
                let distance_m = case.location.as_ref().map_or(f64::INFINITY, |l| {
                    geo::haversine_m(fix.lat, fix.lon, l.lat, l.lon)
                });
                DuplicateCandidate {
                    case: case.clone(),
                    distance_m,
                }
            })
            .collect();
    found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    Ok(found)
}

#[cfg(test)]
mod provenance_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn photo(sha: &str, taken_at: Option<&str>, gps: Option<(f64, f64)>) -> PhotoRecord {
        PhotoRecord {
            sha256: sha.to_owned(),
            path: PathBuf::from(format!("/photos/{sha}.jpg")),
            thumbnail_path: PathBuf::from(format!("/photos/{sha}.thumb.jpg")),
            width: 1600,
            height: 1200,
            bytes: 1,
            exif_time: taken_at.map(|t| t.parse().unwrap()),
            exif_gps: gps,
        }
    }

    fn fix() -> GpsFix {
        GpsFix {
            lat: 39.1135,
            lon: 117.1930,
            accuracy_m: Some(8.0),
            provider: Some("gps".to_owned()),
        }
    }

    #[test]
    fn old_or_distant_photos_are_flagged_and_fresh_nearby_ones_are_not() {
        let now: DateTime<Utc> = "2026-12-03T08:00:00Z".parse().unwrap();
        let limits = ProvenanceLimits::default();
        let photos = [
            // Taken 10 minutes ago, 15 m away: on site.
            photo(
                "fresh",
                Some("2026-12-03T07:50:00Z"),
                Some((39.1136, 117.1931)),
            ),
            // From the gallery: two days old.
            photo(
                "old",
                Some("2026-12-01T08:00:00Z"),
                Some((39.1135, 117.1930)),
            ),
            // Fresh but 1.1 km north.
            photo(
                "far",
                Some("2026-12-03T07:59:00Z"),
                Some((39.1235, 117.1930)),
            ),
            // No EXIF at all: nothing to compare.
            photo("bare", None, None),
        ];
        let warnings = photo_provenance(&photos, Some(&fix()), now, &limits);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(matches!(
            &warnings[0],
            CaptureWarning::PhotoTakenEarlier { sha256, age_minutes: 2880, limit_minutes: 30, .. } if sha256 == "old"
        ));
        assert!(matches!(
            &warnings[1],
            CaptureWarning::PhotoFarFromFix { sha256, distance_m, limit_m, .. }
                if sha256 == "far" && (1_050.0..1_200.0).contains(distance_m) && *limit_m == 200.0
        ));
        assert_eq!(warnings[0].code(), "PHOTO_TAKEN_EARLIER");
        assert!(
            warnings[0].message_zh().contains("2026-12-01 16:00"),
            "{}",
            warnings[0].message_zh()
        );
        assert_eq!(warnings[1].code(), "PHOTO_FAR_FROM_FIX");
    }

    #[test]
    fn limits_are_the_apps_and_no_fix_means_no_distance_check() {
        let now: DateTime<Utc> = "2026-12-03T08:00:00Z".parse().unwrap();
        let photos = [photo(
            "p",
            Some("2026-12-03T07:00:00Z"),
            Some((39.2, 117.2)),
        )];
        let strict = ProvenanceLimits {
            max_photo_age_minutes: 30,
            max_photo_distance_m: 50.0,
        };
        let lenient = ProvenanceLimits {
            max_photo_age_minutes: 120,
            max_photo_distance_m: 50_000.0,
        };
        assert_eq!(
            photo_provenance(&photos, Some(&fix()), now, &strict).len(),
            2
        );
        assert!(photo_provenance(&photos, Some(&fix()), now, &lenient).is_empty());
        let without_fix = photo_provenance(&photos, None, now, &strict);
        assert_eq!(without_fix.len(), 1);
        assert_eq!(without_fix[0].code(), "PHOTO_TAKEN_EARLIER");
    }
}

#[cfg(test)]
mod duplicate_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn case_at(n: u128, category: Category, lat: f64, lon: f64) -> Case {
        use crate::org::Role;
        use crate::workflow::{Action, Actor, Event, apply};
        let event = Event {
            id: uuid::Uuid::from_u128(1000 + n),
            case_id: uuid::Uuid::from_u128(n),
            action: Action::Report {
                category,
                estate_id: "pingshandao".into(),
                building: None,
                unit_no: None,
                location_note: None,
                description: None,
            },
            actor: Actor {
                user_id: "i".into(),
                role: Role::Inspector,
                unit_id: "c".into(),
            },
            device_time: chrono::DateTime::UNIX_EPOCH,
            server_time: None,
            gps: Some(GpsFix {
                lat,
                lon,
                accuracy_m: Some(5.0),
                provider: None,
            }),
            photos: vec![],
            note: None,
        };
        apply(None, &event).unwrap()
    }

    #[test]
    fn duplicates_are_open_same_category_within_radius_nearest_first() {
        let (lat, lon) = (39.0980, 117.2120);
        let metres_north = |m: f64| lat + m / 111_195.0;
        let far = case_at(1, Category::GroundLock, metres_north(40.0), lon);
        let near = case_at(2, Category::GroundLock, metres_north(10.0), lon);
        let outside = case_at(3, Category::GroundLock, metres_north(60.0), lon);
        let other_category = case_at(4, Category::SmallAds, metres_north(5.0), lon);
        let mut closed = case_at(5, Category::GroundLock, metres_north(1.0), lon);
        closed.status = crate::workflow::CaseStatus::Closed;
        let mut unlocated = case_at(6, Category::GroundLock, lat, lon);
        unlocated.location = None;
        let all = [far, near, outside, other_category, closed, unlocated];
        let found = possible_duplicates(
            &all,
            Category::GroundLock,
            lat,
            lon,
            DEFAULT_DUPLICATE_RADIUS_M,
        );
        let ids: Vec<u128> = found.iter().map(|c| c.id.as_u128()).collect();
        assert_eq!(ids, [2, 1]);
    }
}
