//! HTTP side of the dashboard: the signed-in user extractor (cookie session → the same
//! `UserRecord` the API uses), CSRF checks, data loading through the storage case query scoped by
//! [`crate::policy::access::case_scope`], and the
//! write path, which builds an [`Event`] and sends it through `Storage::ingest` exactly like a
//! phone's push (same workflow, routing, idempotency and audit).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use uuid::Uuid;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::workflow::{Action, Event, PhotoRef};
use xuncha_core::{Actor, Case, Estate, OrgUnit, Role};

use super::html::{FrameUser, NoticeKind, esc, notice, page};
use super::session::{self, SessionStore, tokens_equal};
use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::ApiError;
use crate::policy::access;
use crate::policy::audit::AuditDraft;
use crate::policy::catalog::Catalog;
use crate::policy::ingest;
use crate::storage::{CaseQuery, CaseRow, DeviceRecord, IngestBatch, Session, UserRecord};

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
            role_zh: self.user().role.name_zh(),
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

/// What the browser session stores besides the user: the device row created at sign-in, so the
/// audit log names the web session and revoking it signs the browser out.
#[derive(Debug, Clone)]
pub struct WebSessionData {
    pub user_id: String,
    pub device_id: Uuid,
}

/// The cookie token of a request, if any.
fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::token_from_cookie_header(h).map(str::to_owned))
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
            .ok_or_else(|| WebError::Internal("dashboard session store missing".into()))?;
        let token = cookie_token(parts).ok_or(WebError::SignIn)?;
        let web = sessions.touch(&token, Utc::now()).ok_or(WebError::SignIn)?;
        let (user_id, device_id) = split_session_user(&web.user_id).ok_or(WebError::SignIn)?;
        let storage = &state.storage;
        let user = storage
            .user_by_id(user_id.to_owned())
            .await
            .map_err(storage_error)?;
        let device = storage.device(device_id).await.map_err(storage_error)?;
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
            csrf_token: web.csrf_token,
            unit_name,
        })
    }
}

/// The session store keys sessions by one string; it holds `user_id` and the web device id.
pub fn session_user(user_id: &str, device_id: Uuid) -> String {
    format!("{device_id}/{user_id}")
}

fn split_session_user(stored: &str) -> Option<(&str, Uuid)> {
    let (device, user) = stored.split_once('/')?;
    Some((user, Uuid::parse_str(device).ok()?))
}

/// Errors a dashboard page can end in, rendered as a Chinese page with the right status.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("请先登录")]
    SignIn,
    #[error("表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")]
    Csrf,
    #[error("无权查看或操作：{0}")]
    Forbidden(String),
    #[error("未找到：{0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("服务器内部错误：{0}")]
    Internal(String),
}

