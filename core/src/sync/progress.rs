//! What a sync run tells the app while it runs ([`SyncProgress`]) and when it ends ([`SyncReport`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One step of a running sync, for a progress bar or a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncUpdate {
    /// `sent` of `total` outbox events answered by the server so far.
    Pushing { sent: u32, total: u32 },
    /// Photo `index` (1-based) of `count`: `sent_bytes` of `total_bytes` held by the server.
    UploadingPhoto {
        index: u32,
        count: u32,
        sent_bytes: u64,
        total_bytes: u64,
    },
    /// `pages` pages of the change feed applied, `cases` cases updated so far.
    Pulling { pages: u32, cases: u32 },
    /// A request failed transiently; attempt `attempt` comes after `delay_ms`.
    Retrying {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// The run finished.
    Done { report: SyncReport },
}

/// Receives progress. The FFI layer implements it as a foreign (Kotlin / Swift) callback.
/// Called on a tokio worker thread: return quickly, hand UI work to the main thread.
pub trait SyncProgress: Send + Sync {
    fn on_update(&self, update: SyncUpdate);
}

/// A progress sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl SyncProgress for NoProgress {
    fn on_update(&self, _update: SyncUpdate) {}
}

/// An event the server refused for good: parked in the store with its reason, never retried
/// as is, listed for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEvent {
    pub event_id: Uuid,
    pub case_id: Uuid,
    /// The server's stable code (`INVALID_STATE`, `ROLE_NOT_ALLOWED`, `NOT_ASSIGNEE`, …).
    pub code: String,
    pub message: String,
}

/// A photo the server refused in this run (hash mismatch, undecodable, too large) or that
/// could not be read here. A refusal or a vanished file parks it (`refused` in the store, until
/// the user retries it); any other failure leaves it pending for the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoFailure {
    pub sha256: String,
    /// The server's HTTP status (4xx), or 0 when the failure is local (file missing).
    pub http_status: u16,
    pub code: String,
    pub message: String,
}

/// Server codes that judge a photo's bytes or its address: `PHOTO_TOO_LARGE` (413),
/// `PHOTO_HASH_MISMATCH`, `PHOTO_TOO_MANY_PIXELS`, `PHOTO_UNDECODABLE` (422) and
/// `PHOTO_ADDRESS` (400). The same bytes would be refused the same way, so such a photo leaves
/// the upload queue as `refused` instead of being sent every run. Everything else (a lost
/// offset, an upload still held by another request, a local file error, 5xx, no network) stays
/// `pending` and is tried again next run.
pub const PHOTO_REFUSAL_CODES: &[&str] = &[
    "PHOTO_TOO_LARGE",
    "PHOTO_HASH_MISMATCH",
    "PHOTO_TOO_MANY_PIXELS",
    "PHOTO_UNDECODABLE",
    "PHOTO_ADDRESS",
    "PHOTO_EMPTY",
];

/// The photo's file is gone from the phone (deleted by the user, a cleaner app or a restore):
/// no later run can send it, so it is parked like a refusal instead of failing every run.
pub const PHOTO_FILE_MISSING: &str = "PHOTO_FILE_MISSING";

/// The photo's file exists but could not be read (or changed under us): tried again next run.
pub const PHOTO_FILE_UNREADABLE: &str = "PHOTO_FILE";

impl PhotoFailure {
    /// The server refused the bytes for good (see [`PHOTO_REFUSAL_CODES`]).
    pub fn is_refusal(&self) -> bool {
        self.http_status != 0 && PHOTO_REFUSAL_CODES.contains(&self.code.as_str())
    }

    /// The local file is gone ([`PHOTO_FILE_MISSING`]).
    pub fn is_file_missing(&self) -> bool {
        self.http_status == 0 && self.code == PHOTO_FILE_MISSING
    }

    /// Sending it again would fail the same way: the photo leaves the upload queue.
    pub fn parks_the_photo(&self) -> bool {
        self.is_refusal() || self.is_file_missing()
    }
}

/// What one sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Push requests sent (batches, retries not counted).
    pub batches: u32,
    /// Events the server stored now.
    pub applied: u32,
    /// Events the server already had (a replay after a lost answer): harmless, now synced.
    pub duplicate: u32,
    /// Events refused for good in this run.
    pub rejected: Vec<RejectedEvent>,
    /// Events still unanswered after the run (the server sent no result for them).
    pub unanswered: u32,
    /// Photos the server now holds complete and verified.
    pub photos_uploaded: u32,
    /// Photo bytes sent in this run.
    pub photo_bytes_sent: u64,
    pub photo_failures: Vec<PhotoFailure>,
    /// Pull pages applied and what they changed.
    pub pull_pages: u32,
    pub pulled_cases: u32,
    pub pulled_events: u32,
    /// Local events that no longer apply on top of the server's newer state (the server will
    /// most likely refuse them on the next push; the user sees the answer then).
    pub stale_local_events: Vec<Uuid>,
}
