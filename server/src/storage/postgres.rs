//! PostgreSQL backend (tokio-postgres + deadpool). Each write is one transaction that first locks
//! the `sync_head` row (`FOR UPDATE`), so change sequence numbers and the audit chain follow commit
//! order even with many concurrent pushes. The operations and their statements are the shared
//! ones ([`super::ops`], [`super::sql`]); this file holds the pool, transactions, the head lock
//! and the migrations.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit};

use super::case_query::{CasePage, CaseQuery};
use super::ops::{self, Tx};
use super::row::{FromRow, ts};
use super::sql::SqlValue;
use super::{
    CaseRow, ChangePage, DeviceRecord, Head, IngestBatch, LockoutPolicy, NewDevice, PhotoRecord,
    RefreshOutcome, Session, Storage, StorageError, StorageFuture, TokenRefresh, UserRecord,
};
use crate::policy::audit::{AuditDraft, AuditKey, AuditRow};
use crate::policy::catalog::Catalog;

const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_case_query.sql")),
    (
        3,
        include_str!("migrations/postgres/0003_case_units_routing.sql"),
    ),
    (
        4,
        include_str!("migrations/postgres/0004_photo_uploads.sql"),
    ),
    (
        5,
        include_str!("migrations/postgres/0005_auth_hardening.sql"),
    ),
    (6, include_str!("migrations/postgres/0006_case_numbers.sql")),
];
/// The migration that added the case query's columns; existing rows are backfilled with it.
const CASE_QUERY_MIGRATION: i32 = 2;
/// The migration that indexed cases under their routed supervisor and co-responsible units.
const CASE_UNITS_ROUTING_MIGRATION: i32 = 3;
/// The migration that added case numbers; existing cases are numbered with it.
const CASE_NUMBERS_MIGRATION: i32 = 6;
/// Advisory lock key held while migrating, so two servers starting together do not race.
const MIGRATION_LOCK: i64 = 0x5855_4e43_4841;

pub struct PostgresStorage {
    pool: Pool,
    /// Keys the audit chain (`audit::AuditKey`); set by `storage::open`.
    audit_key: Option<AuditKey>,
}

fn pool_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Pool(e.to_string())
}

/// The head lock: the one statement SQLite has no form of (its single writer serialises instead).
const LOCK_HEAD: &str =
    "SELECT change_seq, audit_seq, audit_hash FROM sync_head WHERE id = 1 FOR UPDATE";

/// A pooled connection or one of its transactions, as the shared operations see it.
enum PgTx<'a, 'c> {
    Client(&'a deadpool_postgres::ClientWrapper),
    Tx(&'a Transaction<'c>),
}

/// `{list}` as `= ANY($k)`, the list bound as one array after the other parameters.
fn with_list(sql: &str, params: usize) -> String {
    sql.replace("{list}", &format!("= ANY(${})", params + 1))
}

fn decode<R: FromRow>(rows: Vec<tokio_postgres::Row>) -> Result<Vec<R>, StorageError> {
    rows.iter().map(R::from_row).collect()
}

impl PgTx<'_, '_> {
    async fn run_query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        cached: bool,
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        Ok(match (self, cached) {
            (PgTx::Client(c), true) => c.query(&c.prepare_cached(sql).await?, params).await?,
            (PgTx::Tx(t), true) => t.query(&t.prepare_cached(sql).await?, params).await?,
            (PgTx::Client(c), false) => c.query(sql, params).await?,
            (PgTx::Tx(t), false) => t.query(sql, params).await?,
        })
    }
}

fn refs(params: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Tx for PgTx<'_, '_> {
    async fn query<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<R>, StorageError> {
        decode(self.run_query(sql, &refs(params), true).await?)
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StorageError> {
        let params = refs(params);
        Ok(match self {
            PgTx::Client(c) => c.execute(&c.prepare_cached(sql).await?, &params).await?,
            PgTx::Tx(t) => t.execute(&t.prepare_cached(sql).await?, &params).await?,
        })
    }

    async fn query_list<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
        list: &[String],
    ) -> Result<Vec<R>, StorageError> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let text = with_list(sql, params.len());
        let mut bound = refs(params);
        bound.push(&list);
        decode(self.run_query(&text, &bound, true).await?)
    }

    async fn query_generated<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<R>, StorageError> {
        decode(self.run_query(sql, &refs(params), false).await?)
    }
}

