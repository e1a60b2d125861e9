//! `XunchaClient`: the one long-lived object an app holds. It owns the device store (one SQLite
//! file plus its photo folder) and, in memory only, the signed-in session, and forwards every
//! call to the core. The session is the app's to keep (see [`DeviceSession`]): nothing here
//! writes a token to disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use uuid::Uuid;

use xuncha_core::capture::{self, CaseDraft as CoreDraft, EventDraft};
use xuncha_core::store::{self, PageToken, Store, StoreError};
use xuncha_core::workflow;

use crate::enums::{ActionKind, CaseStatus, Category, PhotoKind};
use crate::error::XunchaError;
use crate::records::{ActionDetail, Actor, Case, CaseAction, Estate, GpsFix, OrgUnit};
use crate::session::{
    DeviceSession, RefreshToken, SignOutOutcome, UserInfo, remove_legacy_session_files,
};
use crate::sync::{ListenerProgress, SyncListener, SyncReport};
use crate::transport::{HttpTransport, PlatformTransport};
use xuncha_core::sync::{SyncClient, SyncConfig, SyncStore};

impl From<StoreError> for XunchaError {
    fn from(error: StoreError) -> Self {
        let code = error.code().to_owned();
        let detail = error.to_string();
        match error {
            StoreError::UnknownCase { .. }
            | StoreError::UnknownEstate { .. }
            | StoreError::Routing { .. } => XunchaError::NotFound { code, detail },
            StoreError::InvalidInput { .. } | StoreError::Photo { .. } => {
                XunchaError::InvalidInput { code, detail }
            }
            StoreError::Workflow { .. } => XunchaError::NotAllowed { code, detail },
            StoreError::SchemaTooNew { .. }
            | StoreError::Database { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Io { .. } => XunchaError::Storage { code, detail },
        }
    }
}

/// Who will handle a case and on what legal basis, computed on the phone with the same rules
/// the server applies at ingest.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RoutingPreview {
    pub category: Category,
    /// Who acts first on site (company, committee), in order.
    pub first_on_site: Vec<OrgUnit>,
    /// Committee → street office … when dissuasion fails.
    pub escalation_chain: Vec<OrgUnit>,
    /// The unit responsible for fixing it.
    pub owner: OrgUnit,
    /// The regulator supervising the owner's work, where the policy names one (ELEVATOR: 市场监管).
    pub supervisor: Option<OrgUnit>,
    pub co_responsible: Vec<OrgUnit>,
    /// The policy's title and verbatim quotes with their sections, in Chinese.
    pub legal_basis: String,
    /// The version of the routing rules the preview was computed under.
    pub rules_version: u32,
}

impl From<xuncha_core::routing::RoutingDecision> for RoutingPreview {
    fn from(decision: xuncha_core::routing::RoutingDecision) -> Self {
        let units =
            |units: Vec<xuncha_core::org::OrgUnit>| units.into_iter().map(OrgUnit::from).collect();
        RoutingPreview {
            category: decision.category,
            first_on_site: units(decision.first_on_site),
            escalation_chain: units(decision.escalation_chain),
            owner: decision.owner.into(),
            supervisor: decision.supervisor.map(OrgUnit::from),
            co_responsible: units(decision.co_responsible),
            legal_basis: decision.legal_basis,
            rules_version: decision.rules_version,
        }
    }
}

/// What the inspector filled in for a new case. Photos are camera files on the phone.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseDraft {
    pub category: Category,
    pub estate_id: String,
    #[uniffi(default = None)]
    pub building: Option<String>,
    /// Stairwell / door number (单元).
    #[uniffi(default = None)]
    pub unit_no: Option<String>,
    #[uniffi(default = None)]
    pub location_note: Option<String>,
    #[uniffi(default = None)]
    pub description: Option<String>,
    #[uniffi(default = None)]
    pub gps: Option<GpsFix>,
    /// Paths of the camera files (JPEG; PNG accepted). They are re-encoded into the photo folder;
    /// the originals may be deleted afterwards.
    #[uniffi(default = [])]
    pub photo_paths: Vec<String>,
}

impl CaseDraft {
    fn to_core(&self) -> CoreDraft {
        CoreDraft {
            category: self.category,
            estate_id: self.estate_id.clone(),
            building: self.building.clone(),
            unit_no: self.unit_no.clone(),
            location_note: self.location_note.clone(),
            description: self.description.clone(),
            gps: self.gps.clone().map(Into::into),
        }
    }
}

