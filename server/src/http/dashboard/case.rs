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

use super::error::{BadInput, WebError};
use super::layout::{
    NoticeKind, case_label, csrf_field, html_response, notice, options, overdue_flag, page,
    status_badge,
};
use super::map::{Marker, render_map};
use super::meeting::parse_minutes;
use super::problem::{Problem, technical_details};
use super::queue::countdown;
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
    render_case(&reader, &id, message, None, StatusCode::OK).await
}

/// The number a case is known by on screen and paper (the case page's title, the dispatch slip):
/// the server-assigned number (和平-20261204-0012), or the id's first characters for a row read
/// without one.
pub fn case_number(row: &CaseRow) -> String {
    case_label(row.number.as_deref(), row.case.id)
}

/// The page's title for a case (the case page and its dispatch slip).
pub fn case_title(row: &CaseRow) -> String {
    format!(
        "案件 {} · {}",
        case_number(row),
        row.case.category.info().name_zh
    )
}

/// A form the server refused, brought back to its page: which form, what was typed, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The form's action; `None` when the kind sent was not one the page offers.
    pub kind: Option<ActionKind>,
    pub unit_id: String,
    pub reason: String,
    pub note: String,
    pub problem: Problem,
}

impl Refused {
    fn new(form: &ActionForm, kind: Option<ActionKind>, problem: Problem) -> Refused {
        Refused {
            kind,
            unit_id: form.unit_id.clone(),
            reason: form.reason.clone(),
            note: form.note.clone(),
            problem,
        }
    }

    /// What was typed, when its form is not on the page any more (the case moved on): shown
    /// under the error so nothing typed is lost.
    fn typed(&self) -> Markup {
        html! {
            @if !self.reason.is_empty() || !self.note.is_empty() {
                dl.facts.typed id="typed" {
                    @if !self.reason.is_empty() { dt { "您填写的理由" } dd.pre { (self.reason) } }
                    @if !self.note.is_empty() { dt { "您填写的备注" } dd.pre { (self.note) } }
                }
            }
        }
    }
}

/// The case page with an optional flash message and an optional refused form (shown filled,
/// with its error beside it), answered with `status`.
async fn render_case(
    reader: &ScopedReader,
    id: &str,
    message: Option<(NoticeKind, &str)>,
    refused: Option<&Refused>,
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
                (view.actions(reader.web(), refused))
                (view.location())
            }
        }
    };
    let title = case_title(&row);
    let frame = reader.web().frame();
    let html = page(&title, "/dashboard/cases", Some(&frame), body);
    Ok((status, html_response(html)).into_response())
}

/// The estate with its district, street and community (the id when the catalog lacks it).
pub fn estate_text(catalog: &Catalog, case: &Case) -> String {
    catalog.estate(&case.estate_id).map_or_else(
        || case.estate_id.clone(),
        |e| format!("{}（{} {} {}）", e.name, e.district, e.street, e.community),
    )
}

