//! The case page: facts, photos before/after, timeline, routing decision, the actions the
//! workflow allows this user, and a small map; the action form's handler; the photo files.
//! Reads go through the user's [`ScopedReader`]; actions go through ingest like a phone's push.

use std::collections::HashMap;

use axum::extract::State;

use crate::http::extract::{Multipart, Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use xuncha_core::time::format_local;
use xuncha_core::workflow::{Action, ActionKind, Event, PhotoKind, PhotoRef, WaitingFor};
use xuncha_core::{Case, OrgUnit};

use super::error::{BadInput, Refusal, WebError};
use super::layout::{
    NoticeKind, case_label, csrf_field, html_response, notice, options, overdue_flag, page,
    status_badge,
};
use super::map::{Marker, render_map};
use super::meeting::parse_minutes;
use super::reader::ScopedReader;
use super::web::{WebUser, store_photo, submit_event};
use crate::http::app::AppState;
use crate::model::{RoutedCase, RoutedUnit};
use crate::policy::catalog::Catalog;
use crate::storage::CaseRow;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn case_page(
    reader: ScopedReader,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let done = ActionKind::ALL
        .into_iter()
        .find(|k| k.code() == q.done)
        .map(|k| format!("操作已完成：{}", k.name_zh()));
    let message = done.as_deref().map(|t| (NoticeKind::Info, t));
    render_case(&reader, &id, message, StatusCode::OK).await
}

/// The case page with an optional flash message, answered with `status`.
async fn render_case(
    reader: &ScopedReader,
    id: &str,
    message: Option<(NoticeKind, &str)>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (row, events) = reader.case(id).await?;
    let actors: Vec<String> = events.iter().map(|e| e.actor.user_id.clone()).collect();
    let names = reader.user_names(actors).await;
    let view = CaseView {
        row: &row,
        catalog: reader.catalog(),
        now: Utc::now(),
    };
    let body = html! {
        @if let Some((kind, text)) = message { (notice(kind, text)) }
        div.grid2 {
            div {
                (view.facts())
                (view.photos())
                (view.timeline(&events, &names))
            }
            div {
                (routing_card(row.routing.is_some(), row.routed().as_ref(), view.today()))
                (view.actions(reader.web()))
                (view.location())
            }
        }
    };
    let case = &row.case;
    let title = format!(
        "案件 {} · {}",
        case_label(row.number.as_deref(), case.id),
        case.category.info().name_zh
    );
    let frame = reader.web().frame();
    let html = page(&title, "/dashboard/cases", Some(&frame), body);
    Ok((status, html_response(html)).into_response())
}

/// One case as the page shows it; each card is its own component.
struct CaseView<'a> {
    row: &'a CaseRow,
    catalog: &'a Catalog,
    now: chrono::DateTime<Utc>,
}

