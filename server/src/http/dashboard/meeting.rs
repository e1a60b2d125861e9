//! Joint meeting (联席会议, policy 三(三)5): the agenda is every open case that is overdue, returned
//! or reopened; minutes are recorded against a case as a typed MINUTES event (member unit + text)
//! that only the street office of the case's street may write (the workflow admits only the
//! street-office role; ingest's case visibility admits only the case's street). Minutes therefore
//! travel the normal ingest path (audit log, sync to phones) and need no table of their own. A
//! COMMENT is never minutes, whatever its note says: older builds marked minutes with a note
//! prefix, and such comments stay readable as plain comments.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use xuncha_core::time::format_local;
use xuncha_core::workflow::{Action, Event};
use xuncha_core::{Case, CaseStatus};

use super::html::{csrf_field, esc, options};
use super::queue::{Names, current_deadline, is_overdue, status_badge};

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

/// Limits on what a minutes form may carry.
pub const MAX_MINUTES_CHARS: usize = 2000;

/// The agenda page body: a printable table, each case with its recorded minutes and (for the
/// street office) a form to record more.
pub fn render_agenda(
    items: &[(&Case, Vec<AgendaReason>)],
    events: &[Event],
    names: &Names<'_>,
    now: DateTime<Utc>,
    can_record: bool,
    csrf_token: &str,
) -> String {
    let mut out = format!(
        "<p class=\"meta\">依据《天津市人民政府办公厅关于进一步加强本市旧楼区提升改造后长效管理的意见》三(三)5，由街道办事处组织，议题为本辖区超期、退回、返工案件，纪要由街道办事处整理保管。\
         生成时间 {}（北京时间）。<button type=\"button\" class=\"no-print\" data-print=\"1\">打印议程</button></p>",
        format_local(now)
    );
    if items.is_empty() {
        out.push_str("<p class=\"empty\">当前没有需要提交联席会议的案件。</p>");
        return out;
    }
    let unit_choices: Vec<(&str, &str)> = names
        .units
        .values()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    out.push_str(
        "<table class=\"agenda\" id=\"agenda\"><thead><tr><th>序号</th><th>案件</th><th>状态</th>\
         <th>列入原因</th><th>责任单位</th><th>期限</th><th>会议纪要</th></tr></thead><tbody>",
    );
    for (i, (case, reasons)) in items.iter().enumerate() {
        let reasons_zh: Vec<&str> = reasons.iter().map(|r| r.name_zh()).collect();
        let mut minutes = String::new();
        for event in events.iter().filter(|e| e.case_id == case.id) {
            if let Some((unit_id, text)) = parse_minutes(event) {
                let _ = write!(
                    minutes,
                    "<li><b>{}</b>：{} <span class=\"meta\">（{}，{}）</span></li>",
                    esc(names.unit(unit_id)),
                    esc(text),
                    esc(&event.actor.user_id),
                    format_local(event.effective_time())
                );
            }
        }
        let form = if can_record {
            format!(
                "<form method=\"post\" action=\"/dashboard/meeting/minutes\" class=\"minutes no-print\">{csrf}\
                 <input type=\"hidden\" name=\"case_id\" value=\"{id}\">\
                 <select name=\"unit_id\" required><option value=\"\">成员单位…</option>{units}</select>\
                 <textarea name=\"text\" rows=\"2\" maxlength=\"{MAX_MINUTES_CHARS}\" required placeholder=\"议定事项\"></textarea>\
                 <button type=\"submit\">记录纪要</button></form>",
                csrf = csrf_field(csrf_token),
                id = case.id,
                units = options(
                    unit_choices.iter().copied(),
                    case.assigned_unit.as_deref().unwrap_or("")
                ),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><td>{n}</td><td><a href=\"/dashboard/cases/{id}\">{category}</a><br>{estate} {place}</td>\
             <td>{badge}</td><td>{reasons}</td><td>{unit}</td><td>{due}</td>\
             <td><ul class=\"minutes-list\">{minutes}</ul>{form}</td></tr>",
            n = i + 1,
            id = case.id,
            category = esc(case.category.info().name_zh),
            estate = esc(names.estate(&case.estate_id)),
            place = esc(case.building.as_deref().unwrap_or("")),
            badge = status_badge(case.status),
            reasons = reasons_zh.join("、"),
            unit = esc(case.assigned_unit.as_deref().map_or("", |u| names.unit(u))),
            due = current_deadline(case).map(format_local).unwrap_or_default(),
        );
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::http::dashboard::fixtures::{at, case};
    use uuid::Uuid;
    use xuncha_core::{Actor, Category, Role};

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
