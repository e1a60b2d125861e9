//! Joint meeting (联席会议, policy 三(三)5): the agenda is every open case that is overdue, returned
//! or reopened; minutes are recorded against a case as a typed MINUTES event (member unit + text)
//! that only the street office of the case's street may write (the workflow admits only the
//! street-office role; ingest's case visibility admits only the case's street). Minutes therefore
//! travel the normal ingest path (audit log, sync to phones) and need no table of their own. A
//! COMMENT is never minutes, whatever its note says: older builds marked minutes with a note
//! prefix, and such comments stay readable as plain comments.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use xuncha_core::time::format_local;
use xuncha_core::workflow::{Action, Event};
use xuncha_core::{Case, CaseStatus, OrgUnit, Role};

use super::error::{BadInput, Forbidden, WebError};
use super::layout::{
    case_label, csrf_field, head_row, html_response, page, status_badge, unit_options,
};
use super::problem::Problem;
use super::queue::{Names, current_deadline, is_overdue};
use super::reader::ScopedReader;
use super::web::submit_event;
use crate::http::app::AppState;

pub async fn meeting_page(reader: ScopedReader) -> Result<Response, WebError> {
    render_meeting(&reader, None, StatusCode::OK).await
}

/// The agenda page, with a refused minutes form (if any) filled again and its error beside it.
async fn render_meeting(
    reader: &ScopedReader,
    refused: Option<&MinutesRefused>,
    status: StatusCode,
) -> Result<Response, WebError> {
    // The agenda draws only on open cases; events are read for the cases on it.
    let mut query = reader.query();
    query.open = Some(true);
    let now = Utc::now();
    let mut rows = reader.all(query).await?;
    rows.retain(|r| !agenda_reasons(&r.case, now).is_empty());
    let events = reader.events_of(&rows).await?;
    let numbers: CaseNumbers = rows
        .iter()
        .filter_map(|r| Some((r.case.id, r.number.clone()?)))
        .collect();
    let cases: Vec<Case> = rows.into_iter().map(|r| r.case).collect();
    let estates = reader.estates();
    let names = Names::new(&estates, reader.catalog().units());
    let items = agenda(&cases, now);
    let web = reader.web();
    let own_district = reader.own_district();
    let recording = (web.user().role == Role::StreetOffice).then_some(Recording {
        csrf: web.csrf_token.as_str(),
        own_district: own_district.as_deref(),
        refused,
    });
    let body = html! {
        // A refused form whose case is no longer on the agenda: its error and text up here.
        @if let Some(r) = refused.filter(|r| !items.iter().any(|(c, _)| c.id.to_string() == r.case_id)) {
            (r.problem.render())
            p.meta.typed { "您填写的纪要：" (r.text) }
        }
        (render_agenda(&items, &events, &numbers, &names, now, recording.as_ref()))
    };
    let frame = web.frame();
    let html = page("联席会议议程", "/dashboard/meeting", Some(&frame), body);
    Ok((status, html_response(html)).into_response())
}

#[derive(Deserialize)]
pub struct MinutesForm {
    #[serde(default)]
    csrf: String,
    case_id: String,
    unit_id: String,
    text: String,
}

/// A minutes form the server refused: what was sent, and why.
#[derive(Debug, Clone)]
pub struct MinutesRefused {
    pub case_id: String,
    pub unit_id: String,
    pub text: String,
    pub problem: Problem,
}

/// What the street office's minutes forms need.
pub struct Recording<'a> {
    pub csrf: &'a str,
    /// The clerk's district: its units head the member-unit lists.
    pub own_district: Option<&'a str>,
    pub refused: Option<&'a MinutesRefused>,
}

pub async fn record_minutes(
    State(state): State<AppState>,
    reader: ScopedReader,
    crate::http::extract::Form(form): crate::http::extract::Form<MinutesForm>,
) -> Result<Response, WebError> {
    let web = reader.web();
    web.check_csrf(&form.csrf)?;
    if web.user().role != Role::StreetOffice {
        return Err(WebError::Forbidden(Forbidden::MinutesStreetOfficeOnly));
    }
    // A refusal answers the agenda with the form as it was sent.
    let refuse = |bad: BadInput| {
        let refused = MinutesRefused {
            case_id: form.case_id.clone(),
            unit_id: form.unit_id.clone(),
            text: form.text.clone(),
            problem: bad.problem(),
        };
        let reader = &reader;
        async move { render_meeting(reader, Some(&refused), StatusCode::UNPROCESSABLE_ENTITY).await }
    };
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > MAX_MINUTES_CHARS {
        return refuse(BadInput::MinutesText(MAX_MINUTES_CHARS)).await;
    }
    if reader.catalog().unit(&form.unit_id).is_none() {
        return refuse(BadInput::UnknownUnit(form.unit_id.clone())).await;
    }
    let (row, _) = reader.case(&form.case_id).await?;
    let minutes = Action::Minutes {
        unit_id: form.unit_id.clone(),
        text: text.to_owned(),
    };
    match submit_event(&state, web, row.case.id, minutes, Vec::new(), None).await? {
        Ok(_) => Ok(Redirect::to("/dashboard/meeting").into_response()),
        Err(refusal) => refuse(BadInput::MinutesRefused(refusal)).await,
    }
}

