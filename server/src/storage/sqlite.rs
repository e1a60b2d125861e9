//! Embedded SQLite backend. One writer thread owns the write connection and commits whatever jobs
//! are waiting in one transaction (each job in its own savepoint, so one failing job never undoes
//! another); readers use a small pool of read-only connections (WAL lets them run beside the
//! writer). All SQLite calls run off the async threads: the writer on its own thread, reads in
//! `spawn_blocking`. `synchronous=FULL`: a push is acknowledged only after its commit is durable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit, Role};

use super::case_query::{self, CasePage, CaseQuery, IndexColumns, SqlValue};
use super::{
    CaseRow, ChangePage, DeviceRecord, Head, IngestBatch, LockoutPolicy, NewDevice, PhotoRecord,
    RefreshOutcome, Session, Storage, StorageError, StorageFuture, TokenRefresh, UserRecord,
};
use crate::policy::audit::{self, AuditDraft, AuditKey, AuditRow};
use crate::policy::catalog::Catalog;
use crate::policy::credentials::{RefreshStep, SpentToken, decide_refresh};
use crate::policy::ingest;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_init.sql")),
    (2, include_str!("migrations/sqlite/0002_case_query.sql")),
    (
        3,
        include_str!("migrations/sqlite/0003_case_units_routing.sql"),
    ),
    (4, include_str!("migrations/sqlite/0004_photo_uploads.sql")),
    (5, include_str!("migrations/sqlite/0005_auth_hardening.sql")),
];
/// The migration that added the case query's columns; existing rows are backfilled with it.
const CASE_QUERY_MIGRATION: u32 = 2;
/// The migration that indexed cases under their routed supervisor and co-responsible units.
const CASE_UNITS_ROUTING_MIGRATION: u32 = 3;
/// Most ids bound in one `IN (…)` list (SQLite allows 32 766 parameters).
const IDS_PER_STATEMENT: usize = 500;
/// Most jobs committed together by the writer.
const MAX_JOBS_PER_COMMIT: usize = 256;

type Reply = Box<dyn FnOnce(Option<StorageError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

pub struct SqliteStorage {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Keys the audit chain (`audit::AuditKey`); set by `storage::open`.
    audit_key: Option<AuditKey>,
}

pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Corrupt(format!("bad timestamp {text:?}: {e}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(text).map_err(|e| StorageError::Corrupt(format!("bad uuid {text:?}: {e}")))
}

pub(crate) fn parse_role(text: &str) -> Result<Role, StorageError> {
    Role::from_code(text).ok_or_else(|| StorageError::Corrupt(format!("bad role {text:?}")))
}

fn open_connection(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Room for the ingest's id-list statements beside the rest.
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StorageError::Migration {
            version: *version,
            message: e.to_string(),
        })?;
        if *version == CASE_QUERY_MIGRATION {
            backfill_index_columns(&tx)?;
        }
        if *version == CASE_UNITS_ROUTING_MIGRATION {
            backfill_case_units(&tx)?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}

/// Fills the case query's columns and `case_units` for rows stored before they existed.
fn backfill_index_columns(conn: &Connection) -> Result<(), StorageError> {
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT id, body, dispatched_units FROM cases")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let count = rows.len();
    for (id, body, units) in rows {
        let case: xuncha_core::Case = serde_json::from_str(&body)?;
        let units: Vec<String> = serde_json::from_str(&units)?;
        write_index_columns(conn, &id, &IndexColumns::of(&case), &units)?;
    }
    tracing::info!(count, "backfilled case query columns");
    Ok(())
}

/// Re-derives `case_units` (dispatched, supervisor and co-responsible units) for every stored case.
fn backfill_case_units(conn: &Connection) -> Result<(), StorageError> {
    let rows: Vec<(String, Option<String>, String)> = conn
        .prepare("SELECT id, routing, dispatched_units FROM cases")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let count = rows.len();
    for (id, routing, units) in rows {
        let routing: Option<serde_json::Value> =
            routing.map(|r| serde_json::from_str(&r)).transpose()?;
        let units: Vec<String> = serde_json::from_str(&units)?;
        write_case_units(conn, &id, &IndexColumns::units_of(&units, routing.as_ref()))?;
    }
    tracing::info!(count, "backfilled case units from routing decisions");
    Ok(())
}

/// Writes the derived columns of one stored case and its dispatched units.
fn write_index_columns(
    conn: &Connection,
    id: &str,
    columns: &IndexColumns,
    dispatched_units: &[String],
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "UPDATE cases SET category = ?2, is_open = ?3, reported_at_us = ?4, updated_at_us = ?5,
           due_us = ?6, assigned_unit = ?7, search_text = ?8 WHERE id = ?1",
    )?
    .execute(params![
        id,
        columns.category,
        columns.is_open,
        columns.reported_at_us,
        columns.updated_at_us,
        columns.due_us,
        columns.assigned_unit,
        columns.search_text,
    ])?;
    write_case_units(conn, id, dispatched_units)
}

/// Indexes a case under every unit it involves ([`IndexColumns::units_of`]).
fn write_case_units(
    conn: &Connection,
    id: &str,
    dispatched_units: &[String],
) -> Result<(), StorageError> {
    let mut insert_unit =
        conn.prepare_cached("INSERT OR IGNORE INTO case_units (unit_id, case_id) VALUES (?1, ?2)")?;
    for unit in dispatched_units {
        insert_unit.execute(params![unit, id])?;
    }
    Ok(())
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SqlValue::Text(t) => t.to_sql(),
            SqlValue::Int(i) => i.to_sql(),
            SqlValue::Bool(b) => b.to_sql(),
        }
    }
}

