//! Append-only audit log of every state change, hash-chained: each entry's hash is
//! `SHA-256(previous hash ‖ "\n" ‖ canonical entry JSON)`, and the entry JSON carries its own
//! sequence number. [`verify`] recomputes the chain and reports the first entry that was changed,
//! deleted or moved; the head row keeps the tip so a deleted tail is caught too.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use xuncha_core::Role;
use xuncha_core::geo::GpsFix;

use crate::storage::Head;

/// Hash that precedes the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it gets its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Stable action code, e.g. `EVENT_APPLIED`, `DEVICE_ENROLLED`, `ACCESS_DENIED`.
    pub action: String,
    pub user_id: Option<String>,
    pub role: Option<Role>,
    pub device_id: Option<Uuid>,
    pub object_type: String,
    pub object_id: String,
    pub device_time: Option<DateTime<Utc>>,
    pub gps: Option<GpsFix>,
    pub detail: serde_json::Value,
}

impl AuditDraft {
    pub fn new(action: &str, object_type: &str, object_id: impl Into<String>) -> AuditDraft {
        AuditDraft {
            action: action.to_owned(),
            user_id: None,
            role: None,
            device_id: None,
            object_type: object_type.to_owned(),
            object_id: object_id.into(),
            device_time: None,
            gps: None,
            detail: serde_json::Value::Null,
        }
    }

    pub fn by(mut self, user_id: &str, role: Role, device_id: Option<Uuid>) -> AuditDraft {
        self.user_id = Some(user_id.to_owned());
        self.role = Some(role);
        self.device_id = device_id;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> AuditDraft {
        self.detail = detail;
        self
    }
}

/// The canonical entry that is hashed: fixed field order, times as RFC 3339 with microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub server_time: String,
    #[serde(flatten)]
    pub draft: AuditDraft,
}

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    /// The canonical entry JSON exactly as hashed.
    pub entry: String,
    pub prev_hash: String,
    pub hash: String,
}

fn chain_hash(prev_hash: &str, entry: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(entry.as_bytes());
    hex::encode(hasher.finalize())
}

/// Gives the draft the next place in the chain and moves the head's tip.
pub fn seal(
    head: &mut Head,
    draft: AuditDraft,
    now: DateTime<Utc>,
) -> Result<AuditRow, serde_json::Error> {
    let prev_hash = if head.audit_hash.is_empty() {
        GENESIS_HASH.to_owned()
    } else {
        head.audit_hash.clone()
    };
    let seq = head.audit_seq + 1;
    let entry = serde_json::to_string(&AuditEntry {
        seq,
        server_time: now.to_rfc3339_opts(SecondsFormat::Micros, true),
        draft,
    })?;
    let hash = chain_hash(&prev_hash, &entry);
    head.audit_seq = seq;
    head.audit_hash = hash.clone();
    Ok(AuditRow {
        seq,
        entry,
        prev_hash,
        hash,
    })
}

/// Result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub entries: usize,
    /// `None` when the whole chain is intact.
    pub problem: Option<AuditProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// Sequence number where the chain first breaks.
    pub seq: i64,
    /// Stable code: `SEQ_GAP`, `SEQ_MISMATCH`, `PREV_HASH`, `HASH`, `HEAD`.
    pub code: &'static str,
    pub message: String,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Recomputes the chain over rows in storage order and compares the tip with the head.
pub fn verify(rows: &[AuditRow], head: &Head) -> AuditReport {
    let problem = find_problem(rows, head);
    AuditReport {
        entries: rows.len(),
        problem,
    }
}

fn find_problem(rows: &[AuditRow], head: &Head) -> Option<AuditProblem> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1;
    for row in rows {
        let broken = |code: &'static str, message: String| AuditProblem {
            seq: row.seq,
            code,
            message,
        };
        if row.seq != expected_seq {
            return Some(AuditProblem {
                seq: expected_seq,
                code: "SEQ_GAP",
                message: format!(
                    "expected entry {expected_seq}, found {} (deleted or reordered)",
                    row.seq
                ),
            });
        }
        match serde_json::from_str::<AuditEntry>(&row.entry) {
            Ok(entry) if entry.seq == row.seq => {}
            Ok(entry) => {
                return Some(broken(
                    "SEQ_MISMATCH",
                    format!("row {} holds entry {}", row.seq, entry.seq),
                ));
            }
            Err(e) => return Some(broken("HASH", format!("entry does not parse: {e}"))),
        }
        if row.prev_hash != prev {
            return Some(broken(
                "PREV_HASH",
                "previous-hash link is broken".to_owned(),
            ));
        }
        if chain_hash(&prev, &row.entry) != row.hash {
            return Some(broken(
                "HASH",
                "entry content does not match its hash".to_owned(),
            ));
        }
        prev = row.hash.clone();
        expected_seq += 1;
    }
    let tip = if rows.is_empty() { "" } else { prev.as_str() };
    if head.audit_seq != expected_seq - 1 || head.audit_hash != tip {
        return Some(AuditProblem {
            seq: expected_seq,
            code: "HEAD",
            message: format!(
                "head says {} entries, the log holds {} (tail deleted or head changed)",
                head.audit_seq,
                expected_seq - 1
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn chain(n: usize) -> (Vec<AuditRow>, Head) {
        let mut head = Head::default();
        let rows = (0..n)
            .map(|i| {
                seal(
                    &mut head,
                    AuditDraft::new("TEST", "thing", i.to_string()),
                    Utc::now(),
                )
                .unwrap()
            })
            .collect();
        (rows, head)
    }

    #[test]
    fn intact_chain_verifies() {
        let (rows, head) = chain(5);
        assert!(verify(&rows, &head).is_intact());
        assert!(verify(&[], &Head::default()).is_intact());
    }

    #[test]
    fn changed_deleted_reordered_and_truncated_are_detected() {
        let (rows, head) = chain(5);
        let mut changed = rows.clone();
        changed[2].entry = changed[2].entry.replace("\"2\"", "\"9\"");
        assert_eq!(verify(&changed, &head).problem.unwrap().code, "HASH");

        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, &head).problem.unwrap().code, "SEQ_GAP");

        let mut reordered = rows.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered, &head).problem.unwrap().seq, 2);

        let truncated = rows[..4].to_vec();
        assert_eq!(verify(&truncated, &head).problem.unwrap().code, "HEAD");
    }
}
