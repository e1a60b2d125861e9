//! Service requests: `GET/POST requests.{json,xml}`, `GET requests/{id}.{json,xml}`,
//! `GET tokens/{token}.{json,xml}`.
//!
//! A POSTed request becomes a REPORT event of the caller and goes through the same
//! [`crate::storage::Storage::ingest`] as a phone's push: same workflow check, same routing at
//! ingest, same audit entry. Requests are created synchronously, so a token is the
//! service_request_id itself.
//!
//! The case number (案件编号, e.g. `和平-20261204-0012`, issue 13) is not a GeoReport v2 field.
//! `service_request_id` stays the case id (a client stores it and asks for it back); the number
//! is given twice: as the extra element `case_number` on every request record (GeoReport v2
//! responses are open lists of named elements — a client ignores elements it does not know, the
//! way the Chicago/Open311 extensions add theirs), and at the start of `service_notice`, the
//! standard free-text field clients show residents, so any client shows the number people
//! quote on the phone.

use axum::body::Body;
use axum::extract::{RawQuery, State};

use crate::http::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use xuncha_core::catalog::Category;
use xuncha_core::geo::GpsFix;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::time::{format_local, rfc3339_local};
use xuncha_core::workflow::{Action, Case, CaseStatus, Event};

use super::error::Open311Error;
use super::format::{Document, Format, Record, Value};
use super::{Params, caller, place, public};
use crate::http::app::AppState;
use crate::policy::access;
use crate::policy::catalog::Catalog;
use crate::policy::ingest;
use crate::policy::refusal::RefusalKind;
use crate::storage::{CaseQuery, CaseRow, CaseScope, CaseSort, IngestBatch};

/// Largest POST body: a description of at most [`MAX_DESCRIPTION_CHARS`] plus the other fields.
const MAX_POST_BYTES: usize = 64 * 1024;
/// GeoReport v2 limits descriptions to 4,000 characters.
const MAX_DESCRIPTION_CHARS: usize = 4000;
/// GeoReport v2: a search spans at most 90 days and defaults to the most recent 90.
const MAX_SEARCH_DAYS: i64 = 90;
/// GeoReport v2: at most 1,000 requests per search by default.
const MAX_SEARCH_RESULTS: usize = 1000;
/// ISO 8601 with the Beijing offset, e.g. `2026-11-27T17:30:05+08:00`; never panics, even for a
/// device time at the end of chrono's range (`xuncha_core::time::rfc3339_local`).
pub fn iso_local(at: DateTime<Utc>) -> String {
    rfc3339_local(at)
}

fn status(case: &Case) -> &'static str {
    if case.status.is_open() {
        "open"
    } else {
        "closed"
    }
}

/// The status note. Everyone reads the residents' text of the status (data:
/// `server/data/open311-public-status.toml`); a caller who may see the case also reads the staff
/// reason, but only while it explains the current status (returned, sent back for rework,
/// cancelled), never a stale one on a later status.
fn status_notes(case: &Case, detailed: bool) -> String {
    let mut notes = public::status_note(case.status);
    let current_reason = matches!(
        case.status,
        CaseStatus::Returned | CaseStatus::Reopened | CaseStatus::Cancelled
    );
    if detailed
        && current_reason
        && let Some(reason) = case.last_reason.as_deref().filter(|r| !r.trim().is_empty())
    {
        notes.push_str("（原因：");
        notes.push_str(reason.trim());
        notes.push('）');
    }
    notes
}

/// The case number, then what happens next and by when, in Beijing time.
fn service_notice(row: &CaseRow) -> String {
    let next = next_step(&row.case);
    match row.number.as_deref() {
        Some(number) => format!("案件编号 {number}。{next}"),
        None => next,
    }
}