impl CaseView<'_> {
    fn case(&self) -> &Case {
        &self.row.case
    }

    fn unit_name(&self, id: &str) -> String {
        self.catalog
            .unit(id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    }

    fn overdue(&self) -> bool {
        self.case().is_overdue(self.now)
    }

    /// Today in Beijing (the routing rules' validity is by calendar day).
    fn today(&self) -> NaiveDate {
        self.now
            .with_timezone(&xuncha_core::time::SHANGHAI)
            .date_naive()
    }

    fn facts(&self) -> Markup {
        let case = self.case();
        let info = case.category.info();
        let waiting = case.waiting_for();
        let estate = self.catalog.estate(&case.estate_id).map_or_else(
            || case.estate_id.clone(),
            |e| format!("{}（{} {} {}）", e.name, e.district, e.street, e.community),
        );
        let place = [
            case.building.as_deref(),
            case.unit_no.as_deref(),
            case.location_note.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        // A dissuasion-first case has no dispatch deadline until the committee escalates.
        let dispatch_due = match &waiting {
            Some(WaitingFor::CommitteeDissuadeOrEscalate) => "—（居委会上报后起算）".to_owned(),
            _ => format_local(case.dispatch_due),
        };
        html! {
            section.card {
                h2 { "案件信息" }
                dl.facts {
                    dt { "案件编号" }
                    dd id="case-number" {
                        (case_label(self.row.number.as_deref(), case.id))
                        br;
                        small.case-id title="案件ID（手机生成）" { "ID " (case.id) }
                    }
                    dt { "状态" }
                    dd id="case-status" data-status=(case.status.code()) {
                        (status_badge(case.status)) (overdue_flag(self.overdue()))
                    }
                    dt { "等待" }
                    dd id="case-waiting" data-waiting=(waiting.as_ref().map_or("", |w| w.code())) {
                        (waiting.as_ref().map_or_else(|| "—".to_owned(), |w| w.text_zh(|id| self.unit_name(id))))
                    }
                    dt { "类别" }
                    dd { (info.name_zh) "（" (info.code()) "，政策 " (info.policy_sections.join("、")) "）" }
                    dt { "小区" } dd { (estate) }
                    dt { "位置" } dd { (place) }
                    dt { "描述" } dd { (case.description.as_deref().unwrap_or("")) }
                    dt { "上报" }
                    dd { (format_local(case.reported_at)) "（" (self.unit_name(&case.reported_by.unit_id)) "）" }
                    dt { "派遣期限" } dd { (dispatch_due) }
                    dt { "处置期限" } dd { (case.handle_due.map_or_else(|| "—".to_owned(), format_local)) }
                    dt { "责任单位" }
                    dd id="case-unit" { (case.assigned_unit.as_deref().map_or_else(|| "—".to_owned(), |u| self.unit_name(u))) }
                    dt { "退回/返工" } dd { (case.return_count) " 次 / " (case.rework_count) " 次" }
                    @if let Some(reason) = &case.last_reason {
                        dt { "最近理由" } dd { (reason) }
                    }
                }
            }
        }
    }

    /// Photos, before and after side by side.
    fn photos(&self) -> Markup {
        html! {
            section.card {
                h2 { "照片对比" }
                div.photos {
                    figure id="photos-before" {
                        figcaption { "处置前" }
                        (self.photo_list(&[PhotoKind::Before]))
                    }
                    figure id="photos-after" {
                        figcaption { "处置后 / 核查" }
                        (self.photo_list(&[PhotoKind::After, PhotoKind::Verification]))
                    }
                }
            }
        }
    }

    fn photo_list(&self, kinds: &[PhotoKind]) -> Markup {
        let photos: Vec<&PhotoRef> = self
            .case()
            .photos
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .collect();
        html! {
            @if photos.is_empty() {
                p.empty { "暂无照片" }
            }
            @for p in photos {
                img src={ "/dashboard/photos/" (p.sha256) }
                    alt={ "照片 " (p.sha256.get(..8).unwrap_or(&p.sha256)) } loading="lazy";
            }
        }
    }

    fn timeline(&self, events: &[Event], names: &HashMap<String, String>) -> Markup {
        html! {
            section.card {
                h2 { "处理过程" }
                ol.timeline id="timeline" {
                    @for event in events { (self.timeline_entry(event, names)) }
                }
            }
        }
    }

    fn timeline_entry(&self, event: &Event, names: &HashMap<String, String>) -> Markup {
        let kind = event.action.kind();
        let detail = match &event.action {
            Action::Dispatch { unit_id } => format!("派往 {}", self.unit_name(unit_id)),
            Action::Return { reason } | Action::Reopen { reason } | Action::Cancel { reason } => {
                format!("理由：{reason}")
            }
            _ => String::new(),
        };
        let minutes = parse_minutes(event)
            .map(|(u, t)| format!("联席会议纪要（{}）：{t}", self.unit_name(u)));
        let note = minutes.or_else(|| event.note.clone()).unwrap_or_default();
        let who = names
            .get(&event.actor.user_id)
            .map_or(event.actor.user_id.as_str(), String::as_str);
        html! {
            li data-kind=(kind.code()) {
                b { (kind.name_zh()) } " " (detail) " "
                span.meta {
                    (who) " · " (event.actor.role.name_zh()) " · " (self.unit_name(&event.actor.unit_id))
                    " · " (format_local(event.effective_time()))
                    "（设备时间 " (format_local(event.device_time)) "）"
                    @if let Some(g) = &event.gps {
                        " · 位置 " (format!("{:.5}N {:.5}E", g.lat, g.lon))
                        @if let Some(a) = g.accuracy_m { (format!(" ±{a:.0}m")) }
                    }
                    @if !event.photos.is_empty() { " · 照片 " (event.photos.len()) " 张" }
                }
                @if !note.is_empty() { br; (note) }
            }
        }
    }

    /// Exactly the actions the workflow allows this user now, each as its own small form.
    fn actions(&self, web: &WebUser) -> Markup {
        let case = self.case();
        let allowed = super::allowed_actions(case, &web.actor());
        let suggested = self.row.routed().map(|r| r.owner.id);
        // The 派往 select lists only the units the server would accept (routing + unit directory).
        let targets = crate::policy::catalog::dispatch_targets(self.catalog, case)
            .unwrap_or_else(|| self.catalog.units().to_vec());
        html! {
            section.card.actions id="actions" {
                h2 { "可执行操作" }
                @if allowed.is_empty() {
                    p.empty { "您的角色当前对该案件没有可执行的操作。" }
                }
                // Minutes are recorded on the joint-meeting page (member unit and text).
                @for kind in allowed.into_iter().filter(|&k| k != ActionKind::Minutes) {
                    @if kind == ActionKind::Verify {
                        // On-site verification needs a photo and a GPS fix taken where the fix
                        // is: the dashboard has neither, so it says who does it and offers no
                        // button that could only fail (issue 10 item 8).
                        (verify_on_site())
                    } @else {
                        (action_form(case, kind, &web.csrf_token, &targets, suggested.as_deref()))
                    }
                }
            }
        }
    }

    /// The mini map of the case's estate and its position.
    fn location(&self) -> Markup {
        let case = self.case();
        let Some(estate) = self.catalog.estate(&case.estate_id) else {
            return html! {};
        };
        let markers: Vec<Marker> = case
            .location
            .as_ref()
            .map(|g| Marker {
                case_id: case.id,
                lat: g.lat,
                lon: g.lon,
                status: case.status,
                overdue: self.overdue(),
                label: case.category.info().name_zh.to_owned(),
            })
            .into_iter()
            .collect();
        html! {
            section.card {
                h2 { "位置" }
                (render_map(std::slice::from_ref(estate), &markers, 420.0, 300.0))
            }
        }
    }
}

/// Shown instead of a 核查结案 button: verification is done on site, on the phone.
pub fn verify_on_site() -> Markup {
    html! {
        p.meta id="verify-on-site" {
            "核查结案（VERIFY）：待现场核查：由社区居委会或巡查员在手机上现场拍照定位核查（需现场照片与小区范围内或案件位置附近的 GPS 定位）。"
        }
    }
}

/// The longest text field (note, reason) an action form accepts: the server's check and the
/// forms' `maxlength` use this one number, so the browser stops where the server would refuse.
pub const ACTION_TEXT_MAX_CHARS: usize = 2000;

/// One action's form: the hidden kind and version, the fields the action needs, a note.
fn action_form(
    case: &Case,
    kind: ActionKind,
    csrf: &str,
    targets: &[OrgUnit],
    suggested: Option<&str>,
) -> Markup {
    html! {
        form method="post" action={ "/dashboard/cases/" (case.id) "/actions" }
            enctype="multipart/form-data" id={ "action-" (kind.code()) }
            data-confirm=[(kind == ActionKind::Cancel).then_some("确定作废该案件？")] {
            (csrf_field(csrf))
            input type="hidden" name="kind" value=(kind.code());
            input type="hidden" name="version" value=(case.version);
            (action_fields(kind, targets, suggested))
            label { "备注 " textarea name="note" rows="2" maxlength=(ACTION_TEXT_MAX_CHARS) {} }
            " "
            button type="submit" id={ "do-" (kind.code()) } { (kind.name_zh()) }
        }
    }
}

fn action_fields(kind: ActionKind, targets: &[OrgUnit], suggested: Option<&str>) -> Markup {
    match kind {
        ActionKind::Dispatch => {
            let mut sorted: Vec<&OrgUnit> = targets.iter().collect();
            sorted.sort_by_key(|u| {
                (
                    Some(u.id.as_str()) != suggested,
                    u.unit_type,
                    u.name.clone(),
                )
            });
            let choices = sorted.iter().map(|u| (u.id.as_str(), u.name.as_str()));
            html! {
                label {
                    "派往 "
                    select name="unit_id" id="dispatch-unit" required {
                        (options(choices, suggested.unwrap_or("")))
                    }
                }
                @if suggested.is_some() { span.meta { "（已按分派建议预选）" } }
            }
        }
        ActionKind::Return | ActionKind::Reopen | ActionKind::Cancel => html! {
            label { "理由（必填）" textarea name="reason" rows="2" required maxlength=(ACTION_TEXT_MAX_CHARS) {} }
        },
        ActionKind::Handle => html! {
            label { "处置后照片（JPEG，必填）" input type="file" name="photo" accept="image/jpeg" required; }
        },
        _ => html! {},
    }
}

/// Unit names joined by 、, or a dash.
fn unit_list(units: &[RoutedUnit]) -> String {
    let names: Vec<&str> = units
        .iter()
        .map(|u| u.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join("、")
    }
}

/// The routing decision stored at ingest: who does the work, who supervises, who shares the duty,
/// and the legal basis with the rules version it was routed under (a warning once the rules'
/// source document is past its validity on `today`, Beijing date). `stored` says whether the case
/// has a routing column at all (none when its estate was not in the catalog); `routed` is that
/// column read through [`CaseRow::routed`] (`None` when the rules could not route it: the card
/// then shows dashes, as before).
fn routing_card(stored: bool, routed: Option<&RoutedCase>, today: NaiveDate) -> Markup {
    if !stored {
        return html! {
            section.card {
                h2 { "分派建议" }
                p.empty { "无分派建议（小区不在目录中）。" }
            }
        };
    }
    let dash = |text: &str| {
        if text.is_empty() {
            "—".to_owned()
        } else {
            text.to_owned()
        }
    };
    let owner = dash(routed.map_or("", |r| r.owner.name.as_str()));
    let supervisor = dash(
        routed
            .and_then(|r| r.supervisor.as_ref())
            .map_or("", |u| u.name.as_str()),
    );
    let units = |pick: fn(&RoutedCase) -> &[RoutedUnit]| {
        routed.map_or_else(|| "—".to_owned(), |r| unit_list(pick(r)))
    };
    // Cases routed before rules carried a version show none (rules version 1 had no source dates).
    let version = match (
        routed.and_then(|r| r.rules_version),
        routed.and_then(|r| r.rules_effective_from),
    ) {
        (Some(v), Some(from)) => format!("（规则版本 {v}，{from} 起施行）"),
        (Some(v), None) => format!("（规则版本 {v}）"),
        _ => "（规则版本未记录：上报于规则记录版本之前）".to_owned(),
    };
    let basis = dash(routed.map_or("", |r| r.legal_basis.as_str()));
    let until = routed.and_then(|r| r.rules_effective_until);
    html! {
        section.card id="routing" {
            h2 { "分派建议（上报时按规则计算）" }
            dl.facts {
                dt { "责任单位" } dd id="routing-owner" { (owner) }
                dt { "监管单位" } dd id="routing-supervisor" { (supervisor) }
                dt { "先期处置" } dd { (units(|r| &r.first_on_site)) }
                dt { "协同单位" } dd id="routing-co" { (units(|r| &r.co_responsible)) }
                dt { "逐级上报" } dd { (units(|r| &r.escalation_chain)) }
                dt { "依据" }
                dd id="routing-basis" {
                    @for (i, line) in basis.split('\n').enumerate() {
                        @if i > 0 { br; }
                        (line)
                    }
                    br;
                    span.meta id="rules-version" { (version) }
                }
            }
            @if let Some(until) = until.filter(|until| today > *until) {
                p.notice.error role="status" id="rules-expired" {
                    "注意 [RULES_EXPIRED]：本案依据的政策有效期至 " (until)
                    "，已过期；请民政部门核实现行政策并更新分派规则。"
                }
            }
        }
    }
}

/// Fields of an action form (multipart, because HANDLE carries a photo).
#[derive(Default)]
struct ActionForm {
    csrf: String,
    kind: String,
    version: String,
    unit_id: String,
    reason: String,
    note: String,
    photo: Option<Vec<u8>>,
}

async fn read_action_form(
    Multipart(mut multipart): Multipart,
    photo_limit: u64,
) -> Result<ActionForm, WebError> {
    let mut form = ActionForm::default();
    while let Some(field) = multipart.next_field().await.map_err(BadInput::Form)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(BadInput::Form)?;
            if bytes.len() as u64 > photo_limit {
                return Err(BadInput::PhotoTooLarge(photo_limit).into());
            }
            if !bytes.is_empty() {
                form.photo = Some(bytes.to_vec());
            }
            continue;
        }
        let value = field.text().await.map_err(BadInput::Form)?;
        if value.chars().count() > ACTION_TEXT_MAX_CHARS {
            return Err(BadInput::FieldTooLong(name).into());
        }
        match name.as_str() {
            "csrf" => form.csrf = value,
            "kind" => form.kind = value,
            "version" => form.version = value,
            "unit_id" => form.unit_id = value,
            "reason" => form.reason = value,
            "note" => form.note = value,
            _ => {}
        }
    }
    Ok(form)
}

