//! Records mirroring the domain, converted at the edge. Times cross as `SystemTime` (Kotlin
//! `Instant`, Swift `Date`, Python `datetime`), ids as strings, coordinates WGS-84 unless a name
//! says GCJ-02.

use std::time::SystemTime;

use xuncha_core::geo;
use xuncha_core::workflow::{self, Action};

use crate::enums::{
    ActionKind, CaseStatus, Category, LampOwner, ManagementMode, PhotoKind, Role, UnitType,
};

/// A position fix from the phone, WGS-84, with its accuracy as the phone reports it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GpsFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy in metres (68 % radius).
    #[uniffi(default = None)]
    pub accuracy_m: Option<f64>,
    /// `gps`, `network`, `fused` …
    #[uniffi(default = None)]
    pub provider: Option<String>,
}

impl From<GpsFix> for geo::GpsFix {
    fn from(fix: GpsFix) -> Self {
        geo::GpsFix {
            lat: fix.lat,
            lon: fix.lon,
            accuracy_m: fix.accuracy_m,
            provider: fix.provider,
        }
    }
}

impl From<geo::GpsFix> for GpsFix {
    fn from(fix: geo::GpsFix) -> Self {
        GpsFix {
            lat: fix.lat,
            lon: fix.lon,
            accuracy_m: fix.accuracy_m,
            provider: fix.provider,
        }
    }
}

/// A bare coordinate pair.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A concrete organisation (河西区城市管理委员会, 南营门街道办事处 …).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
    pub unit_type: UnitType,
    pub district: Option<String>,
    pub street: Option<String>,
    pub community: Option<String>,
}

impl From<xuncha_core::org::OrgUnit> for OrgUnit {
    fn from(unit: xuncha_core::org::OrgUnit) -> Self {
        OrgUnit {
            id: unit.id,
            name: unit.name,
            unit_type: unit.unit_type,
            district: unit.district,
            street: unit.street,
            community: unit.community,
        }
    }
}

/// An estate under long-term management, as the estate list and the map need it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Estate {
    pub id: String,
    pub name: String,
    pub district: String,
    pub street: String,
    pub community: String,
    pub management_mode: ManagementMode,
    pub company_unit: Option<String>,
    pub lamp_owner: LampOwner,
    pub buildings: Vec<String>,
    /// Outline rings of the boundary, WGS-84 (first ring of each polygon is its outline).
    pub boundary: Vec<Vec<LatLon>>,
    /// Left long-term management (二(四)); kept for old cases, not offered for new ones.
    pub exited: bool,
}

impl From<xuncha_core::estate::Estate> for Estate {
    fn from(estate: xuncha_core::estate::Estate) -> Self {
        let ring = |ring: Vec<[f64; 2]>| {
            ring.into_iter()
                .map(|[lon, lat]| LatLon { lat, lon })
                .collect()
        };
        let boundary = match estate.boundary {
            geo::Geometry::Polygon(rings) => rings.into_iter().map(ring).collect(),
            geo::Geometry::MultiPolygon(polygons) => {
                polygons.into_iter().flatten().map(ring).collect()
            }
        };
        Estate {
            id: estate.id,
            name: estate.name,
            district: estate.district,
            street: estate.street,
            community: estate.community,
            management_mode: estate.management_mode,
            company_unit: estate.company_unit,
            lamp_owner: estate.lamp_owner,
            buildings: estate.buildings,
            boundary,
            exited: estate.exited_at.is_some(),
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    pub unit_id: String,
}

impl From<workflow::Actor> for Actor {
    fn from(actor: workflow::Actor) -> Self {
        Actor {
            user_id: actor.user_id,
            role: actor.role,
            unit_id: actor.unit_id,
        }
    }
}

/// A photo of a case by content address; `path` is set when the file is on this phone.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoRef {
    pub sha256: String,
    pub kind: PhotoKind,
}

impl From<workflow::PhotoRef> for PhotoRef {
    fn from(photo: workflow::PhotoRef) -> Self {
        PhotoRef {
            sha256: photo.sha256,
            kind: photo.kind,
        }
    }
}

/// The current state of a case.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Case {
    pub id: String,
    pub category: Category,
    pub estate_id: String,
    pub building: Option<String>,
    pub unit_no: Option<String>,
    pub location_note: Option<String>,
    pub description: Option<String>,
    /// Where it was reported, WGS-84.
    pub location: Option<GpsFix>,
    pub status: CaseStatus,
    pub reported_by: Actor,
    pub reported_at: SystemTime,
    /// The unit the case is dispatched to, while it is.
    pub assigned_unit: Option<String>,
    pub dispatch_due: SystemTime,
    pub handle_due: Option<SystemTime>,
    /// The running deadline passed (computed when the record was made).
    pub overdue: bool,
    pub rework_count: u32,
    pub return_count: u32,
    pub photos: Vec<PhotoRef>,
    /// Reason of the latest return, reopen or cancel.
    pub last_reason: Option<String>,
    /// Events applied so far.
    pub version: u32,
    pub updated_at: SystemTime,
}