/// What happens next and by when, in Beijing time.
fn next_step(case: &Case) -> String {
    match case.status {
        CaseStatus::Closed => match case.closed_at {
            Some(at) => format!("已于 {} 核查结案", format_local(at)),
            None => "已核查结案".to_owned(),
        },
        CaseStatus::Cancelled => "已作废".to_owned(),
        CaseStatus::ResolvedOnSite => "现场劝阻已解决，待核查结案".to_owned(),
        _ => match (case.assigned_unit.as_ref(), case.handle_due) {
            (Some(_), Some(due)) => {
                format!("责任单位应于 {} 前处置完毕（北京时间）", format_local(due))
            }
            _ => format!(
                "街道办事处应于 {} 前派遣责任单位（北京时间）",
                format_local(case.dispatch_due)
            ),
        },
    }
}

/// The concrete unit answerable now: the unit the case is dispatched to, else the owner that
/// routing chose at ingest.
pub fn agency_responsible(row: &CaseRow, catalog: &Catalog) -> Option<String> {
    if let Some(unit_id) = row.case.assigned_unit.as_deref() {
        return Some(
            catalog
                .unit(unit_id)
                .map_or_else(|| unit_id.to_owned(), |u| u.name.clone()),
        );
    }
    row.routing
        .as_ref()?
        .pointer("/owner/name")?
        .as_str()
        .map(str::to_owned)
}

/// The address. Public: the estate (district, street, estate name) and the building. In detail:
/// also the unit and the reporter's location note.
fn address(case: &Case, catalog: &Catalog, detailed: bool) -> Option<String> {
    let estate = catalog.estates().get(&case.estate_id)?;
    let mut parts = vec![format!(
        "天津市{}{}{}",
        estate.district, estate.street, estate.name
    )];
    let details: &[&Option<String>] = if detailed {
        &[&case.building, &case.unit_no, &case.location_note]
    } else {
        &[&case.building]
    };
    parts.extend(
        details
            .iter()
            .copied()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .cloned(),
    );
    Some(parts.join(" "))
}

/// One case as an Open311 request, fields in the spec's order. Without `detailed` this is the
/// public view ([`public`]): no description, no location note, the estate's centre instead of the
/// reported coordinates, the residents' status note. `detailed` (a signed-in caller who may see
/// the case, `access::can_see_case`) adds the description, the full address, the exact
/// coordinates and the current staff reason.
pub fn request_record(row: &CaseRow, catalog: &Catalog, detailed: bool) -> Record {
    let case = &row.case;
    let point = if detailed {
        case.location.as_ref().map(|fix| (fix.lat, fix.lon))
    } else {
        catalog
            .estates()
            .get(&case.estate_id)
            .and_then(public::estate_centre)
    };
    let (lat, long) = match point {
        Some((lat, lon)) => (Value::Float(lat), Value::Float(lon)),
        None => (Value::Null, Value::Null),
    };
    let description = if detailed {
        case.description.clone()
    } else {
        None
    };
    let expected = case
        .assigned_unit
        .as_ref()
        .and(case.handle_due)
        .map(iso_local);
    Record::new("request")
        .field("service_request_id", case.id.to_string())
        .field("case_number", row.number.clone())
        .field("status", status(case))
        .field("status_notes", status_notes(case, detailed))
        .field("service_name", case.category.info().name_zh)
        .field("service_code", case.category.code())
        .field("description", description)
        .field("agency_responsible", agency_responsible(row, catalog))
        .field("service_notice", service_notice(row))
        .field("requested_datetime", iso_local(case.reported_at))
        .field("updated_datetime", iso_local(case.updated_at))
        .field("expected_datetime", expected)
        .field("address", address(case, catalog, detailed))
        .field("address_id", case.estate_id.clone())
        .field("zipcode", Value::Null)
        .field("lat", lat)
        .field("long", long)
        // Photos need a signed-in user; there is no public media URL.
        .field("media_url", Value::Null)
}

fn requests_document(records: Vec<Record>) -> Document {
    Document::List {
        root: "service_requests",
        records,
    }
}

fn parse_time(params: &Params, name: &'static str) -> Result<Option<DateTime<Utc>>, Open311Error> {
    params
        .get(name)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| Open311Error::InvalidParameter {
                    name,
                    message: format!("{text:?} is not an ISO 8601 date-time with offset ({e})"),
                })
        })
        .transpose()
}

