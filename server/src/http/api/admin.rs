//! Admin routes: revoke any device, disable a user, verify the audit chain.

use axum::Json;
use axum::extract::State;

use crate::http::extract::Path;
use axum::http::StatusCode;
use uuid::Uuid;
use xuncha_core::Role;

use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::{ApiError, ApiResult};
use crate::policy::audit::{self, AuditDraft, AuditReport};

async fn require_admin(
    state: &AppState,
    authed: &Authed,
    what: &'static str,
    object: &str,
) -> Result<(), ApiError> {
    if authed.0.user.role == Role::Admin {
        return Ok(());
    }
    state.deny(authed, "admin", object).await?;
    Err(ApiError::RoleForbidden {
        role: authed.0.user.role.code(),
        what,
    })
}

fn by(authed: &Authed, draft: AuditDraft) -> AuditDraft {
    draft.by(
        &authed.0.user.id,
        authed.0.user.role,
        Some(authed.0.device.id),
    )
}

pub async fn revoke_device(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &authed, "revoke devices", &id).await?;
    let not_found = || ApiError::NotFound {
        what: "device",
        id: id.clone(),
    };
    let device_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let found = state
        .storage
        .revoke_device(
            device_id,
            by(
                &authed,
                AuditDraft::new("DEVICE_REVOKED", "device", id.clone()),
            ),
        )
        .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

pub async fn disable_user(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &authed, "disable users", &id).await?;
    let found = state
        .storage
        .set_user_disabled(
            id.clone(),
            true,
            by(
                &authed,
                AuditDraft::new("USER_DISABLED", "user", id.clone()),
            ),
        )
        .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "user", id })
    }
}

pub async fn verify_audit(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<AuditReport>> {
    require_admin(&state, &authed, "verify the audit log", "audit_log").await?;
    let (rows, head) = state.storage.audit_log().await?;
    Ok(Json(audit::verify(&rows, &head)))
}