pub async fn case_action(
    State(state): State<AppState>,
    reader: ScopedReader,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let form = read_action_form(multipart, state.config.limits.photo_bytes).await?;
    let web = reader.web();
    web.check_csrf(&form.csrf)?;
    // Visibility first (audited refusal), then the workflow decides through ingest.
    let (row, _) = reader.case(&id).await?;
    let case_id = row.case.id;
    if !form.version.is_empty() && form.version != row.case.version.to_string() {
        let msg = "案件在您打开页面后已被他人更新，请确认当前状态后再操作";
        return render_case(
            &reader,
            &id,
            Some((NoticeKind::Error, msg)),
            StatusCode::CONFLICT,
        )
        .await;
    }
    let kind = ActionKind::ALL
        .into_iter()
        .find(|k| k.code() == form.kind && *k != ActionKind::Report)
        .ok_or_else(|| BadInput::UnknownAction(form.kind.clone()))?;
    let reason = form.reason.trim().to_owned();
    let mut photos = Vec::new();
    let action = match kind {
        ActionKind::Dissuade => Action::Dissuade,
        ActionKind::Escalate => Action::Escalate,
        ActionKind::Dispatch => Action::Dispatch {
            unit_id: form.unit_id.trim().to_owned(),
        },
        ActionKind::Accept => Action::Accept,
        ActionKind::Return => Action::Return { reason },
        ActionKind::Handle => {
            if let Some(bytes) = form.photo {
                let sha = store_photo(&state, web, bytes).await?;
                photos.push(PhotoRef {
                    sha256: sha,
                    kind: PhotoKind::After,
                });
            }
            Action::Handle
        }
        ActionKind::Verify => return Err(BadInput::VerifyOnSite.into()),
        ActionKind::Reopen => Action::Reopen { reason },
        ActionKind::Cancel => Action::Cancel { reason },
        ActionKind::Minutes => return Err(BadInput::MinutesOnMeetingPage.into()),
        ActionKind::Comment | ActionKind::Report => Action::Comment,
    };
    match submit_event(&state, web, case_id, action, photos, Some(form.note)).await? {
        Ok(_) => {
            let done = format!("/dashboard/cases/{case_id}?done={}", kind.code());
            Ok(Redirect::to(&done).into_response())
        }
        Err(refusal) => {
            let text = not_done(&refusal);
            let message = Some((NoticeKind::Error, text.as_str()));
            render_case(&reader, &id, message, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

fn not_done(refusal: &Refusal) -> String {
    format!("操作未执行：{refusal}")
}

/// A stored photo, for users who may see a case that references it (the API's rule).
pub async fn photo(reader: ScopedReader, Path(sha): Path<String>) -> Result<Response, WebError> {
    let bytes = reader.photo(&sha).await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn text_fields_stop_where_the_server_refuses() {
        let case = crate::http::dashboard::fixtures::case(
            1,
            xuncha_core::CaseStatus::Dispatched,
            xuncha_core::Category::Elevator,
            "changchunli",
            crate::http::dashboard::fixtures::at(1, 9),
        );
        let html = action_form(&case, ActionKind::Return, "tok", &[], None).into_string();
        let limit = format!("maxlength=\"{ACTION_TEXT_MAX_CHARS}\"");
        assert!(
            html.contains(&format!("<textarea name=\"note\" rows=\"2\" {limit}>")),
            "{html}"
        );
        assert!(html.contains(&format!("name=\"reason\" rows=\"2\" required {limit}>")));
        assert_eq!(html.matches("maxlength=").count(), 2, "{html}");
    }

    fn decision() -> serde_json::Value {
        let estate = xuncha_core::demo::estates()
            .unwrap()
            .into_iter()
            .find(|e| e.id == "changchunli")
            .unwrap();
        let rules = xuncha_core::routing::RoutingRules::builtin().unwrap();
        let units = xuncha_core::demo::units().unwrap();
        let decision =
            xuncha_core::routing::route(&rules, &units, xuncha_core::Category::Elevator, &estate)
                .unwrap();
        serde_json::to_value(decision).unwrap()
    }

    /// The card for a stored routing column, read the way the page reads it.
    fn routing_card_of(stored: &serde_json::Value, today: NaiveDate) -> Markup {
        routing_card(true, RoutedCase::from_stored(stored).as_ref(), today)
    }

    #[test]
    fn routing_card_shows_supervisor_rules_version_and_expiry() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let routing = decision();
        let html = routing_card_of(&routing, day(2025, 8, 5)).into_string();
        assert!(html.contains("和平区市场监督管理局"), "{html}");
        assert!(html.contains("（规则版本 2，2020-08-06 起施行）"), "{html}");
        assert!(
            html.contains("三(一)5：“负责指导有关区市场监管部门"),
            "{html}"
        );
        assert!(html.contains("<br>"), "one citation per line");
        assert!(
            !html.contains("rules-expired"),
            "still in force on its last day"
        );
        let html = routing_card_of(&routing, day(2025, 8, 6)).into_string();
        assert!(html.contains("id=\"rules-expired\""), "{html}");
        assert!(html.contains("有效期至 2025-08-05"), "{html}");

        // A case routed before rules carried a version says so instead of inventing one.
        let mut old = routing.clone();
        for key in [
            "rules_version",
            "rules_effective_from",
            "rules_effective_until",
            "supervisor",
        ] {
            old.as_object_mut().unwrap().remove(key);
        }
        let html = routing_card_of(&old, day(2026, 1, 1)).into_string();
        assert!(html.contains("规则版本未记录"), "{html}");
        assert!(!html.contains("rules-expired"));
    }
}
