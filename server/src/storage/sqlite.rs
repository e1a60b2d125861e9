//! Embedded SQLite backend. One writer thread owns the write connection and commits whatever jobs
//! are waiting in one transaction (each job in its own savepoint, so one failing job never undoes
//! another); readers use a small pool of read-only connections (WAL lets them run beside the
//! writer). All SQLite calls run off the async threads: the writer on its own thread, reads in
//! `spawn_blocking`. `synchronous=FULL`: a push is acknowledged only after its commit is durable.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit};

use super::case_query::{CasePage, CaseQuery};
use super::ops::{self, Tx};
use super::row::FromRow;
use super::sql::SqlValue;
use super::{
    CaseRow, ChangePage, DeviceRecord, Head, IngestBatch, LockoutPolicy, NewDevice, PhotoRecord,
    RefreshOutcome, Session, Storage, StorageError, StorageFuture, TokenRefresh, UserRecord,
};
use crate::policy::audit::{AuditDraft, AuditKey, AuditRow};
use crate::policy::catalog::Catalog;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_init.sql")),
    (2, include_str!("migrations/sqlite/0002_case_query.sql")),
    (
        3,
        include_str!("migrations/sqlite/0003_case_units_routing.sql"),
    ),
    (4, include_str!("migrations/sqlite/0004_photo_uploads.sql")),
    (5, include_str!("migrations/sqlite/0005_auth_hardening.sql")),
    (6, include_str!("migrations/sqlite/0006_case_numbers.sql")),
];
/// The migration that added the case query's columns; existing rows are backfilled with it.
const CASE_QUERY_MIGRATION: u32 = 2;
/// The migration that indexed cases under their routed supervisor and co-responsible units.
const CASE_UNITS_ROUTING_MIGRATION: u32 = 3;
/// The migration that added case numbers; existing cases are numbered with it.
const CASE_NUMBERS_MIGRATION: u32 = 6;
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

fn open_connection(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Room for the ingest's id-list statements beside the rest.
    conn.set_prepared_statement_cache_capacity(128);
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
            run_now(ops::backfill_index_columns(&SqliteTx(&tx)))?;
        }
        if *version == CASE_UNITS_ROUTING_MIGRATION {
            run_now(ops::backfill_case_units(&SqliteTx(&tx)))?;
        }
        if *version == CASE_NUMBERS_MIGRATION {
            run_now(ops::backfill_case_numbers(&SqliteTx(&tx)))?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}

/// Runs a shared operation on this thread. A SQLite [`Tx`] does its work when called and hands
/// back a ready future, so the operation completes in one poll.
fn run_now<T>(operation: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
    let mut operation = pin!(operation);
    match operation
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StorageError::Corrupt(
            "a SQLite operation waited on something other than SQLite".into(),
        )),
    }
}

/// A connection (inside the caller's transaction, if any) as the shared operations see it.
struct SqliteTx<'c>(&'c Connection);

fn rows<R: FromRow>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl IntoIterator<Item = impl rusqlite::ToSql>,
) -> Result<Vec<R>, StorageError> {
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(R::from_row(row)?);
    }
    Ok(decoded)
}

impl SqliteTx<'_> {
    fn query_now<R: FromRow>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<R>, StorageError> {
        rows(&mut *self.0.prepare_cached(sql)?, params)
    }

    /// `{list}` as `IN ($k, …)`, in chunks; each chunk padded to a power of two (repeating its
    /// last id) so a few cached statements serve every batch size.
    fn query_list_now<R: FromRow>(
        &self,
        sql: &str,
        params: &[SqlValue],
        list: &[String],
    ) -> Result<Vec<R>, StorageError> {
        let mut decoded = Vec::new();
        for chunk in list.chunks(IDS_PER_STATEMENT) {
            let mut values: Vec<SqlValue> = params.to_vec();
            values.extend(chunk.iter().map(SqlValue::from));
            if let Some(last) = values.last().cloned() {
                values.resize(params.len() + chunk.len().next_power_of_two(), last);
            }
            let marks: Vec<String> = (params.len() + 1..=values.len())
                .map(|n| format!("${n}"))
                .collect();
            let text = sql.replace("{list}", &format!("IN ({})", marks.join(", ")));
            decoded.extend(rows::<R>(&mut *self.0.prepare_cached(&text)?, &values)?);
        }
        Ok(decoded)
    }
}

