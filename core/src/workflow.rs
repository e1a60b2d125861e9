//! The case lifecycle of DESIGN.md: states, actions, who may fire which, and what evidence each
//! needs. `apply` is the one function the phone and the server both call to move a case.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Category;
use crate::estate::EstateId;
use crate::geo::GpsFix;
use crate::org::{Role, UnitId};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaseStatus {
    Reported,
    ResolvedOnSite,
    Escalated,
    Dispatched,
    Accepted,
    Handled,
    Closed,
    Reopened,
    Returned,
    Cancelled,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 10] = [
        CaseStatus::Reported,
        CaseStatus::ResolvedOnSite,
        CaseStatus::Escalated,
        CaseStatus::Dispatched,
        CaseStatus::Accepted,
        CaseStatus::Handled,
        CaseStatus::Closed,
        CaseStatus::Reopened,
        CaseStatus::Returned,
        CaseStatus::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CaseStatus::Reported => "REPORTED",
            CaseStatus::ResolvedOnSite => "RESOLVED_ON_SITE",
            CaseStatus::Escalated => "ESCALATED",
            CaseStatus::Dispatched => "DISPATCHED",
            CaseStatus::Accepted => "ACCEPTED",
            CaseStatus::Handled => "HANDLED",
            CaseStatus::Closed => "CLOSED",
            CaseStatus::Reopened => "REOPENED",
            CaseStatus::Returned => "RETURNED",
            CaseStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn from_code(code: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            CaseStatus::Reported => "已上报",
            CaseStatus::ResolvedOnSite => "现场劝阻解决",
            CaseStatus::Escalated => "已上报街道",
            CaseStatus::Dispatched => "已派遣",
            CaseStatus::Accepted => "已受理",
            CaseStatus::Handled => "已处置",
            CaseStatus::Closed => "已结案",
            CaseStatus::Reopened => "返工",
            CaseStatus::Returned => "已退回",
            CaseStatus::Cancelled => "已作废",
        }
    }

    /// Closed and cancelled cases are final; everything else is open.
    pub fn is_open(self) -> bool {
        !matches!(self, CaseStatus::Closed | CaseStatus::Cancelled)
    }
}

/// What an event does to its case. The payload travels on the wire tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Creates the case.
    Report {
        category: Category,
        estate_id: EstateId,
        #[serde(default)]
        building: Option<String>,
        /// Stairwell / door number (单元).
        #[serde(default)]
        unit_no: Option<String>,
        #[serde(default)]
        location_note: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    /// On-site dissuasion (劝阻) worked: RESOLVED_ON_SITE.
    Dissuade,
    /// Residents' committee hands it to the street office (三(四)).
    Escalate,
    /// Street office sends it to a concrete unit.
    Dispatch { unit_id: UnitId },
    /// The assigned unit takes it.
    Accept,
    /// The assigned unit says it is not theirs.
    Return { reason: String },
    /// The assigned unit reports it fixed, with after-photos.
    Handle,
    /// On-site verification (核查) passed: CLOSED.
    Verify,
    /// Verification failed: rework, counts against the unit.
    Reopen { reason: String },
    /// Duplicate or invalid.
    Cancel { reason: String },
    /// A note or extra photos; no state change.
    Comment,
}

/// The fieldless twin of [`Action`], for permission tables and UI buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionKind {
    Report,
    Dissuade,
    Escalate,
    Dispatch,
    Accept,
    Return,
    Handle,
    Verify,
    Reopen,
    Cancel,
    Comment,
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Report { .. } => ActionKind::Report,
            Action::Dissuade => ActionKind::Dissuade,
            Action::Escalate => ActionKind::Escalate,
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::Accept => ActionKind::Accept,
            Action::Return { .. } => ActionKind::Return,
            Action::Handle => ActionKind::Handle,
            Action::Verify => ActionKind::Verify,
            Action::Reopen { .. } => ActionKind::Reopen,
            Action::Cancel { .. } => ActionKind::Cancel,
            Action::Comment => ActionKind::Comment,
        }
    }
}

/// Who fired an event. On the server this is taken from the authenticated session, never trusted
/// from the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// The org unit the user acts for (community, company, street office, department …).
    pub unit_id: UnitId,
}

/// What a photo shows in the case's story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhotoKind {
    /// Evidence of the problem.
    Before,
    /// The fix, attached when handling.
    After,
    /// Taken on site when verifying.
    Verification,
}

/// A photo by content address. The bytes travel separately (resumable upload).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the stored (re-encoded) JPEG.
    pub sha256: String,
    pub kind: PhotoKind,
}

/// One thing that happened to a case. Ids are made on the device (UUIDv7) so uploads are idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub case_id: Uuid,
    pub action: Action,
    pub actor: Actor,
    /// When the device says it happened.
    pub device_time: DateTime<Utc>,
    /// When the server accepted it; `None` until then.
    #[serde(default)]
    pub server_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub gps: Option<GpsFix>,
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Event {
    /// The time deadlines and statistics use: the server's stamp once there is one.
    pub fn effective_time(&self) -> DateTime<Utc> {
        self.server_time.unwrap_or(self.device_time)
    }
}

/// The current state of a case, folded from its events by [`apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: Uuid,
    pub category: Category,
    pub estate_id: EstateId,
    #[serde(default)]
    pub building: Option<String>,
    #[serde(default)]
    pub unit_no: Option<String>,
    #[serde(default)]
    pub location_note: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Where it was reported, WGS-84.
    #[serde(default)]
    pub location: Option<GpsFix>,
    pub status: CaseStatus,
    pub reported_by: Actor,
    pub reported_at: DateTime<Utc>,
    /// The concrete unit the case is dispatched to, while it is.
    #[serde(default)]
    pub assigned_unit: Option<UnitId>,
    #[serde(default)]
    pub escalated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub dispatched_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub accepted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub handled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Street office must dispatch by then (catalog `dispatch_hours` after the report).
    pub dispatch_due: DateTime<Utc>,
    /// Unit must handle by then (catalog `handle_days` after the latest dispatch).
    #[serde(default)]
    pub handle_due: Option<DateTime<Utc>>,
    /// Times verification failed (REOPENED), counted against the unit.
    pub rework_count: u32,
    /// Times a unit returned it as not theirs.
    pub return_count: u32,
    /// Every photo attached so far, in event order.
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
    /// Reason given by the latest RETURN, REOPEN or CANCEL.
    #[serde(default)]
    pub last_reason: Option<String>,
    /// Number of events applied; doubles as an optimistic-concurrency version.
    pub version: u32,
    pub updated_at: DateTime<Utc>,
}
