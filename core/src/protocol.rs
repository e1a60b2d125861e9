//! The sync wire protocol, shared by the device client and the server. JSON over HTTP.
//! Every message carries `protocol`; the server refuses versions it does not speak.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::estate::Estate;
use crate::org::OrgUnit;
use crate::workflow::{Case, Event};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// `POST /api/v1/sync/push`: a batch of events from the outbox, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub protocol: u32,
    pub events: Vec<Event>,
}

/// One result per pushed event, in request order. One bad event never blocks the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<EventResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventResult {
    pub event_id: Uuid,
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// What happened to one pushed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventOutcome {
    /// Stored now; the case as it stands after the event.
    Applied { case: Box<Case> },
    /// The same event (same id, same body) was stored before; the case as it stands now.
    Duplicate { case: Box<Case> },
    /// Refused for good: the client parks it and shows the reason; it is never retried as is.
    Rejected { code: String, message: String },
}

/// Metadata of a stored photo (the re-encoded JPEG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoMeta {
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

/// `GET /api/v1/photos/{sha256}/status`: how much of an upload the server already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoUploadStatus {
    pub sha256: String,
    /// Bytes received so far; send the rest from this offset.
    pub received: u64,
    /// The photo is complete, verified and stored.
    pub complete: bool,
}

/// An opaque position in the server's change feed. Clients store it and send it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// `GET /api/v1/sync/pull?cursor=…&limit=…`: what changed that the user may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    pub protocol: u32,
    /// Cases changed since the cursor, as they stand now.
    pub cases: Vec<Case>,
    /// Their events since the cursor (server-stamped), oldest first.
    pub events: Vec<Event>,
    /// Estates, only when they changed since the cursor (all of them on a first pull).
    #[serde(default)]
    pub estates: Vec<Estate>,
    /// Unit directory entries, likewise.
    #[serde(default)]
    pub units: Vec<OrgUnit>,
    /// The routing rules file (TOML) when it changed since the cursor.
    #[serde(default)]
    pub routing_rules: Option<String>,
    pub next_cursor: Cursor,
    /// More changes wait: pull again with `next_cursor`.
    pub has_more: bool,
}

/// The one error body every API error uses: `{code, message}` with a stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// `POST /api/v1/auth/enrol`: sign in and bind this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub username: String,
    pub password: String,
    /// Device label shown to admins, e.g. `Redmi 9A`.
    pub device_name: String,
}

/// Tokens are shown once; the server keeps only their hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub device_id: Uuid,
    pub access_token: String,
    pub access_expires_in_s: u64,
    pub refresh_token: String,
    pub user: UserInfo,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub device_id: Uuid,
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResponse {
    pub access_token: String,
    pub access_expires_in_s: u64,
}

/// The signed-in user as the device needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: crate::org::Role,
    pub unit_id: String,
}
