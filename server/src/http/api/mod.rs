//! HTTP routes. Every handler returns `ApiResult`, so every error is `{code, message}`.

pub mod admin;
pub mod auth;
pub mod photos;
pub mod sync;

use axum::body::Body;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// The whole body by `axum::body::to_bytes`, refusing more than `limit` bytes (a declared
/// Content-Length over it is refused before anything is read, a lying one while streaming).
pub async fn body_bytes(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        match e
            .into_inner()
            .downcast::<http_body_util::LengthLimitError>()
        {
            Ok(_) => ApiError::BodyTooLarge { limit },
            Err(e) => ApiError::BadRequest(format!("body could not be read: {e}")),
        }
    })
}

/// Reads and parses a JSON body under `limit`.
pub async fn read_json<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = body_bytes(body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadJson(e.to_string()))
}