/// An open case near the new one.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DuplicateCandidate {
    pub case: Case,
    pub distance_m: f64,
}

/// A warning shown at capture; it never blocks saving. `message_zh` is ready to show.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum CaptureWarning {
    /// The fix is less precise than the limit.
    LowGpsAccuracy {
        accuracy_m: f64,
        limit_m: f64,
        message_zh: String,
    },
    /// The point lies outside the chosen estate; names the estate containing it, if any.
    OutsideEstate {
        chosen_estate_id: String,
        containing_estate_id: Option<String>,
        containing_estate_name: Option<String>,
        message_zh: String,
    },
    /// Open cases of the same category nearby, nearest first: offer "add to the existing case".
    PossibleDuplicates {
        radius_m: f64,
        cases: Vec<DuplicateCandidate>,
        message_zh: String,
    },
    /// The photo's EXIF time is older than the provenance limit before the report (F3), e.g.
    /// chosen from the gallery.
    PhotoTakenEarlier {
        sha256: String,
        taken_at: SystemTime,
        age_minutes: i64,
        limit_minutes: u32,
        message_zh: String,
    },
    /// The photo's EXIF position is farther from the device's fix than the provenance limit (F3).
    PhotoFarFromFix {
        sha256: String,
        distance_m: f64,
        limit_m: f64,
        message_zh: String,
    },
}

/// How far a photo's EXIF time and position may be from the report before capture warns (F3).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct ProvenanceLimits {
    pub max_photo_age_minutes: u32,
    pub max_photo_distance_m: f64,
}

impl From<ProvenanceLimits> for capture::ProvenanceLimits {
    fn from(limits: ProvenanceLimits) -> Self {
        capture::ProvenanceLimits {
            max_photo_age_minutes: limits.max_photo_age_minutes,
            max_photo_distance_m: limits.max_photo_distance_m,
        }
    }
}

impl From<capture::ProvenanceLimits> for ProvenanceLimits {
    fn from(limits: capture::ProvenanceLimits) -> Self {
        ProvenanceLimits {
            max_photo_age_minutes: limits.max_photo_age_minutes,
            max_photo_distance_m: limits.max_photo_distance_m,
        }
    }
}

impl From<capture::CaptureWarning> for CaptureWarning {
    fn from(warning: capture::CaptureWarning) -> Self {
        let message_zh = warning.message_zh();
        match warning {
            capture::CaptureWarning::LowGpsAccuracy {
                accuracy_m,
                limit_m,
            } => CaptureWarning::LowGpsAccuracy {
                accuracy_m,
                limit_m,
                message_zh,
            },
            capture::CaptureWarning::OutsideEstate {
                chosen_estate_id,
                containing_estate_id,
                containing_estate_name,
                ..
            } => CaptureWarning::OutsideEstate {
                chosen_estate_id,
                containing_estate_id,
                containing_estate_name,
                message_zh,
            },
            capture::CaptureWarning::PossibleDuplicates { radius_m, cases } => {
                CaptureWarning::PossibleDuplicates {
                    radius_m,
                    cases: cases
                        .into_iter()
                        .map(|d| DuplicateCandidate {
                            case: d.case.into(),
                            distance_m: d.distance_m,
                        })
                        .collect(),
                    message_zh,
                }
            }
            capture::CaptureWarning::PhotoTakenEarlier {
                sha256,
                taken_at,
                age_minutes,
                limit_minutes,
            } => CaptureWarning::PhotoTakenEarlier {
                sha256,
                taken_at: taken_at.into(),
                age_minutes,
                limit_minutes,
                message_zh,
            },
            capture::CaptureWarning::PhotoFarFromFix {
                sha256,
                distance_m,
                limit_m,
            } => CaptureWarning::PhotoFarFromFix {
                sha256,
                distance_m,
                limit_m,
                message_zh,
            },
        }
    }
}

/// A new case as stored on the phone, with the warnings to show.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Captured {
    pub case: Case,
    pub warnings: Vec<CaptureWarning>,
}

/// An action to fire on a case, with its evidence.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionDraft {
    pub action: CaseAction,
    #[uniffi(default = None)]
    pub note: Option<String>,
    #[uniffi(default = None)]
    pub gps: Option<GpsFix>,
    /// Camera files to attach (after-photos for HANDLE, verification photos for VERIFY …).
    #[uniffi(default = [])]
    pub photo_paths: Vec<String>,
    /// What the attached photos show.
    pub photo_kind: PhotoKind,
}