/// Building, unit and the reporter's location note, as one line.
pub fn place_text(case: &Case) -> String {
    [
        case.building.as_deref(),
        case.unit_no.as_deref(),
        case.location_note.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
}

/// The dispatch deadline as shown: a dissuasion-first case has none until the committee escalates.
pub fn dispatch_due_text(case: &Case) -> String {
    match case.waiting_for() {
        Some(WaitingFor::CommitteeDissuadeOrEscalate) => "—（居委会上报后起算）".to_owned(),
        _ => format_local(case.dispatch_due),
    }
}

/// The handling deadline as shown (none before acceptance).
pub fn handle_due_text(case: &Case) -> String {
    case.handle_due.map_or_else(|| "—".to_owned(), format_local)
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
        let estate = estate_text(self.catalog, case);
        let place = place_text(case);
        let dispatch_due = dispatch_due_text(case);
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
                    dt { "处置期限" } dd { (handle_due_text(case)) }
                    @if let Some(due) = case.current_due() {
                        dt { "倒计时" }
                        dd id="case-countdown" { span.countdown { (countdown(due, self.now)) } }
                    }
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
    fn actions(&self, web: &WebUser, refused: Option<&Refused>) -> Markup {
        let case = self.case();
        let allowed = super::allowed_actions(case, &web.actor());
        // A refused form not on the page (VERIFY, an action the case has moved past): its error
        // and what was typed go at the top of the card.
        let orphan = refused.filter(|r| {
            !r.kind.is_some_and(|k| {
                allowed.contains(&k) && k != ActionKind::Minutes && k != ActionKind::Verify
            })
        });
        let suggested = self.row.routed().map(|r| r.owner.id);
        // The 派往 select lists only the units the server would accept (routing + unit directory).
        let targets = crate::policy::catalog::dispatch_targets(self.catalog, case)
            .unwrap_or_else(|| self.catalog.units().to_vec());
        html! {
            section.card.actions id="actions" {
                h2 { "可执行操作" }
                a.no-print href={ "/dashboard/cases/" (case.id) "/slip" } id="slip-link" { "打印派遣单" }
                @if let Some(r) = orphan {
                    (r.problem.render())
                    (r.typed())
                }
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
                        (action_form(case, kind, &web.csrf_token, &targets, suggested.as_deref(),
                            refused.filter(|r| r.kind == Some(kind))))
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

/// One action's form: the hidden kind and version, the fields the action needs, a note. A form
/// the server refused comes back `refused`: filled with what was typed, its error inside it.
fn action_form(
    case: &Case,
    kind: ActionKind,
    csrf: &str,
    targets: &[OrgUnit],
    suggested: Option<&str>,
    refused: Option<&Refused>,
) -> Markup {
    let note = refused.map_or("", |r| r.note.as_str());
    html! {
        form method="post" action={ "/dashboard/cases/" (case.id) "/actions" }
            enctype="multipart/form-data" id={ "action-" (kind.code()) }
            data-confirm=[(kind == ActionKind::Cancel).then_some("确定作废该案件？")] {
            (csrf_field(csrf))
            input type="hidden" name="kind" value=(kind.code());
            input type="hidden" name="version" value=(case.version);
            @if let Some(r) = refused { (r.problem.render()) }
            (action_fields(kind, targets, suggested, refused))
            label { "备注 " textarea name="note" rows="2" maxlength=(ACTION_TEXT_MAX_CHARS) { (note) } }
            " "
            button type="submit" id={ "do-" (kind.code()) } { (kind.name_zh()) }
        }
    }
}

fn action_fields(
    kind: ActionKind,
    targets: &[OrgUnit],
    suggested: Option<&str>,
    refused: Option<&Refused>,
) -> Markup {
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
            // The unit chosen before a refusal, else the routing's suggestion.
            let chosen = refused
                .map(|r| r.unit_id.as_str())
                .filter(|u| !u.is_empty())
                .or(suggested)
                .unwrap_or("");
            html! {
                label {
                    "派往 "
                    select name="unit_id" id="dispatch-unit" required {
                        (options(choices, chosen))
                    }
                }
                @if suggested.is_some() { span.meta { "（已按分派建议预选）" } }
            }
        }
        ActionKind::Return | ActionKind::Reopen | ActionKind::Cancel => {
            let reason = refused.map_or("", |r| r.reason.as_str());
            html! {
                label { "理由（必填）" textarea name="reason" rows="2" required maxlength=(ACTION_TEXT_MAX_CHARS) { (reason) } }
            }
        }
        ActionKind::Handle => html! {
            label { "处置后照片（JPEG，必填）" input type="file" name="photo" accept="image/jpeg" required; }
            @if refused.is_some() { span.meta { "（请重新选择照片：浏览器不会保留已选的文件）" } }
        },
        _ => html! {},
    }
}

/// Text with its line breaks kept (`<br>` between lines; every line escaped).
pub fn lines(text: &str) -> Markup {
    html! {
        @for (i, line) in text.split('\n').enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

/// Unit names joined by 、, or a dash.
pub fn unit_list(units: &[RoutedUnit]) -> String {
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
                    (lines(&basis))
                    br;
                    span.meta id="rules-version" { (version) }
                }
            }
            @if let Some(until) = until.filter(|until| today > *until) {
                div.notice.error role="status" id="rules-expired" {
                    p { "注意：本案依据的政策有效期至 " (until)
                        "，已过期；请民政部门核实现行政策并更新分派规则。" }
                    (technical_details("RULES_EXPIRED", ""))
                }
            }
        }
    }
}

/// Fields of an action form (multipart, because HANDLE carries a photo).
#[derive(Default, Clone)]
struct ActionForm {
    csrf: String,
    kind: String,
    version: String,
    unit_id: String,
    reason: String,
    note: String,
    photo: Option<Vec<u8>>,
}

/// Reads the whole form; a field over its limit (or a photo over the size limit) does not stop
/// the reading: it comes back as the second value, so the page can answer with what was typed.
async fn read_action_form(
    Multipart(mut multipart): Multipart,
    photo_limit: u64,
) -> Result<(ActionForm, Option<BadInput>), WebError> {
    let mut form = ActionForm::default();
    let mut problem = None;
    while let Some(field) = multipart.next_field().await.map_err(BadInput::Form)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(BadInput::Form)?;
            if bytes.len() as u64 > photo_limit {
                problem.get_or_insert(BadInput::PhotoTooLarge(photo_limit));
            } else if !bytes.is_empty() {
                form.photo = Some(bytes.to_vec());
            }
            continue;
        }
        let value = field.text().await.map_err(BadInput::Form)?;
        if value.chars().count() > ACTION_TEXT_MAX_CHARS {
            problem.get_or_insert(BadInput::FieldTooLong {
                field: name.clone(),
                max: ACTION_TEXT_MAX_CHARS,
            });
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
    Ok((form, problem))
}

pub async fn case_action(
    State(state): State<AppState>,
    reader: ScopedReader,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let (form, too_long) = read_action_form(multipart, state.config.limits.photo_bytes).await?;
    let web = reader.web();
    web.check_csrf(&form.csrf)?;
    // Visibility first (audited refusal), then the workflow decides through ingest.
    let (row, _) = reader.case(&id).await?;
    let case_id = row.case.id;
    let kind = ActionKind::ALL
        .into_iter()
        .find(|k| k.code() == form.kind && *k != ActionKind::Report);
    // Every refusal below answers the case page with the form as it was sent.
    let refuse = |problem: Problem, status: StatusCode| {
        let refused = Refused::new(&form, kind, problem);
        let reader = &reader;
        let id = &id;
        async move { render_case(reader, id, None, Some(&refused), status).await }
    };
    let Some(kind) = kind else {
        let problem = BadInput::UnknownAction(form.kind.clone()).problem();
        return refuse(problem, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if let Some(bad) = too_long {
        return refuse(bad.problem(), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if !form.version.is_empty() && form.version != row.case.version.to_string() {
        let problem = Problem::new(
            "案件在您打开页面后已被他人更新，请确认当前状态后再操作。",
            "VERSION_CONFLICT",
            format!(
                "表单版本 {}，案件当前版本 {}",
                form.version, row.case.version
            ),
        );
        return refuse(problem, StatusCode::CONFLICT).await;
    }
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
            if let Some(bytes) = form.photo.clone() {
                let sha = match store_photo(&state, web, bytes).await {
                    Ok(sha) => sha,
                    Err(WebError::BadInput(bad)) => {
                        return refuse(bad.problem(), StatusCode::UNPROCESSABLE_ENTITY).await;
                    }
                    Err(e) => return Err(e),
                };
                photos.push(PhotoRef {
                    sha256: sha,
                    kind: PhotoKind::After,
                });
            }
            Action::Handle
        }
        ActionKind::Verify => {
            let problem = BadInput::VerifyOnSite.problem();
            return refuse(problem, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        ActionKind::Reopen => Action::Reopen { reason },
        ActionKind::Cancel => Action::Cancel { reason },
        ActionKind::Minutes => {
            let problem = BadInput::MinutesOnMeetingPage.problem();
            return refuse(problem, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        ActionKind::Comment | ActionKind::Report => Action::Comment,
    };
    match submit_event(
        &state,
        web,
        case_id,
        action,
        photos,
        Some(form.note.clone()),
    )
    .await?
    {
        Ok(_) => {
            let done = format!("/dashboard/cases/{case_id}?done={}", kind.code());
            Ok(Redirect::to(&done).into_response())
        }
        Err(refusal) => {
            let problem = Problem::of_refusal(&refusal, kind);
            refuse(problem, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// A stored photo, for users who may see a case that references it (the API's rule).
pub async fn photo(reader: ScopedReader, Path(sha): Path<String>) -> Result<Response, WebError> {
    Ok(jpeg_response(reader.photo(&sha).await?))
}

/// A stored photo's thumbnail (long edge 320 px), under the same rule as [`photo`].
pub async fn photo_thumb(
    reader: ScopedReader,
    Path(sha): Path<String>,
) -> Result<Response, WebError> {
    Ok(jpeg_response(reader.photo_thumb(&sha).await?))
}

/// JPEG bytes addressed by content: cached privately for good.
fn jpeg_response(bytes: Vec<u8>) -> Response {
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    resp
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
        let html = action_form(&case, ActionKind::Return, "tok", &[], None, None).into_string();
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