impl From<workflow::Case> for Case {
    fn from(case: workflow::Case) -> Self {
        let overdue = xuncha_core::store::is_overdue_now(&case);
        Case {
            id: case.id.to_string(),
            category: case.category,
            estate_id: case.estate_id,
            building: case.building,
            unit_no: case.unit_no,
            location_note: case.location_note,
            description: case.description,
            location: case.location.map(GpsFix::from),
            status: case.status,
            reported_by: case.reported_by.into(),
            reported_at: case.reported_at.into(),
            assigned_unit: case.assigned_unit,
            dispatch_due: case.dispatch_due.into(),
            handle_due: case.handle_due.map(SystemTime::from),
            overdue,
            rework_count: case.rework_count,
            return_count: case.return_count,
            photos: case.photos.into_iter().map(PhotoRef::from).collect(),
            last_reason: case.last_reason,
            version: case.version,
            updated_at: case.updated_at.into(),
        }
    }
}

/// An action on an existing case (creating one is `XunchaClient.capture`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum CaseAction {
    /// On-site dissuasion worked.
    Dissuade,
    /// Residents' committee hands it to the street office.
    Escalate,
    /// Street office sends it to a concrete unit.
    Dispatch { unit_id: String },
    /// The assigned unit takes it.
    Accept,
    /// The assigned unit says it is not theirs.
    Return { reason: String },
    /// The assigned unit reports it fixed (attach after-photos).
    Handle,
    /// On-site verification passed (attach a verification photo).
    Verify,
    /// Verification failed: rework.
    Reopen { reason: String },
    /// Duplicate or invalid.
    Cancel { reason: String },
    /// A note or extra photos.
    Comment,
}

impl From<CaseAction> for Action {
    fn from(action: CaseAction) -> Self {
        match action {
            CaseAction::Dissuade => Action::Dissuade,
            CaseAction::Escalate => Action::Escalate,
            CaseAction::Dispatch { unit_id } => Action::Dispatch { unit_id },
            CaseAction::Accept => Action::Accept,
            CaseAction::Return { reason } => Action::Return { reason },
            CaseAction::Handle => Action::Handle,
            CaseAction::Verify => Action::Verify,
            CaseAction::Reopen { reason } => Action::Reopen { reason },
            CaseAction::Cancel { reason } => Action::Cancel { reason },
            CaseAction::Comment => Action::Comment,
        }
    }
}

/// What an event did, for the timeline: its kind plus the detail it carried.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionDetail {
    pub kind: ActionKind,
    /// Unit dispatched to (DISPATCH).
    pub unit_id: Option<String>,
    /// Reason (RETURN, REOPEN, CANCEL).
    pub reason: Option<String>,
}

impl From<&Action> for ActionDetail {
    fn from(action: &Action) -> Self {
        let (unit_id, reason) = match action {
            Action::Dispatch { unit_id } => (Some(unit_id.clone()), None),
            Action::Minutes { unit_id, text } => (Some(unit_id.clone()), Some(text.clone())),
            Action::Return { reason } | Action::Reopen { reason } | Action::Cancel { reason } => {
                (None, Some(reason.clone()))
            }
            _ => (None, None),
        };
        ActionDetail {
            kind: action.kind(),
            unit_id,
            reason,
        }
    }
}
