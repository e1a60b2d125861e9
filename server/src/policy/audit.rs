//! Append-only audit log of every state change, hash-chained and keyed: each entry's hash is
//! `HMAC-SHA-256(key, previous hash ‖ "\n" ‖ canonical entry JSON)` with a server secret kept
//! outside the database ([`AuditKey`]), and the entry JSON carries its own sequence number and
//! its chain version (`"chain":"hmac-sha256"`). [`verify`] recomputes the chain and reports the
//! first entry that was changed, deleted or moved; the head row keeps the tip so a deleted tail
//! is caught too. Without the key nobody can recompute the hashes after an edit.
//!
//! Entries written before the chain was keyed (no `chain` field) are plain
//! `SHA-256(previous hash ‖ "\n" ‖ entry)` and still verify, but only before the first keyed
//! entry: an unkeyed entry after a keyed one is a `DOWNGRADE`. A rewrite of the whole log by
//! someone who also holds the key is caught by a [`Checkpoint`] printed earlier and kept
//! elsewhere (`xuncha-server audit checkpoint`, `audit verify --checkpoint <line>`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use xuncha_core::Role;
use xuncha_core::geo::GpsFix;

pub use crate::model::AuditKey;
use crate::model::Head;

/// Hash that precedes the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain version of keyed entries, written into each entry.
pub const CHAIN_HMAC: &str = "hmac-sha256";

/// Environment variable holding the audit key (at least 32 characters); else the key file.
pub const ENV_AUDIT_KEY: &str = "XUNCHA_AUDIT_KEY";
/// The key file in the data folder, created with mode 0600 on first start.
pub const KEY_FILE: &str = "audit.key";
/// Shortest key accepted from the environment.
const MIN_KEY_CHARS: usize = 32;

/// Why the audit key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("{ENV_AUDIT_KEY} must hold at least {MIN_KEY_CHARS} characters")]
    TooShort,
    #[error("audit key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit key file {0} must hold 64 hex characters")]
    Malformed(PathBuf),
}

impl AuditKeyError {
    pub fn code(&self) -> &'static str {
        match self {
            AuditKeyError::TooShort => "AUDIT_KEY_SHORT",
            AuditKeyError::Io { .. } => "AUDIT_KEY_IO",
            AuditKeyError::Malformed(_) => "AUDIT_KEY_MALFORMED",
        }
    }
}

