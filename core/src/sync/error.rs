//! Errors of a sync run. `code()` is stable API the app switches on; messages are for people and
//! logs and never contain a token or a password.

use thiserror::Error;

/// A failure of the local store as the sync engine sees it: the store's own stable code and
/// message (the store maps SQLite internals to those before they get here).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct LocalError {
    pub code: String,
    pub message: String,
}

/// Why a whole sync run stopped. Per-event refusals and per-photo refusals are not errors: they
/// are parked and listed in the [`super::SyncReport`] while the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyncError {
    /// `base_url` is not an absolute http(s) URL, or the HTTP client could not be built.
    #[error("同步配置无效 / invalid sync configuration: {message}")]
    Config { message: String },
    /// No device session: enrol (sign in) or restore the session from the keystore first.
    #[error("设备未登录 / this device is not signed in")]
    NotSignedIn,
    /// The server refused the credentials: wrong password, device or user revoked, refresh
    /// token unknown. `code` is the server's (`BAD_CREDENTIALS`, `REVOKED`, `REFRESH_INVALID`).
    #[error("登录失效，请重新登录 / sign-in refused ({code}): {message}")]
    AuthRejected { code: String, message: String },
    /// The server revoked this device's whole session because a refresh token it had already
    /// replaced was sent again (`REFRESH_TOKEN_REUSED`: a copy of the token is in someone
    /// else's hands, or the app kept an old one). The session is dead: forget it and sign in
    /// again; unsent records stay on the phone.
    #[error("登录已被撤销，请重新登录 / session revoked by the server ({code}): {message}")]
    SessionRevoked { code: String, message: String },
    /// The network failed on every attempt (no route, refused, timed out, cut mid-response).
    #[error("网络不可用，稍后自动重试 / network unavailable after {attempts} attempts: {message}")]
    Network { attempts: u32, message: String },
    /// The server answered 5xx or 429 on every attempt.
    #[error(
        "服务器繁忙，稍后自动重试 / server unavailable (HTTP {status}) after {attempts} attempts: {message}"
    )]
    ServerUnavailable {
        status: u16,
        attempts: u32,
        message: String,
    },
    /// The server refused a whole request with a 4xx other than an auth failure (a bug or a
    /// version mismatch: retrying would not help). `code` is the server's.
    #[error("服务器拒绝请求 / request refused (HTTP {status}, {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The server's answer does not follow the protocol (unparseable body, a result list that
    /// does not match the batch, a cursor that does not advance).
    #[error("服务器响应不符合协议 / protocol violation: {message}")]
    Protocol { message: String },
    /// The local store failed; `code` is the store's (`DATABASE`, `IO`, …).
    #[error("本地数据库错误 / local store failed ({code}): {message}")]
    Local { code: String, message: String },
}

impl SyncError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Config { .. } => "SYNC_CONFIG",
            SyncError::NotSignedIn => "NOT_SIGNED_IN",
            SyncError::AuthRejected { .. } => "AUTH_REJECTED",
            SyncError::SessionRevoked { .. } => "SESSION_REVOKED",
            SyncError::Network { .. } => "NETWORK",
            SyncError::ServerUnavailable { .. } => "SERVER_UNAVAILABLE",
            SyncError::Refused { .. } => "REQUEST_REFUSED",
            SyncError::Protocol { .. } => "PROTOCOL",
            SyncError::Local { .. } => "LOCAL_STORE",
        }
    }

    /// Worth running again later without the user doing anything (network or server trouble).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Network { .. } | SyncError::ServerUnavailable { .. }
        )
    }
}

impl From<LocalError> for SyncError {
    fn from(e: LocalError) -> Self {
        SyncError::Local {
            code: e.code,
            message: e.message,
        }
    }
}