const CASE_SELECT: &str = "body, routing, dispatched_units, seq";

fn query_cases_in_tx(conn: &Connection, query: &CaseQuery) -> Result<CasePage, StorageError> {
    let page = case_query::page_sql(query, CASE_SELECT);
    let mut fetched = Vec::new();
    {
        let mut stmt = conn.prepare(&page.text)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(page.params.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (b, r, u, s, key) = row?;
            fetched.push((case_from_row(&b, r, &u, s)?, key));
        }
    }
    let counts_sql = case_query::counts_sql(query);
    let mut counts = std::collections::BTreeMap::new();
    let mut stmt = conn.prepare(&counts_sql.text)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(counts_sql.params.iter()), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (status, n) = row?;
        counts.insert(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(case_query::finish_page(fetched, query.limit, counts))
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            for job in batch {
                // Each job still needs its answer: it fails with the BEGIN error.
                let reply = run_failed(job, &message);
                reply(Some(StorageError::Corrupt(message.clone())));
            }
            continue;
        }
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit_error = conn.execute_batch("COMMIT").err();
        if commit_error.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(
                commit_error
                    .as_ref()
                    .map(|e| StorageError::Corrupt(format!("commit failed: {e}"))),
            );
        }
    }
}

/// A job whose transaction could not start: it is dropped unrun and told why.
fn run_failed(job: Job, message: &str) -> Reply {
    drop(job);
    let message = message.to_owned();
    Box::new(move |_| tracing::error!(%message, "SQLite writer could not begin a transaction"))
}

impl SqliteStorage {
    pub async fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        let path = path.to_owned();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StorageError> {
            let mut conn = open_connection(&opened)?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|_| StorageError::WriterGone)??;
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("xuncha-sqlite-writer".to_owned())
            .spawn(move || writer_loop(conn, receiver))?;
        Ok(SqliteStorage {
            path,
            jobs: Mutex::new(Some(sender)),
            readers: Arc::new(Mutex::new(Vec::new())),
            audit_key: None,
        })
    }

    /// Keys the audit entries this storage writes and verifies with `key`.
    pub fn with_audit_key(mut self, key: AuditKey) -> SqliteStorage {
        self.audit_key = Some(key);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's transaction (inside a savepoint); answers after the commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &mut Head) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (sender, receiver) = tokio::sync::oneshot::channel::<Result<T, StorageError>>();
        let audit_key = self.audit_key.clone();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = run_in_savepoint(conn, move |conn, head| {
                head.audit_key = audit_key;
                f(conn, head)
            });
            Box::new(move |commit_error: Option<StorageError>| {
                let _ = sender.send(match commit_error {
                    Some(e) => Err(e),
                    None => result,
                });
            })
        });
        {
            let jobs = self.jobs.lock().map_err(|_| StorageError::WriterGone)?;
            let jobs = jobs.as_ref().ok_or(StorageError::WriterGone)?;
            jobs.send(job).map_err(|_| StorageError::WriterGone)?;
        }
        receiver.await.map_err(|_| StorageError::WriterGone)?
    }

    /// Runs `f` on a pooled read connection in `spawn_blocking`.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().ok().and_then(|mut pool| pool.pop());
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&path)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock()
                && pool.len() < 8
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StorageError::WriterGone)?
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // Closing the channel lets the writer thread finish its queue and exit.
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection, &mut Head) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    conn.execute_batch("SAVEPOINT job")?;
    let result = (|| {
        let mut head = read_head(conn)?;
        let value = f(conn, &mut head)?;
        conn.execute(
            "UPDATE sync_head SET change_seq = ?1, audit_seq = ?2, audit_hash = ?3 WHERE id = 1",
            params![head.change_seq, head.audit_seq, head.audit_hash],
        )?;
        Ok(value)
    })();
    match result {
        Ok(value) => {
            conn.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

fn read_head(conn: &Connection) -> Result<Head, StorageError> {
    Ok(conn.query_row(
        "SELECT change_seq, audit_seq, audit_hash FROM sync_head WHERE id = 1",
        [],
        |r| {
            Ok(Head {
                change_seq: r.get(0)?,
                audit_seq: r.get(1)?,
                audit_hash: r.get(2)?,
                audit_key: None,
            })
        },
    )?)
}

fn insert_audit(conn: &Connection, head: &mut Head, draft: AuditDraft) -> Result<(), StorageError> {
    let row = audit::seal(head, draft, ingest::now())?;
    insert_audit_row(conn, &row)
}

fn insert_audit_row(conn: &Connection, row: &AuditRow) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![row.seq, row.entry, row.prev_hash, row.hash])?;
    Ok(())
}

