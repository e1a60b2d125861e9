//! The case lifecycle of DESIGN.md: states, actions, who may fire which, and what evidence each
//! needs. `apply` is the one function the phone and the server both call to move a case.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use chrono::TimeDelta;

use crate::catalog::Category;
use crate::estate::EstateId;
use crate::geo::GpsFix;
use crate::org::{Role, UnitId};

wire_enum! {
    /// Where a case stands.
    pub enum CaseStatus {
        Reported = "REPORTED",
        ResolvedOnSite = "RESOLVED_ON_SITE",
        Escalated = "ESCALATED",
        Dispatched = "DISPATCHED",
        Accepted = "ACCEPTED",
        Handled = "HANDLED",
        Closed = "CLOSED",
        Reopened = "REOPENED",
        Returned = "RETURNED",
        Cancelled = "CANCELLED",
    }
}

impl CaseStatus {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// Creates the case.
    Report {
        category: Category,
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
    Dispatch {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        unit_id: UnitId,
    },
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
    /// Joint-meeting minutes (联席会议纪要, 三(三)5): what the meeting agreed for a member unit
    /// on this case. Only the street office of the case's street writes them (the server checks
    /// the street); no state change.
    Minutes {
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        unit_id: UnitId,
        text: String,
    },
}

wire_enum! {
    /// The fieldless twin of [`Action`], for permission tables and UI buttons.
    pub enum ActionKind {
        Report = "REPORT",
        Dissuade = "DISSUADE",
        Escalate = "ESCALATE",
        Dispatch = "DISPATCH",
        Accept = "ACCEPT",
        Return = "RETURN",
        Handle = "HANDLE",
        Verify = "VERIFY",
        Reopen = "REOPEN",
        Cancel = "CANCEL",
        Comment = "COMMENT",
        Minutes = "MINUTES",
    }
}

impl ActionKind {
    /// Chinese label for buttons and messages.
    pub fn name_zh(self) -> &'static str {
        match self {
            ActionKind::Report => "上报",
            ActionKind::Dissuade => "现场劝阻",
            ActionKind::Escalate => "上报街道",
            ActionKind::Dispatch => "派遣",
            ActionKind::Accept => "受理",
            ActionKind::Return => "退回",
            ActionKind::Handle => "处置完毕",
            ActionKind::Verify => "核查结案",
            ActionKind::Reopen => "返工",
            ActionKind::Cancel => "作废",
            ActionKind::Comment => "备注",
            ActionKind::Minutes => "联席会议纪要",
        }
    }
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
            Action::Minutes { .. } => ActionKind::Minutes,
        }
    }
}

/// Who fired an event. On the server this is taken from the authenticated session, never trusted
/// from the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// The org unit the user acts for (community, company, street office, department …).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub unit_id: UnitId,
}

wire_enum! {
    /// What a photo shows in the case's story.
    pub enum PhotoKind {
        /// Evidence of the problem.
        Before = "BEFORE",
        /// The fix, attached when handling.
        After = "AFTER",
        /// Taken on site when verifying.
        Verification = "VERIFICATION",
    }
}

/// A photo by content address. The bytes travel separately (resumable upload).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the stored (re-encoded) JPEG.
    pub sha256: String,
    pub kind: PhotoKind,
}

/// One thing that happened to a case. Ids are made on the device (UUIDv7) so uploads are idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: Uuid,
    pub case_id: Uuid,
    pub action: Action,
    /// Who fired it. The server ignores what a pushed body says here and records the signed-in
    /// user (from the access token) instead.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Case {
    pub id: Uuid,
    pub category: Category,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
    /// When the case was reported: the server's stamp once the server has it.
    pub reported_at: DateTime<Utc>,
    /// The reporting phone's clock at capture, kept as evidence only (never a deadline). Later
    /// events may not claim a device time before the report ([`check_device_time`]).
    #[serde(default)]
    pub reported_device_time: Option<DateTime<Utc>>,
    /// The concrete unit the case is dispatched to, while it is.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
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
    /// When on-site dissuasion resolved it (RESOLVED_ON_SITE).
    #[serde(default)]
    pub resolved_on_site_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Street office must dispatch by then: catalog `dispatch_hours` after the event that handed
    /// the case to it (the report for direct-dispatch categories, ESCALATE for dissuasion-first
    /// ones, the latest RETURN). While a dissuasion-first case waits for the committee it is not
    /// running ([`Case::current_due`]).
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

/// Why an event cannot be applied. Codes are stable API (the server sends them as `{code, message}`
/// and the phone parks the event with them); messages say in Chinese exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("案件 {case_id} 已存在，不能重复上报 (REPORT)")]
    CaseExists { case_id: Uuid },
    #[error("案件 {case_id} 不存在：{action} 只能用于已上报的案件")]
    UnknownCase { case_id: Uuid, action: &'static str },
    #[error("事件属于案件 {event_case_id}，却被应用到案件 {case_id}")]
    CaseMismatch { event_case_id: Uuid, case_id: Uuid },
    #[error("角色 {role_zh}({role}) 不能执行 {action_zh}({action})；可执行的角色：{allowed}")]
    RoleNotAllowed {
        role: &'static str,
        role_zh: &'static str,
        action: &'static str,
        action_zh: &'static str,
        allowed: String,
    },
    #[error(
        "案件状态为 {status_zh}({status})，不能执行 {action_zh}({action})；该操作只适用于：{allowed}"
    )]
    InvalidState {
        status: &'static str,
        status_zh: &'static str,
        action: &'static str,
        action_zh: &'static str,
        allowed: String,
    },
    #[error("{category} 属于设施故障或服务投诉，不经现场劝阻 (DISSUADE)：由街道办事处直接派遣")]
    DissuasionNotApplicable { category: &'static str },
    #[error(
        "{category} 须先现场劝阻；劝阻无效由社区居委会上报街道 (ESCALATE) 后街道办事处才能派遣 (三(四))"
    )]
    DissuasionFirst { category: &'static str },
    #[error("只有被派遣的单位能执行 {action}：案件派给了 {assigned}，你代表的是 {actor_unit}")]
    NotAssignee {
        action: &'static str,
        assigned: String,
        actor_unit: String,
    },
    #[error("{action} 需要证据：{what}")]
    MissingEvidence {
        action: &'static str,
        what: &'static str,
    },
    #[error("{action} 必须填写原因 (reason 不能为空)")]
    ReasonRequired { action: &'static str },
    #[error("字段 {field} 无效：{why}")]
    InvalidInput { field: &'static str, why: String },
    #[error("照片 {short}… 尚未由您上传到服务器：请先上传照片（同步会先传照片），再提交该操作")]
    PhotoNotReceived { short: String },
    #[error(
        "设备时间 {device_time} 比服务器时间 {server_time} 超前 {max_skew_minutes} 分钟以上：请校准手机时钟后重试"
    )]
    DeviceTimeInFuture {
        device_time: String,
        server_time: String,
        max_skew_minutes: i64,
    },
    #[error("设备时间 {device_time} 早于案件上报时间 {reported}：事件不能发生在上报之前")]
    DeviceTimeBeforeReport {
        device_time: String,
        reported: String,
    },
    #[error("设备时间 {device_time} 早于政策发布日 {POLICY_ISSUED_DATE}：请校准手机时钟后重试")]
    DeviceTimeBeforePolicy { device_time: String },
}

