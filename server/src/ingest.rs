//! Push ingest, decided once for both backends: idempotency by event id, authorization, the shared
//! workflow, routing at ingest, server time, change sequence numbers and audit entries. Backends
//! read what [`plan`] needs inside their write transaction, call it, and write what it returns.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use xuncha_core::protocol::{EventOutcome, EventResult};
use xuncha_core::workflow::{Action, Event};

use crate::access;
use crate::audit::{self, AuditDraft, AuditRow};
use crate::domain;
use crate::storage::{CaseRow, Head, IngestBatch, UserRecord};

/// What the backend read for this batch.
#[derive(Debug, Default)]
pub struct Existing {
    /// Accepted event id → body hash.
    pub accepted: HashMap<Uuid, String>,
    /// Rejected event id → (body hash, code, message).
    pub rejected: HashMap<Uuid, (String, String, String)>,
    /// The batch's cases as they stand.
    pub cases: HashMap<Uuid, CaseRow>,
}

#[derive(Debug, Clone)]
pub struct NewEventRow {
    pub event: Event,
    pub body_hash: String,
    pub seq: i64,
}

#[derive(Debug, Clone)]
pub struct RejectionRow {
    pub event_id: Uuid,
    pub body_hash: String,
    pub code: String,
    pub message: String,
}

/// What the backend writes, all in the same transaction.
#[derive(Debug, Default)]
pub struct IngestPlan {
    pub results: Vec<EventResult>,
    pub events: Vec<NewEventRow>,
    pub rejections: Vec<RejectionRow>,
    /// Changed cases in their final state.
    pub cases: Vec<CaseRow>,
    /// (photo sha256, case id) for every photo an applied event references.
    pub photo_refs: Vec<(String, Uuid)>,
    pub audit: Vec<AuditRow>,
}

/// Event ids and case ids of the batch, for the backend's reads.
pub fn keys(batch: &IngestBatch) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut event_ids: Vec<Uuid> = batch.events.iter().map(|e| e.id).collect();
    let mut case_ids: Vec<Uuid> = batch.events.iter().map(|e| e.case_id).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    case_ids.sort_unstable();
    case_ids.dedup();
    (event_ids, case_ids)
}

/// The event as the server judges it: actor from the session, no server time yet.
fn normalise(event: &Event, batch: &IngestBatch) -> Event {
    let mut event = event.clone();
    event.actor = batch.actor.clone();
    event.server_time = None;
    event
}

fn body_hash(event: &Event) -> Result<String, serde_json::Error> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(event)?)))
}

pub fn plan(
    batch: &IngestBatch,
    mut existing: Existing,
    head: &mut Head,
) -> Result<IngestPlan, serde_json::Error> {
    let mut plan = IngestPlan::default();
    let mut changed: Vec<Uuid> = Vec::new();
    // Parsed once per batch, on the first report that needs routing.
    let mut router: Option<Result<domain::Router, domain::Refusal>> = None;
    let user = UserRecord {
        id: batch.actor.user_id.clone(),
        username: String::new(),
        display_name: String::new(),
        role: batch.actor.role,
        unit_id: batch.actor.unit_id.clone(),
        password_hash: String::new(),
        disabled: false,
    };
    for raw in &batch.events {
        let event = normalise(raw, batch);
        let hash = body_hash(&event)?;
        let outcome = decide(
            batch,
            &user,
            &event,
            &hash,
            &mut existing,
            head,
            &mut plan,
            &mut changed,
            &mut router,
        )?;
        plan.results.push(EventResult {
            event_id: event.id,
            outcome,
        });
    }
    plan.cases = changed
        .iter()
        .filter_map(|id| existing.cases.get(id).cloned())
        .collect();
    Ok(plan)
}