const USER_COLUMNS: &str = "id, username, display_name, role, unit_id, password_hash, disabled";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(UserRecord, String)> {
    let role: String = r.get(3)?;
    Ok((
        UserRecord {
            id: r.get(0)?,
            username: r.get(1)?,
            display_name: r.get(2)?,
            role: Role::Admin,
            unit_id: r.get(4)?,
            password_hash: r.get(5)?,
            disabled: r.get(6)?,
        },
        role,
    ))
}

fn finish_user((mut user, role): (UserRecord, String)) -> Result<UserRecord, StorageError> {
    user.role = parse_role(&role)?;
    Ok(user)
}

fn case_from_row(
    body: &str,
    routing: Option<String>,
    units: &str,
    seq: i64,
) -> Result<CaseRow, StorageError> {
    Ok(CaseRow {
        case: serde_json::from_str(body)?,
        routing: routing.map(|r| serde_json::from_str(&r)).transpose()?,
        dispatched_units: serde_json::from_str(units)?,
        seq,
    })
}

fn load_case(conn: &Connection, id: Uuid) -> Result<Option<CaseRow>, StorageError> {
    let row = conn
        .prepare_cached("SELECT body, routing, dispatched_units, seq FROM cases WHERE id = ?1")?
        .query_row([id.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(b, r, u, s)| case_from_row(&b, r, &u, s))
        .transpose()
}

/// The stored photos the batch cites, with whether the actor uploaded each and, when not, the
/// cases each is attached to (see [`ingest::PhotoEvidence`]).
fn photo_evidence(
    conn: &Connection,
    batch: &ingest::PreparedBatch,
) -> Result<HashMap<String, ingest::PhotoEvidence>, StorageError> {
    let mut found = HashMap::new();
    for sha in ingest::cited_photos(batch) {
        let stored: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM photos WHERE sha256 = ?1")?
            .query_row([&sha], |r| r.get(0))
            .optional()?;
        if stored.is_none() {
            continue;
        }
        let uploaded_by_actor = conn
            .prepare_cached("SELECT 1 FROM photo_uploads WHERE sha256 = ?1 AND user_id = ?2")?
            .query_row([&sha, &batch.actor.user_id], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some();
        let cases = if uploaded_by_actor {
            Vec::new()
        } else {
            cases_of_photo(conn, &sha)?
        };
        found.insert(
            sha,
            ingest::PhotoEvidence {
                uploaded_by_actor,
                cases,
            },
        );
    }
    Ok(found)
}

fn cases_of_photo(conn: &Connection, sha: &str) -> Result<Vec<CaseRow>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.body, c.routing, c.dispatched_units, c.seq FROM photo_refs p JOIN cases c ON c.id = p.case_id WHERE p.sha256 = ?1",
    )?;
    let rows = stmt.query_map([sha], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (b, r, u, s) = row?;
        case_from_row(&b, r, &u, s)
    })
    .collect()
}