impl WebError {
    pub fn code(&self) -> &'static str {
        match self {
            WebError::SignIn => "SIGN_IN_REQUIRED",
            WebError::Csrf => "CSRF_FAILED",
            WebError::Forbidden(_) => "OBJECT_FORBIDDEN",
            WebError::NotFound(_) => "NOT_FOUND",
            WebError::BadInput(_) => "BAD_INPUT",
            WebError::Internal(_) => "INTERNAL",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            WebError::SignIn => StatusCode::SEE_OTHER,
            WebError::Csrf | WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> WebError {
        match e {
            ApiError::NotFound { what, id } => WebError::NotFound(format!("{what} {id}")),
            ApiError::ObjectForbidden { what, id } => WebError::Forbidden(format!("{what} {id}")),
            ApiError::Storage(inner) => storage_error(inner),
            other if other.code().starts_with("PHOTO") => WebError::BadInput(other.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

pub fn storage_error(e: crate::storage::StorageError) -> WebError {
    tracing::error!(code = e.code(), error = %e, "dashboard storage failure");
    WebError::Internal(format!("存储失败（{}）", e.code()))
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if matches!(self, WebError::SignIn) {
            return Redirect::to("/dashboard/login").into_response();
        }
        let status = self.status();
        let body = format!(
            "{}<p><a href=\"/dashboard/cases\">返回案件队列</a></p><p class=\"meta\">错误代码 {}</p>",
            notice(NoticeKind::Error, &self.to_string()),
            self.code()
        );
        (status, html_response(page("出错了", "", None, &body))).into_response()
    }
}

/// An HTML response with the security headers every dashboard page carries.
pub fn html_response(html: String) -> Response {
    let mut resp = axum::response::Html(html).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// A file download (CSV/XLSX) with a UTF-8 file name.
pub fn download(bytes: Vec<u8>, content_type: &'static str, file_name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"export\"; filename*=UTF-8''{}",
        super::html::url_encode(file_name)
    );
    let mut resp = (StatusCode::OK, bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Everything a page may show the user: visible cases (with their stored rows), their events,
/// visible estates and the unit directory.
pub struct Visible {
    pub catalog: Arc<Catalog>,
    pub rows: Vec<CaseRow>,
    pub events: Vec<Event>,
    pub estates: Vec<Estate>,
}

impl Visible {
    pub fn cases(&self) -> Vec<Case> {
        self.rows.iter().map(|r| r.case.clone()).collect()
    }

    pub fn units(&self) -> &[OrgUnit] {
        self.catalog.units()
    }

    /// Reads the events of the cases now in `rows` (after a page has narrowed them).
    pub async fn load_events(&mut self, state: &AppState) -> Result<(), WebError> {
        self.events = state
            .storage
            .events_of_cases(self.rows.iter().map(|r| r.case.id).collect())
            .await
            .map_err(storage_error)?;
        Ok(())
    }
}

/// The estates [`access::can_see_estate`] allows, by id.
pub fn visible_estates(user: &UserRecord, catalog: &Catalog) -> Vec<Estate> {
    let mut estates: Vec<Estate> = catalog
        .estates()
        .values()
        .filter(|e| access::can_see_estate(user, catalog, e))
        .cloned()
        .collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    estates
}

/// A query over the cases the user may see ([`access::case_scope`]), narrowed by the caller.
pub fn scoped_query(user: &UserRecord, catalog: &Catalog) -> CaseQuery {
    CaseQuery::new(access::case_scope(user, catalog), Utc::now())
}

/// Every case matching `query` (exports, map, KPI).
pub async fn query_all(state: &AppState, query: CaseQuery) -> Result<Vec<CaseRow>, WebError> {
    crate::storage::query_all(state.storage.as_ref(), query)
        .await
        .map_err(storage_error)
}

/// The cases of the user's scope that `narrow` selects, with their events when asked, the
/// visible estates and the unit directory.
pub async fn load_visible(
    state: &AppState,
    user: &UserRecord,
    narrow: impl FnOnce(&mut CaseQuery),
    with_events: bool,
) -> Result<Visible, WebError> {
    let catalog = state.catalog();
    let mut query = scoped_query(user, &catalog);
    narrow(&mut query);
    let rows = query_all(state, query).await?;
    let estates = visible_estates(user, &catalog);
    let mut visible = Visible {
        catalog,
        rows,
        events: Vec::new(),
        estates,
    };
    if with_events {
        visible.load_events(state).await?;
    }
    Ok(visible)
}

/// One case the user may see, with its events; a refusal is audited like the API's.
pub async fn load_case(
    state: &AppState,
    web: &WebUser,
    id: &str,
) -> Result<(CaseRow, Vec<Event>), WebError> {
    let not_found = || WebError::NotFound(format!("案件 {id}"));
    let case_id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let (row, events) = state
        .storage
        .case_with_events(case_id)
        .await
        .map_err(storage_error)?
        .ok_or_else(not_found)?;
    if !access::can_see_case(web.user(), &state.catalog(), &row) {
        state.deny(&web.authed, "case", id).await?;
        return Err(WebError::Forbidden(format!(
            "案件 {id} 不在您的管辖或派遣范围内"
        )));
    }
    Ok((row, events))
}

/// Sends one event through the shared ingest path; `Ok(case)` when applied, `Err((code,
/// message))` when the workflow or authorization refused it.
pub async fn submit_event(
    state: &AppState,
    web: &WebUser,
    case_id: Uuid,
    action: Action,
    photos: Vec<PhotoRef>,
    note: Option<String>,
) -> Result<Result<Case, (String, String)>, WebError> {
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
        .await
        .map_err(storage_error)?;
    match results.into_iter().next().map(|r| r.outcome) {
        Some(EventOutcome::Applied { case } | EventOutcome::Duplicate { case }) => Ok(Ok(*case)),
        Some(EventOutcome::Rejected { code, message }) => Ok(Err((code, message))),
        None => Err(WebError::Internal("ingest returned no result".into())),
    }
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
        .await
        .map_err(storage_error)?;
    Ok(DeviceRecord {
        id,
        user_id: user.id.clone(),
        name,
        revoked: false,
    })
}

/// Escaped display name of a user id, looked up once per page.
pub async fn user_names(state: &AppState, ids: Vec<String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        let name = match state.storage.user_by_id(id.clone()).await {
            Ok(Some(user)) => user.display_name,
            _ => id.clone(),
        };
        out.insert(id, name);
    }
    out
}

/// A page response for a signed-in user.
pub fn user_page(web: &WebUser, title: &str, active: &str, body: &str) -> Response {
    html_response(page(title, active, Some(&web.frame()), body))
}

/// Escapes for use inside element text (re-exported for page modules).
pub fn text(s: &str) -> String {
    esc(s)
}