impl Tx for SqliteTx<'_> {
    fn query<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send {
        std::future::ready(self.query_now(sql, params))
    }

    fn execute(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<u64, StorageError>> + Send {
        let result = (|| -> Result<u64, StorageError> {
            let n = self
                .0
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params))?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })();
        std::future::ready(result)
    }

    fn query_list<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
        list: &[String],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send {
        std::future::ready(self.query_list_now(sql, params, list))
    }

    fn query_generated<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send {
        let result = self
            .0
            .prepare(sql)
            .map_err(StorageError::from)
            .and_then(|mut stmt| rows(&mut stmt, params));
        std::future::ready(result)
    }
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
        let mut head = run_now(ops::read_head(&SqliteTx(conn)))?;
        let value = f(conn, &mut head)?;
        run_now(ops::save_head(&SqliteTx(conn), &head))?;
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

impl SqliteStorage {
    /// Runs a shared write operation in the writer's transaction.
    async fn write_op<T: Send + 'static>(
        &self,
        op: impl for<'c> FnOnce(&SqliteTx<'c>, &mut Head) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.write(move |conn, head| op(&SqliteTx(conn), head))
            .await
    }

    /// Runs a shared read operation on a pooled connection.
    async fn read_op<T: Send + 'static>(
        &self,
        op: impl for<'c> FnOnce(&SqliteTx<'c>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.read(move |conn| op(&SqliteTx(conn))).await
    }

    /// Runs a shared read operation in one read transaction (a consistent snapshot).
    async fn snapshot_op<T: Send + 'static>(
        &self,
        op: impl for<'c> FnOnce(&SqliteTx<'c>) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.read(move |conn| {
            conn.execute_batch("BEGIN")?;
            let result = op(&SqliteTx(conn));
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
    }
}

