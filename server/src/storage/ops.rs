//! Every storage operation, written once for both backends over [`Tx`]: which statements run in
//! which order and what is decided from their rows. A backend supplies a [`Tx`] (a connection or
//! transaction: SQLite runs these futures to completion at once on its own thread, PostgreSQL
//! awaits them), locks and saves the [`Head`] around writes, and nothing else.
//!
//! The decisions are the shared ones: ingest planning ([`ingest::plan`]), the audit chain
//! ([`audit::seal`]), refresh-token rotation ([`decide_refresh`]) and the lockout policy.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use xuncha_core::protocol::EventResult;
use xuncha_core::workflow::Event;
use xuncha_core::{Estate, OrgUnit};

use super::case_query::{self, CasePage, CaseQuery, IndexColumns};
use super::row::{FromRow, Json, One, Row, case_at, user_at};
use super::sql::{self, SqlValue, params};
use super::{Head, IngestBatch, StorageError};
use crate::model::{
    CaseRow, ChangePage, DeviceRecord, NewDevice, PhotoRecord, RefreshOutcome, Session, UserRecord,
};
use crate::policy::audit::{self, AuditDraft, AuditRow};
use crate::policy::case_number::NumberKey;
use crate::policy::catalog::Catalog;
use crate::policy::credentials::{
    LockoutPolicy, RefreshStep, SpentToken, TokenRefresh, decide_refresh, eviction_audit,
    reuse_audit,
};
use crate::policy::ingest;

/// A connection or transaction of either backend. Statements come from [`sql`].
pub trait Tx {
    /// Runs a statement and decodes every row.
    fn query<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send;