/// Which cases to list. Empty lists mean "any"; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct CaseFilter {
    #[uniffi(default = [])]
    pub statuses: Vec<CaseStatus>,
    #[uniffi(default = [])]
    pub categories: Vec<Category>,
    #[uniffi(default = [])]
    pub estate_ids: Vec<String>,
    /// Only open cases whose deadline has passed.
    #[uniffi(default = false)]
    pub overdue_only: bool,
    /// Text to find in the description, location note or building.
    #[uniffi(default = None)]
    pub text: Option<String>,
}

/// Upload state of one photo of a case, as far as this phone knows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CasePhoto {
    pub sha256: String,
    pub kind: PhotoKind,
    /// The re-encoded JPEG on this phone, if it is here (photos of other phones' cases are not).
    pub path: Option<String>,
    pub thumbnail_path: Option<String>,
    /// The server holds the whole file.
    pub uploaded: bool,
    pub upload_state: PhotoUploadState,
    /// Set when `upload_state` is `Refused`: the server's code (`PHOTO_UNDECODABLE`,
    /// `PHOTO_TOO_LARGE`, `PHOTO_HASH_MISMATCH`, `PHOTO_TOO_MANY_PIXELS`, `PHOTO_ADDRESS`) and
    /// message.
    pub refusal_code: Option<String>,
    pub refusal_message: Option<String>,
}

/// Where one photo of a case stands between this phone and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoUploadState {
    /// Waiting for (or in the middle of) its upload; retried every sync.
    Pending,
    /// The server holds it (or it came from the server).
    Uploaded,
    /// The server refused the bytes for good: not sent again unless the user asks
    /// (`retry_refused_photo`). It stays on the phone and in the case.
    Refused,
}

impl From<store::CasePhotoView> for CasePhoto {
    fn from(photo: store::CasePhotoView) -> Self {
        CasePhoto {
            uploaded: photo.uploaded(),
            sha256: photo.sha256,
            kind: photo.kind,
            path: photo.path.as_deref().map(path_string),
            thumbnail_path: photo.thumbnail_path.as_deref().map(path_string),
            upload_state: photo.upload_state.into(),
            refusal_code: photo.refusal.as_ref().map(|r| r.code.clone()),
            refusal_message: photo.refusal.map(|r| r.message),
        }
    }
}

impl From<store::PhotoUploadState> for PhotoUploadState {
    fn from(state: store::PhotoUploadState) -> Self {
        match state {
            store::PhotoUploadState::Pending => PhotoUploadState::Pending,
            store::PhotoUploadState::Uploaded => PhotoUploadState::Uploaded,
            store::PhotoUploadState::Refused => PhotoUploadState::Refused,
        }
    }
}

/// One listed case with its sync bookkeeping.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseListItem {
    pub case: Case,
    /// Local events the server has not answered yet (0 = in sync).
    pub unsynced_changes: u32,
    /// Photos of the case taken on this phone, and how many of them the server holds.
    pub photos_total: u32,
    pub photos_uploaded: u32,
    /// Photos the server refused (shown as "1 张照片被服务器拒收").
    pub photos_refused: u32,
    /// The case number (案件编号, e.g. `和平-20261204-0012`) the server gave the case; `None`
    /// until a sync delivers it.
    pub number: Option<String>,
}

impl From<store::CaseListView> for CaseListItem {
    fn from(item: store::CaseListView) -> Self {
        CaseListItem {
            case: item.case.into(),
            unsynced_changes: item.unsynced_changes,
            photos_total: item.photos_total,
            photos_uploaded: item.photos_uploaded,
            photos_refused: item.photos_refused,
            number: item.number,
        }
    }
}

/// A page of cases, newest report first.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CasePage {
    pub items: Vec<CaseListItem>,
    /// Pass back for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Where a stored event stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EventSyncState {
    /// Recorded on the phone, not yet sent.
    Pending,
    /// Sent, no answer yet.
    InFlight,
    /// The server has it.
    Synced,
    /// The server refused it for good; the entry says why.
    Rejected,
}

