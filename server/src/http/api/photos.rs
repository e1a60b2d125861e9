//! Resumable photo upload by SHA-256: `GET /api/v1/photos/{sha256}/status` says how many bytes the
//! server holds; `PUT /api/v1/photos/{sha256}?offset=N[&total=T]` appends the body from `offset`.
//! When the upload is complete (`total` reached, or no `total` given: this body is the last part)
//! the bytes are hashed, decoded under limits, re-encoded metadata-free and stored.
//! `GET /api/v1/photos/{sha256}` serves the stored JPEG to those who may see a case using it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use crate::http::extract::{Path, Query};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use xuncha_core::Role;
use xuncha_core::protocol::PhotoUploadStatus;

use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::{ApiError, ApiResult};
use crate::policy::access;
use crate::storage::PhotoRecord;
use crate::storage::photo_files::{self, is_sha256_hex};

fn check_address(sha: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ApiError::PhotoAddress)
    }
}

/// Whether the user may know of this stored photo: an admin, one of its uploaders, or someone
/// who sees a case it is attached to (applied events only: an event is applied only when its
/// actor could read the photo already, so citing a hash never grants access).
pub async fn may_read_photo(
    state: &AppState,
    user: &crate::storage::UserRecord,
    sha: &str,
) -> Result<bool, ApiError> {
    let uploaded = state
        .storage
        .photo_uploaded_by(sha.to_owned(), user.id.clone())
        .await?;
    // The citing cases matter only when the cheaper answers do not already admit the user.
    let citing = if user.role == Role::Admin || uploaded {
        Vec::new()
    } else {
        state.storage.photo_cases(sha.to_owned()).await?
    };
    Ok(access::can_see_photo(
        user,
        &state.catalog(),
        uploaded,
        &citing,
    ))
}

/// What this user holds of the photo: complete if stored and theirs to know of, otherwise the
/// bytes of their own unfinished upload (another user's photo or upload answers as unknown).
async fn held_bytes(
    state: &AppState,
    authed: &Authed,
    sha: &str,
) -> Result<PhotoUploadStatus, ApiError> {
    if let Some(photo) = state.storage.photo(sha.to_owned()).await?
        && may_read_photo(state, &authed.0.user, sha).await?
    {
        return Ok(PhotoUploadStatus {
            sha256: sha.to_owned(),
            received: photo.bytes,
            complete: true,
        });
    }
    let received =
        match tokio::fs::metadata(state.photos.partial_path(&authed.0.user.id, sha)).await {
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

/// `GET /api/v1/photos/{sha256}/status`: only about the caller's own uploads and photos of cases
/// they can see; anything else answers like an unknown photo (`received: 0`).
pub async fn status(
    State(state): State<AppState>,
    authed: Authed,
    Path(sha): Path<String>,
) -> ApiResult<Json<PhotoUploadStatus>> {
    check_address(&sha)?;
    Ok(Json(held_bytes(&state, &authed, &sha).await?))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub offset: u64,
    #[serde(default)]
    pub total: Option<u64>,
}

/// Removes the upload from the in-progress set when the upload handler ends, however it ends.
struct UploadGuard<'a> {
    state: &'a AppState,
    key: String,
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.state.uploads_in_progress.lock() {
            busy.remove(&self.key);
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
    if query.total == Some(0) {
        return Err(ApiError::PhotoEmpty);
    }
    let user_id = authed.0.user.id.clone();
    // Same key the sweep checks: the user's folder and the address.
    let key = format!(
        "{}/{sha}",
        crate::storage::photo_files::PhotoStore::user_key(&user_id)
    );
    {
        let mut busy = state
            .uploads_in_progress
            .lock()
            .map_err(|_| ApiError::Internal("upload registry poisoned".to_owned()))?;
        if !busy.insert(key.clone()) {
            return Err(ApiError::UploadBusy);
        }
    }
    let _guard = UploadGuard { state: &state, key };
    let held = held_bytes(&state, &authed, &sha).await?;
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
    // The user's other unfinished uploads, and this one at its declared size.
    let quota = &state.config.uploads;
    let (other_parts, other_bytes) = {
        let photos = state.photos.clone();
        let (user, address) = (user_id.clone(), sha.clone());
        tokio::task::spawn_blocking(move || photos.held_parts(&user, &address))
            .await
            .map_err(|_| ApiError::Internal("photo task failed".to_owned()))?
            .map_err(|e| ApiError::Internal(format!("photo store: {e}")))?
    };
    let this_upload = query
        .total
        .unwrap_or(0)
        .max(held.received.saturating_add(declared));
    if other_parts >= quota.parts_per_user
        || other_bytes.saturating_add(this_upload) > quota.part_bytes_per_user
    {
        return Err(ApiError::UploadQuota {
            parts: quota.parts_per_user,
            bytes: quota.part_bytes_per_user,
        });
    }
    let byte_cap = limit.min(quota.part_bytes_per_user.saturating_sub(other_bytes));
    let partial = state.photos.partial_path(&user_id, &sha);
    let io = |e: std::io::Error| ApiError::Internal(format!("photo store: {e}"));
    if let Some(dir) = partial.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
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
        if received > byte_cap {
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(if received > limit {
                ApiError::PhotoTooLarge { limit }
            } else {
                ApiError::UploadQuota {
                    parts: quota.parts_per_user,
                    bytes: quota.part_bytes_per_user,
                }
            });
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    if received == held.received {
        // Nothing arrived: no progress to report and nothing to finish (an empty part is
        // not kept either).
        if received == 0 {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        return Err(ApiError::PhotoEmpty);
    }
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
    let partial = state.photos.partial_path(&authed.0.user.id, sha);
    let expected = sha.to_owned();
    let path = partial.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let (actual, bytes) = photo_files::sha256_file(&path)
            .map_err(|e| ApiError::Internal(format!("photo store: {e}")))?;
        if actual != expected {
            return Err(ApiError::PhotoHashMismatch { expected, actual });
        }
        Ok(bytes)
    })
    .await
    .map_err(|_| ApiError::Internal("photo task failed".to_owned()))??;
    // Stored before from someone else's upload: these bytes prove this user holds it too.
    let record = match state.storage.photo(sha.to_owned()).await? {
        Some(stored) => {
            photo_files::record_received(&state.photo_files(), &authed.0, stored, "api").await?
        }
        None => {
            photo_files::store_received(&state.photo_files(), &authed.0, sha, bytes, "api").await?
        }
    };
    let _ = tokio::fs::remove_file(&partial).await;
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
    state
        .storage
        .photo(sha.clone())
        .await?
        .ok_or_else(not_found)?;
    let allowed = may_read_photo(&state, &authed.0.user, &sha).await?;
    if !allowed {
        // Audited, but answered like an unknown photo: an address never tells whether it exists.
        state.deny(&authed, "photo", &sha).await?;
        return Err(not_found());
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
