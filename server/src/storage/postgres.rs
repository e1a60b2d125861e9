//! PostgreSQL backend (tokio-postgres + deadpool). Each write is one transaction that first locks
//! the `sync_head` row (`FOR UPDATE`), so change sequence numbers and the audit chain follow commit
//! order even with many concurrent pushes. The decisions are the shared ones ([`crate::policy::ingest`],
//! [`crate::policy::audit`]); this file only reads and writes rows.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit};

use super::case_query::{self, CasePage, CaseQuery, IndexColumns, SqlValue};
use super::sqlite::{parse_role, ts};
use super::{
    CaseRow, ChangePage, DeviceRecord, Head, IngestBatch, LockoutPolicy, NewDevice, PhotoRecord,
    RefreshOutcome, Session, Storage, StorageError, StorageFuture, TokenRefresh, UserRecord,
};
use crate::policy::audit::{self, AuditDraft, AuditKey, AuditRow};
use crate::policy::catalog::Catalog;
use crate::policy::credentials::{RefreshStep, SpentToken, decide_refresh};
use crate::policy::ingest;

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
];
/// The migration that added the case query's columns; existing rows are backfilled with it.
const CASE_QUERY_MIGRATION: i32 = 2;
/// The migration that indexed cases under their routed supervisor and co-responsible units.
const CASE_UNITS_ROUTING_MIGRATION: i32 = 3;
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

fn parse_ts(text: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Corrupt(format!("bad timestamp {text:?}: {e}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(text).map_err(|e| StorageError::Corrupt(format!("bad uuid {text:?}: {e}")))
}

const USER_COLUMNS: &str = "id, username, display_name, role, unit_id, password_hash, disabled";

fn user_from_row(row: &Row) -> Result<UserRecord, StorageError> {
    Ok(UserRecord {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        display_name: row.try_get(2)?,
        role: parse_role(row.try_get(3)?)?,
        unit_id: row.try_get(4)?,
        password_hash: row.try_get(5)?,
        disabled: row.try_get(6)?,
    })
}

/// Case columns as text, in the order [`case_from_row`] reads them.
const CASE_COLUMNS: &str = "body::text, routing::text, dispatched_units::text, seq";

fn case_from_row(row: &Row, offset: usize) -> Result<CaseRow, StorageError> {
    let body: String = row.try_get(offset)?;
    let routing: Option<String> = row.try_get(offset + 1)?;
    let units: String = row.try_get(offset + 2)?;
    Ok(CaseRow {
        case: serde_json::from_str(&body)?,
        routing: routing.map(|r| serde_json::from_str(&r)).transpose()?,
        dispatched_units: serde_json::from_str(&units)?,
        seq: row.try_get(offset + 3)?,
    })
}

async fn lock_head(
    tx: &Transaction<'_>,
    audit_key: &Option<AuditKey>,
) -> Result<Head, StorageError> {
    let row = tx
        .query_one(
            "SELECT change_seq, audit_seq, audit_hash FROM sync_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    Ok(Head {
        change_seq: row.try_get(0)?,
        audit_seq: row.try_get(1)?,
        audit_hash: row.try_get(2)?,
        audit_key: audit_key.clone(),
    })
}

async fn save_head(tx: &Transaction<'_>, head: &Head) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE sync_head SET change_seq = $1, audit_seq = $2, audit_hash = $3 WHERE id = 1",
        &[&head.change_seq, &head.audit_seq, &head.audit_hash],
    )
    .await?;
    Ok(())
}

async fn insert_audit_row(tx: &Transaction<'_>, row: &AuditRow) -> Result<(), StorageError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO audit_log (seq, entry, prev_hash, hash) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(&stmt, &[&row.seq, &row.entry, &row.prev_hash, &row.hash])
        .await?;
    Ok(())
}

async fn insert_audit(
    tx: &Transaction<'_>,
    head: &mut Head,
    draft: AuditDraft,
) -> Result<(), StorageError> {
    let row = audit::seal(head, draft, ingest::now())?;
    insert_audit_row(tx, &row).await
}

