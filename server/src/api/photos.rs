//! Resumable photo upload by SHA-256: `GET /api/v1/photos/{sha256}/status` says how many bytes the
//! server holds; `PUT /api/v1/photos/{sha256}?offset=N[&total=T]` appends the body from `offset`.
//! When the upload is complete (`total` reached, or no `total` given: this body is the last part)
//! the bytes are hashed, decoded under limits, re-encoded metadata-free and stored.
//! `GET /api/v1/photos/{sha256}` serves the stored JPEG to those who may see a case using it.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use xuncha_core::Role;
use xuncha_core::protocol::PhotoUploadStatus;

use crate::access;
use crate::app::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::photo_store::{self, is_sha256_hex};
use crate::storage::PhotoRecord;

fn check_address(sha: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ApiError::PhotoAddress)
    }
}

async fn held_bytes(state: &AppState, sha: &str) -> Result<PhotoUploadStatus, ApiError> {
    if let Some(photo) = state.storage.photo(sha.to_owned()).await? {
        return Ok(PhotoUploadStatus {
            sha256: sha.to_owned(),
            received: photo.bytes,
            complete: true,
        });
    }
    let received = match tokio::fs::metadata(state.photos.partial_path(sha)).await {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            return Err(ApiError::Internal(format!(
                "partial upload unreadable: {e}"
            )));
        }
    };
    Ok(PhotoUploadStatus {
        sha256: sha.to_owned(),
        received,
        complete: false,
    })
}

pub async fn status(
    State(state): State<AppState>,
    _authed: Authed,
    Path(sha): Path<String>,
) -> ApiResult<Json<PhotoUploadStatus>> {
    check_address(&sha)?;
    Ok(Json(held_bytes(&state, &sha).await?))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub offset: u64,
    #[serde(default)]
    pub total: Option<u64>,
}

/// Removes the sha from the in-progress set when the upload handler ends, however it ends.
struct UploadGuard<'a> {
    state: &'a AppState,
    sha: String,
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.state.uploads_in_progress.lock() {
            busy.remove(&self.sha);
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    authed: Authed,
    Path(sha): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PhotoUploadStatus>> {
    check_address(&sha)?;
    let limit = state.config.limits.photo_bytes;
    if query.total.is_some_and(|t| t > limit) {
        return Err(ApiError::PhotoTooLarge { limit });
    }
    {
        let mut busy = state
            .uploads_in_progress
            .lock()
            .map_err(|_| ApiError::Internal("upload registry poisoned".to_owned()))?;
        if !busy.insert(sha.clone()) {
            return Err(ApiError::UploadBusy);
        }
    }
    let _guard = UploadGuard {
        state: &state,
        sha: sha.clone(),
    };
    let held = held_bytes(&state, &sha).await?;
    if held.complete {
        return Ok(Json(held));
    }
    if query.offset != held.received {
        return Err(ApiError::OffsetMismatch {
            offset: query.offset,
            received: held.received,
        });
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if held.received.saturating_add(declared) > limit {
        return Err(ApiError::PhotoTooLarge { limit });
    }
    let partial = state.photos.partial_path(&sha);
    let io = |e: std::io::Error| ApiError::Internal(format!("photo store: {e}"));
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)
        .await
        .map_err(io)?;
    let mut received = held.received;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        // A dropped connection keeps what arrived: the client resumes from the status.
        let Ok(chunk) = chunk else { break };
        received += chunk.len() as u64;
        if received > limit {
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(ApiError::PhotoTooLarge { limit });
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    match query.total {
        Some(total) if received < total => {
            return Ok(Json(PhotoUploadStatus {
                sha256: sha,
                received,
                complete: false,
            }));
        }
        Some(total) if received > total => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(ApiError::BadRequest(format!(
                "received {received} bytes, more than total {total}; upload discarded"
            )));
        }
        _ => {}
    }
    let stored = finish_upload(&state, &authed, &sha).await;
    if stored.is_err() {
        // A complete upload that fails verification is useless: start over.
        let _ = tokio::fs::remove_file(&partial).await;
    }
    let record = stored?;
    Ok(Json(PhotoUploadStatus {
        sha256: sha,
        received: record.bytes,
        complete: true,
    }))
}

async fn finish_upload(
    state: &AppState,
    authed: &Authed,
    sha: &str,
) -> Result<PhotoRecord, ApiError> {
    let partial = state.photos.partial_path(sha);
    let expected = sha.to_owned();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let (actual, bytes) = photo_store::sha256_file(&partial)
            .map_err(|e| ApiError::Internal(format!("photo store: {e}")))?;
        if actual != expected {
            return Err(ApiError::PhotoHashMismatch { expected, actual });
        }
        Ok(bytes)
    })
    .await
    .map_err(|_| ApiError::Internal("photo task failed".to_owned()))??;
    let record = photo_store::store_received(state, &authed.0, sha, bytes, "api").await?;
    let _ = tokio::fs::remove_file(state.photos.partial_path(sha)).await;
    Ok(record)
}

pub async fn download(
    State(state): State<AppState>,
    authed: Authed,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    check_address(&sha)?;
    let not_found = || ApiError::NotFound {
        what: "photo",
        id: sha.clone(),
    };
    let photo = state
        .storage
        .photo(sha.clone())
        .await?
        .ok_or_else(not_found)?;
    let user = &authed.0.user;
    let allowed = user.role == Role::Admin || photo.uploaded_by == user.id || {
        let catalog = state.catalog();
        state
            .storage
            .photo_cases(sha.clone())
            .await?
            .iter()
            .any(|row| access::can_see_case(user, &catalog, row))
    };
    if !allowed {
        state.deny(&authed, "photo", &sha).await?;
        return Err(ApiError::ObjectForbidden {
            what: "photo",
            id: sha,
        });
    }
    let bytes = tokio::fs::read(state.photos.final_path(&sha))
        .await
        .map_err(|e| ApiError::Internal(format!("stored photo unreadable: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}