/// What `GET requests` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// When given, the other filters are ignored (GeoReport v2).
    pub ids: Option<Vec<String>>,
    pub categories: Option<Vec<Category>>,
    /// `Some(true)` open only, `Some(false)` closed only.
    pub open: Option<bool>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn comma_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl Search {
    pub fn from_params(params: &Params, now: DateTime<Utc>) -> Result<Search, Open311Error> {
        let ids = params
            .get("service_request_id")
            .map(|t| comma_list(t).map(str::to_owned).collect());
        let categories = params
            .get("service_code")
            .map(|text| {
                comma_list(text)
                    .map(|code| {
                        Category::from_code(code).ok_or_else(|| Open311Error::InvalidParameter {
                            name: "service_code",
                            message: format!("unknown service_code {code:?} (see services.json)"),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let open = match params.get("status") {
            None => None,
            Some(text) => {
                let (mut open, mut closed) = (false, false);
                for word in comma_list(text) {
                    match word {
                        "open" => open = true,
                        "closed" => closed = true,
                        other => {
                            return Err(Open311Error::InvalidParameter {
                                name: "status",
                                message: format!("{other:?} is neither open nor closed"),
                            });
                        }
                    }
                }
                if open == closed { None } else { Some(open) }
            }
        };
        let window = Duration::days(MAX_SEARCH_DAYS);
        let (start, end) = match (
            parse_time(params, "start_date")?,
            parse_time(params, "end_date")?,
        ) {
            (Some(start), Some(end)) => (start, end),
            // Checked: a start near the end of chrono's range must not panic (issue 11 item 1).
            (Some(start), None) => (
                start,
                start
                    .checked_add_signed(window)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
            (None, Some(end)) => (
                end.checked_sub_signed(window)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
                end,
            ),
            (None, None) => (
                now.checked_sub_signed(window)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
                now,
            ),
        };
        if end < start {
            return Err(Open311Error::InvalidParameter {
                name: "end_date",
                message: "end_date is before start_date".to_owned(),
            });
        }
        if end - start > window {
            return Err(Open311Error::InvalidParameter {
                name: "start_date",
                message: format!("a search may span at most {MAX_SEARCH_DAYS} days"),
            });
        }
        Ok(Search {
            ids,
            categories,
            open,
            start,
            end,
        })
    }

    /// The storage query for this search; `None` when the ids asked for cannot exist.
    pub fn to_query(&self, now: DateTime<Utc>) -> Option<CaseQuery> {
        let mut query = CaseQuery::new(CaseScope::All, now);
        query.sort = CaseSort::Newest;
        query.limit = MAX_SEARCH_RESULTS;
        if let Some(ids) = &self.ids {
            // GeoReport v2: with ids, the other filters are ignored.
            query.ids = ids
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok())
                .collect();
            return (!query.ids.is_empty()).then_some(query);
        }
        query.categories = self.categories.clone().unwrap_or_default();
        query.open = self.open;
        query.reported_from = Some(self.start);
        query.reported_to = Some(self.end);
        Some(query)
    }
}

/// Every case that matches, newest first, at most [`MAX_SEARCH_RESULTS`] (the storage case
/// query: GeoReport search is public, so the scope is every case; details are shown only for
/// cases the caller may see).
async fn search_cases(state: &AppState, search: &Search) -> Result<Vec<CaseRow>, Open311Error> {
    let Some(query) = search.to_query(Utc::now()) else {
        return Ok(Vec::new());
    };
    Ok(state.storage.query_cases(query).await?.rows)
}

async fn list(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
) -> Result<Document, Open311Error> {
    let params = Params::from_query(query.as_deref());
    let viewer = caller(&state, &headers, &Params::default()).await?;
    let search = Search::from_params(&params, Utc::now())?;
    let rows = search_cases(&state, &search).await?;
    let catalog = state.catalog();
    let records = rows
        .iter()
        .map(|row| {
            let detailed = viewer
                .as_ref()
                .is_some_and(|v| access::can_see_case(&v.0.user, &catalog, row));
            request_record(row, &catalog, detailed)
        })
        .collect();
    Ok(requests_document(records))
}

pub async fn list_json(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    respond(
        list(state, headers, query).await,
        Format::Json,
        StatusCode::OK,
    )
}

pub async fn list_xml(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    respond(
        list(state, headers, query).await,
        Format::Xml,
        StatusCode::OK,
    )
}

fn respond(result: Result<Document, Open311Error>, format: Format, status: StatusCode) -> Response {
    match result {
        Ok(document) => document.respond(format, status),
        Err(e) => e.respond(format),
    }
}

async fn case_row(state: &AppState, id: &str) -> Result<CaseRow, Open311Error> {
    let unknown = || Open311Error::UnknownRequest(id.to_owned());
    let case_id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let (row, _events) = state
        .storage
        .case_with_events(case_id)
        .await?
        .ok_or_else(unknown)?;
    Ok(row)
}

pub async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let (id, format) = match Format::split(&file) {
        Ok(split) => split,
        Err(e) => return e.respond(Format::Json),
    };
    let result = async {
        let viewer = caller(&state, &headers, &Params::default()).await?;
        let row = case_row(&state, id).await?;
        let catalog = state.catalog();
        let detailed = viewer
            .as_ref()
            .is_some_and(|v| access::can_see_case(&v.0.user, &catalog, &row));
        Ok(requests_document(vec![request_record(
            &row, &catalog, detailed,
        )]))
    }
    .await;
    respond(result, format, StatusCode::OK)
}

pub async fn token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, format) = match Format::split(&file) {
        Ok(split) => split,
        Err(e) => return e.respond(Format::Json),
    };
    let result = case_row(&state, token).await.map(|row| {
        requests_document(vec![
            Record::new("request")
                .field("service_request_id", row.case.id.to_string())
                .field("case_number", row.number.clone())
                .field("token", token),
        ])
    });
    respond(result, format, StatusCode::OK)
}

/// A validated POST: what the REPORT event is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub category: Category,
    pub lat: f64,
    pub long: f64,
    pub address_string: Option<String>,
    pub description: Option<String>,
}

fn parse_coordinate(
    params: &Params,
    name: &'static str,
    limit: f64,
) -> Result<Option<f64>, Open311Error> {
    params
        .get(name)
        .map(|text| {
            text.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && x.abs() <= limit)
                .ok_or_else(|| Open311Error::InvalidParameter {
                    name,
                    message: format!("{text:?} is not a WGS-84 coordinate within ±{limit}"),
                })
        })
        .transpose()
}

impl NewRequest {
    pub fn from_params(params: &Params) -> Result<NewRequest, Open311Error> {
        let code = params
            .get("service_code")
            .ok_or(Open311Error::MissingParameter("service_code"))?;
        let category = Category::from_code(code).ok_or_else(|| Open311Error::InvalidParameter {
            name: "service_code",
            message: format!("unknown service_code {code:?} (see services.json)"),
        })?;
        let lat = parse_coordinate(params, "lat", 90.0)?;
        let long = parse_coordinate(params, "long", 180.0)?;
        let (lat, long) = match (lat, long) {
            (Some(lat), Some(long)) => (lat, long),
            (None, None)
                if params.get("address_string").is_some() || params.get("address_id").is_some() =>
            {
                return Err(Open311Error::AddressNotSupported);
            }
            (None, _) => return Err(Open311Error::MissingParameter("lat")),
            (_, None) => return Err(Open311Error::MissingParameter("long")),
        };
        let description = params.get("description").map(str::to_owned);
        if let Some(text) = &description
            && text.chars().count() > MAX_DESCRIPTION_CHARS
        {
            return Err(Open311Error::InvalidParameter {
                name: "description",
                message: format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            });
        }
        Ok(NewRequest {
            category,
            lat,
            long,
            address_string: params.get("address_string").map(str::to_owned),
            description,
        })
    }
}

async fn create(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<Document, Open311Error> {
    if let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !content_type.starts_with("application/x-www-form-urlencoded")
    {
        return Err(Open311Error::UnsupportedContentType(
            content_type.to_owned(),
        ));
    }
    let bytes = crate::http::api::body_bytes(body, MAX_POST_BYTES).await?;
    let mut form = Params::default();
    form.extend_form(&bytes);
    let mut params = Params::from_query(query.as_deref());
    params.extend_form(&bytes);
    let authed = caller(&state, &headers, &form)
        .await?
        .ok_or(Open311Error::Api(
            crate::http::error::ApiError::Unauthenticated,
        ))?;
    let request = NewRequest::from_params(&params)?;
    let catalog = state.catalog();
    let now = ingest::now();
    let estate = place::locate(&catalog, request.lat, request.long, now).ok_or(
        Open311Error::OutsideManagedEstates {
            lat: request.lat,
            long: request.long,
        },
    )?;
    let event = Event {
        id: xuncha_core::ids::new_id(),
        case_id: xuncha_core::ids::new_id(),
        action: Action::Report {
            category: request.category,
            estate_id: estate.id.clone(),
            building: None,
            unit_no: None,
            location_note: request.address_string,
            description: request.description,
        },
        actor: authed.actor(),
        device_time: now,
        server_time: None,
        gps: Some(GpsFix {
            lat: request.lat,
            lon: request.long,
            accuracy_m: None,
            provider: Some("open311".to_owned()),
        }),
        photos: Vec::new(),
        note: None,
    };
    let case_id = event.case_id;
    let results = state
        .storage
        .ingest(IngestBatch {
            actor: authed.actor(),
            device_id: authed.0.device.id,
            events: vec![event],
            catalog: catalog.clone(),
            now,
            max_device_skew: state.config.limits.max_device_skew(),
            verify_max_distance_m: state.config.verify_max_distance_m,
        })
        .await?;
    match results.into_iter().next().map(|r| r.outcome) {
        Some(EventOutcome::Applied { .. } | EventOutcome::Duplicate { .. }) => {}
        Some(EventOutcome::Rejected { code, message }) => {
            return Err(Open311Error::Refused {
                kind: RefusalKind::of_code(&code),
                code,
                message,
            });
        }
        None => {
            return Err(Open311Error::Api(crate::http::error::ApiError::Internal(
                "ingest returned no result".to_owned(),
            )));
        }
    }
    let row = case_row(&state, &case_id.to_string()).await?;
    tracing::info!(case_id = %case_id, estate = %row.case.estate_id, category = %row.case.category, "Open311 request placed");
    Ok(requests_document(vec![
        Record::new("request")
            .field("service_request_id", case_id.to_string())
            .field("case_number", row.number.clone())
            .field("service_notice", service_notice(&row))
            .field("account_id", Value::Null)
            .field("agency_responsible", agency_responsible(&row, &catalog)),
    ]))
}

pub async fn create_json(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    respond(
        create(state, headers, query, body).await,
        Format::Json,
        StatusCode::OK,
    )
}

pub async fn create_xml(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    respond(
        create(state, headers, query, body).await,
        Format::Xml,
        StatusCode::OK,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn params(query: &str) -> Params {
        Params::from_query(Some(query))
    }

    #[test]
    fn times_are_beijing_iso_8601() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T09:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(iso_local(at), "2026-11-27T17:30:05+08:00");
    }

    #[test]
    fn post_needs_coordinates_not_addresses() {
        let err = NewRequest::from_params(&params(
            "service_code=GARBAGE&address_string=%E9%95%BF%E6%98%A5%E9%87%8C",
        ))
        .unwrap_err();
        assert_eq!(err.code(), "ADDRESS_NOT_SUPPORTED");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = NewRequest::from_params(&params("service_code=GARBAGE&lat=39.1")).unwrap_err();
        assert_eq!(err.code(), "MISSING_PARAMETER");
        let err =
            NewRequest::from_params(&params("service_code=GARBAGE&lat=91&long=117")).unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMETER");
        let err = NewRequest::from_params(&params("service_code=POTHOLE&lat=39.1&long=117.2"))
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMETER");
        let ok = NewRequest::from_params(&params(
            "service_code=GARBAGE&lat=39.1135&long=117.1930&description=%E5%9E%83%E5%9C%BE",
        ))
        .unwrap();
        assert_eq!(ok.category, Category::Garbage);
        assert_eq!(ok.description.as_deref(), Some("垃圾"));
    }

    #[test]
    fn search_defaults_and_limits() {
        let now = Utc::now();
        let all = Search::from_params(&params(""), now).unwrap();
        assert_eq!(all.end - all.start, Duration::days(90));
        let too_long = Search::from_params(
            &params("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"),
            now,
        );
        assert_eq!(too_long.unwrap_err().code(), "INVALID_PARAMETER");
        let bad_status = Search::from_params(&params("status=pending"), now);
        assert_eq!(bad_status.unwrap_err().code(), "INVALID_PARAMETER");
        let open =
            Search::from_params(&params("status=open&service_code=GARBAGE,ELEVATOR"), now).unwrap();
        assert_eq!(open.open, Some(true));
        assert_eq!(
            open.categories,
            Some(vec![Category::Garbage, Category::Elevator])
        );
        let both = Search::from_params(&params("status=open,closed"), now).unwrap();
        assert_eq!(both.open, None);
        let date =
            Search::from_params(&params("start_date=2026-11-01T00:00:00%2B08:00"), now).unwrap();
        assert_eq!(iso_local(date.start), "2026-11-01T00:00:00+08:00");
    }

    #[test]
    fn agency_is_the_routed_owner_until_dispatch_then_the_assignee() {
        use xuncha_core::routing::{RoutingRules, route};
        let estates = xuncha_core::demo::estates().unwrap();
        let directory = xuncha_core::demo::units().unwrap();
        let catalog = Catalog::new(
            estates.iter().map(|e| (e.id.clone(), e.clone())).collect(),
            directory.units().to_vec(),
            None,
        );
        let pingshandao = &catalog.estates()["pingshandao"];
        let decision = route(
            &RoutingRules::builtin().unwrap(),
            &directory,
            Category::StreetLight,
            pingshandao,
        )
        .unwrap();
        assert_eq!(
            decision.owner.unit_type,
            xuncha_core::UnitType::StateGrid,
            "平山道's lamps are the grid's"
        );
        let at = Utc::now();
        let reporter = xuncha_core::Actor {
            user_id: "u".to_owned(),
            role: xuncha_core::Role::Inspector,
            unit_id: "c".to_owned(),
        };
        let report = Event {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            action: Action::Report {
                category: Category::StreetLight,
                estate_id: "pingshandao".to_owned(),
                building: Some("2号楼".to_owned()),
                unit_no: None,
                location_note: None,
                description: None,
            },
            actor: reporter,
            device_time: at,
            server_time: Some(at),
            gps: None,
            photos: Vec::new(),
            note: None,
        };
        let case = xuncha_core::workflow::apply(None, &report).unwrap();
        let mut row = CaseRow {
            case,
            routing: Some(serde_json::to_value(&decision).unwrap()),
            dispatched_units: Vec::new(),
            seq: 1,
            number: Some("和平-20261204-0001".into()),
        };
        assert_eq!(
            agency_responsible(&row, &catalog),
            Some(decision.owner.name.clone())
        );
        let record = request_record(&row, &catalog, false);
        let json = Document::Single(record).to_json();
        assert_eq!(json["agency_responsible"], decision.owner.name.as_str());
        assert!(
            json["address"]
                .as_str()
                .unwrap()
                .contains("平山道小区 2号楼"),
            "{json}"
        );
        let street_office = directory
            .units()
            .iter()
            .find(|u| u.unit_type == xuncha_core::UnitType::StreetOffice)
            .unwrap();
        row.case.assigned_unit = Some(street_office.id.clone());
        assert_eq!(
            agency_responsible(&row, &catalog),
            Some(street_office.name.clone())
        );
    }
}
