//! Every statement both backends run, written once. Placeholders are `$n`, numbered in order of
//! first appearance (SQLite numbers `$name` parameters that way, PostgreSQL by the number, so the
//! two agree only then; [`tests::placeholders_appear_in_order`] checks it), and conflicts use the
//! `ON CONFLICT` forms both engines accept. JSON columns (`jsonb` in PostgreSQL, text in SQLite)
//! are bound and read as text: the value conversions in [`super::row`] handle the difference.
//!
//! A statement with `{list}` takes its last parameter as a list of ids; the backend expands it
//! (`IN ($k, …)` in SQLite, `= ANY($k)` in PostgreSQL). The few statements that truly differ
//! (the head lock, migrations) stay in the backend files.

/// A bound parameter, for either backend.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
}

impl From<String> for SqlValue {
    fn from(value: String) -> SqlValue {
        SqlValue::Text(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> SqlValue {
        SqlValue::Text(value.to_owned())
    }
}

impl From<&String> for SqlValue {
    fn from(value: &String) -> SqlValue {
        SqlValue::Text(value.clone())
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> SqlValue {
        SqlValue::Int(value)
    }
}

impl From<u32> for SqlValue {
    fn from(value: u32) -> SqlValue {
        SqlValue::Int(i64::from(value))
    }
}

impl From<u64> for SqlValue {
    fn from(value: u64) -> SqlValue {
        SqlValue::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<usize> for SqlValue {
    fn from(value: usize) -> SqlValue {
        SqlValue::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for SqlValue {
    fn from(value: bool) -> SqlValue {
        SqlValue::Bool(value)
    }
}

impl From<uuid::Uuid> for SqlValue {
    fn from(value: uuid::Uuid) -> SqlValue {
        SqlValue::Text(value.to_string())
    }
}

/// Timestamps are stored as RFC 3339 text with microseconds (sortable as text).
impl From<chrono::DateTime<chrono::Utc>> for SqlValue {
    fn from(value: chrono::DateTime<chrono::Utc>) -> SqlValue {
        SqlValue::Text(super::row::ts(value))
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> SqlValue {
        value.map_or(SqlValue::Null, Into::into)
    }
}

/// Domain enums are stored by their wire code.
macro_rules! wire_code_values {
    ($($ty:ty),*) => {$(
        impl From<$ty> for SqlValue {
            fn from(value: $ty) -> SqlValue {
                SqlValue::Text(value.code().to_owned())
            }
        }
    )*};
}
wire_code_values!(
    xuncha_core::Role,
    xuncha_core::CaseStatus,
    xuncha_core::Category
);

/// `params![a, b]`: the values of one statement.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::storage::sql::SqlValue::from($value)),*][..]
    };
}
pub(crate) use params;

// The head every write transaction locks (the lock itself differs: see the backends).
pub const SELECT_HEAD: &str =
    "SELECT change_seq, audit_seq, audit_hash FROM sync_head WHERE id = 1";
pub const UPDATE_HEAD: &str =
    "UPDATE sync_head SET change_seq = $1, audit_seq = $2, audit_hash = $3 WHERE id = 1";

// Audit log.
pub const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (seq, entry, prev_hash, hash) VALUES ($1, $2, $3, $4)";
pub const SELECT_AUDIT_LOG: &str = "SELECT seq, entry, prev_hash, hash FROM audit_log ORDER BY seq";

// Catalog.
pub const SELECT_ESTATES: &str = "SELECT body FROM estates ORDER BY id";
pub const SELECT_UNITS: &str = "SELECT body FROM units ORDER BY id";
pub const SELECT_ROUTING_RULES: &str = "SELECT body FROM routing_rules WHERE id = 1";
pub const SELECT_ESTATE_BODY: &str = "SELECT body FROM estates WHERE id = $1";
pub const SELECT_UNIT_BODY: &str = "SELECT body FROM units WHERE id = $1";
pub const UPSERT_ESTATE: &str = "INSERT INTO estates (id, body, seq) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq";
pub const UPSERT_UNIT: &str = "INSERT INTO units (id, body, seq) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq";
pub const UPSERT_ROUTING_RULES: &str =
    "INSERT INTO routing_rules (id, body, seq) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq";

// Users.
pub const SELECT_USER_ID_BY_USERNAME: &str = "SELECT id FROM users WHERE username = $1";
pub const INSERT_USER: &str = "INSERT INTO users
     (id, username, display_name, role, unit_id, password_hash, disabled, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Columns in the order `UserRecord`'s row decoding reads them.
pub const SELECT_USER_BY_USERNAME: &str = "SELECT id, username, display_name, role, unit_id,
     password_hash, disabled FROM users WHERE username = $1";
pub const SELECT_USER_BY_ID: &str = "SELECT id, username, display_name, role, unit_id,
     password_hash, disabled FROM users WHERE id = $1";
pub const UPDATE_USER_DISABLED: &str = "UPDATE users SET disabled = $1 WHERE id = $2";

// Devices and tokens.
pub const INSERT_DEVICE: &str = "INSERT INTO devices
     (id, user_id, name, refresh_hash, revoked_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)";
pub const INSERT_ACCESS_TOKEN: &str =
    "INSERT INTO access_tokens (token_hash, device_id, expires_at) VALUES ($1, $2, $3)";
pub const SELECT_ACTIVE_DEVICES_NEWEST_FIRST: &str = "SELECT id FROM devices
     WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC";
pub const SET_DEVICE_REVOKED: &str = "UPDATE devices SET revoked_at = $1 WHERE id = $2";
pub const REVOKE_DEVICE: &str =
    "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";
pub const SELECT_DEVICE: &str =
    "SELECT id, user_id, name, revoked_at IS NOT NULL FROM devices WHERE id = $1";
/// The device's live refresh token and revocation, then its user (as `SELECT_USER_BY_ID`).
pub const SELECT_REFRESH_STATE: &str = "SELECT d.refresh_hash, d.revoked_at IS NOT NULL,
     u.id, u.username, u.display_name, u.role, u.unit_id, u.password_hash, u.disabled
     FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1";
/// The presented token among the device's spent ones, and whether it is the one spent last
/// with its retry unused.
pub const SELECT_SPENT_TOKEN: &str = "SELECT spent_at, retry_allowed = 1 AND spent_at =
       (SELECT MAX(spent_at) FROM spent_refresh_tokens WHERE device_id = $1)
     FROM spent_refresh_tokens WHERE device_id = $1 AND token_hash = $2";
pub const USE_UP_RETRY: &str =
    "UPDATE spent_refresh_tokens SET retry_allowed = 0 WHERE token_hash = $1";
pub const UPSERT_SPENT_TOKEN: &str = "INSERT INTO spent_refresh_tokens
     (token_hash, device_id, spent_at, retry_allowed) VALUES ($1, $2, $3, $4)
     ON CONFLICT (token_hash) DO UPDATE SET spent_at = excluded.spent_at,
       retry_allowed = excluded.retry_allowed";
pub const UPDATE_REFRESH_HASH: &str = "UPDATE devices SET refresh_hash = $1 WHERE id = $2";
pub const DELETE_ACCESS_TOKENS_OF_DEVICE: &str = "DELETE FROM access_tokens WHERE device_id = $1";
pub const SELECT_SESSION: &str = "SELECT t.expires_at, d.id, d.name, d.revoked_at IS NOT NULL,
       u.id, u.username, u.display_name, u.role, u.unit_id, u.disabled
     FROM access_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
     WHERE t.token_hash = $1";

// Cases and events.
/// Columns in the order `CaseRow`'s row decoding reads them.
pub const CASE_COLUMNS: &str = "body, routing, dispatched_units, seq, number";
pub const SELECT_CASE: &str =
    "SELECT body, routing, dispatched_units, seq, number FROM cases WHERE id = $1";
pub const SELECT_EVENTS_OF_CASE: &str = "SELECT body FROM events WHERE case_id = $1 ORDER BY seq";
pub const LIST_EVENTS_OF_CASES: &str = "SELECT seq, body FROM events WHERE case_id {list}";

// Ingest.
pub const LIST_ACCEPTED_EVENTS: &str = "SELECT id, body_hash FROM events WHERE id {list}";
pub const LIST_REJECTED_EVENTS: &str =
    "SELECT id, body_hash, code, message FROM rejected_events WHERE id {list}";
pub const LIST_CASES: &str =
    "SELECT id, body, routing, dispatched_units, seq, number FROM cases WHERE id {list}";
/// Stored photos among the cited ones, and whether the actor (`$1`) delivered each.
pub const LIST_PHOTO_EVIDENCE: &str = "SELECT p.sha256, EXISTS (SELECT 1 FROM photo_uploads u
       WHERE u.sha256 = p.sha256 AND u.user_id = $1)
     FROM photos p WHERE p.sha256 {list}";
pub const INSERT_EVENT: &str = "INSERT INTO events
     (id, case_id, seq, body_hash, body, user_id, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const INSERT_REJECTION: &str =
    "INSERT INTO rejected_events (id, body_hash, code, message) VALUES ($1, $2, $3, $4)";
/// The case query's columns go in the same statement (one write per changed case). The case
/// number is written with the new row and never updated (a number is never changed).
pub const UPSERT_CASE: &str = "INSERT INTO cases (id, estate_id, status, body, routing,
       dispatched_units, seq, category, is_open, reported_at_us, updated_at_us, due_us,
       assigned_unit, search_text, number)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body,
       dispatched_units = excluded.dispatched_units, seq = excluded.seq,
       category = excluded.category, is_open = excluded.is_open,
       reported_at_us = excluded.reported_at_us, updated_at_us = excluded.updated_at_us,
       due_us = excluded.due_us, assigned_unit = excluded.assigned_unit,
       search_text = excluded.search_text";
/// Draws the next sequence of a (district, day) counter: one statement, so concurrent
/// transactions on PostgreSQL queue on the counter's row and never draw the same value.
pub const NEXT_CASE_NUMBER: &str = "INSERT INTO case_number_counters (district, day, last)
     VALUES ($1, $2, 1)
     ON CONFLICT (district, day) DO UPDATE SET last = case_number_counters.last + 1
     RETURNING last";
pub const INSERT_CASE_UNIT: &str =
    "INSERT INTO case_units (unit_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub const INSERT_PHOTO_REF: &str =
    "INSERT INTO photo_refs (sha256, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

// Migration backfills.
pub const SELECT_ALL_CASE_BODIES: &str = "SELECT id, body, dispatched_units FROM cases";
pub const SELECT_ALL_CASE_ROUTING: &str = "SELECT id, routing, dispatched_units FROM cases";
/// Cases without a number, in reported order (the 0006 backfill).
pub const SELECT_UNNUMBERED_CASES: &str = "SELECT id, estate_id, reported_at_us FROM cases WHERE number IS NULL ORDER BY reported_at_us, id";
pub const SET_CASE_NUMBER: &str = "UPDATE cases SET number = $1 WHERE id = $2 AND number IS NULL";
pub const UPDATE_INDEX_COLUMNS: &str = "UPDATE cases SET category = $1, is_open = $2,
       reported_at_us = $3, updated_at_us = $4, due_us = $5, assigned_unit = $6,
       search_text = $7 WHERE id = $8";

// Pull: everything after a cursor, by change sequence number (the protocol's cursor).
pub const SELECT_CHANGE_SEQ: &str = "SELECT change_seq FROM sync_head WHERE id = 1";
pub const SELECT_CHANGED_CASES: &str =
    "SELECT body, routing, dispatched_units, seq, number FROM cases
     WHERE seq > $1 ORDER BY seq LIMIT $2";
/// Events numbered in (`$1`, `$2`] of the cases changed in that range (the page's cases).
pub const SELECT_CHANGED_EVENTS: &str = "SELECT e.body FROM events e
     JOIN cases c ON c.id = e.case_id
     WHERE e.seq > $1 AND e.seq <= $2 AND c.seq > $1 AND c.seq <= $2 ORDER BY e.seq";
pub const SELECT_CHANGED_ESTATES: &str =
    "SELECT body FROM estates WHERE seq > $1 AND seq <= $2 ORDER BY seq";
pub const SELECT_CHANGED_UNITS: &str =
    "SELECT body FROM units WHERE seq > $1 AND seq <= $2 ORDER BY seq";
pub const SELECT_CHANGED_ROUTING_RULES: &str =
    "SELECT body FROM routing_rules WHERE id = 1 AND seq > $1 AND seq <= $2";

// Photos.
pub const SELECT_PHOTO: &str = "SELECT sha256, stored_sha256, bytes, width, height, uploaded_by,
     device_id FROM photos WHERE sha256 = $1";
pub const INSERT_PHOTO: &str = "INSERT INTO photos
     (sha256, stored_sha256, bytes, width, height, uploaded_by, device_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
pub const INSERT_PHOTO_UPLOAD: &str = "INSERT INTO photo_uploads
     (sha256, user_id, device_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
pub const SELECT_PHOTO_UPLOADED_BY: &str =
    "SELECT 1 FROM photo_uploads WHERE sha256 = $1 AND user_id = $2";
pub const SELECT_CASES_OF_PHOTO: &str =
    "SELECT c.body, c.routing, c.dispatched_units, c.seq, c.number
     FROM photo_refs p JOIN cases c ON c.id = p.case_id WHERE p.sha256 = $1";
pub const SELECT_UNCITED_PHOTOS: &str = "SELECT sha256 FROM photos WHERE created_at < $1
     AND NOT EXISTS (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256)
     ORDER BY sha256";
pub const DELETE_PHOTO_UPLOADS: &str = "DELETE FROM photo_uploads WHERE sha256 = $1";
pub const DELETE_PHOTO: &str = "DELETE FROM photos WHERE sha256 = $1";

// Sign-in lockout.
pub const SELECT_LOGIN_LOCK: &str =
    "SELECT locked_until FROM login_failures WHERE username = $1 AND client = $2";
pub const SELECT_LOGIN_FAILURES: &str =
    "SELECT failures, last_failed_at FROM login_failures WHERE username = $1 AND client = $2";
pub const UPSERT_LOGIN_FAILURE: &str = "INSERT INTO login_failures
     (username, client, failures, last_failed_at, locked_until) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (username, client) DO UPDATE SET failures = excluded.failures,
       last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until";
pub const DELETE_STALE_LOGIN_FAILURES: &str = "DELETE FROM login_failures
     WHERE last_failed_at < $1 AND (locked_until IS NULL OR locked_until < $2)";
pub const DELETE_LOGIN_FAILURES_OF_CLIENT: &str =
    "DELETE FROM login_failures WHERE username = $1 AND client = $2";
pub const DELETE_LOGIN_FAILURES_OF_USER: &str = "DELETE FROM login_failures WHERE username = $1";

/// Every statement above, for the placeholder check.
#[cfg(test)]
const ALL: &[&str] = &[
    SELECT_HEAD,
    UPDATE_HEAD,
    INSERT_AUDIT,
    SELECT_AUDIT_LOG,
    SELECT_ESTATES,
    SELECT_UNITS,
    SELECT_ROUTING_RULES,
    SELECT_ESTATE_BODY,
    SELECT_UNIT_BODY,
    UPSERT_ESTATE,
    UPSERT_UNIT,
    UPSERT_ROUTING_RULES,
    SELECT_USER_ID_BY_USERNAME,
    INSERT_USER,
    SELECT_USER_BY_USERNAME,
    SELECT_USER_BY_ID,
    UPDATE_USER_DISABLED,
    INSERT_DEVICE,
    INSERT_ACCESS_TOKEN,
    SELECT_ACTIVE_DEVICES_NEWEST_FIRST,
    SET_DEVICE_REVOKED,
    REVOKE_DEVICE,
    SELECT_DEVICE,
    SELECT_REFRESH_STATE,
    SELECT_SPENT_TOKEN,
    USE_UP_RETRY,
    UPSERT_SPENT_TOKEN,
    UPDATE_REFRESH_HASH,
    DELETE_ACCESS_TOKENS_OF_DEVICE,
    SELECT_SESSION,
    SELECT_CASE,
    SELECT_EVENTS_OF_CASE,
    LIST_EVENTS_OF_CASES,
    LIST_ACCEPTED_EVENTS,
    LIST_REJECTED_EVENTS,
    LIST_CASES,
    LIST_PHOTO_EVIDENCE,
    INSERT_EVENT,
    INSERT_REJECTION,
    UPSERT_CASE,
    NEXT_CASE_NUMBER,
    INSERT_CASE_UNIT,
    INSERT_PHOTO_REF,
    SELECT_ALL_CASE_BODIES,
    SELECT_ALL_CASE_ROUTING,
    SELECT_UNNUMBERED_CASES,
    SET_CASE_NUMBER,
    UPDATE_INDEX_COLUMNS,
    SELECT_CHANGE_SEQ,
    SELECT_CHANGED_CASES,
    SELECT_CHANGED_EVENTS,
    SELECT_CHANGED_ESTATES,
    SELECT_CHANGED_UNITS,
    SELECT_CHANGED_ROUTING_RULES,
    SELECT_PHOTO,
    INSERT_PHOTO,
    INSERT_PHOTO_UPLOAD,
    SELECT_PHOTO_UPLOADED_BY,
    SELECT_CASES_OF_PHOTO,
    SELECT_UNCITED_PHOTOS,
    DELETE_PHOTO_UPLOADS,
    DELETE_PHOTO,
    SELECT_LOGIN_LOCK,
    SELECT_LOGIN_FAILURES,
    UPSERT_LOGIN_FAILURE,
    DELETE_STALE_LOGIN_FAILURES,
    DELETE_LOGIN_FAILURES_OF_CLIENT,
    DELETE_LOGIN_FAILURES_OF_USER,
];

/// The `$n` placeholders of a statement in order of appearance.
#[cfg(test)]
fn placeholders(sql: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse() {
            found.push(n);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_appear_in_order() {
        // SQLite binds `$n` by first appearance: `$2` before `$1` would swap the values.
        for sql in ALL {
            let mut next = 1;
            for n in placeholders(sql) {
                assert!(n <= next, "placeholder ${n} before ${next} in {sql}");
                if n == next {
                    next += 1;
                }
            }
        }
    }
}
