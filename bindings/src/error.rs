//! The one error type every exported call returns. Kotlin sees `XunchaException.InvalidInput` …,
//! Swift `XunchaError.invalidInput(code:detail:)`, Python `XunchaError.InvalidInput`. `code` is the
//! stable machine code of the core or the server (e.g. `ROLE_NOT_ALLOWED`); `detail` is for people.

/// Why a call failed. The variant tells the app what to do; `code` tells it exactly what happened.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum XunchaError {
    /// The caller passed something unusable: unknown code, malformed id, unreadable photo file.
    #[error("invalid input {code}: {detail}")]
    InvalidInput { code: String, detail: String },
    /// The workflow refuses this action for this role or state (the server would refuse it too).
    #[error("not allowed {code}: {detail}")]
    NotAllowed { code: String, detail: String },
    /// No such case, estate or unit on this device.
    #[error("not found {code}: {detail}")]
    NotFound { code: String, detail: String },
    /// Not signed in, or the server refused the credentials or the device's tokens.
    #[error("not signed in {code}: {detail}")]
    Unauthenticated { code: String, detail: String },
    /// The server could not be reached or the connection broke. Nothing is lost; try again later.
    #[error("network {code}: {detail}")]
    Network { code: String, detail: String },
    /// The server answered with an error it gave a code for.
    #[error("server {code}: {detail}")]
    Server { code: String, detail: String },
    /// The local database or photo folder failed (disk full, corrupt file).
    #[error("storage {code}: {detail}")]
    Storage { code: String, detail: String },
}

impl XunchaError {
    pub(crate) fn invalid(code: &str, detail: impl Into<String>) -> Self {
        XunchaError::InvalidInput {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(code: &str, detail: impl Into<String>) -> Self {
        XunchaError::NotFound {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    /// The stable machine code, whatever the variant.
    pub fn code(&self) -> &str {
        match self {
            XunchaError::InvalidInput { code, .. }
            | XunchaError::NotAllowed { code, .. }
            | XunchaError::NotFound { code, .. }
            | XunchaError::Unauthenticated { code, .. }
            | XunchaError::Network { code, .. }
            | XunchaError::Server { code, .. }
            | XunchaError::Storage { code, .. } => code,
        }
    }
}