fn rejected(code: &str, message: impl Into<String>) -> EventOutcome {
    EventOutcome::Rejected {
        code: code.to_owned(),
        message: message.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn decide(
    batch: &IngestBatch,
    user: &UserRecord,
    event: &Event,
    hash: &str,
    existing: &mut Existing,
    head: &mut Head,
    plan: &mut IngestPlan,
    changed: &mut Vec<Uuid>,
    router: &mut Option<Result<domain::Router, domain::Refusal>>,
) -> Result<EventOutcome, serde_json::Error> {
    let conflict = || {
        rejected(
            "EVENT_ID_CONFLICT",
            "an event with this id and a different body was stored before",
        )
    };
    if let Some(stored_hash) = existing.accepted.get(&event.id) {
        if stored_hash != hash {
            return Ok(conflict());
        }
        return Ok(match existing.cases.get(&event.case_id) {
            Some(row) => EventOutcome::Duplicate {
                case: Box::new(row.case.clone()),
            },
            None => conflict(),
        });
    }
    if let Some((stored_hash, code, message)) = existing.rejected.get(&event.id) {
        if stored_hash != hash {
            return Ok(conflict());
        }
        return Ok(rejected(code, message.clone()));
    }

    let current = existing.cases.get(&event.case_id);
    let denial = authorize(batch, user, event, current);
    let applied = match denial {
        Some(refusal) => Err(refusal),
        None => domain::apply(current.map(|row| &row.case), event),
    };
    let draft = |action: &str| {
        let mut draft = AuditDraft::new(action, "event", event.id.to_string()).by(
            &batch.actor.user_id,
            batch.actor.role,
            Some(batch.device_id),
        );
        draft.device_time = Some(event.device_time);
        draft.gps = event.gps.clone();
        draft
    };
    let case = match applied {
        Ok(case) => case,
        Err(refusal) => {
            let action = if refusal.code.ends_with("_FORBIDDEN") {
                "ACCESS_DENIED"
            } else {
                "EVENT_REJECTED"
            };
            plan.audit.push(audit::seal(
                head,
                draft(action).detail(serde_json::json!({
                    "case_id": event.case_id, "kind": event.action.kind(), "code": refusal.code,
                })),
                batch.now,
            )?);
            plan.rejections.push(RejectionRow {
                event_id: event.id,
                body_hash: hash.to_owned(),
                code: refusal.code.clone(),
                message: refusal.message.clone(),
            });
            existing.rejected.insert(
                event.id,
                (
                    hash.to_owned(),
                    refusal.code.clone(),
                    refusal.message.clone(),
                ),
            );
            return Ok(rejected(&refusal.code, refusal.message));
        }
    };

    let seq = head.next_change();
    let mut stored = event.clone();
    stored.server_time = Some(batch.now);
    let mut row = match existing.cases.remove(&event.case_id) {
        Some(row) => row,
        None => {
            let routing = batch.catalog.estates.get(&case.estate_id).map(|estate| {
                match router.get_or_insert_with(|| domain::Router::new(&batch.catalog)) {
                    Ok(router) => router.route(&case, estate),
                    Err(refusal) => serde_json::json!({ "error": refusal }),
                }
            });
            CaseRow {
                case: case.clone(),
                routing,
                dispatched_units: Vec::new(),
                seq,
            }
        }
    };
    if let Action::Dispatch { unit_id } = &event.action
        && !row.dispatched_units.contains(unit_id)
    {
        row.dispatched_units.push(unit_id.clone());
    }
    row.case = case;
    row.seq = seq;
    for photo in &event.photos {
        plan.photo_refs.push((photo.sha256.clone(), event.case_id));
    }
    plan.audit.push(audit::seal(
        head,
        draft("EVENT_APPLIED").detail(serde_json::json!({
            "case_id": event.case_id, "kind": event.action.kind(), "status": row.case.status,
            "version": row.case.version,
        })),
        batch.now,
    )?);
    plan.events.push(NewEventRow {
        event: stored,
        body_hash: hash.to_owned(),
        seq,
    });
    existing.accepted.insert(event.id, hash.to_owned());
    let outcome = EventOutcome::Applied {
        case: Box::new(row.case.clone()),
    };
    if !changed.contains(&event.case_id) {
        changed.push(event.case_id);
    }
    existing.cases.insert(event.case_id, row);
    Ok(outcome)
}

/// Object-level checks before the workflow sees the event.
fn authorize(
    batch: &IngestBatch,
    user: &UserRecord,
    event: &Event,
    current: Option<&CaseRow>,
) -> Option<domain::Refusal> {
    let catalog = &batch.catalog;
    if let Action::Report { estate_id, .. } = &event.action
        && current.is_none()
    {
        return match catalog.estates.get(estate_id) {
            None => Some(domain::Refusal::new(
                "UNKNOWN_ESTATE",
                format!("no estate {estate_id}"),
            )),
            Some(estate) if !access::can_see_estate(user, catalog, estate) => {
                Some(domain::Refusal::new(
                    "ESTATE_FORBIDDEN",
                    format!("estate {estate_id} is outside this user's area"),
                ))
            }
            Some(_) => None,
        };
    }
    if let Some(row) = current
        && !access::can_see_case(user, catalog, row)
    {
        return Some(domain::Refusal::new(
            "CASE_FORBIDDEN",
            "the case is outside this user's area",
        ));
    }
    if let Action::Dispatch { unit_id } = &event.action
        && catalog.unit(unit_id).is_none()
    {
        return Some(domain::Refusal::new(
            "UNKNOWN_UNIT",
            format!("no unit {unit_id}"),
        ));
    }
    None
}

/// Latest time used by the planner; a parameter so tests pin it.
pub fn now() -> DateTime<Utc> {
    // Truncated to microseconds: what both backends store exactly.
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
