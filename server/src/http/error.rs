//! The one error type handlers return and THE table ([`ApiError::entry`]) mapping each error to
//! its HTTP status, stable machine code and Chinese summary; the body is always `{code, message}`
//! (`xuncha_core::protocol::ApiError`). Refusals of ingest ([`crate::policy::refusal`]) get their
//! status from [`refusal_status`]; Open311 wraps these in its own document shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use xuncha_core::protocol::ApiError as ErrorBody;

use crate::http::extract::RequestPart;
use crate::policy::refusal::RefusalKind;
use crate::storage::StorageError;
use crate::storage::photo_files::PhotoFileError;

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
    /// A query string, path, form or multipart body axum could not read ([`RequestPart`]); the
    /// status is the one axum gives its rejection (400, 413, 415, 422 …).
    #[error("请求无效 (invalid request): {detail}")]
    Malformed {
        part: RequestPart,
        status: StatusCode,
        detail: String,
    },
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

/// One row of the error table: HTTP status, stable machine code (part of the API) and a short
/// Chinese summary for people (the dashboard shows it; the JSON body's `message` is the detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorEntry {
    pub status: StatusCode,
    pub code: &'static str,
    pub summary_zh: &'static str,
}

impl ApiError {
    /// THE error table: every error the HTTP layer answers with, once.
    pub fn entry(&self) -> ErrorEntry {
        let (status, code, summary_zh) = match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "未登录：请先登录",
            ),
            ApiError::TokenInvalid => (
                StatusCode::UNAUTHORIZED,
                "TOKEN_INVALID",
                "登录已过期，请刷新令牌",
            ),
            ApiError::RefreshInvalid => (
                StatusCode::UNAUTHORIZED,
                "REFRESH_INVALID",
                "刷新令牌无效，请重新登录",
            ),
            ApiError::Revoked => (StatusCode::UNAUTHORIZED, "REVOKED", "该设备或账号已被停用"),
            ApiError::RefreshReused => (
                StatusCode::UNAUTHORIZED,
                "REFRESH_TOKEN_REUSED",
                "刷新令牌被重复使用，设备会话已注销，请重新登录",
            ),
            ApiError::LoginLocked { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "LOGIN_LOCKED",
                "登录失败次数过多，请稍后再试",
            ),
            ApiError::ServerBusy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_BUSY",
                "服务器繁忙，请稍后再试",
            ),
            ApiError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "BAD_CREDENTIALS",
                "用户名或密码错误",
            ),
            ApiError::RoleForbidden { .. } => (
                StatusCode::FORBIDDEN,
                "ROLE_FORBIDDEN",
                "当前角色无权执行此操作",
            ),
            ApiError::ObjectForbidden { .. } => {
                (StatusCode::FORBIDDEN, "OBJECT_FORBIDDEN", "无权查看该对象")
            }
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND", "未找到"),
            ApiError::RouteNotFound(_) => {
                (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "没有这个地址")
            }
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "不支持该请求方法",
            ),
            ApiError::BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                "请求内容过大",
            ),
            ApiError::BadJson(_) => (
                StatusCode::BAD_REQUEST,
                "BAD_JSON",
                "请求内容不是有效的 JSON",
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", "请求无效"),
            ApiError::ProtocolVersion { .. } => (
                StatusCode::BAD_REQUEST,
                "PROTOCOL_VERSION",
                "协议版本不受支持，请升级应用",
            ),
            ApiError::BatchTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "BATCH_TOO_LARGE",
                "一次上传的事件过多",
            ),
            ApiError::InvalidCursor(_) => {
                (StatusCode::BAD_REQUEST, "INVALID_CURSOR", "同步游标无效")
            }
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "请求过于频繁，请稍后再试",
            ),
            ApiError::PhotoAddress => (
                StatusCode::BAD_REQUEST,
                "PHOTO_ADDRESS",
                "照片地址应为 64 位小写十六进制",
            ),
            ApiError::OffsetMismatch { .. } => (
                StatusCode::CONFLICT,
                "OFFSET_MISMATCH",
                "上传位置与已收到的字节数不符",
            ),
            ApiError::PhotoTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PHOTO_TOO_LARGE",
                "照片文件过大",
            ),
            ApiError::PhotoHashMismatch { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "PHOTO_HASH_MISMATCH",
                "照片内容与其地址不符，已丢弃",
            ),
            ApiError::PhotoTooManyPixels { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "PHOTO_TOO_MANY_PIXELS",
                "照片像素过多",
            ),
            ApiError::PhotoUndecodable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "PHOTO_UNDECODABLE",
                "照片无法解码（应为 JPEG）",
            ),
            ApiError::PhotoIncomplete { .. } => {
                (StatusCode::CONFLICT, "PHOTO_INCOMPLETE", "照片尚未上传完整")
            }
            ApiError::UploadBusy => (
                StatusCode::CONFLICT,
                "UPLOAD_IN_PROGRESS",
                "该照片正在上传，请稍后重试",
            ),
            ApiError::PhotoEmpty => (StatusCode::BAD_REQUEST, "PHOTO_EMPTY", "照片上传内容为空"),
            ApiError::UploadQuota { .. } => {
                (StatusCode::CONFLICT, "UPLOAD_QUOTA", "未完成的照片上传过多")
            }
            ApiError::UserExists(_) => (StatusCode::CONFLICT, "USER_EXISTS", "用户名已存在"),
            ApiError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "STORAGE", "数据库故障"),
            ApiError::Malformed { part, status, .. } => {
                (*status, malformed_code(*part, *status), "请求格式有误")
            }
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "服务器内部错误",
            ),
        };
        ErrorEntry {
            status,
            code,
            summary_zh,
        }
    }

    /// Stable machine code, part of the API.
    pub fn code(&self) -> &'static str {
        self.entry().code
    }

    pub fn status(&self) -> StatusCode {
        self.entry().status
    }

    pub fn summary_zh(&self) -> &'static str {
        self.entry().summary_zh
    }

    /// A problem with the photo the user sent (not the server's), so a form shows it as input
    /// to correct.
    pub fn is_photo_input(&self) -> bool {
        matches!(
            self,
            ApiError::PhotoAddress
                | ApiError::PhotoTooLarge { .. }
                | ApiError::PhotoHashMismatch { .. }
                | ApiError::PhotoTooManyPixels { .. }
                | ApiError::PhotoUndecodable(_)
                | ApiError::PhotoIncomplete { .. }
                | ApiError::PhotoEmpty
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// The code of an unreadable request part: by its status where that says more than the part
/// (too large, wrong media type, a server-side fault), else by the part.
pub fn malformed_code(part: RequestPart, status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        _ if status.is_server_error() => "INTERNAL",
        _ => part.code(),
    }
}

/// The HTTP status of an ingest refusal: 403 when it is about who asks, else 400 (Open311's
/// answer to a refused report; the sync API answers 200 with per-event results).
pub fn refusal_status(kind: RefusalKind) -> StatusCode {
    if kind.is_forbidden() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    }
}

impl From<PhotoFileError> for ApiError {
    fn from(e: PhotoFileError) -> Self {
        match e {
            PhotoFileError::TooManyPixels { pixels, limit } => {
                ApiError::PhotoTooManyPixels { pixels, limit }
            }
            PhotoFileError::Undecodable(detail) => ApiError::PhotoUndecodable(detail),
            PhotoFileError::Storage(e) => ApiError::from(e),
            other @ (PhotoFileError::Pipeline(_)
            | PhotoFileError::Io(_)
            | PhotoFileError::Task(_)) => ApiError::Internal(other.to_string()),
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
