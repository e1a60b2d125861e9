//! Errors of the device store. Inside the store everything returns the rich [`Error`]; the public
//! API returns the small [`StoreError`] with a stable `code()` the app can switch on (the
//! mozilla/application-services split: callers never match on SQLite internals).

use thiserror::Error as ThisError;
use uuid::Uuid;

/// What went wrong, in detail. Never leaves the store module as is.
#[derive(Debug, ThisError)]
pub(crate) enum Error {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the database was written by a newer version of the app (schema {found}, this build \
         understands up to {supported}); update the app, the data is left untouched"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("migration to schema {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("stored value in {column} is not valid: {value}")]
    BadColumn { column: &'static str, value: String },
    #[error("no case with id {0}")]
    UnknownCase(Uuid),
    #[error("no estate with id {0}")]
    UnknownEstate(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("a connection lock was poisoned by a panic in another thread")]
    Poisoned,
}

/// The public error of the device store. `code()` is stable API; `message` is for logs and
/// support, not for matching.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum StoreError {
    /// The file was written by a newer schema than this build knows. Nothing was changed.
    #[error(
        "数据库版本过新 (schema {found} > {supported})：请更新应用 / database written by a newer app version"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// SQLite failed (disk full, I/O error, corrupt file, locked …).
    #[error("本地数据库错误 / local database error: {message}")]
    Database { message: String },
    /// A stored row could not be read back (a bug or a damaged file).
    #[error("本地数据损坏 / stored data unreadable: {message}")]
    Corrupt { message: String },
    /// Reading or writing a file (photos, the database folder) failed.
    #[error("文件读写失败 / file I/O failed: {message}")]
    Io { message: String },
    #[error("案件不存在 / unknown case {case_id}")]
    UnknownCase { case_id: Uuid },
    #[error("小区不存在 / unknown estate {estate_id}")]
    UnknownEstate { estate_id: String },
    /// The caller passed something the store cannot take (empty page size, bad filter …).
    #[error("输入无效 / invalid input: {message}")]
    InvalidInput { message: String },
    /// The shared workflow refused the action, exactly as the server would; `code` is the
    /// workflow's own stable code (`ROLE_NOT_ALLOWED`, `INVALID_STATE`, …).
    #[error("操作不允许 / refused by the workflow ({code}): {message}")]
    Workflow { code: &'static str, message: String },
    /// The photo pipeline refused a file; `code` is the pipeline's own code.
    #[error("照片无法处理 / photo refused ({code}): {message}")]
    Photo { code: &'static str, message: String },
    /// The routing preview failed (rules or directory incomplete); `code` is the routing code.
    #[error("无法确定处置单位 / routing failed ({code}): {message}")]
    Routing { code: &'static str, message: String },
}

impl StoreError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::SchemaTooNew { .. } => "SCHEMA_TOO_NEW",
            StoreError::Database { .. } => "DATABASE",
            StoreError::Corrupt { .. } => "CORRUPT",
            StoreError::Io { .. } => "IO",
            StoreError::UnknownCase { .. } => "UNKNOWN_CASE",
            StoreError::UnknownEstate { .. } => "UNKNOWN_ESTATE",
            StoreError::InvalidInput { .. } => "INVALID_INPUT",
            StoreError::Workflow { code, .. }
            | StoreError::Photo { code, .. }
            | StoreError::Routing { code, .. } => code,
        }
    }
}

impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        match error {
            Error::SchemaTooNew { found, supported } => {
                StoreError::SchemaTooNew { found, supported }
            }
            Error::UnknownCase(case_id) => StoreError::UnknownCase { case_id },
            Error::UnknownEstate(estate_id) => StoreError::UnknownEstate { estate_id },
            Error::InvalidInput(message) => StoreError::InvalidInput { message },
            Error::Io(e) => StoreError::Io {
                message: e.to_string(),
            },
            error @ (Error::Json(_) | Error::BadColumn { .. }) => {
                tracing::error!(%error, "store: stored data unreadable");
                StoreError::Corrupt {
                    message: error.to_string(),
                }
            }
            error @ (Error::Sqlite(_) | Error::Migration { .. } | Error::Poisoned) => {
                tracing::error!(%error, "store: database error");
                StoreError::Database {
                    message: error.to_string(),
                }
            }
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