    /// Runs a statement; the number of rows changed.
    fn execute(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Runs a statement with `{list}` (after its other parameters) standing for `list`; an empty
    /// list matches nothing. SQLite may run it in several chunks: callers do not rely on order.
    fn query_list<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
        list: &[String],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send;

    /// Like [`Tx::query`] for generated text (the case query), which is not worth caching.
    fn query_generated<R: FromRow + Send>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> impl Future<Output = Result<Vec<R>, StorageError>> + Send;
}

impl FromRow for Head {
    fn from_row(row: &impl Row) -> Result<Head, StorageError> {
        Ok(Head {
            change_seq: row.get(0)?,
            audit_seq: row.get(1)?,
            audit_hash: row.get(2)?,
            audit_key: None,
        })
    }
}

/// A case row after its id (`SELECT id, <CASE_COLUMNS>`).
struct IdAndCase(Uuid, CaseRow);

impl FromRow for IdAndCase {
    fn from_row(row: &impl Row) -> Result<IdAndCase, StorageError> {
        Ok(IdAndCase(row.get(0)?, case_at(row, 1)?))
    }
}

/// A case row and its sort key (the case query's page).
struct CaseAndKey(CaseRow, i64);

impl FromRow for CaseAndKey {
    fn from_row(row: &impl Row) -> Result<CaseAndKey, StorageError> {
        Ok(CaseAndKey(case_at(row, 0)?, row.get(5)?))
    }
}

async fn one<T: Tx, R: FromRow + Send>(
    tx: &T,
    sql: &str,
    params: &[SqlValue],
) -> Result<Option<R>, StorageError> {
    Ok(tx.query::<R>(sql, params).await?.into_iter().next())
}

/// The head as stored (without the lock some backends take: see their `lock_head`).
pub async fn read_head<T: Tx>(tx: &T) -> Result<Head, StorageError> {
    one(tx, sql::SELECT_HEAD, &[])
        .await?
        .ok_or_else(|| StorageError::Corrupt("sync_head row missing".into()))
}

pub async fn save_head<T: Tx>(tx: &T, head: &Head) -> Result<(), StorageError> {
    tx.execute(
        sql::UPDATE_HEAD,
        params![head.change_seq, head.audit_seq, &head.audit_hash],
    )
    .await?;
    Ok(())
}

async fn insert_audit_row<T: Tx>(tx: &T, row: &AuditRow) -> Result<(), StorageError> {
    tx.execute(
        sql::INSERT_AUDIT,
        params![row.seq, &row.entry, &row.prev_hash, &row.hash],
    )
    .await?;
    Ok(())
}

async fn insert_audit<T: Tx>(
    tx: &T,
    head: &mut Head,
    draft: AuditDraft,
) -> Result<(), StorageError> {
    let row = audit::seal(head, draft, ingest::now())?;
    insert_audit_row(tx, &row).await
}

pub async fn append_audit<T: Tx>(
    tx: &T,
    head: &mut Head,
    draft: AuditDraft,
) -> Result<(), StorageError> {
    insert_audit(tx, head, draft).await
}

/// The whole log and the head, read in the caller's snapshot.
pub async fn audit_log<T: Tx>(tx: &T) -> Result<(Vec<AuditRow>, Head), StorageError> {
    let rows = tx.query(sql::SELECT_AUDIT_LOG, &[]).await?;
    Ok((rows, read_head(tx).await?))
}

// Catalog.

pub async fn load_catalog<T: Tx>(tx: &T) -> Result<Catalog, StorageError> {
    let estates = tx
        .query::<One<Json<Estate>>>(sql::SELECT_ESTATES, &[])
        .await?
        .into_iter()
        .map(|One(Json(estate))| (estate.id.clone(), estate))
        .collect();
    let units = tx
        .query::<One<Json<OrgUnit>>>(sql::SELECT_UNITS, &[])
        .await?
        .into_iter()
        .map(|One(Json(unit))| unit)
        .collect();
    let routing_rules = one::<_, One<String>>(tx, sql::SELECT_ROUTING_RULES, &[])
        .await?
        .map(|One(rules)| rules);
    // The router is parsed here, once per load (start and after an estates edit), not per request.
    Ok(Catalog::new(estates, units, routing_rules))
}

pub async fn save_catalog<T: Tx>(
    tx: &T,
    head: &mut Head,
    estates: Vec<Estate>,
    units: Vec<OrgUnit>,
    routing_rules: Option<String>,
    audit: AuditDraft,
) -> Result<(), StorageError> {
    let mut rows = Vec::new();
    for estate in &estates {
        let body = serde_json::to_value(estate)?;
        rows.push((
            sql::SELECT_ESTATE_BODY,
            sql::UPSERT_ESTATE,
            &estate.id,
            body,
        ));
    }
    for unit in &units {
        let body = serde_json::to_value(unit)?;
        rows.push((sql::SELECT_UNIT_BODY, sql::UPSERT_UNIT, &unit.id, body));
    }
    let mut changed = 0usize;
    for (select, upsert, id, body) in rows {
        // Compared as JSON values: PostgreSQL's jsonb does not keep the text as written.
        let current = one::<_, One<Json<serde_json::Value>>>(tx, select, params![id]).await?;
        if current.is_none_or(|One(Json(current))| current != body) {
            let seq = head.next_change();
            tx.execute(upsert, params![id, body.to_string(), seq])
                .await?;
            changed += 1;
        }
    }
    if let Some(rules) = routing_rules {
        let seq = head.next_change();
        tx.execute(sql::UPSERT_ROUTING_RULES, params![rules, seq])
            .await?;
        changed += 1;
    }
    if changed > 0 {
        insert_audit(
            tx,
            head,
            audit.detail(serde_json::json!({ "changed": changed })),
        )
        .await?;
    }
    Ok(())
}

// Users, devices, tokens.

pub async fn create_user<T: Tx>(
    tx: &T,
    head: &mut Head,
    user: UserRecord,
    audit: AuditDraft,
) -> Result<(), StorageError> {
    let exists =
        one::<_, One<String>>(tx, sql::SELECT_USER_ID_BY_USERNAME, params![&user.username]).await?;
    if exists.is_some() {
        return Err(StorageError::UserExists(user.username));
    }
    tx.execute(
        sql::INSERT_USER,
        params![
            &user.id,
            &user.username,
            &user.display_name,
            user.role,
            &user.unit_id,
            &user.password_hash,
            user.disabled,
            Utc::now(),
        ],
    )
    .await?;
    insert_audit(tx, head, audit).await
}

pub async fn user_by_username<T: Tx>(
    tx: &T,
    username: String,
) -> Result<Option<UserRecord>, StorageError> {
    one(tx, sql::SELECT_USER_BY_USERNAME, params![username]).await
}

pub async fn user_by_id<T: Tx>(
    tx: &T,
    user_id: String,
) -> Result<Option<UserRecord>, StorageError> {
    one(tx, sql::SELECT_USER_BY_ID, params![user_id]).await
}

pub async fn set_user_disabled<T: Tx>(
    tx: &T,
    head: &mut Head,
    user_id: String,
    disabled: bool,
    audit: AuditDraft,
) -> Result<bool, StorageError> {
    let n = tx
        .execute(sql::UPDATE_USER_DISABLED, params![disabled, user_id])
        .await?;
    if n > 0 {
        insert_audit(tx, head, audit).await?;
    }
    Ok(n > 0)
}

pub async fn create_device<T: Tx>(
    tx: &T,
    head: &mut Head,
    device: NewDevice,
    audit: AuditDraft,
) -> Result<(), StorageError> {
    let now = Utc::now();
    tx.execute(
        sql::INSERT_DEVICE,
        params![
            device.id,
            &device.user_id,
            &device.name,
            &device.refresh_hash,
            now
        ],
    )
    .await?;
    tx.execute(
        sql::INSERT_ACCESS_TOKEN,
        params![&device.access_hash, device.id, device.access_expires_at],
    )
    .await?;
    insert_audit(tx, head, audit).await?;
    if device.max_active_per_user > 0 {
        // Newest first; everything past the cap is this user's oldest.
        let active: Vec<One<String>> = tx
            .query(
                sql::SELECT_ACTIVE_DEVICES_NEWEST_FIRST,
                params![&device.user_id],
            )
            .await?;
        for One(old) in active.into_iter().skip(device.max_active_per_user) {
            tx.execute(sql::SET_DEVICE_REVOKED, params![now, &old])
                .await?;
            insert_audit(tx, head, eviction_audit(&old, &device.user_id)).await?;
        }
    }
    Ok(())
}

pub async fn device<T: Tx>(tx: &T, device_id: Uuid) -> Result<Option<DeviceRecord>, StorageError> {
    one(tx, sql::SELECT_DEVICE, params![device_id]).await
}

/// The device's live refresh token, whether it is revoked, and its user.
struct RefreshState {
    stored: String,
    revoked: bool,
    user: UserRecord,
}

impl FromRow for RefreshState {
    fn from_row(row: &impl Row) -> Result<RefreshState, StorageError> {
        Ok(RefreshState {
            stored: row.get(0)?,
            revoked: row.get(1)?,
            user: user_at(row, 2)?,
        })
    }
}

impl FromRow for SpentToken {
    fn from_row(row: &impl Row) -> Result<SpentToken, StorageError> {
        Ok(SpentToken {
            spent_at: row.get(0)?,
            latest: row.get(1)?,
        })
    }
}

/// Checks the presented refresh token by [`decide_refresh`] and carries out its step. The head
/// is locked before anything is read, so two refreshes of one device are decided in turn.
pub async fn refresh_access<T: Tx>(
    tx: &T,
    head: &mut Head,
    refresh: TokenRefresh,
) -> Result<RefreshOutcome, StorageError> {
    let id = refresh.device_id;
    let Some(state) = one::<_, RefreshState>(tx, sql::SELECT_REFRESH_STATE, params![id]).await?
    else {
        return Ok(RefreshOutcome::Invalid);
    };
    let spent: Option<SpentToken> = one(
        tx,
        sql::SELECT_SPENT_TOKEN,
        params![id, &refresh.presented_hash],
    )
    .await?;
    let step = decide_refresh(
        &state.stored,
        state.revoked,
        state.user.disabled,
        &refresh.presented_hash,
        spent,
        refresh.now,
        refresh.grace,
    );
    match step {
        RefreshStep::Invalid => Ok(RefreshOutcome::Invalid),
        RefreshStep::Revoked => Ok(RefreshOutcome::Revoked),
        RefreshStep::Reused => {
            tx.execute(sql::REVOKE_DEVICE, params![refresh.now, id])
                .await?;
            insert_audit(tx, head, reuse_audit(id)).await?;
            Ok(RefreshOutcome::Reused)
        }
        RefreshStep::Rotate => {
            // A retry within the grace uses it up, and the token it replaces was never
            // delivered: neither may come back.
            let retry = spent.is_some();
            if retry {
                tx.execute(sql::USE_UP_RETRY, params![&refresh.presented_hash])
                    .await?;
            }
            tx.execute(
                sql::UPSERT_SPENT_TOKEN,
                params![&state.stored, id, refresh.now, !retry],
            )
            .await?;
            tx.execute(
                sql::UPDATE_REFRESH_HASH,
                params![&refresh.new_refresh_hash, id],
            )
            .await?;
            tx.execute(sql::DELETE_ACCESS_TOKENS_OF_DEVICE, params![id])
                .await?;
            tx.execute(
                sql::INSERT_ACCESS_TOKEN,
                params![&refresh.access_hash, id, refresh.access_expires_at],
            )
            .await?;
            insert_audit(tx, head, refresh.audit).await?;
            Ok(RefreshOutcome::Refreshed(state.user))
        }
    }
}

impl FromRow for Session {
    fn from_row(row: &impl Row) -> Result<Session, StorageError> {
        let user_id: String = row.get(4)?;
        Ok(Session {
            access_expires_at: row.get(0)?,
            device: DeviceRecord {
                id: row.get(1)?,
                user_id: user_id.clone(),
                name: row.get(2)?,
                revoked: row.get(3)?,
            },
            user: UserRecord {
                id: user_id,
                username: row.get(5)?,
                display_name: row.get(6)?,
                role: row.get(7)?,
                unit_id: row.get(8)?,
                password_hash: String::new(),
                disabled: row.get(9)?,
            },
        })
    }
}

pub async fn session<T: Tx>(tx: &T, access_hash: String) -> Result<Option<Session>, StorageError> {
    one(tx, sql::SELECT_SESSION, params![access_hash]).await
}

pub async fn revoke_device<T: Tx>(
    tx: &T,
    head: &mut Head,
    device_id: Uuid,
    audit: AuditDraft,
) -> Result<bool, StorageError> {
    let n = tx
        .execute(sql::REVOKE_DEVICE, params![Utc::now(), device_id])
        .await?;
    // Tokens stay so the next request is answered REVOKED rather than unknown.
    if n > 0 {
        insert_audit(tx, head, audit).await?;
    }
    Ok(n > 0)
}

// Ingest.

/// The CPU part of ingest ([`ingest::prepare`]), off the async threads and before any
/// connection or lock is taken.
pub async fn prepare_ingest(batch: IngestBatch) -> Result<ingest::PreparedBatch, StorageError> {
    tokio::task::spawn_blocking(move || ingest::prepare(batch))
        .await
        .map_err(|_| StorageError::WriterGone)?
        .map_err(StorageError::from)
}

fn keys(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

/// The stored photos the batch cites, with whether the actor uploaded each and, when not, the
/// cases each is attached to (see [`ingest::PhotoEvidence`]).
async fn photo_evidence<T: Tx>(
    tx: &T,
    batch: &ingest::PreparedBatch,
) -> Result<HashMap<String, ingest::PhotoEvidence>, StorageError> {
    let mut found = HashMap::new();
    let shas = ingest::cited_photos(batch);
    let stored: Vec<(String, bool)> = tx
        .query_list(
            sql::LIST_PHOTO_EVIDENCE,
            params![&batch.actor.user_id],
            &shas,
        )
        .await?;
    for (sha, uploaded_by_actor) in stored {
        let cases = if uploaded_by_actor {
            Vec::new()
        } else {
            tx.query(sql::SELECT_CASES_OF_PHOTO, params![&sha]).await?
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

/// Reads what [`ingest::plan`] needs, plans, and writes the plan.
pub async fn ingest<T: Tx>(
    tx: &T,
    head: &mut Head,
    batch: &ingest::PreparedBatch,
) -> Result<Vec<EventResult>, StorageError> {
    let (event_ids, case_ids) = ingest::keys(batch);
    let mut existing = ingest::Existing::default();
    let accepted: Vec<(Uuid, String)> = tx
        .query_list(sql::LIST_ACCEPTED_EVENTS, &[], &keys(&event_ids))
        .await?;
    existing.accepted.extend(accepted);
    let unaccepted: Vec<Uuid> = event_ids
        .iter()
        .filter(|id| !existing.accepted.contains_key(id))
        .copied()
        .collect();
    let rejected: Vec<(Uuid, String, String, String)> = tx
        .query_list(sql::LIST_REJECTED_EVENTS, &[], &keys(&unaccepted))
        .await?;
    for (id, hash, code, message) in rejected {
        existing.rejected.insert(id, (hash, code, message));
    }
    let cases: Vec<IdAndCase> = tx
        .query_list(sql::LIST_CASES, &[], &keys(&case_ids))
        .await?;
    existing
        .cases
        .extend(cases.into_iter().map(|IdAndCase(id, row)| (id, row)));
    existing.photos = photo_evidence(tx, batch).await?;

    let mut plan = ingest::plan(batch, existing, head)?;
    draw_case_numbers(tx, &mut plan).await?;

    for row in &plan.events {
        tx.execute(
            sql::INSERT_EVENT,
            params![
                row.id,
                row.case_id,
                row.seq,
                &row.body_hash,
                &row.body,
                &batch.actor.user_id,
                batch.device_id,
            ],
        )
        .await?;
    }
    for row in &plan.rejections {
        tx.execute(
            sql::INSERT_REJECTION,
            params![row.event_id, &row.body_hash, &row.code, &row.message],
        )
        .await?;
    }
    for row in &plan.cases {
        let columns = IndexColumns::of(&row.case);
        tx.execute(
            sql::UPSERT_CASE,
            params![
                row.case.id,
                &row.case.estate_id,
                row.case.status,
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
                row.number.as_deref(),
            ],
        )
        .await?;
        write_case_units(
            tx,
            row.case.id,
            &IndexColumns::units_of(&row.dispatched_units, row.routing.as_ref()),
        )
        .await?;
    }
    for (sha, case_id) in &plan.photo_refs {
        tx.execute(sql::INSERT_PHOTO_REF, params![sha, *case_id])
            .await?;
    }
    for row in &plan.audit {
        insert_audit_row(tx, row).await?;
    }
    Ok(plan.results)
}

/// Draws the number of every case the plan reports from its counter ([`NumberKey`]), in this
/// transaction, and puts it on the case row to be written.
async fn draw_case_numbers<T: Tx>(
    tx: &T,
    plan: &mut ingest::IngestPlan,
) -> Result<(), StorageError> {
    for (case_id, key) in &plan.numbers {
        let number = draw_number(tx, key).await?;
        if let Some(row) = plan.cases.iter_mut().find(|row| row.case.id == *case_id) {
            row.number = Some(number);
        }
    }
    Ok(())
}

/// The next number of `key`'s counter.
async fn draw_number<T: Tx>(tx: &T, key: &NumberKey) -> Result<String, StorageError> {
    let One(seq) = one::<_, One<i64>>(tx, sql::NEXT_CASE_NUMBER, params![&key.district, &key.day])
        .await?
        .ok_or_else(|| StorageError::Corrupt("case number counter returned no row".into()))?;
    Ok(key.number(seq))
}

/// Indexes a case under every unit it involves ([`IndexColumns::units_of`]).
async fn write_case_units<T: Tx>(
    tx: &T,
    case_id: Uuid,
    units: &[String],
) -> Result<(), StorageError> {
    for unit in units {
        tx.execute(sql::INSERT_CASE_UNIT, params![unit, case_id])
            .await?;
    }
    Ok(())
}

// Migration backfills (run inside the migration's transaction).

/// Fills the case query's columns and `case_units` for rows stored before they existed.
pub async fn backfill_index_columns<T: Tx>(tx: &T) -> Result<(), StorageError> {
    let rows: Vec<(Uuid, Json<xuncha_core::Case>, Json<Vec<String>>)> =
        tx.query(sql::SELECT_ALL_CASE_BODIES, &[]).await?;
    let count = rows.len();
    for (id, Json(case), Json(units)) in rows {
        let columns = IndexColumns::of(&case);
        tx.execute(
            sql::UPDATE_INDEX_COLUMNS,
            params![
                columns.category,
                columns.is_open,
                columns.reported_at_us,
                columns.updated_at_us,
                columns.due_us,
                columns.assigned_unit,
                columns.search_text,
                id,
            ],
        )
        .await?;
        write_case_units(tx, id, &units).await?;
    }
    tracing::info!(count, "backfilled case query columns");
    Ok(())
}

/// Re-derives `case_units` (dispatched, supervisor and co-responsible units) for every stored case.
pub async fn backfill_case_units<T: Tx>(tx: &T) -> Result<(), StorageError> {
    /// Case id, stored routing decision (if any), units it was dispatched to.
    type RoutingRow = (Uuid, Option<Json<serde_json::Value>>, Json<Vec<String>>);
    let rows: Vec<RoutingRow> = tx.query(sql::SELECT_ALL_CASE_ROUTING, &[]).await?;
    let count = rows.len();
    for (id, routing, Json(units)) in rows {
        let routing = routing.map(|Json(r)| r);
        write_case_units(tx, id, &IndexColumns::units_of(&units, routing.as_ref())).await?;
    }
    tracing::info!(count, "backfilled case units from routing decisions");
    Ok(())
}

/// Numbers every case stored before case numbers existed, in reported order, from the same
/// counters ingest draws from (the reported time is the server time of the REPORT's ingest).
pub async fn backfill_case_numbers<T: Tx>(tx: &T) -> Result<(), StorageError> {
    let catalog = load_catalog(tx).await?;
    let rows: Vec<(Uuid, String, i64)> = tx.query(sql::SELECT_UNNUMBERED_CASES, &[]).await?;
    let count = rows.len();
    for (id, estate_id, reported_at_us) in rows {
        let at = DateTime::from_timestamp_micros(reported_at_us).unwrap_or_default();
        let number = draw_number(tx, &NumberKey::in_catalog(&catalog, &estate_id, at)).await?;
        tx.execute(sql::SET_CASE_NUMBER, params![number, id])
            .await?;
    }
    tracing::info!(count, "numbered existing cases");
    Ok(())
}

// Reads.

/// Cuts a pull's fetched cases (one more than `limit` asked for) to the page and sets where the
/// next page starts: after its last case when more follow, else at the head (nothing changed
/// between the last case and the head that a later page could miss).
pub fn change_page_bounds(
    mut cases: Vec<CaseRow>,
    cursor: i64,
    limit: usize,
    head_seq: i64,
) -> ChangePage {
    let has_more = cases.len() > limit;
    cases.truncate(limit);
    let next_cursor = if has_more {
        cases.last().map_or(cursor, |c| c.seq)
    } else {
        head_seq.max(cursor)
    };
    ChangePage {
        cases,
        next_cursor,
        has_more,
        ..ChangePage::default()
    }
}

/// Everything changed after `cursor`, ordered by change sequence number; read in the caller's
/// snapshot.
pub async fn changes_since<T: Tx>(
    tx: &T,
    cursor: i64,
    limit: usize,
) -> Result<ChangePage, StorageError> {
    let One(head_seq) = one::<_, One<i64>>(tx, sql::SELECT_CHANGE_SEQ, &[])
        .await?
        .ok_or_else(|| StorageError::Corrupt("sync_head row missing".into()))?;
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let cases = tx
        .query(sql::SELECT_CHANGED_CASES, params![cursor, fetch])
        .await?;
    let mut page = change_page_bounds(cases, cursor, limit, head_seq);
    let range = params![cursor, page.next_cursor];
    let events: Vec<One<Json<Event>>> = tx.query(sql::SELECT_CHANGED_EVENTS, range).await?;
    page.events = events.into_iter().map(|One(Json(e))| e).collect();
    let estates: Vec<One<Json<Estate>>> = tx.query(sql::SELECT_CHANGED_ESTATES, range).await?;
    page.estates = estates.into_iter().map(|One(Json(e))| e).collect();
    let units: Vec<One<Json<OrgUnit>>> = tx.query(sql::SELECT_CHANGED_UNITS, range).await?;
    page.units = units.into_iter().map(|One(Json(u))| u).collect();
    page.routing_rules = one::<_, One<String>>(tx, sql::SELECT_CHANGED_ROUTING_RULES, range)
        .await?
        .map(|One(rules)| rules);
    Ok(page)
}

pub async fn case_with_events<T: Tx>(
    tx: &T,
    case_id: Uuid,
) -> Result<Option<(CaseRow, Vec<Event>)>, StorageError> {
    let Some(row) = one::<_, CaseRow>(tx, sql::SELECT_CASE, params![case_id]).await? else {
        return Ok(None);
    };
    let events: Vec<One<Json<Event>>> = tx
        .query(sql::SELECT_EVENTS_OF_CASE, params![case_id])
        .await?;
    Ok(Some((
        row,
        events.into_iter().map(|One(Json(e))| e).collect(),
    )))
}

/// One page of the case query and its per-status counts, read in the caller's snapshot.
pub async fn query_cases<T: Tx>(tx: &T, query: &CaseQuery) -> Result<CasePage, StorageError> {
    let page = case_query::page_sql(query, sql::CASE_COLUMNS);
    let fetched: Vec<CaseAndKey> = tx.query_generated(&page.text, &page.params).await?;
    let counts_sql = case_query::counts_sql(query);
    let counts: Vec<(String, u64)> = tx
        .query_generated(&counts_sql.text, &counts_sql.params)
        .await?;
    Ok(case_query::finish_page(
        fetched
            .into_iter()
            .map(|CaseAndKey(row, key)| (row, key))
            .collect(),
        query.limit,
        counts.into_iter().collect::<BTreeMap<_, _>>(),
    ))
}

/// The events of these cases, ordered by change sequence number.
pub async fn events_of_cases<T: Tx>(tx: &T, case_ids: &[Uuid]) -> Result<Vec<Event>, StorageError> {
    let mut events: Vec<(i64, Json<Event>)> = tx
        .query_list(sql::LIST_EVENTS_OF_CASES, &[], &keys(case_ids))
        .await?;
    events.sort_by_key(|(seq, _)| *seq);
    Ok(events.into_iter().map(|(_, Json(e))| e).collect())
}

// Photos.

pub async fn photo<T: Tx>(tx: &T, sha256: String) -> Result<Option<PhotoRecord>, StorageError> {
    one(tx, sql::SELECT_PHOTO, params![sha256]).await
}

pub async fn insert_photo<T: Tx>(
    tx: &T,
    head: &mut Head,
    photo: PhotoRecord,
    audit: AuditDraft,
) -> Result<(), StorageError> {
    let now = Utc::now();
    let stored = tx
        .execute(
            sql::INSERT_PHOTO,
            params![
                &photo.sha256,
                &photo.stored_sha256,
                photo.bytes,
                photo.width,
                photo.height,
                &photo.uploaded_by,
                photo.device_id,
                now,
            ],
        )
        .await?;
    let uploader = tx
        .execute(
            sql::INSERT_PHOTO_UPLOAD,
            params![&photo.sha256, &photo.uploaded_by, photo.device_id, now],
        )
        .await?;
    if stored + uploader > 0 {
        insert_audit(tx, head, audit).await?;
    }
    Ok(())
}

pub async fn photo_uploaded_by<T: Tx>(
    tx: &T,
    sha256: String,
    user_id: String,
) -> Result<bool, StorageError> {
    let found =
        one::<_, One<i64>>(tx, sql::SELECT_PHOTO_UPLOADED_BY, params![sha256, user_id]).await?;
    Ok(found.is_some())
}

pub async fn photo_cases<T: Tx>(tx: &T, sha256: String) -> Result<Vec<CaseRow>, StorageError> {
    tx.query(sql::SELECT_CASES_OF_PHOTO, params![sha256]).await
}

pub async fn sweep_photos<T: Tx>(
    tx: &T,
    head: &mut Head,
    uploaded_before: DateTime<Utc>,
    audit: AuditDraft,
) -> Result<Vec<String>, StorageError> {
    let shas: Vec<One<String>> = tx
        .query(sql::SELECT_UNCITED_PHOTOS, params![uploaded_before])
        .await?;
    let shas: Vec<String> = shas.into_iter().map(|One(sha)| sha).collect();
    for sha in &shas {
        tx.execute(sql::DELETE_PHOTO_UPLOADS, params![sha]).await?;
        tx.execute(sql::DELETE_PHOTO, params![sha]).await?;
    }
    if !shas.is_empty() {
        insert_audit(
            tx,
            head,
            audit.detail(serde_json::json!({ "photos": shas })),
        )
        .await?;
    }
    Ok(shas)
}

// Sign-in lockout.

pub async fn login_lock<T: Tx>(
    tx: &T,
    username: String,
    client: String,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let until =
        one::<_, One<Option<DateTime<Utc>>>>(tx, sql::SELECT_LOGIN_LOCK, params![username, client])
            .await?;
    Ok(until.and_then(|One(until)| until).filter(|t| *t > now))
}

pub async fn login_failed<T: Tx>(
    tx: &T,
    head: &mut Head,
    username: String,
    client: String,
    now: DateTime<Utc>,
    policy: LockoutPolicy,
    audit: AuditDraft,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    let previous: Option<(u32, DateTime<Utc>)> =
        one(tx, sql::SELECT_LOGIN_FAILURES, params![&username, &client]).await?;
    let failures = policy.next_failures(previous, now);
    let locked_until = policy.lock_until(failures, now);
    tx.execute(
        sql::UPSERT_LOGIN_FAILURE,
        params![username, client, failures, now, locked_until],
    )
    .await?;
    tx.execute(
        sql::DELETE_STALE_LOGIN_FAILURES,
        params![now - policy.window(), now],
    )
    .await?;
    insert_audit(tx, head, audit).await?;
    Ok(locked_until)
}

pub async fn login_succeeded<T: Tx>(
    tx: &T,
    username: String,
    client: String,
) -> Result<(), StorageError> {
    tx.execute(
        sql::DELETE_LOGIN_FAILURES_OF_CLIENT,
        params![username, client],
    )
    .await?;
    Ok(())
}

pub async fn unlock_login<T: Tx>(
    tx: &T,
    head: &mut Head,
    username: String,
    audit: AuditDraft,
) -> Result<u64, StorageError> {
    let n = tx
        .execute(sql::DELETE_LOGIN_FAILURES_OF_USER, params![username])
        .await?;
    insert_audit(tx, head, audit).await?;
    Ok(n)
}