impl WorkflowError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::CaseExists { .. } => "CASE_EXISTS",
            WorkflowError::UnknownCase { .. } => "UNKNOWN_CASE",
            WorkflowError::CaseMismatch { .. } => "CASE_MISMATCH",
            WorkflowError::RoleNotAllowed { .. } => "ROLE_NOT_ALLOWED",
            WorkflowError::InvalidState { .. } => "INVALID_STATE",
            WorkflowError::DissuasionNotApplicable { .. } => "DISSUASION_NOT_APPLICABLE",
            WorkflowError::DissuasionFirst { .. } => "DISSUASION_FIRST",
            WorkflowError::NotAssignee { .. } => "NOT_ASSIGNEE",
            WorkflowError::MissingEvidence { .. } => "MISSING_EVIDENCE",
            WorkflowError::ReasonRequired { .. } => "REASON_REQUIRED",
            WorkflowError::InvalidInput { .. } => "INVALID_INPUT",
            WorkflowError::PhotoNotReceived { .. } => PHOTO_NOT_RECEIVED,
            WorkflowError::DeviceTimeInFuture { .. } => "DEVICE_TIME_IN_FUTURE",
            WorkflowError::DeviceTimeBeforeReport { .. } => "DEVICE_TIME_BEFORE_REPORT",
            WorkflowError::DeviceTimeBeforePolicy { .. } => "DEVICE_TIME_BEFORE_POLICY",
        }
    }
}

/// Code of [`WorkflowError::PhotoNotReceived`]: not final, the same event applies once the photo
/// has arrived (the phone uploads photos before it pushes).
pub const PHOTO_NOT_RECEIVED: &str = "PHOTO_NOT_RECEIVED";

/// Evidence must exist before the action that cites it applies (DESIGN.md, case lifecycle): the
/// first photo `event` cites that the receiver does not hold (`held` answers for one photo) is
/// refused. The server calls it after [`apply`] with what it holds for the event's actor.
pub fn require_received(
    event: &Event,
    held: impl Fn(&PhotoRef) -> bool,
) -> Result<(), WorkflowError> {
    match event.photos.iter().find(|photo| !held(photo)) {
        Some(photo) => Err(WorkflowError::PhotoNotReceived {
            short: photo.sha256.chars().take(12).collect(),
        }),
        None => Ok(()),
    }
}

use CaseStatus as St;
use Role as R;

/// Roles that may fire each action at all. The admin (民政) supervises and evaluates (三(一)1) but
/// moves no case: the evaluator never acts in what it scores. Anyone may comment.
fn roles_for(kind: ActionKind) -> &'static [Role] {
    match kind {
        // Patrol capture: inspector, company staff (三(五)2 report to the committee), committee.
        ActionKind::Report | ActionKind::Dissuade => &[R::Inspector, R::CompanyStaff, R::Committee],
        ActionKind::Escalate => &[R::Committee],
        ActionKind::Dispatch => &[R::StreetOffice],
        // The assigned unit, whatever its type: a department, a company, a property owner, the
        // residents' committee (resident-self estates, 二(三)) or the street office itself (三(三)3).
        // Membership of that unit is what decides (`NotAssignee`), not the role.
        ActionKind::Accept | ActionKind::Return | ActionKind::Handle => &ASSIGNED_UNIT_ROLES,
        ActionKind::Verify => &[R::Inspector, R::Committee],
        ActionKind::Reopen => &[R::Inspector, R::Committee, R::StreetOffice],
        ActionKind::Cancel => &[R::Committee, R::StreetOffice],
        ActionKind::Comment => &Role::ALL,
        // 三(三)5: the street office convenes the joint meeting and keeps its minutes.
        ActionKind::Minutes => &[R::StreetOffice],
    }
}

/// Every role that belongs to a unit a case can be dispatched to: all but the evaluator (admin).
const ASSIGNED_UNIT_ROLES: [Role; 5] = [
    R::Inspector,
    R::CompanyStaff,
    R::Committee,
    R::StreetOffice,
    R::Department,
];

const OPEN_STATES: [CaseStatus; 8] = [
    St::Reported,
    St::ResolvedOnSite,
    St::Escalated,
    St::Dispatched,
    St::Accepted,
    St::Handled,
    St::Reopened,
    St::Returned,
];

