//! The one error type handlers return. Every variant has a stable machine `code()` and an HTTP
//! status; the body is always `{code, message}` (`xuncha_core::protocol::ApiError`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use xuncha_core::protocol::ApiError as ErrorBody;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed Authorization header (expected `Bearer <token>`)")]
    Unauthenticated,
    #[error("access token unknown or expired; refresh it")]
    TokenInvalid,
    #[error("refresh token unknown, revoked or not bound to this device")]
    RefreshInvalid,
    #[error("this device or user has been revoked")]
    Revoked,
    #[error("this refresh token was already used: the device session is revoked; sign in again")]
    RefreshReused,
    #[error(
        "too many failed sign-ins for this account from this address; retry after {retry_after_s} s"
    )]
    LoginLocked { retry_after_s: u64 },
    #[error("the server is busy checking passwords; retry after {retry_after_s} s")]
    ServerBusy { retry_after_s: u64 },
    #[error("wrong username or password")]
    BadCredentials,
    #[error("role {role} may not {what}")]
    RoleForbidden {
        role: &'static str,
        what: &'static str,
    },
    #[error("{what} {id} is not visible to this user")]
    ObjectForbidden { what: &'static str, id: String },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("no such route: {0}")]
    RouteNotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body exceeds the limit of {limit} bytes for this route")]
    BodyTooLarge { limit: usize },
    #[error("request body is not valid JSON for this route: {0}")]
    BadJson(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("protocol version {got} is not supported (server speaks {supported})")]
    ProtocolVersion { got: u32, supported: u32 },
    #[error("batch of {got} events exceeds the limit of {limit}")]
    BatchTooLarge { got: usize, limit: usize },
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
    #[error("too many requests for this token; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("photo address must be 64 lower-case hex characters")]
    PhotoAddress,
    #[error("upload offset {offset} does not match the {received} bytes held")]
    OffsetMismatch { offset: u64, received: u64 },
    #[error("photo exceeds the limit of {limit} bytes")]
    PhotoTooLarge { limit: u64 },
    #[error("uploaded bytes hash to {actual}, not {expected}; the partial upload was discarded")]
    PhotoHashMismatch { expected: String, actual: String },
    #[error("photo has {pixels} pixels, more than the limit of {limit}")]
    PhotoTooManyPixels { pixels: u64, limit: u64 },
    #[error("photo could not be decoded as JPEG: {0}")]
    PhotoUndecodable(String),
    #[error("photo upload incomplete: {received} bytes held")]
    PhotoIncomplete { received: u64 },
    #[error("another upload of this photo is in progress; retry shortly")]
    UploadBusy,
    #[error("照片上传内容为空：请求没有携带任何字节 (empty upload)")]
    PhotoEmpty,
    #[error(
        "未完成的照片上传过多：每位用户最多 {parts} 个、共 {bytes} 字节，请先完成或等待过期 (upload quota)"
    )]
    UploadQuota { parts: usize, bytes: u64 },
    #[error("username {0:?} already exists")]
    UserExists(String),
    #[error("storage failure")]
    Storage(#[source] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Stable machine code, part of the API.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::TokenInvalid => "TOKEN_INVALID",
            ApiError::RefreshInvalid => "REFRESH_INVALID",
            ApiError::Revoked => "REVOKED",
            ApiError::RefreshReused => "REFRESH_TOKEN_REUSED",
            ApiError::LoginLocked { .. } => "LOGIN_LOCKED",
            ApiError::ServerBusy { .. } => "SERVER_BUSY",
            ApiError::BadCredentials => "BAD_CREDENTIALS",
            ApiError::RoleForbidden { .. } => "ROLE_FORBIDDEN",
            ApiError::ObjectForbidden { .. } => "OBJECT_FORBIDDEN",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::RouteNotFound(_) => "ROUTE_NOT_FOUND",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::BodyTooLarge { .. } => "BODY_TOO_LARGE",
            ApiError::BadJson(_) => "BAD_JSON",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::ProtocolVersion { .. } => "PROTOCOL_VERSION",
            ApiError::BatchTooLarge { .. } => "BATCH_TOO_LARGE",
            ApiError::InvalidCursor(_) => "INVALID_CURSOR",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::PhotoAddress => "PHOTO_ADDRESS",
            ApiError::OffsetMismatch { .. } => "OFFSET_MISMATCH",
            ApiError::PhotoTooLarge { .. } => "PHOTO_TOO_LARGE",
            ApiError::PhotoHashMismatch { .. } => "PHOTO_HASH_MISMATCH",
            ApiError::PhotoTooManyPixels { .. } => "PHOTO_TOO_MANY_PIXELS",
            ApiError::PhotoUndecodable(_) => "PHOTO_UNDECODABLE",
            ApiError::PhotoIncomplete { .. } => "PHOTO_INCOMPLETE",
            ApiError::UploadBusy => "UPLOAD_IN_PROGRESS",
            ApiError::PhotoEmpty => "PHOTO_EMPTY",
            ApiError::UploadQuota { .. } => "UPLOAD_QUOTA",
            ApiError::UserExists(_) => "USER_EXISTS",
            ApiError::Storage(_) => "STORAGE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated
            | ApiError::TokenInvalid
            | ApiError::RefreshInvalid
            | ApiError::Revoked
            | ApiError::RefreshReused
            | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::LoginLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RoleForbidden { .. } | ApiError::ObjectForbidden { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound { .. } | ApiError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge { .. }
            | ApiError::BatchTooLarge { .. }
            | ApiError::PhotoTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadJson(_)
            | ApiError::BadRequest(_)
            | ApiError::ProtocolVersion { .. }
            | ApiError::InvalidCursor(_)
            | ApiError::PhotoAddress
            | ApiError::PhotoEmpty => StatusCode::BAD_REQUEST,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OffsetMismatch { .. }
            | ApiError::UserExists(_)
            | ApiError::UploadBusy
            | ApiError::UploadQuota { .. }
            | ApiError::PhotoIncomplete { .. } => StatusCode::CONFLICT,
            ApiError::PhotoHashMismatch { .. }
            | ApiError::PhotoTooManyPixels { .. }
            | ApiError::PhotoUndecodable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::UserExists(name) => ApiError::UserExists(name),
            other => ApiError::Storage(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The details stay in the log; the client gets the stable code.
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_s }
        | ApiError::LoginLocked { retry_after_s }
        | ApiError::ServerBusy { retry_after_s } = self
            && let Ok(value) = retry_after_s.to_string().parse()
        {
            response.headers_mut().insert("retry-after", value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
