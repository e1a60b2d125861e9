//! `XunchaClient`: the one long-lived object an app holds. It owns the device store (one SQLite
//! file plus its photo folder) and the signed-in session, and forwards every call to the core.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;
use uuid::Uuid;

use xuncha_core::capture::{self, CaseDraft as CoreDraft, EventDraft};
use xuncha_core::store::{self, PageToken, Store, StoreError};
use xuncha_core::workflow;

use crate::enums::{ActionKind, CaseStatus, Category, PhotoKind, Role};
use crate::error::XunchaError;
use crate::records::{ActionDetail, Actor, Case, CaseAction, Estate, GpsFix, OrgUnit};
use crate::sync::{Credentials, SyncListener, SyncPass, SyncReport};

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
    pub co_responsible: Vec<OrgUnit>,
    /// Policy sections and articles, in Chinese.
    pub legal_basis: String,
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
            co_responsible: units(decision.co_responsible),
            legal_basis: decision.legal_basis,
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

/// Everything the case screen shows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseDetail {
    pub case: Case,
    pub timeline: Vec<TimelineEntry>,
    /// The actions the signed-in user may take now (empty when signed out).
    pub allowed_actions: Vec<ActionKind>,
    pub photos: Vec<CasePhoto>,
    pub unsynced_changes: u32,
}

/// Counts for a sync badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct OutboxCounts {
    pub pending: u32,
    pub in_flight: u32,
    pub rejected: u32,
    pub photos_pending: u32,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit_id: String,
}

/// The signed-in device as kept in `session.json` beside the database (app-private storage), so
/// background sync works after the process restarts.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSession {
    server_url: String,
    device_id: uuid::Uuid,
    access_token: String,
    refresh_token: String,
    user_id: String,
    username: String,
    display_name: String,
    role: xuncha_core::org::Role,
    unit_id: String,
}

impl StoredSession {
    fn user(&self) -> UserInfo {
        UserInfo {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            unit_id: self.unit_id.clone(),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            server_url: self.server_url.clone(),
            device_id: self.device_id,
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
        }
    }
}

/// The phone's app state: the store, the HTTP client and who is signed in.
#[derive(uniffi::Object)]
pub struct XunchaClient {
    inner: Arc<Store>,
    http: reqwest::Client,
    session: RwLock<Option<StoredSession>>,
    session_path: PathBuf,
    /// One sync at a time: the UI's button and the background job share the outbox.
    sync_gate: tokio::sync::Mutex<()>,
}

impl XunchaClient {
    fn actor(&self) -> Result<workflow::Actor, XunchaError> {
        let session = self.session.read().map_err(|_| poisoned())?;
        let user = session
            .as_ref()
            .ok_or_else(|| XunchaError::Unauthenticated {
                code: "NOT_SIGNED_IN".to_owned(),
                detail: "sign in first (enrol this device)".to_owned(),
            })?;
        Ok(workflow::Actor {
            user_id: user.user_id.clone(),
            role: user.role,
            unit_id: user.unit_id.clone(),
        })
    }

    fn case_photos(&self, refs: &[workflow::PhotoRef]) -> Result<Vec<CasePhoto>, XunchaError> {
        refs.iter()
            .map(|photo| {
                let stored = self.inner.photo(&photo.sha256)?;
                Ok(CasePhoto {
                    sha256: photo.sha256.clone(),
                    kind: photo.kind,
                    path: stored.as_ref().map(|(record, _)| path_string(&record.path)),
                    thumbnail_path: stored
                        .as_ref()
                        .map(|(record, _)| path_string(&record.thumbnail_path)),
                    // A photo this phone does not hold came from the server: it has it.
                    uploaded: stored
                        .is_none_or(|(_, state)| state == store::PhotoUploadState::Uploaded),
                })
            })
            .collect()
    }