async fn lock_head(tx: &PgTx<'_, '_>, audit_key: &Option<AuditKey>) -> Result<Head, StorageError> {
    let mut head: Head = tx
        .query(LOCK_HEAD, &[])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StorageError::Corrupt("sync_head row missing".into()))?;
    head.audit_key = audit_key.clone();
    Ok(head)
}

/// Runs a shared write operation in its own transaction, between the head lock and the head
/// update.
macro_rules! write_op {
    ($self:ident, |$tx:ident, $head:ident| $operation:expr) => {
        Box::pin(async move {
            let mut client = $self.client().await?;
            let transaction = client.transaction().await?;
            let value = {
                let $tx = &PgTx::Tx(&transaction);
                let mut head = lock_head($tx, &$self.audit_key).await?;
                let value = {
                    let $head = &mut head;
                    $operation.await?
                };
                ops::save_head($tx, &head).await?;
                value
            };
            transaction.commit().await?;
            Ok(value)
        })
    };
}

/// Runs a shared read operation on a pooled connection.
macro_rules! read_op {
    ($self:ident, |$tx:ident| $operation:expr) => {
        Box::pin(async move {
            let client = $self.client().await?;
            let $tx = &PgTx::Client(&client);
            $operation.await
        })
    };
}

/// Runs a shared read operation in one read-only snapshot.
macro_rules! snapshot_op {
    ($self:ident, |$tx:ident| $operation:expr) => {
        Box::pin(async move {
            let mut client = $self.client().await?;
            let transaction = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let value = {
                let $tx = &PgTx::Tx(&transaction);
                $operation.await?
            };
            transaction.commit().await?;
            Ok(value)
        })
    };
}

