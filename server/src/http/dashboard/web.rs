//! The signed-in user and the dashboard's write path. [`WebUser`] turns the session cookie into
//! the same `UserRecord` the API uses (re-read on every request); writes build an [`Event`] and
//! send it through `Storage::ingest` exactly like a phone's push (same workflow, routing,
//! idempotency and audit). Reads go through [`super::reader::ScopedReader`].

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use uuid::Uuid;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::workflow::{Action, Event, PhotoRef};
use xuncha_core::{Actor, Case, Role};

use super::error::{Internal, Refusal, WebError};
use super::layout::FrameUser;
use super::session::{self, SessionStore, tokens_equal};
use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::ApiError;
use crate::policy::audit::AuditDraft;
use crate::policy::ingest;
use crate::storage::photo_files;
use crate::storage::{DeviceRecord, IngestBatch, Session, UserRecord};

/// A signed-in dashboard user, re-read from storage on every request.
#[derive(Debug, Clone)]
pub struct WebUser {
    /// The same session shape the API's bearer tokens produce, so `Authed` helpers apply.
    pub authed: Authed,
    pub csrf_token: String,
    pub unit_name: String,
}

impl WebUser {
    pub fn user(&self) -> &UserRecord {
        &self.authed.0.user
    }

    pub fn actor(&self) -> Actor {
        self.authed.actor()
    }

    pub fn device_id(&self) -> Uuid {
        self.authed.0.device.id
    }

    pub fn frame(&self) -> FrameUser<'_> {
        FrameUser {
            display_name: &self.user().display_name,
            role_zh: super::layout::role_adds_to_unit(self.user().role)
                .then(|| self.user().role.name_zh()),
            unit_name: &self.unit_name,
            is_admin: self.user().role == Role::Admin,
            csrf_token: &self.csrf_token,
        }
    }

    /// Checks the CSRF token of a POST form.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if tokens_equal(&self.csrf_token, sent) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sessions = parts
            .extensions
            .get::<Arc<SessionStore>>()
            .cloned()
            .ok_or(WebError::Internal(Internal::SessionStoreMissing))?;
        let token = session::session_token(&CookieJar::from_headers(&parts.headers))
            .ok_or(WebError::SignIn)?;
        let web = sessions.touch(&token, Utc::now()).ok_or(WebError::SignIn)?;
        let storage = &state.storage;
        let user = storage.user_by_id(web.user_id.clone()).await?;
        let device = storage.device(web.device_id).await?;
        let (Some(user), Some(device)) = (user, device) else {
            sessions.remove(&token);
            return Err(WebError::SignIn);
        };
        if user.disabled || device.revoked || device.user_id != user.id {
            sessions.remove(&token);
            return Err(WebError::SignIn);
        }
        let unit_name = state
            .catalog()
            .unit(&user.unit_id)
            .map_or_else(|| user.unit_id.clone(), |u| u.name.clone());
        Ok(WebUser {
            authed: Authed(Session {
                user,
                device,
                access_expires_at: web.expires_at,
            }),
            csrf_token: web.csrf,
            unit_name,
        })
    }
}

/// Sends one event through the shared ingest path; `Ok(case)` when applied, `Err(refusal)` when
/// the workflow or authorization refused it.
pub async fn submit_event(
    state: &AppState,
    web: &WebUser,
    case_id: Uuid,
    action: Action,
    photos: Vec<PhotoRef>,
    note: Option<String>,
) -> Result<Result<Case, Refusal>, WebError> {
    let event = Event {
        id: xuncha_core::ids::new_id(),
        case_id,
        action,
        actor: web.actor(),
        device_time: Utc::now(),
        server_time: None,
        gps: None,
        photos,
        note: note.filter(|n| !n.trim().is_empty()),
    };
    let results = state
        .storage
        .ingest(IngestBatch {
            actor: web.actor(),
            device_id: web.device_id(),
            events: vec![event],
            catalog: state.catalog(),
            now: ingest::now(),
            max_device_skew: state.config.limits.max_device_skew(),
            verify_max_distance_m: state.config.verify_max_distance_m,
        })
        .await?;
    match results.into_iter().next().map(|r| r.outcome) {
        Some(EventOutcome::Applied { case } | EventOutcome::Duplicate { case }) => Ok(Ok(*case)),
        Some(EventOutcome::Rejected { code, message }) => Ok(Err(Refusal { code, message })),
        None => Err(WebError::Internal(Internal::NoIngestResult)),
    }
}

/// Stores an uploaded photo the way the API does (re-encoded under the limits, content-addressed,
/// recorded with an audit entry) and returns its address.
pub async fn store_photo(
    state: &AppState,
    web: &WebUser,
    bytes: Vec<u8>,
) -> Result<String, WebError> {
    let sha = photo_files::sha256_bytes(&bytes);
    match state.storage.photo(sha.clone()).await? {
        // Stored before: this user presented its bytes, so it is theirs to cite too.
        Some(stored) => {
            photo_files::record_received(&state.photo_files(), &web.authed.0, stored, "dashboard")
                .await
                .map_err(ApiError::from)?;
        }
        None => {
            photo_files::store_received(
                &state.photo_files(),
                &web.authed.0,
                &sha,
                bytes,
                "dashboard",
            )
            .await
            .map_err(ApiError::from)?;
        }
    }
    Ok(sha)
}

/// Creates the device row a browser session acts under. Its tokens are random and never
/// revealed, and the access token is born expired: the row exists for the audit trail and for
/// revocation, not for API use.
pub async fn register_web_device(
    state: &AppState,
    user: &UserRecord,
    user_agent: &str,
) -> Result<DeviceRecord, WebError> {
    let id = xuncha_core::ids::new_id();
    let name: String = format!(
        "网页工作台 {}",
        user_agent.chars().take(60).collect::<String>()
    );
    state
        .storage
        .create_device(
            crate::storage::NewDevice {
                id,
                user_id: user.id.clone(),
                name: name.clone(),
                refresh_hash: crate::policy::passwords::token_hash(&session::random_token()),
                access_hash: crate::policy::passwords::token_hash(&session::random_token()),
                access_expires_at: Utc::now(),
                max_active_per_user: state.config.auth.sessions_per_user,
            },
            AuditDraft::new("WEB_SIGN_IN", "device", id.to_string()).by(
                &user.id,
                user.role,
                Some(id),
            ),
        )
        .await?;
    Ok(DeviceRecord {
        id,
        user_id: user.id.clone(),
        name,
        revoked: false,
    })
}
