//! `POST /api/v1/auth/enrol`, `POST /api/v1/auth/refresh`, `POST /api/v1/auth/revoke`, `GET /api/v1/me`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use xuncha_core::protocol::{
    EnrolRequest, EnrolResponse, RefreshRequest, RefreshResponse, UserInfo,
};

use super::read_json;
use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::{ApiError, ApiResult};
use crate::http::throttle::ClientIp;
use crate::policy::audit::AuditDraft;
use crate::policy::credentials;
use crate::policy::passwords::{self, ACCESS_PREFIX, REFRESH_PREFIX};
use crate::storage::{LockoutPolicy, NewDevice, RefreshOutcome, TokenRefresh, UserRecord};

pub fn user_info(user: &UserRecord) -> UserInfo {
    UserInfo {
        user_id: user.id.clone(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        unit_id: user.unit_id.clone(),
    }
}

/// Longest username accepted; longer ones are refused before any password work.
pub const MAX_USERNAME_CHARS: usize = 100;

/// How a password sign-in (API enrol, dashboard, …) ended before any session is made.
pub enum SignIn {
    Ok(UserRecord),
    /// Wrong username or password, or a disabled account (never told apart: a disabled account
    /// does not reveal whether its password was right).
    Refused,
    /// Too many failures for this account from this address: wait this many seconds.
    Locked {
        retry_after_s: u64,
    },
}

/// The one password check behind every sign-in form: per-address limit, per-account-and-address
/// lockout, bounded argon2 work ([`crate::http::throttle`]), the failure's audit entry (with the
/// username cut, [`credentials::audit_username`]) and the lockout bookkeeping.
pub async fn check_password(
    state: &AppState,
    ip: ClientIp,
    username: &str,
    password: String,
    failure_action: &str,
    failure_detail: serde_json::Value,
) -> ApiResult<SignIn> {
    state.throttle.attempt(ip)?;
    let now = Utc::now();
    let key: String = username.chars().take(MAX_USERNAME_CHARS).collect();
    let client = ip.to_string();
    if let Some(until) = state
        .storage
        .login_lock(key.clone(), client.clone(), now)
        .await?
    {
        return Ok(SignIn::Locked {
            retry_after_s: credentials::seconds_until(until, now),
        });
    }
    let user = if username.chars().count() > MAX_USERNAME_CHARS {
        None
    } else {
        state.storage.user_by_username(username.to_owned()).await?
    };
    let stored = user
        .as_ref()
        .map_or(state.dummy_password_hash.to_string(), |u| {
            u.password_hash.clone()
        });
    let password_ok = state.throttle.verify_password(password, stored).await?;
    match user.filter(|u| password_ok && !u.disabled) {
        Some(user) => {
            state.storage.login_succeeded(key, client).await?;
            Ok(SignIn::Ok(user))
        }
        None => {
            let mut detail = failure_detail;
            if let Some(map) = detail.as_object_mut() {
                map.insert("client".to_owned(), client.clone().into());
            }
            let audit = AuditDraft::new(
                failure_action,
                "user",
                credentials::audit_username(username),
            )
            .detail(detail);
            let policy = LockoutPolicy::from_limits(&state.config.auth);
            match state
                .storage
                .login_failed(key, client, now, policy, audit)
                .await?
            {
                Some(until) => Ok(SignIn::Locked {
                    retry_after_s: credentials::seconds_until(until, now),
                }),
                None => Ok(SignIn::Refused),
            }
        }
    }
}

pub async fn enrol(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Body,
) -> ApiResult<Json<EnrolResponse>> {
    let request: EnrolRequest = read_json(body, state.config.limits.auth_body_bytes).await?;
    let device_name = request.device_name.trim().to_owned();
    if device_name.is_empty() || device_name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "device_name must be 1 to 100 characters".to_owned(),
        ));
    }
    let detail = serde_json::json!({
        "device_name": device_name.chars().take(100).collect::<String>()
    });
    let user = match check_password(
        &state,
        ip,
        &request.username,
        request.password,
        "LOGIN_FAILED",
        detail,
    )
    .await?
    {
        SignIn::Ok(user) => user,
        SignIn::Refused => return Err(ApiError::BadCredentials),
        SignIn::Locked { retry_after_s } => return Err(ApiError::LoginLocked { retry_after_s }),
    };
    let device_id = xuncha_core::ids::new_id();
    let access_token = passwords::new_token(ACCESS_PREFIX);
    let refresh_token = passwords::new_token(REFRESH_PREFIX);
    let ttl = state.config.access_token_ttl_s;
    state
        .storage
        .create_device(
            NewDevice {
                id: device_id,
                user_id: user.id.clone(),
                name: device_name.clone(),
                refresh_hash: passwords::token_hash(&refresh_token),
                access_hash: passwords::token_hash(&access_token),
                access_expires_at: Utc::now()
                    + Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
                max_active_per_user: state.config.auth.sessions_per_user,
            },
            AuditDraft::new("DEVICE_ENROLLED", "device", device_id.to_string())
                .by(&user.id, user.role, Some(device_id))
                .detail(serde_json::json!({ "device_name": device_name })),
        )
        .await?;
    tracing::info!(user = %user.username, %device_id, "device enrolled");
    Ok(Json(EnrolResponse {
        device_id,
        access_token,
        access_expires_in_s: ttl,
        refresh_token,
        user: user_info(&user),
    }))
}