impl AuditKey {
    /// The key from `env_value` (the value of [`ENV_AUDIT_KEY`], if set), else from
    /// `<data_dir>/audit.key`, created (32 random bytes in hex, mode 0600) when missing.
    pub fn load(data_dir: &Path, env_value: Option<String>) -> Result<AuditKey, AuditKeyError> {
        if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
            let value = value.trim();
            if value.chars().count() < MIN_KEY_CHARS {
                return Err(AuditKeyError::TooShort);
            }
            return Ok(AuditKey::from_bytes(value.as_bytes()));
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| AuditKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| AuditKeyError::Malformed(path.clone()))?;
                Ok(AuditKey::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let bytes: [u8; 32] = rand::random();
                write_private(&path, hex::encode(bytes).as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "created the audit key file; back it up with the data");
                Ok(AuditKey::from_bytes(&bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        // HMAC takes keys of any length, so this never fails; the empty fallback never matches.
        match <Hmac<Sha256> as KeyInit>::new_from_slice(self.secret()) {
            Ok(mut mac) => {
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }
}

/// Creates `path` readable by its owner only (0600 on Unix) and writes `bytes`; never replaces
/// an existing file.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

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
    /// [`CHAIN_HMAC`] for keyed entries; absent in entries written before the chain was keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
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

/// The unkeyed hash of entries written before the chain was keyed.
fn legacy_hash(prev_hash: &str, entry: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(entry.as_bytes());
    hex::encode(hasher.finalize())
}

fn keyed_hash(key: &AuditKey, prev_hash: &str, entry: &str) -> String {
    key.mac(&[prev_hash.as_bytes(), b"\n", entry.as_bytes()])
}

/// Gives the draft the next place in the chain and moves the head's tip. With the head's key
/// (the storage sets it) the entry is keyed; a storage opened without a key writes the unkeyed
/// chain of old.
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
        chain: head.audit_key.as_ref().map(|_| CHAIN_HMAC.to_owned()),
        draft,
    })?;
    let hash = match &head.audit_key {
        Some(key) => keyed_hash(key, &prev_hash, &entry),
        None => legacy_hash(&prev_hash, &entry),
    };
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    pub entries: usize,
    /// `None` when the whole chain is intact.
    pub problem: Option<AuditProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditProblem {
    /// Sequence number where the chain first breaks.
    pub seq: i64,
    /// Stable code: `SEQ_GAP`, `SEQ_MISMATCH`, `PREV_HASH`, `HASH`, `HEAD`, `NO_KEY` (keyed
    /// entries but no key to check them), `DOWNGRADE` (an unkeyed entry after a keyed one),
    /// `CHECKPOINT` (the log disagrees with a checkpoint).
    #[schema(value_type = String)]
    pub code: &'static str,
    pub message: String,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Recomputes the chain over rows in storage order (with the head's key) and compares the tip
/// with the head.
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
    let mut keyed = false;
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
        let entry = match serde_json::from_str::<AuditEntry>(&row.entry) {
            Ok(entry) if entry.seq == row.seq => entry,
            Ok(entry) => {
                return Some(broken(
                    "SEQ_MISMATCH",
                    format!("row {} holds entry {}", row.seq, entry.seq),
                ));
            }
            Err(e) => return Some(broken("HASH", format!("entry does not parse: {e}"))),
        };
        if row.prev_hash != prev {
            return Some(broken(
                "PREV_HASH",
                "previous-hash link is broken".to_owned(),
            ));
        }
        let expected = match (entry.chain.as_deref(), &head.audit_key) {
            (Some(CHAIN_HMAC), Some(key)) => {
                keyed = true;
                keyed_hash(key, &prev, &row.entry)
            }
            (Some(CHAIN_HMAC), None) => {
                return Some(broken(
                    "NO_KEY",
                    format!(
                        "the entry is keyed but no audit key is configured ({ENV_AUDIT_KEY} or {KEY_FILE})"
                    ),
                ));
            }
            (Some(other), _) => {
                return Some(broken("HASH", format!("unknown chain version {other:?}")));
            }
            (None, _) if keyed => {
                return Some(broken(
                    "DOWNGRADE",
                    "an unkeyed entry follows keyed ones (rewritten without the key)".to_owned(),
                ));
            }
            (None, _) => legacy_hash(&prev, &row.entry),
        };
        if expected != row.hash {
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

/// A signed statement of the chain's tip, printed by `xuncha-server audit checkpoint` to be kept
/// outside the server (on paper, in an email, on another machine). One line:
/// `xuncha-audit-checkpoint v1 seq=<n> hash=<hex> time=<RFC 3339> sig=<HMAC-SHA-256 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub time: String,
    pub signature: String,
}

const CHECKPOINT_TAG: &str = "xuncha-audit-checkpoint v1";

/// Why a checkpoint line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint line (expected `{CHECKPOINT_TAG} seq=… hash=… time=… sig=…`)")]
    Malformed,
    #[error("the checkpoint's signature does not match this server's audit key")]
    BadSignature,
}

impl CheckpointError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Malformed => "CHECKPOINT_MALFORMED",
            CheckpointError::BadSignature => "CHECKPOINT_SIGNATURE",
        }
    }
}

impl Checkpoint {
    fn signed_text(seq: i64, hash: &str, time: &str) -> String {
        format!("{CHECKPOINT_TAG}\n{seq}\n{hash}\n{time}")
    }

    /// The checkpoint of the head's current tip, signed with `key`.
    pub fn of(head: &Head, key: &AuditKey, now: DateTime<Utc>) -> Checkpoint {
        let time = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let hash = if head.audit_hash.is_empty() {
            GENESIS_HASH.to_owned()
        } else {
            head.audit_hash.clone()
        };
        let signature =
            key.mac(&[Checkpoint::signed_text(head.audit_seq, &hash, &time).as_bytes()]);
        Checkpoint {
            seq: head.audit_seq,
            hash,
            time,
            signature,
        }
    }

