//! The device's sync client (feature `device`) against the server's sync API (`protocol.rs`
//! types on both ends). It builds requests and reads answers; an [`HttpTransport`] moves the
//! bytes: the app's platform HTTP stack on a phone (the `viaduct` pattern, see `transport.rs`),
//! [`ReqwestTransport`] on desktop and in tests (feature `reqwest-transport`).
//!
//! One run ([`SyncClient::sync`]) does, in order:
//! 1. **upload photos** resumably from their files: ask the server how many bytes it holds,
//!    send the rest in chunks from that offset, record the acknowledged offset after each chunk.
//!    A photo the server refuses (hash mismatch, undecodable, too large, empty) is reported and
//!    parked as `refused` with the server's code ([`PHOTO_REFUSAL_CODES`]): it is not sent again. A
//!    photo whose file is gone from the phone is parked the same way ([`PHOTO_FILE_MISSING`]).
//!    Photos go first because the server applies an event only once the photos it cites are there.
//! 2. **push** the outbox in batches, oldest first. The store marks each claimed event
//!    `in_flight`; the server's answer marks it `synced` or parks it `rejected` with its code and
//!    message. The store counts unanswered local events per case (a change counter), so an edit
//!    made while a batch is in flight is a new pending event and the case never looks clean
//!    too early. A refused event never blocks the others: every event gets its own answer. An
//!    event citing a photo not uploaded yet (pending, or refused until the user retries it)
//!    waits in the outbox with the later events of its case; a `PHOTO_NOT_RECEIVED` for photos
//!    already uploaded re-queues photo and event.
//! 3. **pull** the change feed from the stored cursor until `has_more` is false; each page is
//!    applied (data and cursor) in one store transaction, so the cursor never moves past data
//!    that was not stored.
//!
//! Transient failures (connection refused or cut, timeouts, 5xx, 429 with `Retry-After`) are
//! retried with exponential backoff and full jitter, a bounded number of times per request
//! ([`RetryPolicy`]); then the run stops with a transient [`SyncError`] and the app schedules the
//! next one (Android WorkManager with a network constraint, iOS BGTaskScheduler).
//!
//! **Cancel-safe and rerunnable**: dropping the future at any await point loses nothing. Event
//! and case ids are made on the device, so a batch sent again after a lost answer gets
//! `DUPLICATE` (same id and body) instead of a second copy; events left `in_flight` are sent
//! again first on the next run; photo uploads resume from what the server holds; a pull page is
//! applied all-or-nothing. Store calls run in `spawn_blocking` and each is one transaction, so a
//! cancelled run never leaves a half-written row.
//!
//! **Tokens**: enrolment returns a short-lived access token and a device-bound refresh token.
//! The client keeps both in memory only and never logs them ([`Secret`]). Persisting the refresh
//! token is the app's job, in the platform keystore (Android Keystore / iOS Keychain), because a
//! plain SQLite file is readable from device backups; the app hands it back with
//! [`SyncClient::resume`] at start. The access token is refreshed on demand, and every refresh
//! rotates the refresh token: the client keeps the new one at once ([`SyncClient::refresh_token`]
//! tells the app, which writes it back to the keystore). A spent token sent again makes the
//! server revoke the device ([`SyncError::SessionRevoked`], `REFRESH_TOKEN_REUSED`).

mod client;
mod error;
mod http;
mod progress;
mod retry;
mod store_link;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use crate::protocol::{Cursor, EventResult, PullResponse};
use crate::workflow::Event;

pub use client::{Enrolment, SIGN_OUT_ATTEMPTS, SignOut, SyncClient};
pub use error::{LocalError, SyncError};
pub use http::Secret;
pub use progress::{
    NoProgress, PHOTO_FILE_MISSING, PHOTO_FILE_UNREADABLE, PHOTO_REFUSAL_CODES, PhotoFailure,
    RejectedEvent, SyncProgress, SyncReport, SyncUpdate,
};
pub use retry::RetryPolicy;
#[cfg(feature = "reqwest-transport")]
pub use transport::ReqwestTransport;
pub use transport::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, RequestBody, SendFuture, TransportError,
    read_file_part,
};

/// Where and how to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Server root, e.g. `https://xuncha.example.cn/` (a path prefix is kept).
    pub base_url: String,
    /// Events per push request (the server's limit is 500).
    pub push_batch: u32,
    /// Cases per pull page asked for.
    pub pull_limit: u32,
    /// Photo bytes per upload request: small enough that a weak signal finishes a chunk.
    pub photo_chunk_bytes: u64,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Whole-request timeout (a photo chunk on a slow link included).
    pub request_timeout: Duration,
}

impl SyncConfig {
    /// Defaults for `base_url`: batches of 100 events, pages of 200 cases, 256 KiB photo chunks.
    pub fn new(base_url: impl Into<String>) -> SyncConfig {
        SyncConfig {
            base_url: base_url.into(),
            push_batch: 100,
            pull_limit: 200,
            photo_chunk_bytes: 256 * 1024,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A photo still to upload: send `path` from byte `uploaded_bytes` (what the server last
/// acknowledged; the server's own status wins when they differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoToUpload {
    pub sha256: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub uploaded_bytes: u64,
}

/// What one pull page changed in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullApplied {
    pub cases_updated: u32,
    pub events_stored: u32,
    pub stale_local_events: Vec<Uuid>,
}

/// The store operations a sync run needs. [`crate::store::Store`] implements it; every call is
/// blocking and one durable transaction (the engine calls it through `spawn_blocking`).
pub trait SyncStore: Send + Sync + 'static {
    /// Local events `author` recorded that the server has not answered (`pending` + `in_flight`).
    fn unanswered_events(&self, author: &str) -> Result<u32, LocalError>;
    /// Claims up to `limit` unanswered events `author` recorded, oldest first, marking them
    /// `in_flight`. Events of other users on this phone wait for their author's sign-in: the
    /// server stamps every pushed event with the token's user, so sending them would put
    /// someone else's name on them.
    fn claim_events(&self, author: &str, limit: u32) -> Result<Vec<Event>, LocalError>;
    /// Records the server's answers: synced, or parked as rejected with code and message.
    fn record_results(&self, results: &[EventResult]) -> Result<(), LocalError>;
    fn photos_to_upload(&self) -> Result<Vec<PhotoToUpload>, LocalError>;
    /// The server acknowledged `received` bytes of the photo.
    fn record_photo_progress(&self, sha256: &str, received: u64) -> Result<(), LocalError>;
    /// The server holds the whole photo, verified.
    fn mark_photo_uploaded(&self, sha256: &str) -> Result<(), LocalError>;
    /// The server refused the photo's bytes for good ([`PHOTO_REFUSAL_CODES`]) or its file is
    /// gone ([`PHOTO_FILE_MISSING`], HTTP status 0): keep it with the verdict and stop offering
    /// it in [`SyncStore::photos_to_upload`].
    fn mark_photo_refused(&self, failure: &PhotoFailure) -> Result<(), LocalError>;
    fn cursor(&self) -> Result<Option<Cursor>, LocalError>;
    /// Applies one page and moves the cursor to its `next_cursor`, all or nothing.
    fn apply_pull(&self, page: &PullResponse) -> Result<PullApplied, LocalError>;
}