/// States each action may start from (REPORT starts from no case).
fn from_states(kind: ActionKind) -> &'static [CaseStatus] {
    match kind {
        ActionKind::Report => &[],
        ActionKind::Dissuade | ActionKind::Escalate => &[St::Reported],
        // From REPORTED only for categories that skip dissuasion (checked separately).
        ActionKind::Dispatch => &[St::Reported, St::Escalated, St::Returned],
        ActionKind::Accept => &[St::Dispatched],
        ActionKind::Return => &[St::Dispatched, St::Accepted],
        ActionKind::Handle => &[St::Accepted, St::Reopened],
        ActionKind::Verify => &[St::Handled, St::ResolvedOnSite],
        ActionKind::Reopen => &[St::Handled],
        ActionKind::Cancel => &OPEN_STATES,
        ActionKind::Comment | ActionKind::Minutes => &CaseStatus::ALL,
    }
}

/// The state an action leads to; `None` for COMMENT (no change).
pub fn target_state(kind: ActionKind) -> Option<CaseStatus> {
    match kind {
        ActionKind::Report => Some(St::Reported),
        ActionKind::Dissuade => Some(St::ResolvedOnSite),
        ActionKind::Escalate => Some(St::Escalated),
        ActionKind::Dispatch => Some(St::Dispatched),
        ActionKind::Accept => Some(St::Accepted),
        ActionKind::Return => Some(St::Returned),
        ActionKind::Handle => Some(St::Handled),
        ActionKind::Verify => Some(St::Closed),
        ActionKind::Reopen => Some(St::Reopened),
        ActionKind::Cancel => Some(St::Cancelled),
        ActionKind::Comment | ActionKind::Minutes => None,
    }
}

fn join_codes<T: Copy>(items: &[T], code: impl Fn(T) -> &'static str) -> String {
    let codes: Vec<&str> = items.iter().map(|&i| code(i)).collect();
    codes.join(", ")
}

