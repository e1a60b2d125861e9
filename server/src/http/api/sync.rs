//! `POST /api/v1/sync/push`, `GET /api/v1/sync/pull`, `GET /api/v1/cases/{id}`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use crate::http::extract::{Path, Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use xuncha_core::protocol::{
    Cursor, EventOutcome, EventResult, PROTOCOL_VERSION, PullResponse, PushResponse,
};
use xuncha_core::workflow::{Action, Case, Event};

use super::body_bytes;
use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::{ApiError, ApiResult};
use crate::policy::access;
use crate::policy::audit::AuditDraft;
use crate::policy::ingest;
use crate::storage::IngestBatch;

/// The push body with each event still raw, so one malformed event is rejected on its own.
#[derive(Debug, Deserialize)]
struct RawPush {
    protocol: u32,
    events: Vec<serde_json::Value>,
}

/// The push body when every event parses: read straight into events, without building a JSON
/// tree first (the common case; any failure falls back to [`RawPush`] and per-event parsing).
#[derive(Debug, Deserialize)]
struct TypedPush {
    protocol: u32,
    events: Vec<Event>,
}

/// A parsed push: the events that parsed, and a result slot per event (`Some` for malformed ones).
struct ParsedPush {
    protocol: u32,
    slots: Vec<Option<EventResult>>,
    events: Vec<Event>,
}

fn parse_push(bytes: &[u8]) -> Result<ParsedPush, ApiError> {
    if let Ok(typed) = serde_json::from_slice::<TypedPush>(bytes) {
        return Ok(ParsedPush {
            protocol: typed.protocol,
            slots: typed.events.iter().map(|_| None).collect(),
            events: typed.events,
        });
    }
    let request: RawPush =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadJson(e.to_string()))?;
    let mut slots: Vec<Option<EventResult>> = Vec::with_capacity(request.events.len());
    let mut events = Vec::with_capacity(request.events.len());
    for raw in request.events {
        let id = raw
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok())
            .unwrap_or(Uuid::nil());
        match serde_json::from_value::<Event>(raw) {
            Ok(event) => {
                events.push(event);
                slots.push(None);
            }
            Err(e) => slots.push(Some(EventResult {
                event_id: id,
                outcome: EventOutcome::Rejected {
                    code: "MALFORMED_EVENT".to_owned(),
                    message: format!("event does not parse: {e}"),
                },
            })),
        }
    }
    Ok(ParsedPush {
        protocol: request.protocol,
        slots,
        events,
    })
}

pub async fn push(
    State(state): State<AppState>,
    authed: Authed,
    body: Body,
) -> ApiResult<Json<PushResponse>> {
    let limits = &state.config.limits;
    let bytes = body_bytes(body, limits.push_body_bytes).await?;
    // Parsing a whole batch is CPU work of up to the body limit: off the async threads.
    let ParsedPush {
        protocol,
        slots,
        events,
    } = tokio::task::spawn_blocking(move || parse_push(&bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("push parsing failed: {e}")))??;
    if protocol != PROTOCOL_VERSION {
        return Err(ApiError::ProtocolVersion {
            got: protocol,
            supported: PROTOCOL_VERSION,
        });
    }
    if slots.len() > limits.push_batch_events {
        return Err(ApiError::BatchTooLarge {
            got: slots.len(),
            limit: limits.push_batch_events,
        });
    }
    let mut applied = state
        .storage
        .ingest(IngestBatch {
            actor: authed.actor(),
            device_id: authed.0.device.id,
            events,
            catalog: state.catalog(),
            now: ingest::now(),
            max_device_skew: limits.max_device_skew(),
            verify_max_distance_m: state.config.verify_max_distance_m,
        })
        .await?
        .into_iter();
    let results = slots
        .into_iter()
        .map(|slot| slot.or_else(|| applied.next()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::Internal("ingest returned fewer results than events".to_owned())
        })?;
    Ok(Json(PushResponse { results }))
}

#[derive(Debug, Deserialize)]
pub struct PullQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, ApiError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::InvalidCursor(text.to_owned())),
    }
}