async fn load_case(
    client: &tokio_postgres::Client,
    id: Uuid,
) -> Result<Option<CaseRow>, StorageError> {
    let row = client
        .query_opt(
            &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"),
            &[&id.to_string()],
        )
        .await?;
    row.map(|r| case_from_row(&r, 0)).transpose()
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
                    backfill_index_columns(&tx).await?;
                }
                if *version == CASE_UNITS_ROUTING_MIGRATION {
                    backfill_case_units(&tx).await?;
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

/// Fills the case query's columns and `case_units` for rows stored before they existed.
async fn backfill_index_columns(tx: &Transaction<'_>) -> Result<(), StorageError> {
    let rows = tx
        .query(
            "SELECT id, body::text, dispatched_units::text FROM cases",
            &[],
        )
        .await?;
    for row in &rows {
        let id: String = row.try_get(0)?;
        let case: xuncha_core::Case = serde_json::from_str(row.try_get(1)?)?;
        let units: Vec<String> = serde_json::from_str(row.try_get(2)?)?;
        write_index_columns(tx, &id, &IndexColumns::of(&case), &units).await?;
    }
    tracing::info!(count = rows.len(), "backfilled case query columns");
    Ok(())
}

/// Re-derives `case_units` (dispatched, supervisor and co-responsible units) for every stored case.
async fn backfill_case_units(tx: &Transaction<'_>) -> Result<(), StorageError> {
    let rows = tx
        .query(
            "SELECT id, routing::text, dispatched_units::text FROM cases",
            &[],
        )
        .await?;
    for row in &rows {
        let id: String = row.try_get(0)?;
        let routing: Option<String> = row.try_get(1)?;
        let routing: Option<serde_json::Value> =
            routing.map(|r| serde_json::from_str(&r)).transpose()?;
        let units: Vec<String> = serde_json::from_str(row.try_get(2)?)?;
        write_case_units(tx, &id, &IndexColumns::units_of(&units, routing.as_ref())).await?;
    }
    tracing::info!(
        count = rows.len(),
        "backfilled case units from routing decisions"
    );
    Ok(())
}

/// Writes the derived columns of one stored case and its dispatched units.
async fn write_index_columns(
    tx: &Transaction<'_>,
    id: &str,
    columns: &IndexColumns,
    dispatched_units: &[String],
) -> Result<(), StorageError> {
    let update = tx
        .prepare_cached(
            "UPDATE cases SET category = $2, is_open = $3, reported_at_us = $4, updated_at_us = $5,
               due_us = $6, assigned_unit = $7, search_text = $8 WHERE id = $1",
        )
        .await?;
    tx.execute(
        &update,
        &[
            &id,
            &columns.category,
            &columns.is_open,
            &columns.reported_at_us,
            &columns.updated_at_us,
            &columns.due_us,
            &columns.assigned_unit,
            &columns.search_text,
        ],
    )
    .await?;
    write_case_units(tx, id, dispatched_units).await
}

/// Indexes a case under every unit it involves ([`IndexColumns::units_of`]).
async fn write_case_units(
    tx: &Transaction<'_>,
    id: &str,
    dispatched_units: &[String],
) -> Result<(), StorageError> {
    if !dispatched_units.is_empty() {
        tx.execute(
            "INSERT INTO case_units (unit_id, case_id) SELECT unnest($1::text[]), $2::text ON CONFLICT DO NOTHING",
            &[&dispatched_units, &id],
        )
        .await?;
    }
    Ok(())
}

fn pg_params(values: &[SqlValue]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| -> &(dyn tokio_postgres::types::ToSql + Sync) {
            match v {
                SqlValue::Text(t) => t,
                SqlValue::Int(i) => i,
                SqlValue::Bool(b) => b,
            }
        })
        .collect()
}

