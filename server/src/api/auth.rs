//! `POST /api/v1/auth/enrol`, `POST /api/v1/auth/refresh`, `POST /api/v1/auth/revoke`, `GET /api/v1/me`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, Utc};
use xuncha_core::protocol::{
    EnrolRequest, EnrolResponse, RefreshRequest, RefreshResponse, UserInfo,
};

use super::read_json;
use crate::app::AppState;
use crate::audit::AuditDraft;
use crate::auth::{self, ACCESS_PREFIX, Authed, REFRESH_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::storage::{NewDevice, RefreshOutcome, UserRecord};

pub fn user_info(user: &UserRecord) -> UserInfo {
    UserInfo {
        user_id: user.id.clone(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        unit_id: user.unit_id.clone(),
    }
}

pub async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<EnrolResponse>> {
    let request: EnrolRequest =
        read_json(&headers, body, state.config.limits.auth_body_bytes).await?;
    let device_name = request.device_name.trim().to_owned();
    if device_name.is_empty() || device_name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "device_name must be 1 to 100 characters".to_owned(),
        ));
    }
    state
        .limiter
        .check(&format!("enrol:{}", request.username))?;
    let user = state
        .storage
        .user_by_username(request.username.clone())
        .await?;
    let stored = user
        .as_ref()
        .map_or(state.dummy_password_hash.to_string(), |u| {
            u.password_hash.clone()
        });
    let password_ok = auth::verify_password(request.password, stored).await;
    let Some(user) = user.filter(|_| password_ok) else {
        state
            .storage
            .append_audit(
                AuditDraft::new("LOGIN_FAILED", "user", request.username.clone())
                    .detail(serde_json::json!({ "device_name": device_name })),
            )
            .await?;
        return Err(ApiError::BadCredentials);
    };
    if user.disabled {
        return Err(ApiError::Revoked);
    }
    let device_id = xuncha_core::ids::new_id();
    let access_token = auth::new_token(ACCESS_PREFIX);
    let refresh_token = auth::new_token(REFRESH_PREFIX);
    let ttl = state.config.access_token_ttl_s;
    state
        .storage
        .create_device(
            NewDevice {
                id: device_id,
                user_id: user.id.clone(),
                name: device_name.clone(),
                refresh_hash: auth::token_hash(&refresh_token),
                access_hash: auth::token_hash(&access_token),
                access_expires_at: Utc::now()
                    + Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
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

pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<RefreshResponse>> {
    let request: RefreshRequest =
        read_json(&headers, body, state.config.limits.auth_body_bytes).await?;
    state
        .limiter
        .check(&format!("refresh:{}", request.device_id))?;
    let access_token = auth::new_token(ACCESS_PREFIX);
    let ttl = state.config.access_token_ttl_s;
    let outcome = state
        .storage
        .refresh_access(
            request.device_id,
            auth::token_hash(&request.refresh_token),
            auth::token_hash(&access_token),
            Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
            AuditDraft::new("ACCESS_REFRESHED", "device", request.device_id.to_string()),
        )
        .await?;
    match outcome {
        RefreshOutcome::Refreshed(_) => Ok(Json(RefreshResponse {
            access_token,
            access_expires_in_s: ttl,
        })),
        RefreshOutcome::Invalid => Err(ApiError::RefreshInvalid),
        RefreshOutcome::Revoked => Err(ApiError::Revoked),
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