impl From<store::EventSyncState> for EventSyncState {
    fn from(state: store::EventSyncState) -> Self {
        match state {
            store::EventSyncState::Pending => EventSyncState::Pending,
            store::EventSyncState::InFlight => EventSyncState::InFlight,
            store::EventSyncState::Synced => EventSyncState::Synced,
            store::EventSyncState::Rejected => EventSyncState::Rejected,
        }
    }
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TimelineEntry {
    pub event_id: String,
    pub action: ActionDetail,
    pub actor: Actor,
    /// When the phone says it happened.
    pub device_time: SystemTime,
    /// When the server accepted it, once it has.
    pub server_time: Option<SystemTime>,
    pub gps: Option<GpsFix>,
    pub note: Option<String>,
    pub photos: Vec<CasePhoto>,
    pub sync_state: EventSyncState,
    pub reject_code: Option<String>,
    pub reject_message: Option<String>,
}

impl From<store::TimelineView> for TimelineEntry {
    fn from(view: store::TimelineView) -> Self {
        let entry = view.entry;
        TimelineEntry {
            event_id: entry.event.id.to_string(),
            action: ActionDetail::from(&entry.event.action),
            actor: entry.event.actor.into(),
            device_time: entry.event.device_time.into(),
            server_time: entry.event.server_time.map(SystemTime::from),
            gps: entry.event.gps.map(GpsFix::from),
            note: entry.event.note,
            photos: view.photos.into_iter().map(CasePhoto::from).collect(),
            sync_state: entry.sync_state.into(),
            reject_code: entry.reject_code,
            reject_message: entry.reject_message,
        }
    }
}

/// Everything the case screen shows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseDetail {
    pub case: Case,
    pub timeline: Vec<TimelineEntry>,
    /// The actions the signed-in user may take now (empty when signed out).
    pub allowed_actions: Vec<ActionKind>,
    pub photos: Vec<CasePhoto>,
    pub unsynced_changes: u32,
    /// The case number the server gave the case; `None` until a sync delivers it.
    pub number: Option<String>,
}

/// Counts for a sync badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct OutboxCounts {
    pub pending: u32,
    pub in_flight: u32,
    pub rejected: u32,
    pub photos_pending: u32,
    /// Photos the server refused; not counted in `photos_pending` (they are not sent again).
    pub photos_refused: u32,
}

impl From<store::SyncBadge> for OutboxCounts {
    fn from(badge: store::SyncBadge) -> Self {
        OutboxCounts {
            pending: badge.pending,
            in_flight: badge.in_flight,
            rejected: badge.rejected,
            photos_pending: badge.photos_pending,
            photos_refused: badge.photos_refused,
        }
    }
}

/// Who is signed in, in memory only: the core's sync client (holding the tokens) and the user.
struct SignedIn {
    sync_client: Arc<SyncClient>,
    server_url: String,
    user: UserInfo,
}

/// The phone's app state: the store, and the core's sync client with who is signed in.
#[derive(uniffi::Object)]
pub struct XunchaClient {
    inner: Arc<Store>,
    /// The app's HTTP stack: every request of the sync client goes through it.
    transport: Arc<PlatformTransport>,
    /// Set by `enrol` or `resume`, cleared by `sign_out`; never persisted by the library.
    signed_in: RwLock<Option<SignedIn>>,
    /// One sync at a time: the UI's button and the background job share the outbox.
    sync_gate: tokio::sync::Mutex<()>,
    /// Photo provenance limits for `capture` (F3); the core's defaults until the app sets them.
    provenance: RwLock<capture::ProvenanceLimits>,
}

fn not_signed_in() -> XunchaError {
    XunchaError::Unauthenticated {
        code: "NOT_SIGNED_IN".to_owned(),
        detail: "sign in first (enrol this device, or resume its stored session)".to_owned(),
    }
}

impl XunchaClient {
    fn actor(&self) -> Result<workflow::Actor, XunchaError> {
        let signed_in = self.signed_in.read().map_err(|_| poisoned())?;
        let user = &signed_in.as_ref().ok_or_else(not_signed_in)?.user;
        Ok(workflow::Actor {
            user_id: user.user_id.clone(),
            role: user.role,
            unit_id: user.unit_id.clone(),
        })
    }
}

