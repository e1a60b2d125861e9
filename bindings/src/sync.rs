//! The FFI face of the core's sync client (`xuncha_core::sync::SyncClient`): the listener the app
//! implements, the progress and report records it sees, and the error mapping. The protocol, the
//! retries and token refresh live in the core; the bytes move through the app's `HttpTransport`.

use std::sync::Arc;

use xuncha_core::sync::{self as core_sync, SyncError, SyncUpdate};

use crate::error::XunchaError;

/// What a sync pass is doing, for the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    PushEvents,
    UploadPhotos,
    Pull,
}

/// Progress of one phase: `done` of `total` (events, photos, or pulled pages so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u32,
    pub total: u32,
}

/// Implemented by the app (Kotlin / Swift / Python) to watch a sync. Called from a background
/// thread; keep it quick.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// What one sync pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Events the server stored (applied now or earlier).
    pub events_accepted: u32,
    /// Events the server refused for good; they are parked with the reason (see the case timeline).
    pub events_rejected: u32,
    pub photos_uploaded: u32,
    pub cases_updated: u32,
    /// Local events that no longer apply on top of the server's newer state.
    pub stale_local_events: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<core_sync::SyncReport> for SyncReport {
    fn from(report: core_sync::SyncReport) -> Self {
        SyncReport {
            events_accepted: report.applied.saturating_add(report.duplicate),
            events_rejected: count(report.rejected.len()),
            photos_uploaded: report.photos_uploaded,
            cases_updated: report.pulled_cases,
            stale_local_events: count(report.stale_local_events.len()),
        }
    }
}

/// Forwards the core's progress updates to the app's listener (if any) as [`SyncProgress`].
pub(crate) struct ListenerProgress(pub Option<Arc<dyn SyncListener>>);

impl core_sync::SyncProgress for ListenerProgress {
    fn on_update(&self, update: SyncUpdate) {
        let Some(listener) = &self.0 else {
            return;
        };
        let (phase, done, total) = match update {
            SyncUpdate::Pushing { sent, total } => (SyncPhase::PushEvents, sent, total),
            SyncUpdate::UploadingPhoto {
                index,
                count,
                sent_bytes,
                total_bytes,
            } => {
                // `index` is 1-based and names the photo being sent: it is done once complete.
                let done = if sent_bytes >= total_bytes {
                    index
                } else {
                    index.saturating_sub(1)
                };
                (SyncPhase::UploadPhotos, done, count)
            }
            SyncUpdate::Pulling { pages, .. } => (SyncPhase::Pull, pages, pages),
            SyncUpdate::Retrying { .. } | SyncUpdate::Done { .. } => return,
        };
        listener.on_progress(SyncProgress { phase, done, total });
    }
}

impl From<SyncError> for XunchaError {
    fn from(error: SyncError) -> Self {
        let detail = error.to_string();
        match error {
            SyncError::Config { .. } => XunchaError::InvalidInput {
                code: error.code().to_owned(),
                detail,
            },
            SyncError::NotSignedIn => XunchaError::Unauthenticated {
                code: error.code().to_owned(),
                detail,
            },
            // The server's own code is the more precise one (`BAD_CREDENTIALS`, `REVOKED` …).
            SyncError::AuthRejected { code, .. } => XunchaError::Unauthenticated { code, detail },
            // The whole device session is dead (`REFRESH_TOKEN_REUSED`): forget the stored
            // session and sign in again.
            SyncError::SessionRevoked { code, .. } => XunchaError::Unauthenticated { code, detail },
            SyncError::Network { .. } => XunchaError::Network {
                code: error.code().to_owned(),
                detail,
            },
            SyncError::ServerUnavailable { .. } | SyncError::Protocol { .. } => {
                XunchaError::Server {
                    code: error.code().to_owned(),
                    detail,
                }
            }
            SyncError::Refused {
                status: 403, code, ..
            } => XunchaError::NotAllowed { code, detail },
            SyncError::Refused {
                status: 404, code, ..
            } => XunchaError::NotFound { code, detail },
            SyncError::Refused { code, .. } => XunchaError::Server { code, detail },
            SyncError::Local { code, .. } => XunchaError::Storage { code, detail },
        }
    }
}
