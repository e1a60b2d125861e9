//! Plain records the server passes between its layers: users and devices, stored cases with
//! their typed routing decision, the write head, change pages, photo records and the case query
//! with its visibility scope. No I/O and no decisions beyond reading a record's own fields: this
//! module imports only `xuncha_core`, std, serde, chrono and uuid, and every other layer
//! (policy, storage, http) may import it.

pub mod query;
pub mod routing;

use std::sync::Arc;

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
    /// The case number (案件编号, e.g. `和平-20261204-0012`) the server gave the case when it
    /// ingested its REPORT (`policy::case_number`); `None` only between planning and writing.
    pub number: Option<String>,
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

    /// The units involved in the case: every unit it was dispatched to, then the supervisor and
    /// co-responsible units of its routing decision (department visibility).
    pub fn involved_units(&self) -> Vec<String> {
        IndexColumns::units_of(&self.dispatched_units, self.routing.as_ref())
    }
}

/// The single-row head every write transaction locks: change sequence and audit chain tip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    pub change_seq: i64,
    pub audit_seq: i64,
    pub audit_hash: String,
    /// The audit chain's key: not a column; the storage sets it from its own key (which is never
    /// stored in the database). `None` only for a storage opened without one.
    pub audit_key: Option<AuditKey>,
}

impl Head {
    pub fn next_change(&mut self) -> i64 {
        self.change_seq += 1;
        self.change_seq
    }
}

/// The server secret that keys the audit chain. Never stored in the database, never printed.
/// Loading and hashing with it: `policy::audit`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey(Arc<[u8]>);

impl AuditKey {
    pub fn from_bytes(bytes: &[u8]) -> AuditKey {
        AuditKey(Arc::from(bytes))
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(***)")
    }
}

/// What `--demo` seeded as history (`demo::history`), printed at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DemoHistory {
    pub cases: usize,
    pub events: usize,
    /// Photos stored (each cited by an event).
    pub photos: usize,
    /// How long the seeding took.
    pub millis: u64,
}

/// An account `--demo` created, printed for the person trying the server.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub unit_id: String,
    pub unit_name: String,
}