fn ingest_in_tx(
    conn: &Connection,
    head: &mut Head,
    batch: &ingest::PreparedBatch,
) -> Result<Vec<EventResult>, StorageError> {
    let (event_ids, case_ids) = ingest::keys(batch);
    let mut existing = ingest::Existing::default();
    // One statement per table and chunk of ids (a push's ids in one go), not one per event.
    // Lists are padded to a power of two (repeating the last id) so a few cached statements
    // serve every batch size.
    let keys = |ids: &[Uuid]| {
        let mut keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let padded = keys.len().next_power_of_two();
        if let Some(last) = keys.last().cloned() {
            keys.resize(padded, last);
        }
        keys
    };
    let marks = |n: usize| vec!["?"; n.next_power_of_two()].join(", ");
    for chunk in event_ids.chunks(IDS_PER_STATEMENT) {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, body_hash FROM events WHERE id IN ({})",
            marks(chunk.len())
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(keys(chunk)), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, hash) = row?;
            existing.accepted.insert(parse_uuid(&id)?, hash);
        }
    }
    let unaccepted: Vec<Uuid> = event_ids
        .iter()
        .filter(|id| !existing.accepted.contains_key(id))
        .copied()
        .collect();
    for chunk in unaccepted.chunks(IDS_PER_STATEMENT) {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, body_hash, code, message FROM rejected_events WHERE id IN ({})",
            marks(chunk.len())
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(keys(chunk)), |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        for row in rows {
            let (id, found) = row?;
            existing.rejected.insert(parse_uuid(&id)?, found);
        }
    }
    for chunk in case_ids.chunks(IDS_PER_STATEMENT) {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, {CASE_SELECT} FROM cases WHERE id IN ({})",
            marks(chunk.len())
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(keys(chunk)), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (id, b, r, u, s) = row?;
            existing
                .cases
                .insert(parse_uuid(&id)?, case_from_row(&b, r, &u, s)?);
        }
    }
    existing.photos = photo_evidence(conn, batch)?;
    let plan = ingest::plan(batch, existing, head)?;
    let device_id = batch.device_id.to_string();
    {
        let mut insert_event = conn.prepare_cached(
            "INSERT INTO events (id, case_id, seq, body_hash, body, user_id, device_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for row in &plan.events {
            insert_event.execute(params![
                row.id.to_string(),
                row.case_id.to_string(),
                row.seq,
                row.body_hash,
                row.body,
                batch.actor.user_id,
                device_id,
            ])?;
        }
        let mut insert_rejection = conn.prepare_cached(
            "INSERT INTO rejected_events (id, body_hash, code, message) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for row in &plan.rejections {
            insert_rejection.execute(params![
                row.event_id.to_string(),
                row.body_hash,
                row.code,
                row.message
            ])?;
        }
        // The case query's columns go in the same statement (one write per changed case).
        let mut upsert_case = conn.prepare_cached(
            "INSERT INTO cases (id, estate_id, status, body, routing, dispatched_units, seq,
               category, is_open, reported_at_us, updated_at_us, due_us, assigned_unit, search_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body,
               dispatched_units = excluded.dispatched_units, seq = excluded.seq,
               category = excluded.category, is_open = excluded.is_open,
               reported_at_us = excluded.reported_at_us, updated_at_us = excluded.updated_at_us,
               due_us = excluded.due_us, assigned_unit = excluded.assigned_unit,
               search_text = excluded.search_text",
        )?;
        for row in &plan.cases {
            let id = row.case.id.to_string();
            let columns = IndexColumns::of(&row.case);
            upsert_case.execute(params![
                id,
                row.case.estate_id,
                row.case.status.code(),
                serde_json::to_string(&row.case)?,
                row.routing
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                serde_json::to_string(&row.dispatched_units)?,
                row.seq,
                columns.category,
                columns.is_open,
                columns.reported_at_us,
                columns.updated_at_us,
                columns.due_us,
                columns.assigned_unit,
                columns.search_text,
            ])?;
            write_case_units(
                conn,
                &id,
                &IndexColumns::units_of(&row.dispatched_units, row.routing.as_ref()),
            )?;
        }
        let mut insert_ref = conn
            .prepare_cached("INSERT OR IGNORE INTO photo_refs (sha256, case_id) VALUES (?1, ?2)")?;
        for (sha, case_id) in &plan.photo_refs {
            insert_ref.execute(params![sha, case_id.to_string()])?;
        }
    }
    for row in &plan.audit {
        insert_audit_row(conn, row)?;
    }
    Ok(plan.results)
}

fn changes_in_tx(conn: &Connection, cursor: i64, limit: usize) -> Result<ChangePage, StorageError> {
    let head = read_head(conn)?;
    let mut page = ChangePage::default();
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    {
        let mut stmt = conn.prepare_cached(
            "SELECT body, routing, dispatched_units, seq FROM cases WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cursor, fetch], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (b, r, u, s) = row?;
            page.cases.push(case_from_row(&b, r, &u, s)?);
        }
    }
    page.has_more = page.cases.len() > limit;
    page.cases.truncate(limit);
    page.next_cursor = if page.has_more {
        page.cases.last().map_or(cursor, |c| c.seq)
    } else {
        head.change_seq.max(cursor)
    };
    let upto = page.next_cursor;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM events WHERE case_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq",
        )?;
        for case in &page.cases {
            let rows = stmt.query_map(params![case.case.id.to_string(), cursor, upto], |r| {
                r.get::<_, String>(0)
            })?;
            for body in rows {
                page.events.push(serde_json::from_str(&body?)?);
            }
        }
    }
    page.events.sort_by_key(|e: &Event| e.server_time);
    for (table, target) in [("estates", 0), ("units", 1)] {
        let sql = format!("SELECT body FROM {table} WHERE seq > ?1 AND seq <= ?2 ORDER BY seq");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![cursor, upto], |r| r.get::<_, String>(0))?;
        for body in rows {
            let body = body?;
            if target == 0 {
                page.estates.push(serde_json::from_str(&body)?);
            } else {
                page.units.push(serde_json::from_str(&body)?);
            }
        }
    }
    page.routing_rules = conn
        .query_row(
            "SELECT body FROM routing_rules WHERE id = 1 AND seq > ?1 AND seq <= ?2",
            params![cursor, upto],
            |r| r.get(0),
        )
        .optional()?;
    Ok(page)
}