impl PostgresStorage {
    pub async fn connect(url: &str, pool_size: usize) -> Result<PostgresStorage, StorageError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .build()
            .map_err(pool_error)?;
        let storage = PostgresStorage {
            pool,
            audit_key: None,
        };
        storage.migrate().await?;
        Ok(storage)
    }

    /// Keys the audit entries this storage writes and verifies with `key`.
    pub fn with_audit_key(mut self, key: AuditKey) -> PostgresStorage {
        self.audit_key = Some(key);
        self
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
                .await?;
            let current: i32 = client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                .await?
                .try_get(0)?;
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await.map_err(|e| StorageError::Migration {
                    version: u32::try_from(*version).unwrap_or(0),
                    message: e.to_string(),
                })?;
                if *version == CASE_QUERY_MIGRATION {
                    ops::backfill_index_columns(&PgTx::Tx(&tx)).await?;
                }
                if *version == CASE_UNITS_ROUTING_MIGRATION {
                    ops::backfill_case_units(&PgTx::Tx(&tx)).await?;
                }
                if *version == CASE_NUMBERS_MIGRATION {
                    ops::backfill_case_numbers(&PgTx::Tx(&tx)).await?;
                }
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    &[version, &ts(Utc::now())],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(version, "applied PostgreSQL migration");
            }
            Ok::<(), StorageError>(())
        }
        .await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        result
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl Storage for PostgresStorage {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn load_catalog(&self) -> StorageFuture<'_, Catalog> {
        read_op!(self, |tx| ops::load_catalog(tx))
    }

    fn save_catalog(
        &self,
        estates: Vec<Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, ()> {
        write_op!(self, |tx, head| ops::save_catalog(
            tx,
            head,
            estates,
            units,
            routing_rules,
            audit
        ))
    }

    fn create_user(&self, user: UserRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        write_op!(self, |tx, head| ops::create_user(tx, head, user, audit))
    }

    fn user_by_username(&self, username: String) -> StorageFuture<'_, Option<UserRecord>> {
        read_op!(self, |tx| ops::user_by_username(tx, username))
    }

    fn user_by_id(&self, user_id: String) -> StorageFuture<'_, Option<UserRecord>> {
        read_op!(self, |tx| ops::user_by_id(tx, user_id))
    }

    fn set_user_disabled(
        &self,
        user_id: String,
        disabled: bool,
        audit: AuditDraft,
    ) -> StorageFuture<'_, bool> {
        write_op!(self, |tx, head| ops::set_user_disabled(
            tx, head, user_id, disabled, audit
        ))
    }

    fn create_device(&self, device: NewDevice, audit: AuditDraft) -> StorageFuture<'_, ()> {
        write_op!(self, |tx, head| ops::create_device(tx, head, device, audit))
    }

    fn device(&self, device_id: Uuid) -> StorageFuture<'_, Option<DeviceRecord>> {
        read_op!(self, |tx| ops::device(tx, device_id))
    }

    fn refresh_access(&self, refresh: TokenRefresh) -> StorageFuture<'_, RefreshOutcome> {
        // The head is locked first: two refreshes of one device are decided one after the other.
        write_op!(self, |tx, head| ops::refresh_access(tx, head, refresh))
    }

    fn session(&self, access_hash: String) -> StorageFuture<'_, Option<Session>> {
        read_op!(self, |tx| ops::session(tx, access_hash))
    }

    fn revoke_device(&self, device_id: Uuid, audit: AuditDraft) -> StorageFuture<'_, bool> {
        write_op!(self, |tx, head| ops::revoke_device(
            tx, head, device_id, audit
        ))
    }

    fn ingest(&self, batch: IngestBatch) -> StorageFuture<'_, Vec<EventResult>> {
        Box::pin(async move {
            // Before taking a connection and the head lock: nothing here reads the database.
            let batch = ops::prepare_ingest(batch).await?;
            let ingest: StorageFuture<'_, Vec<EventResult>> =
                write_op!(self, |tx, head| ops::ingest(tx, head, &batch));
            ingest.await
        })
    }

    fn changes_since(&self, cursor: i64, limit: usize) -> StorageFuture<'_, ChangePage> {
        snapshot_op!(self, |tx| ops::changes_since(tx, cursor, limit))
    }

    fn case_with_events(&self, case_id: Uuid) -> StorageFuture<'_, Option<(CaseRow, Vec<Event>)>> {
        read_op!(self, |tx| ops::case_with_events(tx, case_id))
    }

    fn query_cases(&self, query: CaseQuery) -> StorageFuture<'_, CasePage> {
        // One snapshot for the page and its counts.
        snapshot_op!(self, |tx| ops::query_cases(tx, &query))
    }

    fn events_of_cases(&self, case_ids: Vec<Uuid>) -> StorageFuture<'_, Vec<Event>> {
        read_op!(self, |tx| ops::events_of_cases(tx, &case_ids))
    }

    fn photo(&self, sha256: String) -> StorageFuture<'_, Option<PhotoRecord>> {
        read_op!(self, |tx| ops::photo(tx, sha256))
    }

    fn insert_photo(&self, photo: PhotoRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        write_op!(self, |tx, head| ops::insert_photo(tx, head, photo, audit))
    }

    fn photo_uploaded_by(&self, sha256: String, user_id: String) -> StorageFuture<'_, bool> {
        read_op!(self, |tx| ops::photo_uploaded_by(tx, sha256, user_id))
    }

    fn photo_cases(&self, sha256: String) -> StorageFuture<'_, Vec<CaseRow>> {
        read_op!(self, |tx| ops::photo_cases(tx, sha256))
    }

    fn sweep_photos(
        &self,
        uploaded_before: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Vec<String>> {
        write_op!(self, |tx, head| ops::sweep_photos(
            tx,
            head,
            uploaded_before,
            audit
        ))
    }

    fn login_lock(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        read_op!(self, |tx| ops::login_lock(tx, username, client, now))
    }

    fn login_failed(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        write_op!(self, |tx, head| ops::login_failed(
            tx, head, username, client, now, policy, audit
        ))
    }

    fn login_succeeded(&self, username: String, client: String) -> StorageFuture<'_, ()> {
        read_op!(self, |tx| ops::login_succeeded(tx, username, client))
    }

    fn unlock_login(&self, username: String, audit: AuditDraft) -> StorageFuture<'_, u64> {
        write_op!(self, |tx, head| ops::unlock_login(
            tx, head, username, audit
        ))
    }

    fn append_audit(&self, audit: AuditDraft) -> StorageFuture<'_, ()> {
        write_op!(self, |tx, head| ops::append_audit(tx, head, audit))
    }

    fn audit_log(&self) -> StorageFuture<'_, (Vec<AuditRow>, Head)> {
        Box::pin(async move {
            let read: StorageFuture<'_, (Vec<AuditRow>, Head)> =
                snapshot_op!(self, |tx| ops::audit_log(tx));
            let (rows, mut head) = read.await?;
            head.audit_key = self.audit_key.clone();
            Ok((rows, head))
        })
    }
}