impl Storage for SqliteStorage {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn load_catalog(&self) -> StorageFuture<'_, Catalog> {
        Box::pin(self.read_op(|tx| run_now(ops::load_catalog(tx))))
    }

    fn save_catalog(
        &self,
        estates: Vec<Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, ()> {
        Box::pin(self.write_op(move |tx, head| {
            run_now(ops::save_catalog(
                tx,
                head,
                estates,
                units,
                routing_rules,
                audit,
            ))
        }))
    }

    fn create_user(&self, user: UserRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write_op(move |tx, head| run_now(ops::create_user(tx, head, user, audit))))
    }

    fn user_by_username(&self, username: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(self.read_op(move |tx| run_now(ops::user_by_username(tx, username))))
    }

    fn user_by_id(&self, user_id: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(self.read_op(move |tx| run_now(ops::user_by_id(tx, user_id))))
    }

    fn set_user_disabled(
        &self,
        user_id: String,
        disabled: bool,
        audit: AuditDraft,
    ) -> StorageFuture<'_, bool> {
        Box::pin(self.write_op(move |tx, head| {
            run_now(ops::set_user_disabled(tx, head, user_id, disabled, audit))
        }))
    }

    fn create_device(&self, device: NewDevice, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(
            self.write_op(move |tx, head| run_now(ops::create_device(tx, head, device, audit))),
        )
    }

    fn device(&self, device_id: Uuid) -> StorageFuture<'_, Option<DeviceRecord>> {
        Box::pin(self.read_op(move |tx| run_now(ops::device(tx, device_id))))
    }

    fn refresh_access(&self, refresh: TokenRefresh) -> StorageFuture<'_, RefreshOutcome> {
        Box::pin(self.write_op(move |tx, head| run_now(ops::refresh_access(tx, head, refresh))))
    }

    fn session(&self, access_hash: String) -> StorageFuture<'_, Option<Session>> {
        Box::pin(self.read_op(move |tx| run_now(ops::session(tx, access_hash))))
    }

    fn revoke_device(&self, device_id: Uuid, audit: AuditDraft) -> StorageFuture<'_, bool> {
        Box::pin(
            self.write_op(move |tx, head| run_now(ops::revoke_device(tx, head, device_id, audit))),
        )
    }

    fn ingest(&self, batch: IngestBatch) -> StorageFuture<'_, Vec<EventResult>> {
        Box::pin(async move {
            let batch = ops::prepare_ingest(batch).await?;
            self.write_op(move |tx, head| run_now(ops::ingest(tx, head, &batch)))
                .await
        })
    }

    fn changes_since(&self, cursor: i64, limit: usize) -> StorageFuture<'_, ChangePage> {
        Box::pin(self.snapshot_op(move |tx| run_now(ops::changes_since(tx, cursor, limit))))
    }

    fn case_with_events(&self, case_id: Uuid) -> StorageFuture<'_, Option<(CaseRow, Vec<Event>)>> {
        Box::pin(self.read_op(move |tx| run_now(ops::case_with_events(tx, case_id))))
    }

    fn query_cases(&self, query: CaseQuery) -> StorageFuture<'_, CasePage> {
        Box::pin(self.snapshot_op(move |tx| run_now(ops::query_cases(tx, &query))))
    }

    fn events_of_cases(&self, case_ids: Vec<Uuid>) -> StorageFuture<'_, Vec<Event>> {
        Box::pin(self.read_op(move |tx| run_now(ops::events_of_cases(tx, &case_ids))))
    }

    fn photo(&self, sha256: String) -> StorageFuture<'_, Option<PhotoRecord>> {
        Box::pin(self.read_op(move |tx| run_now(ops::photo(tx, sha256))))
    }

    fn insert_photo(&self, photo: PhotoRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write_op(move |tx, head| run_now(ops::insert_photo(tx, head, photo, audit))))
    }

    fn photo_uploaded_by(&self, sha256: String, user_id: String) -> StorageFuture<'_, bool> {
        Box::pin(self.read_op(move |tx| run_now(ops::photo_uploaded_by(tx, sha256, user_id))))
    }

    fn photo_cases(&self, sha256: String) -> StorageFuture<'_, Vec<CaseRow>> {
        Box::pin(self.read_op(move |tx| run_now(ops::photo_cases(tx, sha256))))
    }

    fn sweep_photos(
        &self,
        uploaded_before: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Vec<String>> {
        Box::pin(
            self.write_op(move |tx, head| {
                run_now(ops::sweep_photos(tx, head, uploaded_before, audit))
            }),
        )
    }

    fn login_lock(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(self.read_op(move |tx| run_now(ops::login_lock(tx, username, client, now))))
    }

    fn login_failed(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(self.write_op(move |tx, head| {
            run_now(ops::login_failed(
                tx, head, username, client, now, policy, audit,
            ))
        }))
    }

    fn login_succeeded(&self, username: String, client: String) -> StorageFuture<'_, ()> {
        Box::pin(
            self.write_op(move |tx, _head| run_now(ops::login_succeeded(tx, username, client))),
        )
    }

    fn unlock_login(&self, username: String, audit: AuditDraft) -> StorageFuture<'_, u64> {
        Box::pin(
            self.write_op(move |tx, head| run_now(ops::unlock_login(tx, head, username, audit))),
        )
    }

    fn append_audit(&self, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(self.write_op(move |tx, head| run_now(ops::append_audit(tx, head, audit))))
    }

    fn audit_log(&self) -> StorageFuture<'_, (Vec<AuditRow>, Head)> {
        let audit_key = self.audit_key.clone();
        Box::pin(self.snapshot_op(move |tx| {
            let (rows, mut head) = run_now(ops::audit_log(tx))?;
            head.audit_key = audit_key;
            Ok((rows, head))
        }))
    }
}