    pub fn to_line(&self) -> String {
        format!(
            "{CHECKPOINT_TAG} seq={} hash={} time={} sig={}",
            self.seq, self.hash, self.time, self.signature
        )
    }

    /// Parses a line and checks its signature with `key`.
    pub fn parse(line: &str, key: &AuditKey) -> Result<Checkpoint, CheckpointError> {
        let rest = line
            .trim()
            .strip_prefix(CHECKPOINT_TAG)
            .ok_or(CheckpointError::Malformed)?;
        let mut fields = rest.split_whitespace();
        let mut field = |name: &str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(name))
                .and_then(|f| f.strip_prefix('='))
                .map(str::to_owned)
                .ok_or(CheckpointError::Malformed)
        };
        let seq = field("seq")?
            .parse::<i64>()
            .map_err(|_| CheckpointError::Malformed)?;
        let hash = field("hash")?;
        let time = field("time")?;
        let signature = field("sig")?;
        let expected = key.mac(&[Checkpoint::signed_text(seq, &hash, &time).as_bytes()]);
        if expected.is_empty() || expected != signature {
            return Err(CheckpointError::BadSignature);
        }
        Ok(Checkpoint {
            seq,
            hash,
            time,
            signature,
        })
    }
}

/// [`verify`], and also that the log still holds the checkpoint's entry with the same hash: a
/// rewrite of the whole tail (every hash recomputed, even with the key) changes that hash.
pub fn verify_with_checkpoint(
    rows: &[AuditRow],
    head: &Head,
    checkpoint: &Checkpoint,
) -> AuditReport {
    let report = verify(rows, head);
    if report.problem.is_some() {
        return report;
    }
    let held = if checkpoint.seq == 0 {
        Some(GENESIS_HASH)
    } else {
        rows.iter()
            .find(|r| r.seq == checkpoint.seq)
            .map(|r| r.hash.as_str())
    };
    let problem = match held {
        Some(hash) if hash == checkpoint.hash => None,
        Some(_) => Some(AuditProblem {
            seq: checkpoint.seq,
            code: "CHECKPOINT",
            message: format!(
                "entry {} differs from the checkpoint of {} (the log was rewritten)",
                checkpoint.seq, checkpoint.time
            ),
        }),
        None => Some(AuditProblem {
            seq: checkpoint.seq,
            code: "CHECKPOINT",
            message: format!(
                "the log has no entry {} although the checkpoint of {} saw it (truncated)",
                checkpoint.seq, checkpoint.time
            ),
        }),
    };
    AuditReport {
        entries: report.entries,
        problem,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes(b"test key of the audit chain, 32+ bytes")
    }

    fn keyed_head() -> Head {
        Head {
            audit_key: Some(key()),
            ..Head::default()
        }
    }

    fn chain(n: usize) -> (Vec<AuditRow>, Head) {
        let mut head = keyed_head();
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

    /// Recomputes every link from `from` on as unkeyed SHA-256, as a forger without the key would.
    fn relink(rows: &mut [AuditRow], from: usize) -> String {
        let mut prev = rows[from - 1].hash.clone();
        for row in rows.iter_mut().skip(from) {
            row.prev_hash = prev.clone();
            row.hash = legacy_hash(&prev, &row.entry);
            prev = row.hash.clone();
        }
        prev
    }

    #[test]
    fn intact_chain_verifies() {
        let (rows, head) = chain(5);
        assert!(rows[0].entry.contains("\"chain\":\"hmac-sha256\""));
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

    /// Issue 11: with plain SHA-256, an edit with every later hash recomputed verified as intact.
    #[test]
    fn an_edit_with_recomputed_hashes_is_caught_without_the_key() {
        let (rows, head) = chain(4);
        let mut forged = rows.clone();
        forged[1].entry = forged[1].entry.replace("\"1\"", "\"7\"");
        let tip = relink(&mut forged, 1);
        let forged_head = Head {
            audit_hash: tip,
            ..head.clone()
        };
        assert_eq!(verify(&forged, &forged_head).problem.unwrap().code, "HASH");

        // Dropping the version field so the rows pass as old, unkeyed ones: a downgrade.
        let mut downgraded = forged.clone();
        for row in downgraded.iter_mut().skip(1) {
            row.entry = row.entry.replace(",\"chain\":\"hmac-sha256\"", "");
        }
        let tip = relink(&mut downgraded, 1);
        let downgraded_head = Head {
            audit_hash: tip,
            ..head.clone()
        };
        assert_eq!(
            verify(&downgraded, &downgraded_head).problem.unwrap().code,
            "DOWNGRADE"
        );

        // Another key does not verify; no key cannot verify.
        let other = Head {
            audit_key: Some(AuditKey::from_bytes(b"another key")),
            ..head.clone()
        };
        assert_eq!(verify(&rows, &other).problem.unwrap().code, "HASH");
        let keyless = Head {
            audit_key: None,
            ..head
        };
        assert_eq!(verify(&rows, &keyless).problem.unwrap().code, "NO_KEY");
    }

    #[test]
    fn old_unkeyed_entries_still_verify_before_the_keyed_ones() {
        let mut head = Head::default();
        let mut rows = vec![
            seal(&mut head, AuditDraft::new("OLD", "thing", "1"), Utc::now()).unwrap(),
            seal(&mut head, AuditDraft::new("OLD", "thing", "2"), Utc::now()).unwrap(),
        ];
        assert!(!rows[0].entry.contains("chain"));
        head.audit_key = Some(key());
        rows.push(seal(&mut head, AuditDraft::new("NEW", "thing", "3"), Utc::now()).unwrap());
        assert!(verify(&rows, &head).is_intact());
    }

    #[test]
    fn a_checkpoint_catches_a_rewrite_of_the_whole_tail() {
        let (rows, head) = chain(5);
        let line = Checkpoint::of(&head, &key(), Utc::now()).to_line();
        assert!(
            line.starts_with("xuncha-audit-checkpoint v1 seq=5 hash="),
            "{line}"
        );
        let checkpoint = Checkpoint::parse(&line, &key()).unwrap();
        assert!(verify_with_checkpoint(&rows, &head, &checkpoint).is_intact());

        // Someone holding the database and the key rewrites entries 3 to 5 consistently.
        let mut rewriter = Head {
            audit_seq: 2,
            audit_hash: rows[1].hash.clone(),
            ..keyed_head()
        };
        let mut rewritten = rows[..2].to_vec();
        for i in 3..=5 {
            rewritten.push(
                seal(
                    &mut rewriter,
                    AuditDraft::new("TEST", "thing", format!("x{i}")),
                    Utc::now(),
                )
                .unwrap(),
            );
        }
        assert!(
            verify(&rewritten, &rewriter).is_intact(),
            "the chain alone cannot tell"
        );
        let report = verify_with_checkpoint(&rewritten, &rewriter, &checkpoint);
        assert_eq!(report.problem.unwrap().code, "CHECKPOINT");

        // Truncated below the checkpoint, head moved back to match.
        let truncated = Head {
            audit_seq: 3,
            audit_hash: rows[2].hash.clone(),
            ..keyed_head()
        };
        let report = verify_with_checkpoint(&rows[..3], &truncated, &checkpoint);
        assert_eq!(report.problem.unwrap().code, "CHECKPOINT");

        // A forged or altered line is refused.
        let forged = line.replace("seq=5", "seq=4");
        assert_eq!(
            Checkpoint::parse(&forged, &key()).unwrap_err(),
            CheckpointError::BadSignature
        );
        assert_eq!(
            Checkpoint::parse("hello", &key()).unwrap_err(),
            CheckpointError::Malformed
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = AuditKey::load(dir.path(), None).unwrap();
        let again = AuditKey::load(dir.path(), None).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let from_env = AuditKey::load(dir.path(), Some("k".repeat(40))).unwrap();
        assert_ne!(from_env, first);
        assert!(matches!(
            AuditKey::load(dir.path(), Some("short".to_owned())),
            Err(AuditKeyError::TooShort)
        ));
        assert_eq!(format!("{first:?}"), "AuditKey(***)");
    }
}