    fn list_item(&self, item: store::CaseListItem) -> Result<CaseListItem, XunchaError> {
        let photos = self.case_photos(&item.case.photos)?;
        let local: Vec<&CasePhoto> = photos.iter().filter(|p| p.path.is_some()).collect();
        Ok(CaseListItem {
            photos_total: count(local.len()),
            photos_uploaded: count(local.iter().filter(|p| p.uploaded).count()),
            unsynced_changes: item.unsynced_changes,
            case: item.case.into(),
        })
    }
}

#[uniffi::export]
impl XunchaClient {
    /// Opens (creating or migrating) the store at `db_path`; photos go to a `photos` folder next
    /// to it. Blocks on disk: call it off the UI thread.
    #[uniffi::constructor]
    pub fn new(db_path: String) -> Result<Arc<Self>, XunchaError> {
        let db_path = PathBuf::from(db_path);
        let store = Store::open(&db_path)?;
        let session_path = db_path.with_extension("session.json");
        let session = load_session(&session_path);
        Ok(Arc::new(XunchaClient {
            inner: Arc::new(store),
            http: crate::sync::http_client()?,
            session: RwLock::new(session),
            session_path,
            sync_gate: tokio::sync::Mutex::new(()),
        }))
    }

    /// The signed-in user, if any.
    pub fn current_user(&self) -> Option<UserInfo> {
        self.session
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(StoredSession::user))
    }

    /// Forgets the device's tokens. Cases and unsent events stay on the phone.
    pub fn sign_out(&self) -> Result<(), XunchaError> {
        *self.session.write().map_err(|_| poisoned())? = None;
        match std::fs::remove_file(&self.session_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(XunchaError::Storage {
                code: "SESSION_FILE".to_owned(),
                detail: e.to_string(),
            }),
            _ => Ok(()),
        }
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
        let captured = self.inner.create_case(&actor, &draft.to_core(), &paths)?;
        Ok(Captured {
            case: captured.case.into(),
            warnings: captured
                .warnings
                .into_iter()
                .map(CaptureWarning::from)
                .collect(),
        })
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
            overdue_at: filter.overdue_only.then(|| to_utc(SystemTime::now())),
            text: filter.text,
        };
        let token = page_token.map(PageToken);
        let page = self
            .inner
            .list_cases(&core_filter, page_size, token.as_ref())?;
        Ok(CasePage {
            items: page
                .items
                .into_iter()
                .map(|item| self.list_item(item))
                .collect::<Result<_, _>>()?,
            next_page_token: page.next.map(|t| t.0),
        })
    }

    /// The case screen: the case, its timeline with sync states, photos and allowed actions.
    pub fn case_detail(&self, case_id: String) -> Result<CaseDetail, XunchaError> {
        let id = parse_case_id(&case_id)?;
        let case = self.inner.case(id)?.ok_or_else(|| {
            XunchaError::not_found("UNKNOWN_CASE", format!("no case {case_id} on this phone"))
        })?;
        let allowed_actions = match self.actor() {
            Ok(actor) => workflow::allowed_actions(Some(&case), &actor),
            Err(_) => Vec::new(),
        };
        let events = self.inner.case_events(id)?;
        let unsynced_changes = count(
            events
                .iter()
                .filter(|e| {
                    matches!(
                        e.sync_state,
                        store::EventSyncState::Pending | store::EventSyncState::InFlight
                    )
                })
                .count(),
        );
        let timeline = events
            .into_iter()
            .map(|entry| {
                Ok(TimelineEntry {
                    event_id: entry.event.id.to_string(),
                    action: ActionDetail::from(&entry.event.action),
                    actor: entry.event.actor.into(),
                    device_time: entry.event.device_time.into(),
                    server_time: entry.event.server_time.map(SystemTime::from),
                    gps: entry.event.gps.map(GpsFix::from),
                    note: entry.event.note,
                    photos: self.case_photos(&entry.event.photos)?,
                    sync_state: entry.sync_state.into(),
                    reject_code: entry.reject_code,
                    reject_message: entry.reject_message,
                })
            })
            .collect::<Result<Vec<_>, XunchaError>>()?;
        Ok(CaseDetail {
            photos: self.case_photos(&case.photos)?,
            case: case.into(),
            timeline,
            allowed_actions,
            unsynced_changes,
        })
    }

    /// Counts for the sync badge.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, XunchaError> {
        let counts = self.inner.outbox_counts()?;
        Ok(OutboxCounts {
            pending: counts.pending,
            in_flight: counts.in_flight,
            rejected: counts.rejected,
            photos_pending: count(self.inner.pending_photos()?.len()),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl XunchaClient {
    /// Signs in and binds this device: the server returns device tokens, kept beside the database.
    /// Wrong credentials are `Unauthenticated`; no network is `Network`.
    pub async fn enrol(
        &self,
        server_url: String,
        username: String,
        password: String,
        device_name: String,
    ) -> Result<UserInfo, XunchaError> {
        let request = xuncha_core::protocol::EnrolRequest {
            username,
            password,
            device_name,
        };
        let enrolled = crate::sync::enrol(&self.http, &server_url, &request).await?;
        let session = StoredSession {
            server_url: server_url.trim_end_matches('/').to_owned(),
            device_id: enrolled.device_id,
            access_token: enrolled.access_token,
            refresh_token: enrolled.refresh_token,
            user_id: enrolled.user.user_id,
            username: enrolled.user.username,
            display_name: enrolled.user.display_name,
            role: enrolled.user.role,
            unit_id: enrolled.user.unit_id,
        };
        self.save_session(session.clone()).await?;
        Ok(session.user())
    }

    /// One sync pass: pushes the outbox, uploads photos (resuming), pulls what changed. Safe to
    /// cancel and to run again; a second call waits for the one running.
    pub async fn sync(
        &self,
        listener: Option<Arc<dyn SyncListener>>,
    ) -> Result<SyncReport, XunchaError> {
        let _running = self.sync_gate.lock().await;
        let session = self
            .session
            .read()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or_else(|| XunchaError::Unauthenticated {
                code: "NOT_SIGNED_IN".to_owned(),
                detail: "sign in first (enrol this device)".to_owned(),
            })?;
        let mut pass = SyncPass {
            http: &self.http,
            store: &self.inner,
            credentials: session.credentials(),
            listener,
            refreshed: false,
        };
        let result = pass.run().await;
        if pass.refreshed {
            let mut renewed = session;
            renewed.access_token = pass.credentials.access_token.clone();
            self.save_session(renewed).await?;
        }
        result
    }
}

impl XunchaClient {
    async fn save_session(&self, session: StoredSession) -> Result<(), XunchaError> {
        let path = self.session_path.clone();
        let json = serde_json::to_vec(&session).map_err(|e| XunchaError::Storage {
            code: "SESSION_FILE".to_owned(),
            detail: e.to_string(),
        })?;
        tokio::task::spawn_blocking(move || write_private(&path, &json))
            .await
            .map_err(|e| XunchaError::Storage {
                code: "TASK".to_owned(),
                detail: e.to_string(),
            })?
            .map_err(|e| XunchaError::Storage {
                code: "SESSION_FILE".to_owned(),
                detail: e.to_string(),
            })?;
        *self.session.write().map_err(|_| poisoned())? = Some(session);
        Ok(())
    }
}

/// Writes the session file atomically (temp file + rename), readable by the app only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
}

/// A missing or unreadable session file means "signed out" (never a reason not to open the store).
fn load_session(path: &Path) -> Option<StoredSession> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(session) => Some(session),
        Err(error) => {
            tracing::warn!(%error, "session file unreadable: signed out");
            None
        }
    }
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn poisoned() -> XunchaError {
    XunchaError::Storage {
        code: "POISONED".to_owned(),
        detail: "session lock poisoned by a panic".to_owned(),
    }
}

/// Parses a case id as it crossed the FFI.
fn parse_case_id(id: &str) -> Result<Uuid, XunchaError> {
    Uuid::try_parse(id).map_err(|_| {
        XunchaError::invalid("INVALID_CASE_ID", format!("{id:?} is not a case id (UUID)"))
    })
}

/// `SystemTime` from the foreign side back to UTC.
fn to_utc(at: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(at)
}