impl Storage for SqliteStorage {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn load_catalog(&self) -> StorageFuture<'_, Catalog> {
        Box::pin(self.read(|conn| {
            let mut catalog = Catalog::default();
            let mut stmt = conn.prepare("SELECT body FROM estates ORDER BY id")?;
            for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let estate: Estate = serde_json::from_str(&body?)?;
                catalog.estates.insert(estate.id.clone(), estate);
            }
            let mut stmt = conn.prepare("SELECT body FROM units ORDER BY id")?;
            for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
                catalog.units.push(serde_json::from_str(&body?)?);
            }
            catalog.routing_rules = conn
                .query_row("SELECT body FROM routing_rules WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(catalog)
        }))
    }

    fn save_catalog(
        &self,
        estates: Vec<Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, head| {
            let mut changed = 0usize;
            for (table, id, body) in estates
                .iter()
                .map(|e| Ok(("estates", e.id.clone(), serde_json::to_string(e)?)))
                .chain(units.iter().map(|u| Ok(("units", u.id.clone(), serde_json::to_string(u)?))))
                .collect::<Result<Vec<_>, serde_json::Error>>()?
            {
                let current: Option<String> = conn
                    .query_row(&format!("SELECT body FROM {table} WHERE id = ?1"), [&id], |r| r.get(0))
                    .optional()?;
                if current.as_deref() != Some(body.as_str()) {
                    let seq = head.next_change();
                    conn.execute(
                        &format!("INSERT INTO {table} (id, body, seq) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq"),
                        params![id, body, seq],
                    )?;
                    changed += 1;
                }
            }
            if let Some(rules) = routing_rules {
                let seq = head.next_change();
                conn.execute(
                    "INSERT INTO routing_rules (id, body, seq) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
                    params![rules, seq],
                )?;
                changed += 1;
            }
            if changed > 0 {
                insert_audit(conn, head, audit.detail(serde_json::json!({ "changed": changed })))?;
            }
            Ok(())
        }))
    }

    fn create_user(&self, user: UserRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, head| {
            let exists: Option<String> = conn
                .query_row("SELECT id FROM users WHERE username = ?1", [&user.username], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(StorageError::UserExists(user.username));
            }
            conn.execute(
                "INSERT INTO users (id, username, display_name, role, unit_id, password_hash, disabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![user.id, user.username, user.display_name, user.role.code(), user.unit_id, user.password_hash, user.disabled, ts(Utc::now())],
            )?;
            insert_audit(conn, head, audit)
        }))
    }

    fn user_by_username(&self, username: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [username],
                user_from_row,
            )
            .optional()?
            .map(finish_user)
            .transpose()
        }))
    }

    fn user_by_id(&self, user_id: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [user_id],
                user_from_row,
            )
            .optional()?
            .map(finish_user)
            .transpose()
        }))
    }

    fn set_user_disabled(
        &self,
        user_id: String,
        disabled: bool,
        audit: AuditDraft,
    ) -> StorageFuture<'_, bool> {
        Box::pin(self.write(move |conn, head| {
            let n = conn.execute(
                "UPDATE users SET disabled = ?1 WHERE id = ?2",
                params![disabled, user_id],
            )?;
            if n > 0 {
                insert_audit(conn, head, audit)?;
            }
            Ok(n > 0)
        }))
    }

    fn create_device(&self, device: NewDevice, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, head| {
            let id = device.id.to_string();
            let now = Utc::now();
            conn.execute(
                "INSERT INTO devices (id, user_id, name, refresh_hash, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                params![id, device.user_id, device.name, device.refresh_hash, ts(now)],
            )?;
            conn.execute(
                "INSERT INTO access_tokens (token_hash, device_id, expires_at) VALUES (?1, ?2, ?3)",
                params![device.access_hash, id, ts(device.access_expires_at)],
            )?;
            insert_audit(conn, head, audit)?;
            if device.max_active_per_user > 0 {
                // Newest first; everything past the cap is this user's oldest.
                let evicted: Vec<String> = conn
                    .prepare(
                        "SELECT id FROM devices WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?2",
                    )?
                    .query_map(
                        params![device.user_id, i64::try_from(device.max_active_per_user).unwrap_or(i64::MAX)],
                        |r| r.get(0),
                    )?
                    .collect::<Result<_, _>>()?;
                for old in evicted {
                    conn.execute(
                        "UPDATE devices SET revoked_at = ?1 WHERE id = ?2",
                        params![ts(now), old],
                    )?;
                    insert_audit(conn, head, crate::policy::credentials::eviction_audit(&old, &device.user_id))?;
                }
            }
            Ok(())
        }))
    }

    fn device(&self, device_id: Uuid) -> StorageFuture<'_, Option<DeviceRecord>> {
        Box::pin(self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT user_id, name, revoked_at IS NOT NULL FROM devices WHERE id = ?1",
                    [device_id.to_string()],
                    |r| {
                        Ok(DeviceRecord {
                            id: device_id,
                            user_id: r.get(0)?,
                            name: r.get(1)?,
                            revoked: r.get(2)?,
                        })
                    },
                )
                .optional()?)
        }))
    }

    fn refresh_access(&self, refresh: TokenRefresh) -> StorageFuture<'_, RefreshOutcome> {
        Box::pin(self.write(move |conn, head| {
            let id = refresh.device_id.to_string();
            let found = conn
                .query_row(
                    &format!(
                        "SELECT d.refresh_hash, d.revoked_at IS NOT NULL, {} FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?1",
                        USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
                    ),
                    [&id],
                    |r| {
                        let stored: String = r.get(0)?;
                        let revoked: bool = r.get(1)?;
                        let role: String = r.get(5)?;
                        Ok((stored, revoked, UserRecord {
                            id: r.get(2)?,
                            username: r.get(3)?,
                            display_name: r.get(4)?,
                            role: Role::Admin,
                            unit_id: r.get(6)?,
                            password_hash: r.get(7)?,
                            disabled: r.get(8)?,
                        }, role))
                    },
                )
                .optional()?;
            let Some((stored, revoked, user, role)) = found else {
                return Ok(RefreshOutcome::Invalid);
            };
            let spent = conn
                .query_row(
                    "SELECT spent_at, retry_allowed = 1 AND spent_at = (SELECT MAX(spent_at) FROM spent_refresh_tokens WHERE device_id = ?2)
                     FROM spent_refresh_tokens WHERE token_hash = ?1 AND device_id = ?2",
                    params![refresh.presented_hash, id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)),
                )
                .optional()?
                .map(|(at, latest)| parse_ts(&at).map(|spent_at| SpentToken { spent_at, latest }))
                .transpose()?;
            let step = decide_refresh(
                &stored,
                revoked,
                user.disabled,
                &refresh.presented_hash,
                spent,
                refresh.now,
                refresh.grace,
            );
            match step {
                RefreshStep::Invalid => Ok(RefreshOutcome::Invalid),
                RefreshStep::Revoked => Ok(RefreshOutcome::Revoked),
                RefreshStep::Reused => {
                    conn.execute(
                        "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                        params![ts(refresh.now), id],
                    )?;
                    insert_audit(conn, head, crate::policy::credentials::reuse_audit(refresh.device_id))?;
                    Ok(RefreshOutcome::Reused)
                }
                RefreshStep::Rotate => {
                    let user = finish_user((user, role))?;
                    // A retry within the grace uses it up, and the token it replaces was never
                    // delivered: neither may come back.
                    let retry = spent.is_some();
                    if retry {
                        conn.execute(
                            "UPDATE spent_refresh_tokens SET retry_allowed = 0 WHERE token_hash = ?1",
                            [&refresh.presented_hash],
                        )?;
                    }
                    conn.execute(
                        "INSERT OR REPLACE INTO spent_refresh_tokens (token_hash, device_id, spent_at, retry_allowed) VALUES (?1, ?2, ?3, ?4)",
                        params![stored, id, ts(refresh.now), !retry],
                    )?;
                    conn.execute(
                        "UPDATE devices SET refresh_hash = ?1 WHERE id = ?2",
                        params![refresh.new_refresh_hash, id],
                    )?;
                    conn.execute("DELETE FROM access_tokens WHERE device_id = ?1", [&id])?;
                    conn.execute(
                        "INSERT INTO access_tokens (token_hash, device_id, expires_at) VALUES (?1, ?2, ?3)",
                        params![refresh.access_hash, id, ts(refresh.access_expires_at)],
                    )?;
                    insert_audit(conn, head, refresh.audit)?;
                    Ok(RefreshOutcome::Refreshed(user))
                }
            }
        }))
    }

    fn session(&self, access_hash: String) -> StorageFuture<'_, Option<Session>> {
        Box::pin(self.read(move |conn| {
            let found = conn
                .prepare_cached(
                    "SELECT t.expires_at, d.id, d.name, d.revoked_at IS NOT NULL,
                            u.id, u.username, u.display_name, u.role, u.unit_id, u.disabled
                     FROM access_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
                     WHERE t.token_hash = ?1",
                )?
                .query_row([access_hash], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, bool>(9)?,
                    ))
                })
                .optional()?;
            let Some((expires, device_id, device_name, revoked, user_id, username, display_name, role, unit_id, disabled)) = found else {
                return Ok(None);
            };
            Ok(Some(Session {
                user: UserRecord { id: user_id.clone(), username, display_name, role: parse_role(&role)?, unit_id, password_hash: String::new(), disabled },
                device: DeviceRecord { id: parse_uuid(&device_id)?, user_id, name: device_name, revoked },
                access_expires_at: parse_ts(&expires)?,
            }))
        }))
    }

    fn revoke_device(&self, device_id: Uuid, audit: AuditDraft) -> StorageFuture<'_, bool> {
        Box::pin(self.write(move |conn, head| {
            let id = device_id.to_string();
            let n = conn.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                params![ts(Utc::now()), id],
            )?;
            // Tokens stay so the next request is answered REVOKED rather than unknown.
            if n > 0 {
                insert_audit(conn, head, audit)?;
            }
            Ok(n > 0)
        }))
    }

    fn ingest(&self, batch: IngestBatch) -> StorageFuture<'_, Vec<EventResult>> {
        Box::pin(async move {
            let batch = tokio::task::spawn_blocking(move || ingest::prepare(batch))
                .await
                .map_err(|_| StorageError::WriterGone)??;
            self.write(move |conn, head| ingest_in_tx(conn, head, &batch))
                .await
        })
    }

    fn changes_since(&self, cursor: i64, limit: usize) -> StorageFuture<'_, ChangePage> {
        Box::pin(self.read(move |conn| {
            // One read transaction: the page is a consistent snapshot.
            conn.execute_batch("BEGIN")?;
            let page = changes_in_tx(conn, cursor, limit);
            let _ = conn.execute_batch("COMMIT");
            page
        }))
    }

    fn case_with_events(&self, case_id: Uuid) -> StorageFuture<'_, Option<(CaseRow, Vec<Event>)>> {
        Box::pin(self.read(move |conn| {
            let Some(row) = load_case(conn, case_id)? else {
                return Ok(None);
            };
            let mut stmt =
                conn.prepare_cached("SELECT body FROM events WHERE case_id = ?1 ORDER BY seq")?;
            let events = stmt
                .query_map([case_id.to_string()], |r| r.get::<_, String>(0))?
                .map(|b| Ok(serde_json::from_str(&b?)?))
                .collect::<Result<Vec<Event>, StorageError>>()?;
            Ok(Some((row, events)))
        }))
    }

    fn query_cases(&self, query: CaseQuery) -> StorageFuture<'_, CasePage> {
        Box::pin(self.read(move |conn| {
            // One read transaction: the page and its counts come from one snapshot.
            conn.execute_batch("BEGIN")?;
            let page = query_cases_in_tx(conn, &query);
            let _ = conn.execute_batch("COMMIT");
            page
        }))
    }

    fn events_of_cases(&self, case_ids: Vec<Uuid>) -> StorageFuture<'_, Vec<Event>> {
        Box::pin(self.read(move |conn| {
            let mut events = Vec::new();
            for chunk in case_ids.chunks(IDS_PER_STATEMENT) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut stmt = conn.prepare(&format!(
                    "SELECT body FROM events WHERE case_id IN ({marks}) ORDER BY seq"
                ))?;
                let ids = chunk.iter().map(Uuid::to_string);
                for body in
                    stmt.query_map(rusqlite::params_from_iter(ids), |r| r.get::<_, String>(0))?
                {
                    events.push(serde_json::from_str::<Event>(&body?)?);
                }
            }
            Ok(events)
        }))
    }

    fn photo(&self, sha256: String) -> StorageFuture<'_, Option<PhotoRecord>> {
        Box::pin(self.read(move |conn| {
            let found = conn
                .query_row(
                    "SELECT stored_sha256, bytes, width, height, uploaded_by, device_id FROM photos WHERE sha256 = ?1",
                    [&sha256],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, u32>(2)?, r.get::<_, u32>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?)),
                )
                .optional()?;
            found
                .map(|(stored_sha256, bytes, width, height, uploaded_by, device_id)| {
                    Ok(PhotoRecord {
                        sha256: sha256.clone(),
                        stored_sha256,
                        bytes: u64::try_from(bytes).unwrap_or(0),
                        width,
                        height,
                        uploaded_by,
                        device_id: parse_uuid(&device_id)?,
                    })
                })
                .transpose()
        }))
    }

    fn insert_photo(&self, photo: PhotoRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, head| {
            let now = ts(Utc::now());
            let stored = conn.execute(
                "INSERT OR IGNORE INTO photos (sha256, stored_sha256, bytes, width, height, uploaded_by, device_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![photo.sha256, photo.stored_sha256, i64::try_from(photo.bytes).unwrap_or(i64::MAX), photo.width, photo.height, photo.uploaded_by, photo.device_id.to_string(), now],
            )?;
            let uploader = conn.execute(
                "INSERT OR IGNORE INTO photo_uploads (sha256, user_id, device_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![photo.sha256, photo.uploaded_by, photo.device_id.to_string(), now],
            )?;
            if stored + uploader > 0 {
                insert_audit(conn, head, audit)?;
            }
            Ok(())
        }))
    }

    fn photo_uploaded_by(&self, sha256: String, user_id: String) -> StorageFuture<'_, bool> {
        Box::pin(self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM photo_uploads WHERE sha256 = ?1 AND user_id = ?2")?
                .query_row([&sha256, &user_id], |r| r.get::<_, i64>(0))
                .optional()?
                .is_some())
        }))
    }

    fn photo_cases(&self, sha256: String) -> StorageFuture<'_, Vec<CaseRow>> {
        Box::pin(self.read(move |conn| cases_of_photo(conn, &sha256)))
    }

    fn sweep_photos(
        &self,
        uploaded_before: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Vec<String>> {
        Box::pin(self.write(move |conn, head| {
            let shas: Vec<String> = conn
                .prepare_cached(
                    "SELECT sha256 FROM photos WHERE created_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256)
                     ORDER BY sha256",
                )?
                .query_map([ts(uploaded_before)], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for sha in &shas {
                conn.execute("DELETE FROM photo_uploads WHERE sha256 = ?1", [sha])?;
                conn.execute("DELETE FROM photos WHERE sha256 = ?1", [sha])?;
            }
            if !shas.is_empty() {
                insert_audit(
                    conn,
                    head,
                    audit.detail(serde_json::json!({ "photos": shas })),
                )?;
            }
            Ok(shas)
        }))
    }

    fn login_lock(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(self.read(move |conn| {
            let until: Option<Option<String>> = conn
                .query_row(
                    "SELECT locked_until FROM login_failures WHERE username = ?1 AND client = ?2",
                    params![username, client],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(until
                .flatten()
                .map(|t| parse_ts(&t))
                .transpose()?
                .filter(|t| *t > now))
        }))
    }

    fn login_failed(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(self.write(move |conn, head| {
            let previous = conn
                .query_row(
                    "SELECT failures, last_failed_at FROM login_failures WHERE username = ?1 AND client = ?2",
                    params![username, client],
                    |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
                .map(|(n, at)| parse_ts(&at).map(|at| (n, at)))
                .transpose()?;
            let failures = policy.next_failures(previous, now);
            let locked_until = policy.lock_until(failures, now);
            conn.execute(
                "INSERT INTO login_failures (username, client, failures, last_failed_at, locked_until) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (username, client) DO UPDATE SET failures = excluded.failures, last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until",
                params![username, client, failures, ts(now), locked_until.map(ts)],
            )?;
            conn.execute(
                "DELETE FROM login_failures WHERE last_failed_at < ?1 AND (locked_until IS NULL OR locked_until < ?2)",
                params![ts(now - policy.window()), ts(now)],
            )?;
            insert_audit(conn, head, audit)?;
            Ok(locked_until)
        }))
    }

    fn login_succeeded(&self, username: String, client: String) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, _head| {
            conn.execute(
                "DELETE FROM login_failures WHERE username = ?1 AND client = ?2",
                params![username, client],
            )?;
            Ok(())
        }))
    }

    fn unlock_login(&self, username: String, audit: AuditDraft) -> StorageFuture<'_, u64> {
        Box::pin(self.write(move |conn, head| {
            let n = conn.execute(
                "DELETE FROM login_failures WHERE username = ?1",
                [&username],
            )?;
            insert_audit(conn, head, audit)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }))
    }

    fn append_audit(&self, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write(move |conn, head| insert_audit(conn, head, audit)))
    }

    fn audit_log(&self) -> StorageFuture<'_, (Vec<AuditRow>, Head)> {
        let audit_key = self.audit_key.clone();
        Box::pin(self.read(move |conn| {
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let mut stmt =
                    conn.prepare("SELECT seq, entry, prev_hash, hash FROM audit_log ORDER BY seq")?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(AuditRow {
                            seq: r.get(0)?,
                            entry: r.get(1)?,
                            prev_hash: r.get(2)?,
                            hash: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut head = read_head(conn)?;
                head.audit_key = audit_key;
                Ok((rows, head))
            })();
            let _ = conn.execute_batch("COMMIT");
            result
        }))
    }
}
