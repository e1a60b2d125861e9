//! Plain records shared by the layers above (policy, storage, http): who a user is, a case as
//! stored, the write head, the case-visibility scope. Imports only `xuncha_core`, std and serde;
//! no decisions live here beyond reading a record's own fields.
//!
//! Created minimally by the `layers` branch (issue 12): only what `policy/` needs. The `storage`
//! branch moves the remaining records of `storage/mod.rs` here.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xuncha_core::Role;
use xuncha_core::workflow::Case;

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

impl CaseRow {
    /// The units involved in the case: every unit it was dispatched to, then the supervisor and
    /// co-responsible units of its routing decision (department visibility).
    pub fn involved_units(&self) -> Vec<String> {
        involved_units(&self.dispatched_units, self.routing.as_ref())
    }
}

/// [`CaseRow::involved_units`] from the two columns, for the storage index.
pub fn involved_units(
    dispatched_units: &[String],
    routing: Option<&serde_json::Value>,
) -> Vec<String> {
    let mut units: Vec<String> = dispatched_units.to_vec();
    let id = |unit: &serde_json::Value| unit.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(routing) = routing {
        let supervisor = routing.get("supervisor").and_then(id);
        let co_responsible = routing
            .get("co_responsible")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(id);
        for unit in supervisor.into_iter().chain(co_responsible) {
            if !units.contains(&unit) {
                units.push(unit);
            }
        }
    }
    units
}

/// Which cases a caller may see, as a query needs it (built by `policy::access::case_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseScope {
    All,
    /// Cases of these estates (inspector, committee, company staff, street office).
    Estates(Vec<String>),
    /// Cases this unit is involved in (department): ever dispatched to it, or naming it as the
    /// supervisor or a co-responsible unit in their routing decision ([`CaseRow::involved_units`]).
    InvolvesUnit(String),
}

impl CaseScope {
    /// Whether the scope admits a stored row (the in-memory form of the SQL filter).
    pub fn admits(&self, row: &CaseRow) -> bool {
        match self {
            CaseScope::All => true,
            CaseScope::Estates(ids) => ids.contains(&row.case.estate_id),
            CaseScope::InvolvesUnit(unit) => row.involved_units().contains(unit),
        }
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

/// An account `--demo` created, printed for the person trying the server.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub unit_id: String,
    pub unit_name: String,
}
