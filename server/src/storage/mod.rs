//! One storage trait, two backends: embedded SQLite ([`sqlite`], the default) and PostgreSQL
//! ([`postgres`]). Every operation is written once ([`ops`], over the [`ops::Tx`] trait) with
//! one set of statements ([`sql`]) and one row decoding ([`row`]); the backends hold only
//! connections, transactions, the head lock and their migrations. Every decision (workflow,
//! routing, idempotency, audit hashing, refresh tokens, lockout) is made by shared code
//! ([`crate::policy::ingest`], [`crate::policy::audit`], [`crate::policy::credentials`]) inside the write transaction,
//! so both backends behave identically. The records passed in and out live in [`crate::model`].
//!
//! Every write transaction first locks the single `sync_head` row (SQLite: the one writer task;
//! PostgreSQL: `SELECT … FOR UPDATE`), which serialises change sequence numbers and the audit chain
//! in commit order: a pull cursor never skips a change that commits later with a lower number.

pub mod case_query;
pub mod ops;
pub mod photo_files;
pub mod postgres;
pub mod row;
pub mod sql;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit};

use crate::policy::audit::{AuditDraft, AuditRow};
use crate::policy::catalog::Catalog;
pub use crate::policy::credentials::{LockoutPolicy, TokenRefresh};
pub use case_query::{AwaitingUnit, CaseCursor, CasePage, CaseQuery, CaseScope, CaseSort};
// The records moved to `crate::model`; re-exported so callers elsewhere keep compiling.
pub use crate::model::{
    CaseRow, ChangePage, DeviceRecord, Head, NewDevice, PhotoRecord, RefreshOutcome, Session,
    UserRecord,
};
pub use crate::policy::ingest::IngestBatch;

pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL pool: {0}")]
    Pool(String),
    #[error("migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("username {0:?} already exists")]
    UserExists(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("audit key: {0}")]
    AuditKey(String),
}

impl StorageError {
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Sqlite(_) => "SQLITE",
            StorageError::Postgres(_) => "POSTGRES",
            StorageError::Pool(_) => "POSTGRES_POOL",
            StorageError::Migration { .. } => "MIGRATION",
            StorageError::Json(_) => "STORED_JSON",
            StorageError::Io(_) => "IO",
            StorageError::UserExists(_) => "USER_EXISTS",
            StorageError::Corrupt(_) => "CORRUPT",
            StorageError::WriterGone => "WRITER_GONE",
            StorageError::AuditKey(_) => "AUDIT_KEY",
        }
    }
}

