//! The signed-in device as the app keeps it: [`DeviceSession`], returned by `enrol` and handed
//! back to `resume` at every start. The library never writes it to disk: the refresh token is
//! long-lived, so at rest it belongs in the platform keystore (Android Keystore, iOS Keychain),
//! which only the app can reach. The server rotates it on every refresh: after each `sync` the
//! app writes `XunchaClient::current_session()` back when it changed (a spent token sent again
//! revokes the device: `Unauthenticated`, code `REFRESH_TOKEN_REUSED`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use xuncha_core::sync::Secret;

use crate::enums::Role;
use crate::error::XunchaError;

/// The device's long-lived refresh token, as an object so that no generated `toString` /
/// `description` / `repr` can print it: Kotlin's `toString()`, Swift's `description` and
/// Python's `str()`/`repr()` all give `RefreshToken(***)`. [`RefreshToken::expose`] is the one
/// way out, for writing it into the keystore.
#[derive(PartialEq, Eq, uniffi::Object)]
#[uniffi::export(Debug, Display, Eq, Hash)]
pub struct RefreshToken(Secret);

/// Consistent with `Eq`, so the Kotlin data class and Swift struct holding it hash consistently.
impl std::hash::Hash for RefreshToken {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.expose().hash(state);
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl std::fmt::Display for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl RefreshToken {
    pub(crate) fn from_secret(secret: Secret) -> Arc<Self> {
        Arc::new(RefreshToken(secret))
    }

    pub(crate) fn secret(&self) -> Secret {
        self.0.clone()
    }
}

#[uniffi::export]
impl RefreshToken {
    /// Rebuilds the token read back from the keystore. An empty value is `InvalidInput`.
    #[uniffi::constructor]
    pub fn new(value: String) -> Result<Arc<Self>, XunchaError> {
        if value.trim().is_empty() {
            return Err(XunchaError::invalid(
                "EMPTY_REFRESH_TOKEN",
                "the refresh token read back from the keystore is empty",
            ));
        }
        Ok(Self::from_secret(Secret::new(value)))
    }

    /// The token itself: only for writing it into the keystore. Never log it.
    pub fn expose(&self) -> String {
        self.0.expose().to_owned()
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit_id: String,
}

impl From<xuncha_core::protocol::UserInfo> for UserInfo {
    fn from(user: xuncha_core::protocol::UserInfo) -> Self {
        UserInfo {
            user_id: user.user_id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            unit_id: user.unit_id,
        }
    }
}

/// What `enrol` returns and `resume` takes back: everything needed to sync after the process
/// restarts. The app must keep it in its secure storage (Android: encrypted with a key held in
/// the Android Keystore; iOS: the Keychain, `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`)
/// and must never log it or write it in plain text; the token itself prints as
/// `RefreshToken(***)`. The access token is not part of it: the core fetches one on first use.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeviceSession {
    /// The server this device enrolled with.
    pub server_url: String,
    /// The device id the server gave at enrolment (a UUID).
    pub device_id: String,
    /// Prints as `RefreshToken(***)`; `expose()` it only to write it into the keystore.
    pub refresh_token: Arc<RefreshToken>,
    pub user: UserInfo,
}

/// How `sign_out` ended. Either way the library has forgotten the session: the app deletes its
/// keystore entry in both cases. Cases, photos and unsent events stay on the phone (warn first
/// when `outbox_counts` shows unsent changes: they wait on the phone until their author signs in
/// again; the sync pushes only the signed-in user's own records).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SignOutOutcome {
    /// The server revoked this device (or already refused its token): the refresh token is dead.
    Revoked,
    /// The revoke did not reach the server (offline, server down, or not signed in): the token
    /// may stay valid server-side until an admin revokes the device. `code` is the sync error's
    /// (`NETWORK`, `SERVER_UNAVAILABLE`, `NOT_SIGNED_IN`, …), `reason` is for people.
    ForgottenLocallyOnly { code: String, reason: String },
}

impl From<xuncha_core::sync::SignOut> for SignOutOutcome {
    fn from(outcome: xuncha_core::sync::SignOut) -> Self {
        match outcome {
            xuncha_core::sync::SignOut::Revoked => SignOutOutcome::Revoked,
            xuncha_core::sync::SignOut::ForgottenLocallyOnly { error } => {
                SignOutOutcome::ForgottenLocallyOnly {
                    code: error.code().to_owned(),
                    reason: error.to_string(),
                }
            }
        }
    }
}

/// Where versions up to 0.1 kept the session, token included, in plain text beside the database.
pub(crate) fn legacy_session_files(db_path: &Path) -> [PathBuf; 2] {
    let file = db_path.with_extension("session.json");
    let tmp = file.with_extension("json.tmp");
    [file, tmp]
}

/// Deletes a plain-text session file left by an older build (the user signs in again; there
/// are no deployed users yet). The token is never logged, only the path and the outcome.
pub(crate) fn remove_legacy_session_files(db_path: &Path) {
    for path in legacy_session_files(db_path) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "deleted a plain-text session file left by an older build: signed out, sign in again"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "could not delete a plain-text session file left by an older build"
            ),
        }
    }
}