/// Whether `actor` may fire `kind` on `case` as it stands (role, state, assignment). Evidence and
/// reasons are checked by [`apply`] because they belong to the event, not the actor.
fn check_permission(
    case: Option<&Case>,
    actor: &Actor,
    kind: ActionKind,
) -> Result<(), WorkflowError> {
    let roles = roles_for(kind);
    if !roles.contains(&actor.role) {
        return Err(WorkflowError::RoleNotAllowed {
            role: actor.role.code(),
            role_zh: actor.role.name_zh(),
            action: kind.code(),
            action_zh: kind.name_zh(),
            allowed: join_codes(roles, Role::code),
        });
    }
    let Some(case) = case else {
        return Ok(());
    };
    let states = from_states(kind);
    if !states.contains(&case.status) {
        return Err(WorkflowError::InvalidState {
            status: case.status.code(),
            status_zh: case.status.name_zh(),
            action: kind.code(),
            action_zh: kind.name_zh(),
            allowed: join_codes(states, CaseStatus::code),
        });
    }
    let info = case.category.info();
    match kind {
        ActionKind::Dissuade if !info.dissuade_first => {
            Err(WorkflowError::DissuasionNotApplicable {
                category: info.code(),
            })
        }
        // Design choice: facility faults and service complaints skip dissuasion, so the street
        // office may dispatch them straight from REPORTED; behaviour cases wait for the committee.
        ActionKind::Dispatch if case.status == St::Reported && info.dissuade_first => {
            Err(WorkflowError::DissuasionFirst {
                category: info.code(),
            })
        }
        ActionKind::Accept | ActionKind::Return | ActionKind::Handle
            if case.assigned_unit.as_deref() != Some(actor.unit_id.as_str()) =>
        {
            Err(WorkflowError::NotAssignee {
                action: kind.code(),
                assigned: case
                    .assigned_unit
                    .clone()
                    .unwrap_or_else(|| "（无）".to_owned()),
                actor_unit: actor.unit_id.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Which actions `actor` may fire on `case` now (`None`: on a new case, i.e. REPORT). Evidence and
/// reasons are not considered: a button shown here may still ask for a photo or a reason.
pub fn allowed_actions(case: Option<&Case>, actor: &Actor) -> Vec<ActionKind> {
    match case {
        None => ActionKind::ALL
            .into_iter()
            .filter(|&k| k == ActionKind::Report && check_permission(None, actor, k).is_ok())
            .collect(),
        Some(case) => ActionKind::ALL
            .into_iter()
            .filter(|&k| k != ActionKind::Report && check_permission(Some(case), actor, k).is_ok())
            .collect(),
    }
}

fn add_hours(at: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    TimeDelta::try_hours(i64::from(hours))
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn add_days(at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    TimeDelta::try_days(i64::from(days))
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn require_reason(kind: ActionKind, reason: &str) -> Result<String, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::ReasonRequired {
            action: kind.code(),
        });
    }
    Ok(reason.to_owned())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks what the event itself carries: photo addresses and the GPS fix.
fn validate_event_fields(event: &Event) -> Result<(), WorkflowError> {
    if let Some(photo) = event.photos.iter().find(|p| !is_sha256_hex(&p.sha256)) {
        return Err(WorkflowError::InvalidInput {
            field: "photos.sha256",
            why: format!("“{}” 不是 64 位小写十六进制 SHA-256", photo.sha256),
        });
    }
    if let Some(gps) = &event.gps {
        let valid = gps.lat.is_finite()
            && gps.lon.is_finite()
            && (-90.0..=90.0).contains(&gps.lat)
            && (-180.0..=180.0).contains(&gps.lon)
            && gps.accuracy_m.is_none_or(|a| a.is_finite() && a >= 0.0);
        if !valid {
            return Err(WorkflowError::InvalidInput {
                field: "gps",
                why: format!(
                    "坐标超出范围：lat {} lon {} accuracy {:?}",
                    gps.lat, gps.lon, gps.accuracy_m
                ),
            });
        }
    }
    Ok(())
}

/// Moves a case by one event, or says exactly why not. `case` is `None` only for REPORT.
/// Deterministic (time comes from [`Event::effective_time`]) and never panics.
pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, WorkflowError> {
    let kind = event.action.kind();
    match case {
        Some(existing) if kind == ActionKind::Report => {
            return Err(WorkflowError::CaseExists {
                case_id: existing.id,
            });
        }
        Some(existing) if existing.id != event.case_id => {
            return Err(WorkflowError::CaseMismatch {
                event_case_id: event.case_id,
                case_id: existing.id,
            });
        }
        None if kind != ActionKind::Report => {
            return Err(WorkflowError::UnknownCase {
                case_id: event.case_id,
                action: kind.code(),
            });
        }
        _ => {}
    }
    check_permission(case, &event.actor, kind)?;
    validate_event_fields(event)?;
    let at = event.effective_time();

    let Some(current) = case else {
        return report(event, at);
    };
    let info = current.category.info();
    let mut next = current.clone();
    match &event.action {
        // Rejected above: REPORT never reaches here with a case.
        Action::Report { .. } => {
            return Err(WorkflowError::CaseExists {
                case_id: current.id,
            });
        }
        Action::Dissuade => {
            next.resolved_on_site_at = Some(at);
        }
        Action::Escalate => {
            next.escalated_at = Some(at);
            // The street office may dispatch only now (三(四)): its window starts here.
            next.dispatch_due = add_hours(at, info.dispatch_hours);
        }
        Action::Dispatch { unit_id } => {
            let unit_id = unit_id.trim();
            if unit_id.is_empty() {
                return Err(WorkflowError::InvalidInput {
                    field: "unit_id",
                    why: "派遣必须指定责任单位".to_owned(),
                });
            }
            next.assigned_unit = Some(unit_id.to_owned());
            next.dispatched_at = Some(at);
            next.accepted_at = None;
            next.handled_at = None;
            next.handle_due = Some(add_days(at, info.handle_days));
        }
        Action::Accept => {
            next.accepted_at = Some(at);
        }
        Action::Return { reason } => {
            next.last_reason = Some(require_reason(kind, reason)?);
            next.return_count = next.return_count.saturating_add(1);
            next.assigned_unit = None;
            next.accepted_at = None;
            next.handle_due = None;
            // The street office owes a new dispatch within the category's dispatch window.
            next.dispatch_due = add_hours(at, info.dispatch_hours);
        }
        Action::Handle => {
            if !event.photos.iter().any(|p| p.kind == PhotoKind::After) {
                return Err(WorkflowError::MissingEvidence {
                    action: kind.code(),
                    what: "至少一张处置后照片 (kind = AFTER)",
                });
            }
            next.handled_at = Some(at);
        }
        Action::Verify => {
            if event.photos.is_empty() {
                return Err(WorkflowError::MissingEvidence {
                    action: kind.code(),
                    what: "至少一张现场核查照片",
                });
            }
            if event.gps.is_none() {
                return Err(WorkflowError::MissingEvidence {
                    action: kind.code(),
                    what: "现场核查的 GPS 定位",
                });
            }
            next.closed_at = Some(at);
        }
        Action::Reopen { reason } => {
            next.last_reason = Some(require_reason(kind, reason)?);
            next.rework_count = next.rework_count.saturating_add(1);
            // Rework gets a fresh handling window from the moment verification failed.
            next.handle_due = Some(add_days(at, info.handle_days));
        }
        Action::Cancel { reason } => {
            next.last_reason = Some(require_reason(kind, reason)?);
            next.cancelled_at = Some(at);
        }
        Action::Comment => {}
        Action::Minutes { unit_id, text } => {
            if unit_id.trim().is_empty() {
                return Err(WorkflowError::InvalidInput {
                    field: "unit_id",
                    why: "会议纪要必须指定成员单位".to_owned(),
                });
            }
            if text.trim().is_empty() {
                return Err(WorkflowError::InvalidInput {
                    field: "text",
                    why: "会议纪要不能为空".to_owned(),
                });
            }
        }
    }
    if let Some(status) = target_state(kind) {
        next.status = status;
    }
    append_photos(&mut next.photos, &event.photos);
    next.version = next.version.saturating_add(1);
    next.updated_at = at;
    Ok(next)
}

fn append_photos(photos: &mut Vec<PhotoRef>, new: &[PhotoRef]) {
    for photo in new {
        if !photos.contains(photo) {
            photos.push(photo.clone());
        }
    }
}

fn report(event: &Event, at: DateTime<Utc>) -> Result<Case, WorkflowError> {
    let Action::Report {
        category,
        estate_id,
        building,
        unit_no,
        location_note,
        description,
    } = &event.action
    else {
        return Err(WorkflowError::UnknownCase {
            case_id: event.case_id,
            action: event.action.kind().code(),
        });
    };
    if estate_id.trim().is_empty() {
        return Err(WorkflowError::InvalidInput {
            field: "estate_id",
            why: "上报必须指定旧楼区".to_owned(),
        });
    }
    let mut photos = Vec::new();
    append_photos(&mut photos, &event.photos);
    Ok(Case {
        id: event.case_id,
        category: *category,
        estate_id: estate_id.trim().to_owned(),
        building: building.clone(),
        unit_no: unit_no.clone(),
        location_note: location_note.clone(),
        description: description.clone().or_else(|| event.note.clone()),
        location: event.gps.clone(),
        status: CaseStatus::Reported,
        reported_by: event.actor.clone(),
        reported_at: at,
        reported_device_time: Some(event.device_time),
        assigned_unit: None,
        escalated_at: None,
        dispatched_at: None,
        accepted_at: None,
        handled_at: None,
        closed_at: None,
        resolved_on_site_at: None,
        cancelled_at: None,
        dispatch_due: add_hours(at, category.info().dispatch_hours),
        handle_due: None,
        rework_count: 0,
        return_count: 0,
        photos,
        last_reason: None,
        version: 1,
        updated_at: at,
    })
}

/// Whom a case waits for now: the unit that must act next (DESIGN.md lifecycle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitingFor {
    /// A dissuasion-first case just reported: the committee dissuades or escalates (三(四)).
    CommitteeDissuadeOrEscalate,
    /// The street office must dispatch (after the report, an escalation or a return).
    StreetOfficeDispatch,
    /// The assigned unit must accept it.
    AssignedUnitAccept { unit_id: UnitId },
    /// The assigned unit must handle it (after accepting, or after a failed verification).
    AssignedUnitHandle { unit_id: UnitId },
    /// Someone must verify on site (核查): an inspector or the committee, with photo and GPS.
    OnSiteVerification,
}

impl WaitingFor {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            WaitingFor::CommitteeDissuadeOrEscalate => "COMMITTEE_DISSUADE_OR_ESCALATE",
            WaitingFor::StreetOfficeDispatch => "STREET_OFFICE_DISPATCH",
            WaitingFor::AssignedUnitAccept { .. } => "ASSIGNED_UNIT_ACCEPT",
            WaitingFor::AssignedUnitHandle { .. } => "ASSIGNED_UNIT_HANDLE",
            WaitingFor::OnSiteVerification => "ON_SITE_VERIFICATION",
        }
    }

    /// Chinese text, with the assigned unit's display name where there is one: `等待居委会劝阻或上报`.
    pub fn text_zh(&self, unit_name: impl Fn(&str) -> String) -> String {
        match self {
            WaitingFor::CommitteeDissuadeOrEscalate => "等待居委会劝阻或上报".to_owned(),
            WaitingFor::StreetOfficeDispatch => "等待街道办事处派遣".to_owned(),
            WaitingFor::AssignedUnitAccept { unit_id } => {
                format!("等待{}受理", unit_name(unit_id))
            }
            WaitingFor::AssignedUnitHandle { unit_id } => {
                format!("等待{}处置", unit_name(unit_id))
            }
            WaitingFor::OnSiteVerification => "等待现场核查".to_owned(),
        }
    }

    /// The assigned unit this waits for, if any.
    pub fn unit_id(&self) -> Option<&str> {
        match self {
            WaitingFor::AssignedUnitAccept { unit_id }
            | WaitingFor::AssignedUnitHandle { unit_id } => Some(unit_id),
            _ => None,
        }
    }
}

/// The date the policy was issued (2020-08-06, Beijing): no case under it can predate it.
pub const POLICY_ISSUED_DATE: &str = "2020-08-06";

fn policy_issued() -> DateTime<Utc> {
    // 2020-08-06 00:00 Beijing time = 2020-08-05 16:00 UTC.
    DateTime::from_timestamp(1_596_643_200, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Bounds a device's clock claim at ingest; the device time is evidence only and never sets a
/// deadline, but it must be plausible: not more than `max_future_skew` ahead of the server's `now`,
/// not before the case's report (in the server's or the reporting phone's clock, whichever is
/// earlier, so an event recorded offline right after an offline report still passes), and not
/// before the policy was issued. Never panics, whatever the year.
pub fn check_device_time(
    case: Option<&Case>,
    device_time: DateTime<Utc>,
    now: DateTime<Utc>,
    max_future_skew: TimeDelta,
) -> Result<(), WorkflowError> {
    let show = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let limit = now
        .checked_add_signed(max_future_skew)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if device_time > limit {
        return Err(WorkflowError::DeviceTimeInFuture {
            device_time: show(device_time),
            server_time: show(now),
            max_skew_minutes: max_future_skew.num_minutes(),
        });
    }
    if device_time < policy_issued() {
        return Err(WorkflowError::DeviceTimeBeforePolicy {
            device_time: show(device_time),
        });
    }
    if let Some(case) = case {
        let reported = case
            .reported_device_time
            .map_or(case.reported_at, |d| d.min(case.reported_at));
        if device_time < reported {
            return Err(WorkflowError::DeviceTimeBeforeReport {
                device_time: show(device_time),
                reported: show(reported),
            });
        }
    }
    Ok(())
}

impl Case {
    /// Whom the case waits for now; `None` once it is closed or cancelled.
    pub fn waiting_for(&self) -> Option<WaitingFor> {
        let unit = || self.assigned_unit.clone().unwrap_or_default();
        match self.status {
            St::Reported if self.category.info().dissuade_first => {
                Some(WaitingFor::CommitteeDissuadeOrEscalate)
            }
            St::Reported | St::Escalated | St::Returned => Some(WaitingFor::StreetOfficeDispatch),
            St::Dispatched => Some(WaitingFor::AssignedUnitAccept { unit_id: unit() }),
            St::Accepted | St::Reopened => Some(WaitingFor::AssignedUnitHandle { unit_id: unit() }),
            St::Handled | St::ResolvedOnSite => Some(WaitingFor::OnSiteVerification),
            St::Closed | St::Cancelled => None,
        }
    }

    /// The deadline the case is running against now: dispatch while it waits for the street office,
    /// handling while a unit holds it; `None` when nobody owes anything (handled, resolved, final)
    /// and while a dissuasion-first case waits for the committee: the street office may not act
    /// yet, so it cannot be late (三(四)).
    pub fn current_due(&self) -> Option<DateTime<Utc>> {
        match self.status {
            St::Reported if self.category.info().dissuade_first => None,
            St::Reported | St::Escalated | St::Returned => Some(self.dispatch_due),
            St::Dispatched | St::Accepted | St::Reopened => self.handle_due,
            St::ResolvedOnSite | St::Handled | St::Closed | St::Cancelled => None,
        }
    }

    /// Past its current deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.current_due().is_some_and(|due| now > due)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use chrono::TimeZone;

    fn t(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, day, hour, 0, 0).unwrap()
    }

    fn actor(role: Role, unit: &str) -> Actor {
        Actor {
            user_id: format!("{}-user", role.code()),
            role,
            unit_id: unit.into(),
        }
    }

    fn sha(n: u8) -> String {
        format!("{n:064x}")
    }

    fn ev(action: Action, who: Actor, at: DateTime<Utc>) -> Event {
        Event {
            id: Uuid::now_v7(),
            case_id: Uuid::from_u128(42),
            action,
            actor: who,
            device_time: at,
            server_time: None,
            gps: None,
            photos: vec![],
            note: None,
        }
    }

    fn reported(category: Category) -> Case {
        let report = Action::Report {
            category,
            estate_id: "pingshandao".into(),
            building: Some("5号楼".into()),
            unit_no: Some("2门".into()),
            location_note: None,
            description: Some("楼道灯不亮".into()),
        };
        apply(
            None,
            &ev(
                report,
                actor(Role::Inspector, "pingshandao.committee"),
                t(1, 2),
            ),
        )
        .unwrap()
    }

    fn with_photo(mut e: Event, kind: PhotoKind, n: u8) -> Event {
        e.photos.push(PhotoRef {
            sha256: sha(n),
            kind,
        });
        e
    }

    fn with_gps(mut e: Event) -> Event {
        e.gps = Some(GpsFix {
            lat: 39.098,
            lon: 117.212,
            accuracy_m: Some(5.0),
            provider: None,
        });
        e
    }

    #[test]
    fn facility_case_full_lifecycle_with_return_and_rework() {
        let case = reported(Category::StairwellLighting);
        assert_eq!(case.status, CaseStatus::Reported);
        assert_eq!(
            case.dispatch_due,
            t(2, 2),
            "STAIRWELL_LIGHTING dispatch within 24 h"
        );
        let street = actor(Role::StreetOffice, "hexi.youyilu.street_office");
        let wrong = actor(Role::Department, "hexi.city_management");
        let right = actor(Role::Department, "hexi.maintenance");

        let case = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: wrong.unit_id.clone(),
                },
                street.clone(),
                t(1, 5),
            ),
        )
        .unwrap();
        assert_eq!(
            case.handle_due,
            Some(t(4, 5)),
            "3 handle days after dispatch"
        );
        let case = apply(
            Some(&case),
            &ev(
                Action::Return {
                    reason: "楼道照明属区级维修单位".into(),
                },
                wrong,
                t(1, 6),
            ),
        )
        .unwrap();
        assert_eq!(
            (case.status, case.return_count, case.assigned_unit.clone()),
            (CaseStatus::Returned, 1, None)
        );
        assert_eq!(
            case.current_due(),
            Some(t(2, 6)),
            "re-dispatch owed within 24 h of the return"
        );
        let case = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: right.unit_id.clone(),
                },
                street,
                t(1, 8),
            ),
        )
        .unwrap();
        let case = apply(Some(&case), &ev(Action::Accept, right.clone(), t(1, 9))).unwrap();
        let case = apply(
            Some(&case),
            &with_photo(
                ev(Action::Handle, right.clone(), t(2, 9)),
                PhotoKind::After,
                1,
            ),
        )
        .unwrap();
        assert_eq!(case.status, CaseStatus::Handled);
        assert_eq!(case.current_due(), None);
        let inspector = actor(Role::Inspector, "pingshandao.committee");
        let case = apply(
            Some(&case),
            &ev(
                Action::Reopen {
                    reason: "仍有两层不亮".into(),
                },
                inspector.clone(),
                t(3, 1),
            ),
        )
        .unwrap();
        assert_eq!((case.status, case.rework_count), (CaseStatus::Reopened, 1));
        assert_eq!(case.handle_due, Some(t(6, 1)));
        let case = apply(
            Some(&case),
            &with_photo(ev(Action::Handle, right, t(3, 4)), PhotoKind::After, 2),
        )
        .unwrap();
        let verify = with_gps(with_photo(
            ev(Action::Verify, inspector, t(3, 6)),
            PhotoKind::Verification,
            3,
        ));
        let case = apply(Some(&case), &verify).unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        assert_eq!(case.closed_at, Some(t(3, 6)));
        assert_eq!(case.photos.len(), 3);
        assert_eq!(case.version, 9);
        assert!(!case.is_overdue(t(30, 0)));
    }

    #[test]
    fn behaviour_case_dissuaded_then_verified() {
        let case = reported(Category::GroundLock);
        let staff = actor(Role::CompanyStaff, "company.hexi_xinyuan");
        let case = apply(Some(&case), &ev(Action::Dissuade, staff, t(1, 3))).unwrap();
        assert_eq!(case.status, CaseStatus::ResolvedOnSite);
        assert_eq!(case.resolved_on_site_at, Some(t(1, 3)));
        let committee = actor(Role::Committee, "pingshandao.committee");
        let verify = with_gps(with_photo(
            ev(Action::Verify, committee, t(1, 5)),
            PhotoKind::Verification,
            9,
        ));
        assert_eq!(
            apply(Some(&case), &verify).unwrap().status,
            CaseStatus::Closed
        );
    }

    #[test]
    fn behaviour_case_must_be_escalated_before_dispatch() {
        let case = reported(Category::IllegalStructure);
        let street = actor(Role::StreetOffice, "hexi.youyilu.street_office");
        let dispatch = ev(
            Action::Dispatch {
                unit_id: "hexi.city_management".into(),
            },
            street.clone(),
            t(1, 4),
        );
        let err = apply(Some(&case), &dispatch).unwrap_err();
        assert_eq!(err.code(), "DISSUASION_FIRST");
        assert!(err.to_string().contains("ILLEGAL_STRUCTURE"));
        let case = apply(
            Some(&case),
            &ev(Action::Escalate, actor(Role::Committee, "c"), t(1, 3)),
        )
        .unwrap();
        assert_eq!(
            apply(Some(&case), &dispatch).unwrap().status,
            CaseStatus::Dispatched
        );
    }

    #[test]
    fn facility_faults_skip_dissuasion() {
        let case = reported(Category::GasFacility);
        let err = apply(
            Some(&case),
            &ev(Action::Dissuade, actor(Role::Inspector, "c"), t(1, 3)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "DISSUASION_NOT_APPLICABLE");
    }

    #[test]
    fn errors_say_exactly_why() {
        let case = reported(Category::Elevator);
        let inspector = actor(Role::Inspector, "c");
        let err = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: "x".into(),
                },
                inspector.clone(),
                t(1, 3),
            ),
        )
        .unwrap_err();
        assert_eq!(err.code(), "ROLE_NOT_ALLOWED");
        assert!(
            err.to_string().contains("inspector") && err.to_string().contains("street_office"),
            "{err}"
        );

        let err = apply(
            Some(&case),
            &ev(
                Action::Reopen { reason: "x".into() },
                inspector.clone(),
                t(1, 3),
            ),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_STATE");
        assert!(
            err.to_string().contains("REPORTED") && err.to_string().contains("HANDLED"),
            "{err}"
        );

        let cancel = ev(
            Action::Cancel { reason: " ".into() },
            actor(Role::Committee, "c"),
            t(1, 3),
        );
        assert_eq!(
            apply(Some(&case), &cancel).unwrap_err().code(),
            "REASON_REQUIRED"
        );

        let street = actor(Role::StreetOffice, "s");
        let case = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: "hexi.market".into(),
                },
                street,
                t(1, 3),
            ),
        )
        .unwrap();
        let err = apply(
            Some(&case),
            &ev(
                Action::Accept,
                actor(Role::Department, "heping.market"),
                t(1, 4),
            ),
        )
        .unwrap_err();
        assert_eq!(err.code(), "NOT_ASSIGNEE");
        assert!(
            err.to_string().contains("hexi.market") && err.to_string().contains("heping.market")
        );

        let unit = actor(Role::Department, "hexi.market");
        let case = apply(Some(&case), &ev(Action::Accept, unit.clone(), t(1, 4))).unwrap();
        let err = apply(
            Some(&case),
            &with_photo(
                ev(Action::Handle, unit.clone(), t(1, 5)),
                PhotoKind::Before,
                1,
            ),
        )
        .unwrap_err();
        assert_eq!(err.code(), "MISSING_EVIDENCE");
        assert!(err.to_string().contains("AFTER"));
        let case = apply(
            Some(&case),
            &with_photo(ev(Action::Handle, unit, t(1, 5)), PhotoKind::After, 1),
        )
        .unwrap();
        let no_gps = with_photo(
            ev(Action::Verify, inspector.clone(), t(1, 6)),
            PhotoKind::Verification,
            2,
        );
        let err = apply(Some(&case), &no_gps).unwrap_err();
        assert_eq!(err.code(), "MISSING_EVIDENCE");
        assert!(err.to_string().contains("GPS"));
        let no_photo = with_gps(ev(Action::Verify, inspector, t(1, 6)));
        assert!(
            apply(Some(&case), &no_photo)
                .unwrap_err()
                .to_string()
                .contains("照片")
        );
    }

    #[test]
    fn case_identity_errors() {
        let case = reported(Category::Walkway);
        let report = Action::Report {
            category: Category::Walkway,
            estate_id: "x".into(),
            building: None,
            unit_no: None,
            location_note: None,
            description: None,
        };
        let who = actor(Role::Inspector, "c");
        assert_eq!(
            apply(Some(&case), &ev(report, who.clone(), t(1, 1)))
                .unwrap_err()
                .code(),
            "CASE_EXISTS"
        );
        assert_eq!(
            apply(None, &ev(Action::Comment, who.clone(), t(1, 1)))
                .unwrap_err()
                .code(),
            "UNKNOWN_CASE"
        );
        let mut other = ev(Action::Comment, who, t(1, 1));
        other.case_id = Uuid::from_u128(7);
        assert_eq!(
            apply(Some(&case), &other).unwrap_err().code(),
            "CASE_MISMATCH"
        );
    }

    #[test]
    fn bad_photo_hash_and_gps_are_invalid_input() {
        let case = reported(Category::Walkway);
        let mut e = ev(Action::Comment, actor(Role::Admin, "civil"), t(1, 1));
        e.photos.push(PhotoRef {
            sha256: "../etc/passwd".into(),
            kind: PhotoKind::Before,
        });
        assert_eq!(apply(Some(&case), &e).unwrap_err().code(), "INVALID_INPUT");
        let mut e = ev(Action::Comment, actor(Role::Admin, "civil"), t(1, 1));
        e.gps = Some(GpsFix {
            lat: f64::NAN,
            lon: 117.0,
            accuracy_m: None,
            provider: None,
        });
        assert_eq!(apply(Some(&case), &e).unwrap_err().code(), "INVALID_INPUT");
    }

    #[test]
    fn overdue_follows_the_current_deadline_and_server_time() {
        let case = reported(Category::GasFacility);
        assert_eq!(
            case.current_due(),
            Some(t(1, 3)),
            "gas: dispatch within 1 h"
        );
        assert!(!case.is_overdue(t(1, 3)));
        assert!(case.is_overdue(t(1, 4)));
        let mut dispatch = ev(
            Action::Dispatch {
                unit_id: "gas".into(),
            },
            actor(Role::StreetOffice, "s"),
            t(1, 2),
        );
        dispatch.server_time = Some(t(1, 10));
        let case = apply(Some(&case), &dispatch).unwrap();
        assert_eq!(
            case.dispatched_at,
            Some(t(1, 10)),
            "server time wins over device time"
        );
        assert_eq!(case.handle_due, Some(t(2, 10)));
    }

    #[test]
    fn the_assigned_unit_acts_whatever_its_type() {
        // COMMON_AREA_CLUTTER is the street office's own (三(三)3); company work at a
        // resident-self estate is the committee's (二(三)).
        for (who, unit) in [
            (Role::StreetOffice, "hexi.youyilu.street_office"),
            (Role::Committee, "hexi.youyilu.pingshandao.committee"),
            (Role::CompanyStaff, "company.hexi_youyilu"),
            (Role::Department, "hexi.property_owner"),
        ] {
            let case = reported(Category::StairwellLighting);
            let street = actor(Role::StreetOffice, "hexi.youyilu.street_office");
            let case = apply(
                Some(&case),
                &ev(
                    Action::Dispatch {
                        unit_id: unit.into(),
                    },
                    street,
                    t(1, 3),
                ),
            )
            .unwrap();
            let member = actor(who, unit);
            let offered = allowed_actions(Some(&case), &member);
            assert!(
                offered.contains(&ActionKind::Accept) && offered.contains(&ActionKind::Return),
                "{who:?} of {unit}: {offered:?}"
            );
            let case = apply(Some(&case), &ev(Action::Accept, member.clone(), t(1, 4)))
                .unwrap_or_else(|e| panic!("{who:?} of {unit}: {e}"));
            let case = apply(
                Some(&case),
                &with_photo(ev(Action::Handle, member, t(1, 5)), PhotoKind::After, 1),
            )
            .unwrap();
            assert_eq!(case.status, CaseStatus::Handled);
            // A member of another unit of the same type may not.
            let outsider = actor(who, "elsewhere");
            assert!(!allowed_actions(Some(&case), &outsider).contains(&ActionKind::Accept));
        }
        let case = reported(Category::StairwellLighting);
        let case = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: "civil".into(),
                },
                actor(Role::StreetOffice, "s"),
                t(1, 3),
            ),
        )
        .unwrap();
        let err = apply(
            Some(&case),
            &ev(Action::Accept, actor(Role::Admin, "civil"), t(1, 4)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "ROLE_NOT_ALLOWED", "the evaluator never acts");
    }

    #[test]
    fn dissuasion_first_waits_for_the_committee_and_its_deadline_runs_from_escalation() {
        let case = reported(Category::IllegalStructure);
        assert_eq!(
            case.waiting_for(),
            Some(WaitingFor::CommitteeDissuadeOrEscalate)
        );
        assert_eq!(case.current_due(), None);
        assert!(!case.is_overdue(t(30, 0)), "nobody may dispatch yet");
        assert_eq!(
            case.waiting_for().unwrap().text_zh(str::to_owned),
            "等待居委会劝阻或上报"
        );
        let case = apply(
            Some(&case),
            &ev(Action::Escalate, actor(Role::Committee, "c"), t(5, 2)),
        )
        .unwrap();
        assert_eq!(case.waiting_for(), Some(WaitingFor::StreetOfficeDispatch));
        let hours = i64::from(Category::IllegalStructure.info().dispatch_hours);
        assert_eq!(
            case.current_due(),
            Some(t(5, 2) + TimeDelta::hours(hours)),
            "from the escalation, not the report"
        );
        let case = apply(
            Some(&case),
            &ev(
                Action::Dispatch {
                    unit_id: "u".into(),
                },
                actor(Role::StreetOffice, "s"),
                t(5, 3),
            ),
        )
        .unwrap();
        assert_eq!(
            case.waiting_for()
                .unwrap()
                .text_zh(|id| format!("单位{id}")),
            "等待单位u受理"
        );
        let direct = reported(Category::StreetLight);
        assert_eq!(direct.waiting_for(), Some(WaitingFor::StreetOfficeDispatch));
        assert!(direct.current_due().is_some());
    }

    #[test]
    fn device_time_is_bounded_and_never_panics() {
        let skew = TimeDelta::minutes(10);
        let now = t(10, 0);
        let mut case = reported(Category::StreetLight);
        case.reported_at = t(9, 0);
        case.reported_device_time = Some(t(8, 0));
        let check =
            |d: DateTime<Utc>| check_device_time(Some(&case), d, now, skew).map_err(|e| e.code());
        assert_eq!(check(now + TimeDelta::minutes(10)), Ok(()));
        assert_eq!(
            check(now + TimeDelta::minutes(11)),
            Err("DEVICE_TIME_IN_FUTURE")
        );
        assert_eq!(
            check(t(8, 0) + TimeDelta::minutes(30)),
            Ok(()),
            "after the phone's own report time"
        );
        assert_eq!(check(t(7, 0)), Err("DEVICE_TIME_BEFORE_REPORT"));
        assert_eq!(
            check(DateTime::<Utc>::MAX_UTC),
            Err("DEVICE_TIME_IN_FUTURE")
        );
        assert_eq!(
            check_device_time(None, DateTime::<Utc>::MIN_UTC, now, skew).map_err(|e| e.code()),
            Err("DEVICE_TIME_BEFORE_POLICY")
        );
        let err = check_device_time(None, DateTime::<Utc>::MAX_UTC, now, skew).unwrap_err();
        assert!(err.to_string().contains("设备时间"), "{err}");
        assert_eq!(
            check_device_time(None, now, DateTime::<Utc>::MAX_UTC, TimeDelta::MAX),
            Ok(())
        );
    }

    #[test]
    fn minutes_are_the_street_offices_and_change_nothing() {
        let case = reported(Category::StreetLight);
        let minutes = Action::Minutes {
            unit_id: "hexi.city_management".into(),
            text: "三日内修复".into(),
        };
        let err = apply(
            Some(&case),
            &ev(minutes.clone(), actor(Role::Committee, "c"), t(1, 3)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "ROLE_NOT_ALLOWED");
        let next = apply(
            Some(&case),
            &ev(minutes, actor(Role::StreetOffice, "s"), t(1, 3)),
        )
        .unwrap();
        assert_eq!(next.status, case.status);
        let empty = Action::Minutes {
            unit_id: "u".into(),
            text: " ".into(),
        };
        assert_eq!(
            apply(
                Some(&case),
                &ev(empty, actor(Role::StreetOffice, "s"), t(1, 3))
            )
            .unwrap_err()
            .code(),
            "INVALID_INPUT"
        );
    }

    #[test]
    fn allowed_actions_per_role() {
        let case = reported(Category::GroundLock);
        let of = |r: Role| allowed_actions(Some(&case), &actor(r, "u"));
        use ActionKind as A;
        assert_eq!(
            of(Role::Committee),
            vec![A::Dissuade, A::Escalate, A::Cancel, A::Comment]
        );
        assert_eq!(
            of(Role::StreetOffice),
            vec![A::Cancel, A::Comment, A::Minutes]
        );
        assert_eq!(of(Role::Admin), vec![A::Comment]);
        assert_eq!(
            allowed_actions(None, &actor(Role::Inspector, "u")),
            vec![A::Report]
        );
        assert!(allowed_actions(None, &actor(Role::Department, "u")).is_empty());
    }
}
