//! Push ingest, decided once for both backends: idempotency by event id, authorization, the shared
//! workflow, routing at ingest, server time, change sequence numbers and audit entries. Backends
//! read what [`plan`] needs inside their write transaction, call it, and write what it returns.
//! What does not depend on stored state ([`prepare`]: normalising, body hashes, the stored JSON)
//! is done before the transaction, so the single writer spends its time on decisions and rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use xuncha_core::protocol::{EventOutcome, EventResult};
use xuncha_core::workflow::{Action, Event};

use crate::model::{CaseRow, Head};
use crate::policy::access::{self, Viewer};
use crate::policy::audit::{self, AuditDraft, AuditRow};
use crate::policy::case_number::NumberKey;
use crate::policy::catalog::{self, Catalog};
use crate::policy::refusal::{Refusal, RefusalKind, RouteError};

/// One push, as the ingest planner needs it. The actor comes from the session, never the body.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub actor: xuncha_core::Actor,
    pub device_id: Uuid,
    pub events: Vec<Event>,
    pub catalog: Arc<Catalog>,
    pub now: DateTime<Utc>,
    /// How far a device time may run ahead of `now` before the event is refused
    /// (`DEVICE_TIME_IN_FUTURE`); the config's `limits.max_device_clock_skew_s`.
    pub max_device_skew: chrono::TimeDelta,
    /// `Config::verify_max_distance_m`: how far a VERIFY may stand from the case outside the estate.
    pub verify_max_distance_m: f64,
}

/// What the backend read for this batch.
#[derive(Debug, Default)]
pub struct Existing {
    /// Accepted event id → body hash.
    pub accepted: HashMap<Uuid, String>,
    /// Rejected event id → (body hash, code, message).
    pub rejected: HashMap<Uuid, (String, String, String)>,
    /// The batch's cases as they stand.
    pub cases: HashMap<Uuid, CaseRow>,
    /// Photos the batch's events cite ([`cited_photos`]) that the server holds; a photo not
    /// received is absent.
    pub photos: HashMap<String, PhotoEvidence>,
}

/// What ingest knows of a stored photo an event cites, read inside the write transaction.
#[derive(Debug, Clone, Default)]
pub struct PhotoEvidence {
    /// The batch's actor delivered these bytes (a `photo_uploads` row).
    pub uploaded_by_actor: bool,
    /// Cases it is attached to already (read only when the actor did not upload it).
    pub cases: Vec<CaseRow>,
}

/// Refusal code of a VERIFY whose GPS is neither inside the estate nor near the case.
pub use crate::policy::refusal::VERIFY_LOCATION_OUTSIDE;
/// Refusal code of an event citing a photo the server does not hold for its actor. Not stored
/// as the event's final answer: the same event is judged again when pushed after its photo.
pub use xuncha_core::workflow::PHOTO_NOT_RECEIVED;

#[derive(Debug, Clone)]
pub struct NewEventRow {
    pub id: Uuid,
    pub case_id: Uuid,
    /// The stored event JSON (with its server time).
    pub body: String,
    pub body_hash: String,
    pub seq: i64,
}

/// One event of a batch, judged and serialised before the write transaction.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// Actor from the session and the batch's server time (the body hash covers the event
    /// without server time).
    pub event: Event,
    pub body_hash: String,
    /// The event as stored if applied: with the batch's server time.
    pub stored_body: String,
}

/// A push batch with its events prepared; built by [`prepare`] outside the write transaction.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub actor: xuncha_core::Actor,
    /// Largest distance (metres) of a VERIFY's GPS from the case when outside the estate.
    pub verify_max_distance_m: f64,
    pub device_id: Uuid,
    pub events: Vec<PreparedEvent>,
    pub catalog: Arc<Catalog>,
    pub now: DateTime<Utc>,
    /// How far a device time may run ahead of `now` (config `limits.max_device_clock_skew_s`).
    pub max_device_skew: chrono::TimeDelta,
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
    /// Cases reported in this batch and the counter each one's number is drawn from
    /// ([`NumberKey`]); the backend draws and writes the number with the case row.
    pub numbers: Vec<(Uuid, NumberKey)>,
}

/// Event ids and case ids of the batch, for the backend's reads.
pub fn keys(batch: &PreparedBatch) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut event_ids: Vec<Uuid> = batch.events.iter().map(|e| e.event.id).collect();
    let mut case_ids: Vec<Uuid> = batch.events.iter().map(|e| e.event.case_id).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    case_ids.sort_unstable();
    case_ids.dedup();
    (event_ids, case_ids)
}

