//! Plain records the server passes between its layers: users and devices, stored cases with
//! their routing decision, change pages, photo records and the case query. No I/O, no
//! decisions: this module imports only `xuncha_core`, std, serde, chrono and uuid, and every
//! other layer (policy, storage, http) may import it.

pub mod query;
pub mod routing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use xuncha_core::workflow::{Case, Event};
use xuncha_core::{Estate, OrgUnit, Role};

pub use query::{CaseCursor, CasePage, CaseQuery, CaseScope, CaseSort, IndexColumns};
pub use routing::{RoutedCase, RoutedUnit};

/// A person who can sign in. The password hash is an argon2 PHC string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub unit_id: String,
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: Uuid,
    pub user_id: String,
    pub name: String,
    pub revoked: bool,
}

/// A new device with its first access token; both tokens as SHA-256 hashes.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: Uuid,
    pub user_id: String,
    pub name: String,
    pub refresh_hash: String,
    pub access_hash: String,
    pub access_expires_at: DateTime<Utc>,
    /// Active (not revoked) devices the user may keep; beyond it the oldest are revoked, each
    /// with a `DEVICE_EVICTED` audit entry. 0 = no cap. Other users' devices are never touched.
    pub max_active_per_user: usize,
}

/// Who is behind an access token, read fresh on every request so revocation applies at once.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserRecord,
    pub device: DeviceRecord,
    pub access_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed(UserRecord),
    /// Unknown device or wrong refresh token.
    Invalid,
    /// Device or user revoked.
    Revoked,
    /// A spent refresh token came back: the device is now revoked (audited).
    Reused,
}

/// A case as stored: the folded case plus what the server adds at ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRow {
    pub case: Case,
    /// The routing decision made when the case was reported.
    pub routing: Option<serde_json::Value>,
    /// Every unit the case was ever dispatched to (department visibility).
    pub dispatched_units: Vec<String>,
    /// Change sequence number of its latest change.
    pub seq: i64,
}

/// A stored photo, keyed by the SHA-256 the device uploaded under (the one events reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRecord {
    pub sha256: String,
    /// SHA-256 of the re-encoded, metadata-free file the server keeps.
    pub stored_sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub uploaded_by: String,
    pub device_id: Uuid,
}

/// Everything changed after a cursor, unfiltered; the sync API filters it by visibility.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    pub cases: Vec<CaseRow>,
    /// Events of those cases with a sequence number above the cursor, oldest first.
    pub events: Vec<Event>,
    pub estates: Vec<Estate>,
    pub units: Vec<OrgUnit>,
    pub routing_rules: Option<String>,
    pub next_cursor: i64,
    pub has_more: bool,
}

impl CaseRow {
    /// The routing decision made when the case was reported, typed; `None` when the estate was
    /// not in the catalog or the rules could not route it.
    pub fn routed(&self) -> Option<RoutedCase> {
        self.routing.as_ref().and_then(RoutedCase::from_stored)
    }
}