/// Rotates the refresh token: the answer carries a new one, the sent one is spent. A spent token
/// sent again (outside the short grace for a lost answer) revokes the device:
/// `REFRESH_TOKEN_REUSED`, and every later refresh of it is `REVOKED`.
pub async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Body,
) -> ApiResult<Json<RefreshResponse>> {
    let request: RefreshRequest = read_json(body, state.config.limits.auth_body_bytes).await?;
    state.throttle.attempt(ip)?;
    state
        .limiter
        .check(&format!("refresh:{}", request.device_id))?;
    let access_token = passwords::new_token(ACCESS_PREFIX);
    let refresh_token = passwords::new_token(REFRESH_PREFIX);
    let ttl = state.config.access_token_ttl_s;
    let now = Utc::now();
    let outcome = state
        .storage
        .refresh_access(TokenRefresh {
            device_id: request.device_id,
            presented_hash: passwords::token_hash(&request.refresh_token),
            new_refresh_hash: passwords::token_hash(&refresh_token),
            access_hash: passwords::token_hash(&access_token),
            access_expires_at: now + Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
            now,
            grace: Duration::seconds(
                i64::try_from(state.config.auth.refresh_reuse_grace_s).unwrap_or(0),
            ),
            audit: AuditDraft::new("ACCESS_REFRESHED", "device", request.device_id.to_string()),
        })
        .await?;
    match outcome {
        RefreshOutcome::Refreshed(_) => Ok(Json(RefreshResponse {
            access_token,
            access_expires_in_s: ttl,
            refresh_token: Some(refresh_token),
        })),
        RefreshOutcome::Invalid => Err(ApiError::RefreshInvalid),
        RefreshOutcome::Revoked => Err(ApiError::Revoked),
        RefreshOutcome::Reused => {
            tracing::warn!(device_id = %request.device_id, client = %ip, "spent refresh token presented again: device revoked");
            Err(ApiError::RefreshReused)
        }
    }
}

/// Signs this device out: its tokens stop working on the next request.
pub async fn revoke_self(State(state): State<AppState>, authed: Authed) -> ApiResult<StatusCode> {
    let session = &authed.0;
    state
        .storage
        .revoke_device(
            session.device.id,
            AuditDraft::new("DEVICE_REVOKED", "device", session.device.id.to_string()).by(
                &session.user.id,
                session.user.role,
                Some(session.device.id),
            ),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(authed: Authed) -> Json<UserInfo> {
    Json(user_info(&authed.0.user))
}