/// The distinct photo addresses the batch's events cite, for the backend's evidence read.
pub fn cited_photos(batch: &PreparedBatch) -> Vec<String> {
    let mut shas: Vec<String> = batch
        .events
        .iter()
        .flat_map(|e| e.event.photos.iter().map(|p| p.sha256.clone()))
        .collect();
    shas.sort_unstable();
    shas.dedup();
    shas
}

/// Normalises every event (actor from the session, no server time), hashes its body and
/// serialises it as it would be stored. CPU work only: callers run it off the async threads.
pub fn prepare(batch: IngestBatch) -> Result<PreparedBatch, serde_json::Error> {
    let IngestBatch {
        actor,
        device_id,
        events,
        catalog,
        now,
        max_device_skew,
        verify_max_distance_m,
    } = batch;
    let events = events
        .into_iter()
        .map(|mut event| {
            event.actor = actor.clone();
            event.server_time = None;
            let body_hash = hex::encode(Sha256::digest(serde_json::to_vec(&event)?));
            // Server time decides every deadline, ordering and statistic: the workflow applies the
            // event with it, and the device time stays in the body as evidence only.
            event.server_time = Some(now);
            let stored_body = serde_json::to_string(&event)?;
            Ok(PreparedEvent {
                event,
                body_hash,
                stored_body,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    Ok(PreparedBatch {
        actor,
        verify_max_distance_m,
        device_id,
        events,
        catalog,
        now,
        max_device_skew,
    })
}

pub fn plan(
    batch: &PreparedBatch,
    mut existing: Existing,
    head: &mut Head,
) -> Result<IngestPlan, serde_json::Error> {
    let mut plan = IngestPlan::default();
    let mut changed: Vec<Uuid> = Vec::new();
    let viewer = Viewer::from(&batch.actor);
    for prepared in &batch.events {
        let event = &prepared.event;
        let outcome = decide(
            batch,
            viewer,
            prepared,
            &mut existing,
            head,
            &mut plan,
            &mut changed,
        )?;
        plan.results.push(EventResult {
            event_id: event.id,
            outcome,
        });
    }
    plan.cases = changed
        .iter()
        .filter_map(|id| existing.cases.remove(id))
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
    batch: &PreparedBatch,
    viewer: Viewer<'_>,
    prepared: &PreparedEvent,
    existing: &mut Existing,
    head: &mut Head,
    plan: &mut IngestPlan,
    changed: &mut Vec<Uuid>,
) -> Result<EventOutcome, serde_json::Error> {
    let event = &prepared.event;
    let hash = prepared.body_hash.as_str();
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
    let clock = xuncha_core::workflow::check_device_time(
        current.map(|row| &row.case),
        event.device_time,
        batch.now,
        batch.max_device_skew,
    )
    .map_err(Refusal::from);
    // A refused device time is not written into the audit row's time column (it may be a year
    // no database holds); the refusal message carries it.
    let device_time_ok = clock.is_ok();
    let denial = match clock {
        Err(refusal) => Some(refusal),
        Ok(()) => authorize(batch, viewer, event, current),
    };
    let applied =
        match denial {
            Some(refusal) => Err(refusal),
            None => catalog::apply(current.map(|row| &row.case), event).and_then(|case| {
                match check_evidence(batch, viewer, event, current, existing) {
                    Some(refusal) => Err(refusal),
                    None => Ok(case),
                }
            }),
        };
    let draft = |action: &str| {
        let mut draft = AuditDraft::new(action, "event", event.id.to_string()).by(
            &batch.actor.user_id,
            batch.actor.role,
            Some(batch.device_id),
        );
        draft.device_time = device_time_ok.then_some(event.device_time);
        draft.gps = event.gps.clone();
        draft
    };
    let case = match applied {
        Ok(case) => case,
        Err(refusal) => {
            let kind = refusal.kind();
            let action = if kind == RefusalKind::AccessDenied {
                "ACCESS_DENIED"
            } else {
                "EVENT_REJECTED"
            };
            let (code, message) = (refusal.code(), refusal.to_string());
            plan.audit.push(audit::seal(
                head,
                draft(action).detail(serde_json::json!({
                    "case_id": event.case_id, "kind": event.action.kind(), "code": code,
                })),
                batch.now,
            )?);
            // A photo not yet received is judged again when the event comes back after it.
            if kind != RefusalKind::NotYet {
                plan.rejections.push(RejectionRow {
                    event_id: event.id,
                    body_hash: hash.to_owned(),
                    code: code.to_owned(),
                    message: message.clone(),
                });
                existing.rejected.insert(
                    event.id,
                    (hash.to_owned(), code.to_owned(), message.clone()),
                );
            }
            return Ok(rejected(code, message));
        }
    };

    let seq = head.next_change();
    let mut row = match existing.cases.remove(&event.case_id) {
        Some(row) => row,
        None => {
            let routing = batch.catalog.estates().get(&case.estate_id).map(|estate| {
                match batch.catalog.router() {
                    Ok(router) => router.route(&case, estate),
                    Err(e) => RouteError::from(e.clone()).to_json(),
                }
            });
            // Numbered by the server time of its ingest: a re-pushed REPORT is a duplicate
            // above and never reaches here, so it never draws a second number.
            plan.numbers.push((
                case.id,
                NumberKey::in_catalog(&batch.catalog, &case.estate_id, batch.now),
            ));
            CaseRow {
                case: case.clone(),
                routing,
                dispatched_units: Vec::new(),
                seq,
                number: None,
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
        id: event.id,
        case_id: event.case_id,
        body: prepared.stored_body.clone(),
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
    batch: &PreparedBatch,
    viewer: Viewer<'_>,
    event: &Event,
    current: Option<&CaseRow>,
) -> Option<Refusal> {
    let catalog = &batch.catalog;
    if let Action::Report { estate_id, .. } = &event.action
        && current.is_none()
    {
        return match catalog.estates().get(estate_id) {
            None => Some(Refusal::UnknownEstate(estate_id.clone())),
            Some(estate) if !access::can_see_estate(viewer, catalog, estate) => {
                Some(Refusal::EstateForbidden(estate_id.clone()))
            }
            Some(_) => None,
        };
    }
    if let Some(row) = current
        && !access::can_see_case(viewer, catalog, row)
    {
        return Some(Refusal::CaseForbidden);
    }
    if let Action::Dispatch { unit_id } = &event.action {
        if catalog.unit(unit_id).is_none() {
            return Some(Refusal::UnknownUnit(unit_id.clone()));
        }
        // Only the units routing and the directory allow for this estate (issue 10 item 6).
        if let Some(row) = current
            && let Some(targets) = catalog::dispatch_targets(catalog, &row.case)
            && !targets.iter().any(|u| &u.id == unit_id)
        {
            return Some(Refusal::DispatchTargetNotAllowed {
                unit_id: unit_id.clone(),
                estate_id: row.case.estate_id.clone(),
                allowed: targets.into_iter().map(|u| u.id).collect(),
            });
        }
    }
    None
}

/// Evidence checks (issue 10 item 4), after the workflow accepted the event:
/// - every photo the event cites is held by the server and is the actor's: they uploaded its
///   bytes, or it is attached already to a case they can see. Otherwise `PHOTO_NOT_RECEIVED`
///   (the same answer whether the photo is missing or someone else's, so a refusal never tells
///   whether a hash exists). Citing a photo therefore never grants read access to it: a
///   reference is only stored for an actor who could read the photo before.
/// - a VERIFY's GPS lies inside the estate's boundary or within `verify_max_distance_m` of the
///   case's reported location (`geo::verification_place_ok`); otherwise `VERIFY_LOCATION_OUTSIDE`.
fn check_evidence(
    batch: &PreparedBatch,
    viewer: Viewer<'_>,
    event: &Event,
    current: Option<&CaseRow>,
    existing: &Existing,
) -> Option<Refusal> {
    let catalog = &batch.catalog;
    let held = |photo: &xuncha_core::workflow::PhotoRef| {
        existing.photos.get(&photo.sha256).is_some_and(|evidence| {
            evidence.uploaded_by_actor
                || evidence
                    .cases
                    .iter()
                    .any(|row| access::can_see_case(viewer, catalog, row))
        })
    };
    if let Err(refusal) = xuncha_core::workflow::require_received(event, held) {
        return Some(refusal.into());
    }
    if matches!(event.action, Action::Verify)
        && let (Some(fix), Some(row)) = (&event.gps, current)
    {
        let estate = catalog.estates().get(&row.case.estate_id)?;
        let max = batch.verify_max_distance_m;
        if !xuncha_core::geo::verification_place_ok(
            &estate.boundary,
            row.case.location.as_ref(),
            fix,
            max,
        ) {
            return Some(Refusal::VerifyLocationOutside {
                lat: fix.lat,
                lon: fix.lon,
                estate_name: estate.name.clone(),
                max_m: max,
            });
        }
    }
    None
}

/// Latest time used by the planner; a parameter so tests pin it.
pub fn now() -> DateTime<Utc> {
    // Truncated to microseconds: what both backends store exactly.
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