/// Why a case is on the agenda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgendaReason {
    Overdue,
    Returned,
    Reopened,
}

impl AgendaReason {
    pub fn name_zh(self) -> &'static str {
        match self {
            AgendaReason::Overdue => "超期",
            AgendaReason::Returned => "退回",
            AgendaReason::Reopened => "返工",
        }
    }
}

/// Reasons an open case belongs on the agenda; empty if it does not. Returned/reopened count
/// when it happened at any time in the case's life, since a repeat is what the meeting is for.
pub fn agenda_reasons(case: &Case, now: DateTime<Utc>) -> Vec<AgendaReason> {
    if !case.status.is_open() {
        return Vec::new();
    }
    let mut reasons = Vec::new();
    if is_overdue(case, now) {
        reasons.push(AgendaReason::Overdue);
    }
    if case.status == CaseStatus::Returned || case.return_count > 0 {
        reasons.push(AgendaReason::Returned);
    }
    if case.status == CaseStatus::Reopened || case.rework_count > 0 {
        reasons.push(AgendaReason::Reopened);
    }
    reasons
}

/// The agenda: cases with their reasons, most overdue first.
pub fn agenda(cases: &[Case], now: DateTime<Utc>) -> Vec<(&Case, Vec<AgendaReason>)> {
    let mut items: Vec<(&Case, Vec<AgendaReason>)> = cases
        .iter()
        .map(|c| (c, agenda_reasons(c, now)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    items.sort_by_key(|(c, _)| {
        (
            current_deadline(c).is_none(),
            current_deadline(c),
            c.reported_at,
        )
    });
    items
}

/// Minutes recorded in an event, if it is a MINUTES event: (member unit id, text).
pub fn parse_minutes(event: &Event) -> Option<(&str, &str)> {
    match &event.action {
        Action::Minutes { unit_id, text } => Some((unit_id.as_str(), text.as_str())),
        _ => None,
    }
}

/// Case id → case number (案件编号) of the cases on the agenda.
pub type CaseNumbers = std::collections::HashMap<uuid::Uuid, String>;

/// Limits on what a minutes form may carry.
pub const MAX_MINUTES_CHARS: usize = 2000;

/// The agenda page body: a printable table, each case with its recorded minutes and, for the
/// street office (`record`), a form to record more.
pub fn render_agenda(
    items: &[(&Case, Vec<AgendaReason>)],
    events: &[Event],
    numbers: &CaseNumbers,
    names: &Names<'_>,
    now: DateTime<Utc>,
    record: Option<&Recording<'_>>,
) -> Markup {
    let units: Vec<&OrgUnit> = names.units.values().copied().collect();
    html! {
        p.meta {
            "依据《天津市人民政府办公厅关于进一步加强本市旧楼区提升改造后长效管理的意见》三(三)5，由街道办事处组织，议题为本辖区超期、退回、返工案件，纪要由街道办事处整理保管。"
            "生成时间 " (format_local(now)) "（北京时间）。"
            button type="button" class="no-print" data-print="1" { "打印议程" }
        }
        @if items.is_empty() {
            p.empty { "当前没有需要提交联席会议的案件。" }
        } @else {
            table.agenda id="agenda" {
                (head_row(&["序号", "案件", "状态", "列入原因", "责任单位", "期限", "会议纪要"]))
                tbody {
                    @for (i, (case, reasons)) in items.iter().enumerate() {
                        (agenda_row(i + 1, case, numbers.get(&case.id).map(String::as_str), reasons, events, names, &units, record))
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn agenda_row(
    n: usize,
    case: &Case,
    number: Option<&str>,
    reasons: &[AgendaReason],
    events: &[Event],
    names: &Names<'_>,
    units: &[&OrgUnit],
    record: Option<&Recording<'_>>,
) -> Markup {
    let reasons_zh: Vec<&str> = reasons.iter().map(|r| r.name_zh()).collect();
    html! {
        tr {
            td { (n) }
            td {
                a.case-number href={ "/dashboard/cases/" (case.id) } { (case_label(number, case.id)) }
                " "
                a href={ "/dashboard/cases/" (case.id) } { (case.category.info().name_zh) }
                br;
                (names.estate(&case.estate_id)) " " (case.building.as_deref().unwrap_or(""))
            }
            td { (status_badge(case.status)) }
            td { (reasons_zh.join("、")) }
            td { (case.assigned_unit.as_deref().map_or("", |u| names.unit(u))) }
            td { (current_deadline(case).map(format_local).unwrap_or_default()) }
            td {
                ul.minutes-list {
                    @for event in events.iter().filter(|e| e.case_id == case.id) {
                        @if let Some((unit_id, text)) = parse_minutes(event) {
                            li {
                                b { (names.unit(unit_id)) } "：" (text) " "
                                span.meta { "（" (event.actor.user_id) "，" (format_local(event.effective_time())) "）" }
                            }
                        }
                    }
                }
                @if let Some(record) = record {
                    (minutes_form(case, units, record))
                }
            }
        }
    }
}

/// The street office's form to record minutes against one case; filled again, with its error,
/// when it is the form the server just refused.
fn minutes_form(case: &Case, units: &[&OrgUnit], record: &Recording<'_>) -> Markup {
    let refused = record.refused.filter(|r| r.case_id == case.id.to_string());
    let unit = refused.map_or(case.assigned_unit.as_deref().unwrap_or(""), |r| {
        r.unit_id.as_str()
    });
    html! {
        form method="post" action="/dashboard/meeting/minutes" class="minutes no-print"
            id={ "minutes-" (case.id) } {
            (csrf_field(record.csrf))
            input type="hidden" name="case_id" value=(case.id);
            @if let Some(r) = refused { (r.problem.render()) }
            select name="unit_id" required {
                option value="" { "成员单位…" }
                (unit_options(units, record.own_district, unit))
            }
            textarea name="text" rows="2" maxlength=(MAX_MINUTES_CHARS) required placeholder="议定事项" {
                (refused.map_or("", |r| r.text.as_str()))
            }
            button type="submit" { "记录纪要" }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::http::dashboard::fixtures::{at, case};
    use uuid::Uuid;
    use xuncha_core::{Actor, Category, Role};

    #[test]
    fn agenda_rows_are_named_by_case_number() {
        let now = at(27, 0);
        let overdue = case(
            2,
            CaseStatus::Reported,
            Category::StreetLight,
            "e",
            at(20, 0),
        );
        let unnumbered = case(
            3,
            CaseStatus::Returned,
            Category::StreetLight,
            "e",
            at(26, 0),
        );
        let cases = vec![overdue, unnumbered];
        let items = agenda(&cases, now);
        let numbers: CaseNumbers = [(Uuid::from_u128(2), "和平-20261120-0007".to_owned())].into();
        let names = Names::new(&[], &[]);
        let html = render_agenda(&items, &[], &numbers, &names, now, None).into_string();
        assert!(html.contains("和平-20261120-0007"), "{html}");
        // A row read without a number falls back to the id's first 8 characters.
        assert!(
            html.contains(&Uuid::from_u128(3).simple().to_string()[..8]),
            "{html}"
        );
    }

    #[test]
    fn agenda_takes_overdue_returned_and_reopened_open_cases() {
        let now = at(27, 0);
        let fresh = case(
            1,
            CaseStatus::Reported,
            Category::GroundLock,
            "e",
            at(26, 12),
        );
        let overdue = case(
            2,
            CaseStatus::Reported,
            Category::StreetLight,
            "e",
            at(20, 0),
        );
        // Dissuasion first: the committee has not escalated, so no dispatch deadline runs yet.
        let waiting = case(
            6,
            CaseStatus::Reported,
            Category::GroundLock,
            "e",
            at(20, 0),
        );
        let returned = case(
            3,
            CaseStatus::Returned,
            Category::StreetLight,
            "e",
            at(26, 12),
        );
        let mut reworked = case(
            4,
            CaseStatus::Accepted,
            Category::StreetLight,
            "e",
            at(26, 12),
        );
        reworked.rework_count = 1;
        reworked.handle_due = Some(at(30, 0));
        let closed_overdue = case(5, CaseStatus::Closed, Category::GroundLock, "e", at(1, 0));
        let cases = vec![fresh, overdue, returned, reworked, closed_overdue, waiting];
        let items = agenda(&cases, now);
        let got: Vec<(u128, Vec<AgendaReason>)> = items
            .iter()
            .map(|(c, r)| (c.id.as_u128(), r.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, vec![AgendaReason::Overdue]),
                (3, vec![AgendaReason::Returned]),
                (4, vec![AgendaReason::Reopened]),
            ]
        );
    }

    #[test]
    fn minutes_are_a_typed_event_and_a_marked_comment_is_not() {
        let event = Event {
            id: Uuid::from_u128(9),
            case_id: Uuid::from_u128(1),
            action: Action::Minutes {
                unit_id: "heping.city_management".into(),
                text: "三日内拆除地锁".into(),
            },
            actor: Actor {
                user_id: "u".into(),
                role: Role::StreetOffice,
                unit_id: "s".into(),
            },
            device_time: at(27, 0),
            server_time: None,
            gps: None,
            photos: vec![],
            note: None,
        };
        assert_eq!(
            parse_minutes(&event),
            Some(("heping.city_management", "三日内拆除地锁"))
        );
        // What older builds stored as minutes: now only a comment.
        let forged = Event {
            action: Action::Comment,
            note: Some("【联席会议纪要】heping.city_management｜三日内拆除地锁".into()),
            ..event.clone()
        };
        assert_eq!(parse_minutes(&forged), None);
        let not_comment = Event {
            action: Action::Accept,
            ..event
        };
        assert_eq!(parse_minutes(&not_comment), None);
    }
}