#[uniffi::export]
impl XunchaClient {
    /// Opens (creating or migrating) the store at `db_path`; photos go to a `photos` folder next
    /// to it. `transport` is the app's HTTP stack (Kotlin `HttpUrlConnectionTransport`, Swift
    /// `URLSessionTransport`): every sync request goes through it. Starts signed out: call
    /// [`XunchaClient::resume`] with the session kept in the keystore. A plain-text
    /// `<db>.session.json` left by an older build is deleted. Blocks on disk: call it off the UI
    /// thread.
    #[uniffi::constructor]
    pub fn new(
        db_path: String,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Arc<Self>, XunchaError> {
        let db_path = PathBuf::from(db_path);
        remove_legacy_session_files(&db_path);
        let store = Store::open(&db_path)?;
        Ok(Arc::new(XunchaClient {
            inner: Arc::new(store),
            transport: Arc::new(PlatformTransport(transport)),
            signed_in: RwLock::new(None),
            sync_gate: tokio::sync::Mutex::new(()),
            provenance: RwLock::new(capture::ProvenanceLimits::default()),
        }))
    }

    /// Signs this device back in with the session `enrol` returned, read back from the keystore
    /// at start (app launch, background sync). No network: a revoked or unknown token shows up
    /// as `Unauthenticated` on the next `sync`. A URL or device id that is not one is
    /// `InvalidInput`.
    pub fn resume(&self, session: DeviceSession) -> Result<(), XunchaError> {
        let device_id = Uuid::try_parse(&session.device_id).map_err(|_| {
            XunchaError::invalid(
                "INVALID_DEVICE_ID",
                format!("{:?} is not a device id (UUID)", session.device_id),
            )
        })?;
        let sync_client = sync_client_for(&session.server_url, &self.inner, &self.transport)?;
        sync_client.resume(
            device_id,
            &session.user.user_id,
            session.refresh_token.secret(),
        );
        self.set_signed_in(sync_client, session.server_url, session.user)
    }

    /// The session as it stands now, for the keystore. The server rotates the refresh token on
    /// every refresh (which `sync` does when the access token has expired), so after every
    /// `sync`, failed or not, the app writes this back when it differs from what it stored;
    /// otherwise the next start sends a spent token and the server revokes the device
    /// (`Unauthenticated` with code `REFRESH_TOKEN_REUSED`: sign in again). `None` when signed out.
    pub fn current_session(&self) -> Option<DeviceSession> {
        let guard = self.signed_in.read().ok()?;
        let signed_in = guard.as_ref()?;
        let client = &signed_in.sync_client;
        Some(DeviceSession {
            server_url: signed_in.server_url.clone(),
            device_id: client.device_id()?.to_string(),
            refresh_token: RefreshToken::from_secret(client.refresh_token()?),
            user: signed_in.user.clone(),
        })
    }

    /// The signed-in user, if any.
    pub fn current_user(&self) -> Option<UserInfo> {
        self.signed_in
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.user.clone()))
    }

    /// Every cached estate, by name.
    pub fn estates(&self) -> Result<Vec<Estate>, XunchaError> {
        Ok(self
            .inner
            .estates()?
            .into_iter()
            .map(Estate::from)
            .collect())
    }

    /// The cached unit directory (for the street office's dispatch picker).
    pub fn units(&self) -> Result<Vec<OrgUnit>, XunchaError> {
        Ok(self
            .inner
            .unit_directory()?
            .units()
            .iter()
            .cloned()
            .map(OrgUnit::from)
            .collect())
    }

    /// Who will handle a case of `category` in `estate_id`, and on what legal basis. Offline.
    pub fn preview_routing(
        &self,
        category: Category,
        estate_id: String,
    ) -> Result<RoutingPreview, XunchaError> {
        Ok(self.inner.preview_routing(category, &estate_id)?.into())
    }

    /// The warnings a draft would get (accuracy, outside the estate, duplicates), saving nothing.
    pub fn check_draft(&self, draft: CaseDraft) -> Result<Vec<CaptureWarning>, XunchaError> {
        Ok(self
            .inner
            .check_draft(&draft.to_core())?
            .into_iter()
            .map(CaptureWarning::from)
            .collect())
    }

    /// Saves a new case offline: re-encodes the photos, stores them, the REPORT event and the case
    /// in one durable transaction. The case goes to the server on the next sync.
    pub fn capture(&self, draft: CaseDraft) -> Result<Captured, XunchaError> {
        let actor = self.actor()?;
        let paths: Vec<PathBuf> = draft.photo_paths.iter().map(PathBuf::from).collect();
        let limits = *self.provenance.read().map_err(|_| poisoned())?;
        let captured =
            self.inner
                .create_case_with_limits(&actor, &draft.to_core(), &paths, &limits)?;
        Ok(Captured {
            case: captured.case.into(),
            warnings: captured
                .warnings
                .into_iter()
                .map(CaptureWarning::from)
                .collect(),
        })
    }

    /// The photo provenance limits `capture` checks photos against (F3): a photo whose EXIF time
    /// is older than `max_photo_age_minutes`, or whose EXIF position is farther than
    /// `max_photo_distance_m` from the draft's fix, gets a warning (never a refusal).
    pub fn provenance_limits(&self) -> ProvenanceLimits {
        self.provenance
            .read()
            .map(|l| (*l).into())
            .unwrap_or_else(|_| capture::ProvenanceLimits::default().into())
    }

    /// Sets the provenance limits (e.g. from the unit's policy); kept in memory for this client.
    pub fn set_provenance_limits(&self, limits: ProvenanceLimits) -> Result<(), XunchaError> {
        if !(limits.max_photo_distance_m.is_finite() && limits.max_photo_distance_m > 0.0) {
            return Err(XunchaError::invalid(
                "INVALID_PROVENANCE_LIMITS",
                format!(
                    "max_photo_distance_m must be a positive number of metres, not {}",
                    limits.max_photo_distance_m
                ),
            ));
        }
        *self.provenance.write().map_err(|_| poisoned())? = limits.into();
        Ok(())
    }

    /// Fires an action on a case offline, through the shared workflow (refusals are
    /// `NotAllowed` with the workflow's code). Returns the case as it now stands on the phone.
    pub fn act(&self, case_id: String, draft: ActionDraft) -> Result<Case, XunchaError> {
        let actor = self.actor()?;
        let id = parse_case_id(&case_id)?;
        let paths: Vec<PathBuf> = draft.photo_paths.iter().map(PathBuf::from).collect();
        let event = EventDraft {
            action: draft.action.into(),
            gps: draft.gps.map(Into::into),
            note: draft.note,
            photo_kind: draft.photo_kind,
        };
        Ok(self
            .inner
            .record_event(&actor, id, &event, &paths)?
            .case
            .into())
    }

    /// Lists cases, newest report first, `page_size` (1–500) per page.
    pub fn list_cases(
        &self,
        filter: CaseFilter,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<CasePage, XunchaError> {
        let core_filter = store::CaseFilter {
            statuses: filter.statuses,
            categories: filter.categories,
            estate_ids: filter.estate_ids,
            overdue_at: store::overdue_now(filter.overdue_only),
            text: filter.text,
        };
        let token = page_token.map(PageToken);
        let page = self
            .inner
            .list_case_views(&core_filter, page_size, token.as_ref())?;
        Ok(CasePage {
            items: page.items.into_iter().map(CaseListItem::from).collect(),
            next_page_token: page.next.map(|t| t.0),
        })
    }

    /// The case screen: the case, its timeline with sync states, photos and allowed actions.
    pub fn case_detail(&self, case_id: String) -> Result<CaseDetail, XunchaError> {
        let id = parse_case_id(&case_id)?;
        let actor = self.actor().ok();
        let detail = self.inner.case_detail(id, actor.as_ref())?.ok_or_else(|| {
            XunchaError::not_found("UNKNOWN_CASE", format!("no case {case_id} on this phone"))
        })?;
        Ok(CaseDetail {
            case: detail.case.into(),
            timeline: detail
                .timeline
                .into_iter()
                .map(TimelineEntry::from)
                .collect(),
            allowed_actions: detail.allowed_actions,
            photos: detail.photos.into_iter().map(CasePhoto::from).collect(),
            unsynced_changes: detail.unsynced_changes,
            number: detail.number,
        })
    }

    /// Counts for the sync badge.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, XunchaError> {
        Ok(self.inner.sync_badge()?.into())
    }

    /// Puts a photo the server refused back in the upload queue for the next sync. Useful only
    /// when something changed on the server (e.g. its size limit was raised): the same bytes
    /// are otherwise refused again the same way. Returns false if the photo was not refused.
    pub fn retry_refused_photo(&self, sha256: String) -> Result<bool, XunchaError> {
        Ok(self.inner.retry_refused_photo(&sha256)?)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl XunchaClient {
    /// Signs in and binds this device. Returns the session the app must keep in its secure
    /// storage and hand to `resume` at every start; the library keeps it in memory only.
    /// Wrong credentials are `Unauthenticated`; no network is `Network`.
    pub async fn enrol(
        &self,
        server_url: String,
        username: String,
        password: String,
        device_name: String,
    ) -> Result<DeviceSession, XunchaError> {
        let client = sync_client_for(&server_url, &self.inner, &self.transport)?;
        let enrolled = client
            .enrol(
                &username,
                &password,
                &device_name,
                &xuncha_core::sync::NoProgress,
            )
            .await?;
        let session = DeviceSession {
            server_url,
            device_id: enrolled.device_id.to_string(),
            refresh_token: RefreshToken::from_secret(enrolled.refresh_token),
            user: enrolled.user.into(),
        };
        self.set_signed_in(client, session.server_url.clone(), session.user.clone())?;
        Ok(session)
    }

    /// Signs out: asks the server to revoke this device (best effort, at most two tries), then
    /// forgets the session in memory whatever happened; the app deletes its keystore entry in
    /// every case. Offline is not an error: it is `ForgottenLocallyOnly`, so the app can tell the
    /// user the device is still valid on the server. Cases, photos and unsent events stay on the
    /// phone; check `outbox_counts` first and warn while anything is unsent.
    pub async fn sign_out(&self) -> Result<SignOutOutcome, XunchaError> {
        // Taken out first: from here no new call can use the old session.
        let signed_in = self.signed_in.write().map_err(|_| poisoned())?.take();
        let Some(signed_in) = signed_in else {
            return Ok(xuncha_core::sync::SignOut::ForgottenLocallyOnly {
                error: xuncha_core::sync::SyncError::NotSignedIn,
            }
            .into());
        };
        Ok(signed_in
            .sync_client
            .sign_out(&xuncha_core::sync::NoProgress)
            .await
            .into())
    }

    /// One sync pass: pushes the outbox, uploads photos (resuming), pulls what changed. Safe to
    /// cancel and to run again; a second call waits for the one running.
    pub async fn sync(
        &self,
        listener: Option<Arc<dyn SyncListener>>,
    ) -> Result<SyncReport, XunchaError> {
        let _running = self.sync_gate.lock().await;
        let client = self
            .signed_in
            .read()
            .map_err(|_| poisoned())?
            .as_ref()
            .map(|s| s.sync_client.clone())
            .ok_or_else(not_signed_in)?;
        let report = client.sync(&ListenerProgress(listener)).await?;
        Ok(report.into())
    }
}

impl XunchaClient {
    fn set_signed_in(
        &self,
        sync_client: Arc<SyncClient>,
        server_url: String,
        user: UserInfo,
    ) -> Result<(), XunchaError> {
        *self.signed_in.write().map_err(|_| poisoned())? = Some(SignedIn {
            sync_client,
            server_url,
            user,
        });
        Ok(())
    }
}

/// The core's sync client for `server_url` over this device's store and the app's transport.
fn sync_client_for(
    server_url: &str,
    store: &Arc<Store>,
    transport: &Arc<PlatformTransport>,
) -> Result<Arc<SyncClient>, XunchaError> {
    let store: Arc<dyn SyncStore> = store.clone();
    Ok(Arc::new(SyncClient::with_transport(
        SyncConfig::new(server_url),
        store,
        transport.clone(),
    )?))
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn poisoned() -> XunchaError {
    XunchaError::Storage {
        code: "POISONED".to_owned(),
        detail: "sign-in state lock poisoned by a panic".to_owned(),
    }
}

/// Parses a case id as it crossed the FFI.
fn parse_case_id(id: &str) -> Result<Uuid, XunchaError> {
    Uuid::try_parse(id).map_err(|_| {
        XunchaError::invalid("INVALID_CASE_ID", format!("{id:?} is not a case id (UUID)"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::enums::Role;

    const TOKEN: &str = "xrt_test_refresh_token_do_not_persist";

    fn session(server_url: &str, device_id: &str) -> DeviceSession {
        DeviceSession {
            server_url: server_url.to_owned(),
            device_id: device_id.to_owned(),
            refresh_token: RefreshToken::new(TOKEN.to_owned()).unwrap(),
            user: UserInfo {
                user_id: "u-1".to_owned(),
                username: "inspector.changchunli".to_owned(),
                display_name: "巡查员".to_owned(),
                role: Role::Inspector,
                unit_id: "heping.changchunli.committee".to_owned(),
            },
        }
    }

    /// A phone without network: every request fails to connect, as the platform would say.
    struct Offline;

    #[async_trait::async_trait]
    impl HttpTransport for Offline {
        async fn send(
            &self,
            request: crate::transport::HttpRequest,
        ) -> Result<crate::transport::HttpResponse, crate::transport::TransportError> {
            Err(crate::transport::TransportError::Network {
                reason: format!("connection refused: {}", request.url),
            })
        }
    }

    fn open(dir: &tempfile::TempDir) -> Arc<XunchaClient> {
        XunchaClient::new(
            path_string(&dir.path().join("xuncha.db")),
            Arc::new(Offline),
        )
        .unwrap()
    }

    /// Every byte of every file under `dir`, searched for `needle`.
    fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_containing(&path, needle));
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn a_legacy_plain_text_session_file_is_deleted_and_the_client_starts_signed_out() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("xuncha.session.json");
        let legacy_tmp = dir.path().join("xuncha.session.json.tmp");
        let json = format!(
            r#"{{"server_url":"http://127.0.0.1:9","device_id":"0190a4c2-0000-7000-8000-000000000001","refresh_token":"{TOKEN}","user_id":"u-1","username":"inspector.changchunli","display_name":"巡查员","role":"INSPECTOR","unit_id":"x"}}"#
        );
        std::fs::write(&legacy, &json).unwrap();
        std::fs::write(&legacy_tmp, &json).unwrap();

        let client = open(&dir);

        assert!(!legacy.exists(), "legacy session file still there");
        assert!(!legacy_tmp.exists(), "legacy temp session file still there");
        assert_eq!(client.current_user(), None);
        assert!(files_containing(dir.path(), TOKEN.as_bytes()).is_empty());
        let error = client.actor().unwrap_err();
        assert_eq!(error.code(), "NOT_SIGNED_IN");
    }

    #[test]
    fn resume_signs_in_in_memory_and_writes_no_token_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let client = open(&dir);
        let session = session(
            "http://127.0.0.1:9/xuncha",
            "0190a4c2-0000-7000-8000-000000000001",
        );

        client.resume(session.clone()).unwrap();

        assert_eq!(client.current_user(), Some(session.user.clone()));
        assert_eq!(client.actor().unwrap().role, Role::Inspector);
        assert!(files_containing(dir.path(), TOKEN.as_bytes()).is_empty());
        // Reopened on the same database: signed out until resumed again.
        drop(client);
        assert_eq!(open(&dir).current_user(), None);
    }

    /// A loopback port nobody listens on: connecting is refused at once.
    fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offline_sign_out_forgets_the_session_and_says_the_server_was_not_told() {
        let dir = tempfile::tempdir().unwrap();
        let client = open(&dir);
        client
            .resume(session(
                &closed_port_url(),
                "0190a4c2-0000-7000-8000-000000000001",
            ))
            .unwrap();

        let outcome = client.sign_out().await.unwrap();

        assert!(
            matches!(&outcome, SignOutOutcome::ForgottenLocallyOnly { code, .. } if code == "NETWORK"),
            "{outcome:?}"
        );
        assert_eq!(client.current_user(), None);
        assert_eq!(client.actor().unwrap_err().code(), "NOT_SIGNED_IN");
        // Signing out twice is harmless and says there was nothing to revoke.
        assert!(matches!(
            client.sign_out().await.unwrap(),
            SignOutOutcome::ForgottenLocallyOnly { code, .. } if code == "NOT_SIGNED_IN"
        ));
    }

    #[test]
    fn resume_refuses_a_bad_url_or_device_id_and_stays_signed_out() {
        let dir = tempfile::tempdir().unwrap();
        let client = open(&dir);
        let bad_url = client
            .resume(session(
                "ftp://example.cn",
                "0190a4c2-0000-7000-8000-000000000001",
            ))
            .unwrap_err();
        assert!(
            matches!(bad_url, XunchaError::InvalidInput { .. }),
            "{bad_url:?}"
        );
        assert_eq!(bad_url.code(), "SYNC_CONFIG");
        let bad_id = client
            .resume(session("http://127.0.0.1:9", "not-a-uuid"))
            .unwrap_err();
        assert!(
            matches!(bad_id, XunchaError::InvalidInput { .. }),
            "{bad_id:?}"
        );
        assert_eq!(bad_id.code(), "INVALID_DEVICE_ID");
        assert_eq!(client.current_user(), None);
    }

    #[test]
    fn the_refresh_token_never_prints() {
        let session = session("http://127.0.0.1:9", "0190a4c2-0000-7000-8000-000000000001");
        let shown = format!(
            "{session:?} {} {:?}",
            session.refresh_token, session.refresh_token
        );
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("RefreshToken(***)"), "{shown}");
        assert_eq!(session.refresh_token.expose(), TOKEN);
    }

    #[test]
    fn an_empty_refresh_token_is_invalid_input() {
        let error = RefreshToken::new("  ".to_owned()).unwrap_err();
        assert_eq!(error.code(), "EMPTY_REFRESH_TOKEN");
    }
}