/// The stored photos the batch cites, with whether the actor uploaded each and, when not, the
/// cases each is attached to (see [`ingest::PhotoEvidence`]).
async fn photo_evidence(
    tx: &Transaction<'_>,
    batch: &ingest::PreparedBatch,
) -> Result<std::collections::HashMap<String, ingest::PhotoEvidence>, StorageError> {
    let mut found = std::collections::HashMap::new();
    let shas = ingest::cited_photos(batch);
    if shas.is_empty() {
        return Ok(found);
    }
    let rows = tx
        .query(
            "SELECT p.sha256, EXISTS (SELECT 1 FROM photo_uploads u WHERE u.sha256 = p.sha256 AND u.user_id = $2)
             FROM photos p WHERE p.sha256 = ANY($1)",
            &[&shas, &batch.actor.user_id],
        )
        .await?;
    for row in rows {
        let sha: String = row.try_get(0)?;
        let uploaded_by_actor: bool = row.try_get(1)?;
        let cases = if uploaded_by_actor {
            Vec::new()
        } else {
            tx.query(
                "SELECT c.body::text, c.routing::text, c.dispatched_units::text, c.seq FROM photo_refs p JOIN cases c ON c.id = p.case_id WHERE p.sha256 = $1",
                &[&sha],
            )
            .await?
            .iter()
            .map(|r| case_from_row(r, 0))
            .collect::<Result<Vec<_>, _>>()?
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

async fn ingest_in_tx(
    tx: &Transaction<'_>,
    head: &mut Head,
    batch: &ingest::PreparedBatch,
) -> Result<Vec<EventResult>, StorageError> {
    let (event_ids, case_ids) = ingest::keys(batch);
    let event_keys: Vec<String> = event_ids.iter().map(Uuid::to_string).collect();
    let case_keys: Vec<String> = case_ids.iter().map(Uuid::to_string).collect();
    let mut existing = ingest::Existing::default();
    for row in tx
        .query(
            "SELECT id, body_hash FROM events WHERE id = ANY($1)",
            &[&event_keys],
        )
        .await?
    {
        existing
            .accepted
            .insert(parse_uuid(row.try_get(0)?)?, row.try_get(1)?);
    }
    for row in tx
        .query(
            "SELECT id, body_hash, code, message FROM rejected_events WHERE id = ANY($1)",
            &[&event_keys],
        )
        .await?
    {
        existing.rejected.insert(
            parse_uuid(row.try_get(0)?)?,
            (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
        );
    }
    for row in tx
        .query(
            &format!("SELECT id, {CASE_COLUMNS} FROM cases WHERE id = ANY($1)"),
            &[&case_keys],
        )
        .await?
    {
        existing
            .cases
            .insert(parse_uuid(row.try_get(0)?)?, case_from_row(&row, 1)?);
    }
    existing.photos = photo_evidence(tx, batch).await?;
    let plan = ingest::plan(batch, existing, head)?;
    let device_id = batch.device_id.to_string();
    let insert_event = tx
        .prepare_cached("INSERT INTO events (id, case_id, seq, body_hash, body, user_id, device_id) VALUES ($1, $2, $3, $4, ($5::text)::jsonb, $6, $7)")
        .await?;
    for row in &plan.events {
        tx.execute(
            &insert_event,
            &[
                &row.id.to_string(),
                &row.case_id.to_string(),
                &row.seq,
                &row.body_hash,
                &row.body,
                &batch.actor.user_id,
                &device_id,
            ],
        )
        .await?;
    }
    for row in &plan.rejections {
        tx.execute(
            "INSERT INTO rejected_events (id, body_hash, code, message) VALUES ($1, $2, $3, $4)",
            &[
                &row.event_id.to_string(),
                &row.body_hash,
                &row.code,
                &row.message,
            ],
        )
        .await?;
    }
    let upsert_case = tx
        .prepare_cached(
            "INSERT INTO cases (id, estate_id, status, body, routing, dispatched_units, seq,
               category, is_open, reported_at_us, updated_at_us, due_us, assigned_unit, search_text)
             VALUES ($1, $2, $3, ($4::text)::jsonb, ($5::text)::jsonb, ($6::text)::jsonb, $7,
               $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body,
               dispatched_units = excluded.dispatched_units, seq = excluded.seq,
               category = excluded.category, is_open = excluded.is_open,
               reported_at_us = excluded.reported_at_us, updated_at_us = excluded.updated_at_us,
               due_us = excluded.due_us, assigned_unit = excluded.assigned_unit,
               search_text = excluded.search_text",
        )
        .await?;
    for row in &plan.cases {
        // The case query's columns go in the same statement (one round trip per changed case).
        let id = row.case.id.to_string();
        let columns = IndexColumns::of(&row.case);
        tx.execute(
            &upsert_case,
            &[
                &id,
                &row.case.estate_id,
                &row.case.status.code(),
                &serde_json::to_string(&row.case)?,
                &row.routing
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                &serde_json::to_string(&row.dispatched_units)?,
                &row.seq,
                &columns.category,
                &columns.is_open,
                &columns.reported_at_us,
                &columns.updated_at_us,
                &columns.due_us,
                &columns.assigned_unit,
                &columns.search_text,
            ],
        )
        .await?;
        write_case_units(
            tx,
            &id,
            &IndexColumns::units_of(&row.dispatched_units, row.routing.as_ref()),
        )
        .await?;
    }
    for (sha, case_id) in &plan.photo_refs {
        tx.execute(
            "INSERT INTO photo_refs (sha256, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[sha, &case_id.to_string()],
        )
        .await?;
    }
    for row in &plan.audit {
        insert_audit_row(tx, row).await?;
    }
    Ok(plan.results)
}

impl Storage for PostgresStorage {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn load_catalog(&self) -> StorageFuture<'_, Catalog> {
        Box::pin(async move {
            let client = self.client().await?;
            let mut catalog = Catalog::default();
            for row in client
                .query("SELECT body::text FROM estates ORDER BY id", &[])
                .await?
            {
                let estate: Estate = serde_json::from_str(row.try_get(0)?)?;
                catalog.estates.insert(estate.id.clone(), estate);
            }
            for row in client
                .query("SELECT body::text FROM units ORDER BY id", &[])
                .await?
            {
                catalog.units.push(serde_json::from_str(row.try_get(0)?)?);
            }
            catalog.routing_rules = client
                .query_opt("SELECT body FROM routing_rules WHERE id = 1", &[])
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            Ok(catalog)
        })
    }

    fn save_catalog(
        &self,
        estates: Vec<Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let mut changed = 0usize;
            let rows = estates
                .iter()
                .map(|e| Ok(("estates", e.id.clone(), serde_json::to_value(e)?)))
                .chain(
                    units
                        .iter()
                        .map(|u| Ok(("units", u.id.clone(), serde_json::to_value(u)?))),
                )
                .collect::<Result<Vec<_>, serde_json::Error>>()?;
            for (table, id, body) in rows {
                let current: Option<String> = tx
                    .query_opt(
                        &format!("SELECT body::text FROM {table} WHERE id = $1"),
                        &[&id],
                    )
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                let same = current
                    .map(|c| serde_json::from_str::<serde_json::Value>(&c))
                    .transpose()?
                    .is_some_and(|c| c == body);
                if !same {
                    let seq = head.next_change();
                    tx.execute(
                        &format!("INSERT INTO {table} (id, body, seq) VALUES ($1, ($2::text)::jsonb, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq"),
                        &[&id, &body.to_string(), &seq],
                    )
                    .await?;
                    changed += 1;
                }
            }
            if let Some(rules) = routing_rules {
                let seq = head.next_change();
                tx.execute(
                    "INSERT INTO routing_rules (id, body, seq) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
                    &[&rules, &seq],
                )
                .await?;
                changed += 1;
            }
            if changed > 0 {
                insert_audit(
                    &tx,
                    &mut head,
                    audit.detail(serde_json::json!({ "changed": changed })),
                )
                .await?;
            }
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn create_user(&self, user: UserRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            if tx
                .query_opt(
                    "SELECT id FROM users WHERE username = $1",
                    &[&user.username],
                )
                .await?
                .is_some()
            {
                return Err(StorageError::UserExists(user.username));
            }
            tx.execute(
                "INSERT INTO users (id, username, display_name, role, unit_id, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&user.id, &user.username, &user.display_name, &user.role.code(), &user.unit_id, &user.password_hash, &user.disabled, &ts(Utc::now())],
            )
            .await?;
            insert_audit(&tx, &mut head, audit).await?;
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn user_by_username(&self, username: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
                    &[&username],
                )
                .await?
                .map(|r| user_from_row(&r))
                .transpose()
        })
    }

    fn user_by_id(&self, user_id: String) -> StorageFuture<'_, Option<UserRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                    &[&user_id],
                )
                .await?
                .map(|r| user_from_row(&r))
                .transpose()
        })
    }

    fn set_user_disabled(
        &self,
        user_id: String,
        disabled: bool,
        audit: AuditDraft,
    ) -> StorageFuture<'_, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let n = tx
                .execute(
                    "UPDATE users SET disabled = $1 WHERE id = $2",
                    &[&disabled, &user_id],
                )
                .await?;
            if n > 0 {
                insert_audit(&tx, &mut head, audit).await?;
                save_head(&tx, &head).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn create_device(&self, device: NewDevice, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let id = device.id.to_string();
            let now = Utc::now();
            tx.execute(
                "INSERT INTO devices (id, user_id, name, refresh_hash, revoked_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)",
                &[&id, &device.user_id, &device.name, &device.refresh_hash, &ts(now)],
            )
            .await?;
            tx.execute(
                "INSERT INTO access_tokens (token_hash, device_id, expires_at) VALUES ($1, $2, $3)",
                &[&device.access_hash, &id, &ts(device.access_expires_at)],
            )
            .await?;
            insert_audit(&tx, &mut head, audit).await?;
            if device.max_active_per_user > 0 {
                // Newest first; everything past the cap is this user's oldest.
                let keep = i64::try_from(device.max_active_per_user).unwrap_or(i64::MAX);
                let evicted = tx
                    .query(
                        "SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC OFFSET $2",
                        &[&device.user_id, &keep],
                    )
                    .await?;
                for row in evicted {
                    let old: String = row.try_get(0)?;
                    tx.execute(
                        "UPDATE devices SET revoked_at = $1 WHERE id = $2",
                        &[&ts(now), &old],
                    )
                    .await?;
                    insert_audit(
                        &tx,
                        &mut head,
                        crate::policy::credentials::eviction_audit(&old, &device.user_id),
                    )
                    .await?;
                }
            }
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn device(&self, device_id: Uuid) -> StorageFuture<'_, Option<DeviceRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT user_id, name, revoked_at IS NOT NULL FROM devices WHERE id = $1",
                    &[&device_id.to_string()],
                )
                .await?;
            row.map(|r| {
                Ok(DeviceRecord {
                    id: device_id,
                    user_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    revoked: r.try_get(2)?,
                })
            })
            .transpose()
        })
    }

    fn refresh_access(&self, refresh: TokenRefresh) -> StorageFuture<'_, RefreshOutcome> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // Taken first: two refreshes of one device are decided one after the other.
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let id = refresh.device_id.to_string();
            let columns = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let Some(row) = tx
                .query_opt(
                    &format!("SELECT {columns}, d.refresh_hash, d.revoked_at IS NOT NULL FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1"),
                    &[&id],
                )
                .await?
            else {
                return Ok(RefreshOutcome::Invalid);
            };
            let user = user_from_row(&row)?;
            let stored: String = row.try_get(7)?;
            let revoked: bool = row.try_get(8)?;
            let spent = tx
                .query_opt(
                    "SELECT spent_at, retry_allowed = 1 AND spent_at = (SELECT MAX(spent_at) FROM spent_refresh_tokens WHERE device_id = $2)
                     FROM spent_refresh_tokens WHERE token_hash = $1 AND device_id = $2",
                    &[&refresh.presented_hash, &id],
                )
                .await?
                .map(|r| -> Result<SpentToken, StorageError> {
                    Ok(SpentToken {
                        spent_at: parse_ts(r.try_get(0)?)?,
                        latest: r.try_get(1)?,
                    })
                })
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
            let outcome = match step {
                RefreshStep::Invalid => return Ok(RefreshOutcome::Invalid),
                RefreshStep::Revoked => return Ok(RefreshOutcome::Revoked),
                RefreshStep::Reused => {
                    tx.execute(
                        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                        &[&ts(refresh.now), &id],
                    )
                    .await?;
                    insert_audit(
                        &tx,
                        &mut head,
                        crate::policy::credentials::reuse_audit(refresh.device_id),
                    )
                    .await?;
                    RefreshOutcome::Reused
                }
                RefreshStep::Rotate => {
                    // A retry within the grace uses it up, and the token it replaces was never
                    // delivered: neither may come back.
                    let retry = spent.is_some();
                    if retry {
                        tx.execute(
                            "UPDATE spent_refresh_tokens SET retry_allowed = 0 WHERE token_hash = $1",
                            &[&refresh.presented_hash],
                        )
                        .await?;
                    }
                    tx.execute(
                        "INSERT INTO spent_refresh_tokens (token_hash, device_id, spent_at, retry_allowed) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (token_hash) DO UPDATE SET spent_at = excluded.spent_at, retry_allowed = excluded.retry_allowed",
                        &[&stored, &id, &ts(refresh.now), &i32::from(!retry)],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE devices SET refresh_hash = $1 WHERE id = $2",
                        &[&refresh.new_refresh_hash, &id],
                    )
                    .await?;
                    tx.execute("DELETE FROM access_tokens WHERE device_id = $1", &[&id])
                        .await?;
                    tx.execute(
                        "INSERT INTO access_tokens (token_hash, device_id, expires_at) VALUES ($1, $2, $3)",
                        &[&refresh.access_hash, &id, &ts(refresh.access_expires_at)],
                    )
                    .await?;
                    insert_audit(&tx, &mut head, refresh.audit).await?;
                    RefreshOutcome::Refreshed(user)
                }
            };
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn session(&self, access_hash: String) -> StorageFuture<'_, Option<Session>> {
        Box::pin(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT t.expires_at, d.id, d.name, d.revoked_at IS NOT NULL,
                            u.id, u.username, u.display_name, u.role, u.unit_id, u.disabled
                     FROM access_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
                     WHERE t.token_hash = $1",
                )
                .await?;
            let Some(row) = client.query_opt(&stmt, &[&access_hash]).await? else {
                return Ok(None);
            };
            let user_id: String = row.try_get(4)?;
            Ok(Some(Session {
                user: UserRecord {
                    id: user_id.clone(),
                    username: row.try_get(5)?,
                    display_name: row.try_get(6)?,
                    role: parse_role(row.try_get(7)?)?,
                    unit_id: row.try_get(8)?,
                    password_hash: String::new(),
                    disabled: row.try_get(9)?,
                },
                device: DeviceRecord {
                    id: parse_uuid(row.try_get(1)?)?,
                    user_id,
                    name: row.try_get(2)?,
                    revoked: row.try_get(3)?,
                },
                access_expires_at: parse_ts(row.try_get(0)?)?,
            }))
        })
    }

    fn revoke_device(&self, device_id: Uuid, audit: AuditDraft) -> StorageFuture<'_, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let id = device_id.to_string();
            let n = tx
                .execute(
                    "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                    &[&ts(Utc::now()), &id],
                )
                .await?;
            // Tokens stay so the next request is answered REVOKED rather than unknown.
            if n > 0 {
                insert_audit(&tx, &mut head, audit).await?;
                save_head(&tx, &head).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn ingest(&self, batch: IngestBatch) -> StorageFuture<'_, Vec<EventResult>> {
        Box::pin(async move {
            // Before taking a connection and the head lock: nothing here reads the database.
            let batch = tokio::task::spawn_blocking(move || ingest::prepare(batch))
                .await
                .map_err(|e| StorageError::Pool(format!("ingest preparation failed: {e}")))??;
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let results = ingest_in_tx(&tx, &mut head, &batch).await?;
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(results)
        })
    }

    fn changes_since(&self, cursor: i64, limit: usize) -> StorageFuture<'_, ChangePage> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let head_seq: i64 = tx
                .query_one("SELECT change_seq FROM sync_head WHERE id = 1", &[])
                .await?
                .try_get(0)?;
            let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
            let mut page = ChangePage::default();
            for row in tx
                .query(
                    &format!(
                        "SELECT {CASE_COLUMNS} FROM cases WHERE seq > $1 ORDER BY seq LIMIT $2"
                    ),
                    &[&cursor, &fetch],
                )
                .await?
            {
                page.cases.push(case_from_row(&row, 0)?);
            }
            page.has_more = page.cases.len() > limit;
            page.cases.truncate(limit);
            page.next_cursor = if page.has_more {
                page.cases.last().map_or(cursor, |c| c.seq)
            } else {
                head_seq.max(cursor)
            };
            let upto = page.next_cursor;
            let ids: Vec<String> = page.cases.iter().map(|c| c.case.id.to_string()).collect();
            for row in tx
                .query("SELECT body::text FROM events WHERE case_id = ANY($1) AND seq > $2 AND seq <= $3 ORDER BY seq", &[&ids, &cursor, &upto])
                .await?
            {
                let event: Event = serde_json::from_str(row.try_get(0)?)?;
                page.events.push(event);
            }
            for row in tx
                .query(
                    "SELECT body::text FROM estates WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                    &[&cursor, &upto],
                )
                .await?
            {
                page.estates.push(serde_json::from_str(row.try_get(0)?)?);
            }
            for row in tx
                .query(
                    "SELECT body::text FROM units WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                    &[&cursor, &upto],
                )
                .await?
            {
                page.units.push(serde_json::from_str(row.try_get(0)?)?);
            }
            page.routing_rules = tx
                .query_opt(
                    "SELECT body FROM routing_rules WHERE id = 1 AND seq > $1 AND seq <= $2",
                    &[&cursor, &upto],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            tx.commit().await?;
            Ok(page)
        })
    }

    fn case_with_events(&self, case_id: Uuid) -> StorageFuture<'_, Option<(CaseRow, Vec<Event>)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let Some(row) = load_case(&client, case_id).await? else {
                return Ok(None);
            };
            let events = client
                .query(
                    "SELECT body::text FROM events WHERE case_id = $1 ORDER BY seq",
                    &[&case_id.to_string()],
                )
                .await?
                .iter()
                .map(|r| Ok(serde_json::from_str(r.try_get(0)?)?))
                .collect::<Result<Vec<Event>, StorageError>>()?;
            Ok(Some((row, events)))
        })
    }

    fn query_cases(&self, query: CaseQuery) -> StorageFuture<'_, CasePage> {
        Box::pin(async move {
            let mut client = self.client().await?;
            // One snapshot for the page and its counts.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let page = case_query::page_sql(&query, CASE_COLUMNS);
            let mut fetched = Vec::new();
            for row in tx.query(&page.text, &pg_params(&page.params)).await? {
                fetched.push((case_from_row(&row, 0)?, row.try_get::<_, i64>(4)?));
            }
            let counts_sql = case_query::counts_sql(&query);
            let mut counts = std::collections::BTreeMap::new();
            for row in tx
                .query(&counts_sql.text, &pg_params(&counts_sql.params))
                .await?
            {
                let n: i64 = row.try_get(1)?;
                counts.insert(row.try_get::<_, String>(0)?, u64::try_from(n).unwrap_or(0));
            }
            tx.commit().await?;
            Ok(case_query::finish_page(fetched, query.limit, counts))
        })
    }

    fn events_of_cases(&self, case_ids: Vec<Uuid>) -> StorageFuture<'_, Vec<Event>> {
        Box::pin(async move {
            let client = self.client().await?;
            let ids: Vec<String> = case_ids.iter().map(Uuid::to_string).collect();
            let events = client
                .query(
                    "SELECT body::text FROM events WHERE case_id = ANY($1) ORDER BY seq",
                    &[&ids],
                )
                .await?
                .iter()
                .map(|r| Ok(serde_json::from_str(r.try_get(0)?)?))
                .collect::<Result<Vec<Event>, StorageError>>()?;
            Ok(events)
        })
    }

    fn photo(&self, sha256: String) -> StorageFuture<'_, Option<PhotoRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT stored_sha256, bytes, width, height, uploaded_by, device_id FROM photos WHERE sha256 = $1", &[&sha256])
                .await?;
            row.map(|r| {
                Ok(PhotoRecord {
                    sha256: sha256.clone(),
                    stored_sha256: r.try_get(0)?,
                    bytes: u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0),
                    width: u32::try_from(r.try_get::<_, i32>(2)?).unwrap_or(0),
                    height: u32::try_from(r.try_get::<_, i32>(3)?).unwrap_or(0),
                    uploaded_by: r.try_get(4)?,
                    device_id: parse_uuid(r.try_get(5)?)?,
                })
            })
            .transpose()
        })
    }

    fn insert_photo(&self, photo: PhotoRecord, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let now = ts(Utc::now());
            let device_id = photo.device_id.to_string();
            let stored = tx
                .execute(
                    "INSERT INTO photos (sha256, stored_sha256, bytes, width, height, uploaded_by, device_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    &[
                        &photo.sha256,
                        &photo.stored_sha256,
                        &i64::try_from(photo.bytes).unwrap_or(i64::MAX),
                        &i32::try_from(photo.width).unwrap_or(i32::MAX),
                        &i32::try_from(photo.height).unwrap_or(i32::MAX),
                        &photo.uploaded_by,
                        &device_id,
                        &now,
                    ],
                )
                .await?;
            let uploader = tx
                .execute(
                    "INSERT INTO photo_uploads (sha256, user_id, device_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&photo.sha256, &photo.uploaded_by, &device_id, &now],
                )
                .await?;
            if stored + uploader > 0 {
                insert_audit(&tx, &mut head, audit).await?;
                save_head(&tx, &head).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn photo_uploaded_by(&self, sha256: String, user_id: String) -> StorageFuture<'_, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            Ok(client
                .query_opt(
                    "SELECT 1 FROM photo_uploads WHERE sha256 = $1 AND user_id = $2",
                    &[&sha256, &user_id],
                )
                .await?
                .is_some())
        })
    }

    fn sweep_photos(
        &self,
        uploaded_before: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let shas: Vec<String> = tx
                .query(
                    "SELECT sha256 FROM photos WHERE created_at < $1
                     AND NOT EXISTS (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256)
                     ORDER BY sha256",
                    &[&ts(uploaded_before)],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if !shas.is_empty() {
                tx.execute("DELETE FROM photo_uploads WHERE sha256 = ANY($1)", &[&shas])
                    .await?;
                tx.execute("DELETE FROM photos WHERE sha256 = ANY($1)", &[&shas])
                    .await?;
                insert_audit(
                    &tx,
                    &mut head,
                    audit.detail(serde_json::json!({ "photos": shas })),
                )
                .await?;
                save_head(&tx, &head).await?;
            }
            tx.commit().await?;
            Ok(shas)
        })
    }

    fn photo_cases(&self, sha256: String) -> StorageFuture<'_, Vec<CaseRow>> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .query(
                    "SELECT c.body::text, c.routing::text, c.dispatched_units::text, c.seq FROM photo_refs p JOIN cases c ON c.id = p.case_id WHERE p.sha256 = $1",
                    &[&sha256],
                )
                .await?
                .iter()
                .map(|r| case_from_row(r, 0))
                .collect()
        })
    }

    fn login_lock(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            let conn = self.client().await?;
            let row = conn
                .query_opt(
                    "SELECT locked_until FROM login_failures WHERE username = $1 AND client = $2",
                    &[&username, &client],
                )
                .await?;
            let until: Option<String> = match row {
                Some(r) => r.try_get(0)?,
                None => None,
            };
            Ok(until
                .map(|t| parse_ts(&t))
                .transpose()?
                .filter(|t| *t > now))
        })
    }

    fn login_failed(
        &self,
        username: String,
        client: String,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
        audit: AuditDraft,
    ) -> StorageFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            let mut conn = self.client().await?;
            let tx = conn.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let previous = tx
                .query_opt(
                    "SELECT failures, last_failed_at FROM login_failures WHERE username = $1 AND client = $2",
                    &[&username, &client],
                )
                .await?
                .map(|r| -> Result<(u32, DateTime<Utc>), StorageError> {
                    let n: i32 = r.try_get(0)?;
                    Ok((u32::try_from(n).unwrap_or(0), parse_ts(r.try_get(1)?)?))
                })
                .transpose()?;
            let failures = policy.next_failures(previous, now);
            let locked_until = policy.lock_until(failures, now);
            tx.execute(
                "INSERT INTO login_failures (username, client, failures, last_failed_at, locked_until) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (username, client) DO UPDATE SET failures = excluded.failures, last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until",
                &[
                    &username,
                    &client,
                    &i32::try_from(failures).unwrap_or(i32::MAX),
                    &ts(now),
                    &locked_until.map(ts),
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM login_failures WHERE last_failed_at < $1 AND (locked_until IS NULL OR locked_until < $2)",
                &[&ts(now - policy.window()), &ts(now)],
            )
            .await?;
            insert_audit(&tx, &mut head, audit).await?;
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(locked_until)
        })
    }

    fn login_succeeded(&self, username: String, client: String) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.client().await?;
            conn.execute(
                "DELETE FROM login_failures WHERE username = $1 AND client = $2",
                &[&username, &client],
            )
            .await?;
            Ok(())
        })
    }

    fn unlock_login(&self, username: String, audit: AuditDraft) -> StorageFuture<'_, u64> {
        Box::pin(async move {
            let mut conn = self.client().await?;
            let tx = conn.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            let n = tx
                .execute(
                    "DELETE FROM login_failures WHERE username = $1",
                    &[&username],
                )
                .await?;
            insert_audit(&tx, &mut head, audit).await?;
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    fn append_audit(&self, audit: AuditDraft) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut head = lock_head(&tx, &self.audit_key).await?;
            insert_audit(&tx, &mut head, audit).await?;
            save_head(&tx, &head).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn audit_log(&self) -> StorageFuture<'_, (Vec<AuditRow>, Head)> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let rows = tx
                .query(
                    "SELECT seq, entry, prev_hash, hash FROM audit_log ORDER BY seq",
                    &[],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(AuditRow {
                        seq: r.try_get(0)?,
                        entry: r.try_get(1)?,
                        prev_hash: r.try_get(2)?,
                        hash: r.try_get(3)?,
                    })
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            let head_row = tx
                .query_one(
                    "SELECT change_seq, audit_seq, audit_hash FROM sync_head WHERE id = 1",
                    &[],
                )
                .await?;
            let head = Head {
                change_seq: head_row.try_get(0)?,
                audit_seq: head_row.try_get(1)?,
                audit_hash: head_row.try_get(2)?,
                audit_key: self.audit_key.clone(),
            };
            tx.commit().await?;
            Ok((rows, head))
        })
    }
}