/// Backend-independent storage. Every write that changes state appends its audit entry in the
/// same transaction.
pub trait Storage: Send + Sync + 'static {
    fn backend_name(&self) -> &'static str;

    fn load_catalog(&self) -> StorageFuture<'_, Catalog>;
    /// Upserts estates and units (changed rows get a new sequence number) and replaces the routing
    /// rules when given.
    fn save_catalog(
        &self,
        estates: Vec<Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, ()>;

    fn create_user(&self, user: UserRecord, audit: AuditDraft) -> StorageFuture<'_, ()>;
    fn user_by_username(&self, username: String) -> StorageFuture<'_, Option<UserRecord>>;
    fn user_by_id(&self, user_id: String) -> StorageFuture<'_, Option<UserRecord>>;
    /// Disables or re-enables a user; `false` if no such user.
    fn set_user_disabled(
        &self,
        user_id: String,
        disabled: bool,
        audit: AuditDraft,
    ) -> StorageFuture<'_, bool>;

    fn create_device(&self, device: NewDevice, audit: AuditDraft) -> StorageFuture<'_, ()>;
    fn device(&self, device_id: Uuid) -> StorageFuture<'_, Option<DeviceRecord>>;
    /// Checks the presented refresh token against the device and, by
    /// [`crate::policy::credentials::decide_refresh`], rotates it (the presented one is kept as spent)
    /// and stores the new access token, or revokes the device when a spent token comes back.
    fn refresh_access(&self, refresh: TokenRefresh) -> StorageFuture<'_, RefreshOutcome>;
    fn session(&self, access_hash: String) -> StorageFuture<'_, Option<Session>>;
    /// Revokes a device and all its tokens; `false` if no such device.
    fn revoke_device(&self, device_id: Uuid, audit: AuditDraft) -> StorageFuture<'_, bool>;

    /// Applies a push batch in one transaction; one result per event, in order.
    fn ingest(&self, batch: IngestBatch) -> StorageFuture<'_, Vec<EventResult>>;
    fn changes_since(&self, cursor: i64, limit: usize) -> StorageFuture<'_, ChangePage>;
    fn case_with_events(&self, case_id: Uuid) -> StorageFuture<'_, Option<(CaseRow, Vec<Event>)>>;
    /// One page of cases matching `query` (inside its scope) and the per-status counts of all
    /// matches, read from one snapshot.
    fn query_cases(&self, query: CaseQuery) -> StorageFuture<'_, CasePage>;
    /// The events of these cases, oldest first per case (ordered by change sequence).
    fn events_of_cases(&self, case_ids: Vec<Uuid>) -> StorageFuture<'_, Vec<Event>>;

    fn photo(&self, sha256: String) -> StorageFuture<'_, Option<PhotoRecord>>;
    /// Records a received photo and `photo.uploaded_by` as one of its uploaders (a photo stored
    /// before keeps its row; the uploader is added). Audited when anything was new.
    fn insert_photo(&self, photo: PhotoRecord, audit: AuditDraft) -> StorageFuture<'_, ()>;
    /// Whether this user delivered the photo's bytes.
    fn photo_uploaded_by(&self, sha256: String, user_id: String) -> StorageFuture<'_, bool>;
    /// Cases whose events reference the photo.
    fn photo_cases(&self, sha256: String) -> StorageFuture<'_, Vec<CaseRow>>;
    /// Deletes the rows of photos uploaded before `uploaded_before` that no applied event cites,
    /// with `audit` (its detail replaced by the list) when any; returns their addresses so the
    /// caller removes the files.
    fn sweep_photos(
        &self,
        uploaded_before: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Vec<String>>;

    /// The lock on sign-ins to `username` from `client` in force at `now`, if any.
    fn login_lock(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>>;
    /// Records a failed sign-in (with its audit entry) and returns the lock now in force, by
    /// [`crate::policy::credentials::LockoutPolicy`]. Stale rows of other accounts are swept.
    fn login_failed(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>>;
    /// A successful sign-in forgets the account's failures from that client.
    fn login_succeeded(&self, username: String, client: String) -> StorageFuture<'_, ()>;
    /// Lifts every sign-in lock of an account (admin CLI); the number of addresses unlocked.
    fn unlock_login(&self, username: String, audit: AuditDraft) -> StorageFuture<'_, u64>;

    fn append_audit(&self, audit: AuditDraft) -> StorageFuture<'_, ()>;
    /// The whole audit log in sequence order and the head, for [`crate::policy::audit::verify`].
    fn audit_log(&self) -> StorageFuture<'_, (Vec<AuditRow>, Head)>;
}

/// Rows fetched per round trip by [`query_all`].
const QUERY_ALL_PAGE: usize = 1000;

/// Every case matching `query`, following the keyset pages (`query.limit` is ignored).
pub async fn query_all(
    storage: &dyn Storage,
    mut query: CaseQuery,
) -> Result<Vec<CaseRow>, StorageError> {
    query.limit = QUERY_ALL_PAGE;
    let mut rows = Vec::new();
    loop {
        let page = storage.query_cases(query.clone()).await?;
        rows.extend(page.rows);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(rows),
        }
    }
}

/// Opens the backend the configuration asks for and runs its migrations.
pub async fn open(config: &crate::config::Config) -> Result<Arc<dyn Storage>, StorageError> {
    // The audit key lives outside the database: the environment or a file in the data folder.
    let audit_key = crate::policy::audit::AuditKey::load(
        &config.data_dir,
        std::env::var(crate::policy::audit::ENV_AUDIT_KEY).ok(),
    )
    .map_err(|e| StorageError::AuditKey(e.to_string()))?;
    match &config.database_url {
        Some(url) => Ok(Arc::new(
            postgres::PostgresStorage::connect(url, config.pg_pool_size)
                .await?
                .with_audit_key(audit_key),
        )),
        None => {
            std::fs::create_dir_all(&config.data_dir)?;
            let path = config.data_dir.join("xuncha.sqlite3");
            Ok(Arc::new(
                sqlite::SqliteStorage::open(&path)
                    .await?
                    .with_audit_key(audit_key),
            ))
        }
    }
}