pub async fn pull(
    State(state): State<AppState>,
    authed: Authed,
    Query(query): Query<PullQuery>,
) -> ApiResult<Json<PullResponse>> {
    let cursor = parse_cursor(query.cursor.as_deref())?;
    let limit = query
        .limit
        .unwrap_or(state.config.limits.pull_page_cases)
        .clamp(1, state.config.limits.pull_page_cases);
    let page = state.storage.changes_since(cursor, limit).await?;
    let catalog = state.catalog();
    let user = &authed.0.user;
    let visible: Vec<_> = page
        .cases
        .into_iter()
        .filter(|row| access::can_see_case(user, &catalog, row))
        .collect();
    let case_numbers = visible
        .iter()
        .filter_map(|row| Some((row.case.id, row.number.clone()?)))
        .collect();
    let cases: Vec<Case> = visible.into_iter().map(|row| row.case).collect();
    // Joint-meeting minutes stay on the dashboard: phones built before MINUTES existed could not
    // read a pull page carrying one, and no phone screen shows them. The case snapshot (version)
    // still counts them.
    let events: Vec<Event> = page
        .events
        .into_iter()
        .filter(|e| cases.iter().any(|c| c.id == e.case_id))
        .filter(|e| !matches!(e.action, Action::Minutes { .. }))
        .collect();
    let estates = page
        .estates
        .into_iter()
        .filter(|estate| access::can_see_estate(user, &catalog, estate))
        .collect();
    Ok(Json(PullResponse {
        protocol: PROTOCOL_VERSION,
        cases,
        events,
        estates,
        units: page.units,
        routing_rules: page.routing_rules,
        case_numbers,
        next_cursor: Cursor(page.next_cursor.to_string()),
        has_more: page.has_more,
    }))
}

/// One case with its routing decision and full event history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseDetail {
    /// The server-assigned number (和平-20261204-0012) the dashboard, exports and Open311 show.
    pub number: Option<String>,
    pub case: Case,
    /// The routing decision made at ingest.
    pub routing: Option<serde_json::Value>,
    pub dispatched_units: Vec<String>,
    pub events: Vec<Event>,
}

pub async fn get_case(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    let not_found = || ApiError::NotFound {
        what: "case",
        id: id.clone(),
    };
    let case_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let (row, events) = state
        .storage
        .case_with_events(case_id)
        .await?
        .ok_or_else(not_found)?;
    let user = &authed.0.user;
    if !access::can_see_case(user, &state.catalog(), &row) {
        state.deny(&authed, "case", &id).await?;
        return Err(ApiError::ObjectForbidden { what: "case", id });
    }
    Ok(Json(CaseDetail {
        number: row.number,
        case: row.case,
        routing: row.routing,
        dispatched_units: row.dispatched_units,
        events,
    }))
}

impl AppState {
    /// Records a refused access in the audit log.
    pub async fn deny(
        &self,
        authed: &Authed,
        object_type: &str,
        object_id: &str,
    ) -> Result<(), ApiError> {
        let session = &authed.0;
        self.storage
            .append_audit(AuditDraft::new("ACCESS_DENIED", object_type, object_id).by(
                &session.user.id,
                session.user.role,
                Some(session.device.id),
            ))
            .await?;
        tracing::warn!(user = %session.user.username, object_type, object_id, "access denied");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn report(id: Uuid) -> serde_json::Value {
        json!({
            "id": id, "case_id": Uuid::now_v7(),
            "action": { "kind": "REPORT", "category": "COMMON_AREA_CLUTTER", "estate_id": "changchunli",
                        "building": "3号楼", "unit_no": "2单元", "description": "楼道堆放杂物" },
            "actor": { "user_id": "x", "role": "inspector", "unit_id": "x" },
            "device_time": "2026-11-27T08:00:00Z",
            "photos": [],
        })
    }

    #[test]
    fn a_well_formed_batch_and_one_with_a_malformed_event_parse_to_the_same_events() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let good: Vec<serde_json::Value> = ids.iter().map(|id| report(*id)).collect();
        let all_good =
            parse_push(&serde_json::to_vec(&json!({ "protocol": 1, "events": good })).unwrap())
                .unwrap();
        assert_eq!(all_good.protocol, 1);
        assert!(all_good.slots.iter().all(Option::is_none));
        assert_eq!(all_good.events.len(), 3);

        let mut mixed = good.clone();
        let bad_id = Uuid::now_v7();
        mixed.insert(1, json!({ "id": bad_id, "case_id": "not a uuid" }));
        let parsed =
            parse_push(&serde_json::to_vec(&json!({ "protocol": 1, "events": mixed })).unwrap())
                .unwrap();
        assert_eq!(parsed.slots.len(), 4);
        assert!(
            parsed.slots[0].is_none() && parsed.slots[2].is_none() && parsed.slots[3].is_none()
        );
        let rejected = parsed.slots[1]
            .as_ref()
            .expect("the malformed event has its result");
        assert_eq!(rejected.event_id, bad_id);
        assert!(
            matches!(&rejected.outcome, EventOutcome::Rejected { code, .. } if code == "MALFORMED_EVENT")
        );
        assert_eq!(parsed.events, all_good.events);
    }

    #[test]
    fn a_body_that_is_not_a_push_is_bad_json() {
        assert!(matches!(
            parse_push(b"{\"protocol\": 1}"),
            Err(ApiError::BadJson(_))
        ));
        assert!(matches!(parse_push(b"not json"), Err(ApiError::BadJson(_))));
    }
}
