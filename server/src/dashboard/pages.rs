//! The dashboard's pages and form handlers. Reads go through the storage case query scoped by
//! [`crate::policy::access::case_scope`] ([`super::web::load_visible`], [`super::web::query_all`]) /
//! [`super::web::load_case`] (per-object authorization of [`crate::policy::access`]); writes go through
//! [`super::web::submit_event`] (the sync API's ingest) or `Storage::save_catalog` (estates).

use std::fmt::Write as _;

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use xuncha_core::time::format_local;
use xuncha_core::workflow::{Action, ActionKind, PhotoKind, PhotoRef};
use xuncha_core::{Case, CaseStatus, Role};

use super::export::Table;
use super::html::{NoticeKind, csrf_field, esc, notice, options, page};
use super::map::{Marker, legend, render_map};
use super::meeting::{self, MAX_MINUTES_CHARS};
use super::queue::{self, Names, QueueFilter};
use super::session::{self, SessionStore};
use super::web::{
    WebError, WebUser, download, html_response, load_case, load_visible, query_all,
    register_web_device, session_user, storage_error, submit_event, user_names, user_page,
    visible_estates,
};
use crate::http::app::AppState;
use crate::http::error::ApiError;
use crate::policy::access;
use crate::storage::photo_files;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

pub async fn asset_css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn asset_js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

pub async fn home() -> Redirect {
    Redirect::to("/dashboard/cases")
}

// ---------------------------------------------------------------- sign-in

fn login_page(message: Option<&str>, csrf: &str) -> String {
    let mut body = String::from("<div class=\"login\">");
    if let Some(message) = message {
        body.push_str(&notice(NoticeKind::Error, message));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/dashboard/login\" id=\"login-form\">{}\
         <label>用户名 <input name=\"username\" id=\"username\" autocomplete=\"username\" required maxlength=\"100\"></label>\
         <label>密码 <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"200\"></label>\
         <button type=\"submit\" id=\"login-submit\">登录</button></form>\
         <p class=\"meta\">与手机端使用同一账号。</p></div>",
        csrf_field(csrf)
    ));
    page("登录", "", None, &body)
}

/// The sign-in page with a fresh CSRF token, in the form and in its cookie (double submit: a
/// page on another site can neither read the cookie nor set it).
fn login_response(status: StatusCode, message: Option<&str>, secure: bool) -> Response {
    let csrf = session::random_token();
    let mut resp = (status, html_response(login_page(message, &csrf))).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::login_csrf_cookie(&csrf, secure)) {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    resp
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_response(StatusCode::OK, None, state.config.public_url_is_https())
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<SessionStore>>,
    ip: crate::http::throttle::ClientIp,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, WebError> {
    let app = &state;
    let secure = app.config.public_url_is_https();
    let username = form.username.trim().to_owned();
    let refuse = |status: StatusCode, message: &str| -> Response {
        login_response(status, Some(message), secure)
    };
    let cookie_csrf = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie_value(h, session::LOGIN_CSRF_COOKIE));
    if !cookie_csrf.is_some_and(|c| session::tokens_equal(c, &form.csrf)) {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "登录表单已过期或来源不明（CSRF_FAILED），请重新输入",
        ));
    }
    if username.is_empty() || username.chars().count() > 100 || form.password.len() > 200 {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "用户名或密码格式不正确"));
    }
    let outcome = crate::http::api::auth::check_password(
        app,
        ip,
        &username,
        form.password,
        "WEB_SIGN_IN_FAILED",
        serde_json::json!({}),
    )
    .await;
    let user = match outcome {
        Ok(crate::http::api::auth::SignIn::Ok(user)) => user,
        Ok(crate::http::api::auth::SignIn::Refused) => {
            return Ok(refuse(StatusCode::UNAUTHORIZED, "用户名或密码错误"));
        }
        Ok(crate::http::api::auth::SignIn::Locked { retry_after_s }) => {
            let mut resp = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "该账号在本机登录失败次数过多，已暂时锁定，请在 {} 后再试（LOGIN_LOCKED）",
                    crate::policy::credentials::wait_zh(retry_after_s)
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(resp);
        }
        Err(
            e @ (ApiError::RateLimited { retry_after_s } | ApiError::ServerBusy { retry_after_s }),
        ) => {
            let status = e.status();
            let mut resp = refuse(
                status,
                &format!(
                    "登录请求过多，请在 {} 后再试（{}）",
                    crate::policy::credentials::wait_zh(retry_after_s),
                    e.code()
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let device = register_web_device(app, &user, agent).await?;
    let (token, _) = sessions.create_for(&session_user(&user.id, device.id), &user.id, Utc::now());
    let mut resp = Redirect::to("/dashboard/cases").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&token, secure)) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    Extension(sessions): Extension<Arc<SessionStore>>,
    web: WebUser,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&form.csrf)?;
    if let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::token_from_cookie_header)
    {
        sessions.remove(token);
    }
    let mut resp = Redirect::to("/dashboard/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

// ---------------------------------------------------------------- queue

/// Cases per queue page.
const QUEUE_PAGE: usize = 200;

fn filter_error(e: &queue::FilterError) -> String {
    format!("{e}（{}）", e.code())
}

pub async fn queue_page(
    State(state): State<AppState>,
    web: WebUser,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let catalog = state.catalog();
    let estates = visible_estates(web.user(), &catalog);
    let names = Names::new(&estates, catalog.units());
    let now = Utc::now();
    let mut body = queue::filter_form(&filter, &estates, catalog.units());
    let mut query = match filter.to_query(access::case_scope(web.user(), &catalog), &estates, now) {
        Ok(query) => query,
        Err(e) => {
            body.push_str(&notice(NoticeKind::Error, &filter_error(&e)));
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                user_page(&web, "案件队列", "/dashboard/cases", &body),
            )
                .into_response());
        }
    };
    query.limit = QUEUE_PAGE;
    let page = state
        .storage
        .query_cases(query)
        .await
        .map_err(storage_error)?;
    let counts = page
        .counts
        .iter()
        .filter_map(|(code, n)| Some((CaseStatus::from_code(code)?, *n as usize)))
        .collect();
    body.push_str(&queue::counts_bar(&counts, page.total() as usize));
    let qs = filter.query_string();
    let _ = write!(
        body,
        "<p class=\"exports\">导出当前列表：<a href=\"/dashboard/cases.csv?{qs}\" id=\"export-csv\">CSV</a>\
         <a href=\"/dashboard/cases.xlsx?{qs}\" id=\"export-xlsx\">Excel (XLSX)</a></p>",
        qs = esc(&qs)
    );
    let cases: Vec<&Case> = page.rows.iter().map(|r| &r.case).collect();
    body.push_str(&queue::queue_table(&cases, &names, now));
    if let Some(next) = page.next {
        let sep = if qs.is_empty() { "" } else { "&" };
        let _ = write!(
            body,
            "<p class=\"pager\"><a id=\"next-page\" href=\"/dashboard/cases?{}\">下一页</a></p>",
            esc(&format!("{qs}{sep}after={}", next.encode()))
        );
    }
    Ok(user_page(&web, "案件队列", "/dashboard/cases", &body))
}

async fn queue_table_for(
    state: &AppState,
    web: &WebUser,
    filter: &QueueFilter,
) -> Result<Table, WebError> {
    let catalog = state.catalog();
    let estates = visible_estates(web.user(), &catalog);
    let names = Names::new(&estates, catalog.units());
    let now = Utc::now();
    let mut query = filter
        .to_query(access::case_scope(web.user(), &catalog), &estates, now)
        .map_err(|e| WebError::BadInput(filter_error(&e)))?;
    // An export is the whole list, whatever page the screen was on.
    query.after = None;
    let rows = query_all(state, query).await?;
    let cases: Vec<&Case> = rows.iter().map(|r| &r.case).collect();
    Ok(queue::queue_export(&cases, &names, now))
}

pub async fn queue_csv(
    State(state): State<AppState>,
    web: WebUser,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let table = queue_table_for(&state, &web, &filter).await?;
    Ok(download(
        table.to_csv().into_bytes(),
        "text/csv; charset=utf-8",
        "案件清单.csv",
    ))
}

pub async fn queue_xlsx(
    State(state): State<AppState>,
    web: WebUser,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let table = queue_table_for(&state, &web, &filter).await?;
    let bytes = tokio::task::spawn_blocking(move || table.to_xlsx())
        .await
        .map_err(|_| WebError::Internal("export task failed".into()))?
        .map_err(|e| WebError::Internal(format!("{e}（{}）", e.code())))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "案件清单.xlsx",
    ))
}

// ---------------------------------------------------------------- case detail

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn case_page(
    State(state): State<AppState>,
    web: WebUser,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let done = ActionKind::ALL
        .into_iter()
        .find(|k| k.code() == q.done)
        .map(|k| format!("操作已完成：{}", k.name_zh()));
    render_case(
        &state,
        &web,
        &id,
        done.as_deref().map(|t| (NoticeKind::Info, t)),
        StatusCode::OK,
    )
    .await
}

async fn render_case(
    state: &AppState,
    web: &WebUser,
    id: &str,
    message: Option<(NoticeKind, &str)>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (row, events) = load_case(state, web, id).await?;
    let case = &row.case;
    let catalog = state.catalog();
    let unit_name = |uid: &str| {
        catalog
            .unit(uid)
            .map_or_else(|| uid.to_owned(), |u| u.name.clone())
    };
    let estate = catalog.estates().get(&case.estate_id);
    let info = case.category.info();
    let now = Utc::now();
    let overdue = queue::is_overdue(case, now);
    let mut body = String::new();
    if let Some((kind, text)) = message {
        body.push_str(&notice(kind, text));
    }
    body.push_str("<div class=\"grid2\"><div>");
    // Facts.
    let _ = write!(
        body,
        "<section class=\"card\"><h2>案件信息</h2><dl class=\"facts\">\
         <dt>状态</dt><dd id=\"case-status\" data-status=\"{status_code}\">{badge}{overdue}</dd>\
         <dt>等待</dt><dd id=\"case-waiting\" data-waiting=\"{waiting_code}\">{waiting}</dd>\
         <dt>类别</dt><dd>{cat}（{cat_code}，政策 {sections}）</dd>\
         <dt>小区</dt><dd>{estate}</dd><dt>位置</dt><dd>{place}</dd><dt>描述</dt><dd>{desc}</dd>\
         <dt>上报</dt><dd>{reported_at}（{reporter}）</dd>\
         <dt>派遣期限</dt><dd>{dispatch_due}</dd><dt>处置期限</dt><dd>{handle_due}</dd>\
         <dt>责任单位</dt><dd id=\"case-unit\">{unit}</dd><dt>退回/返工</dt><dd>{returns} 次 / {reworks} 次</dd>{reason}\
         </dl></section>",
        status_code = case.status.code(),
        badge = queue::status_badge(case.status),
        waiting_code = case.waiting_for().map_or("", |w| w.code()),
        waiting = esc(&case
            .waiting_for()
            .map_or_else(|| "—".to_owned(), |w| w.text_zh(unit_name))),
        overdue = if overdue {
            " <span class=\"overdue-flag\">已超期</span>"
        } else {
            ""
        },
        cat = esc(info.name_zh),
        cat_code = info.code(),
        sections = esc(&info.policy_sections.join("、")),
        estate = esc(&estate.map_or_else(
            || case.estate_id.clone(),
            |e| format!("{}（{} {} {}）", e.name, e.district, e.street, e.community)
        )),
        place = esc(&[
            case.building.as_deref(),
            case.unit_no.as_deref(),
            case.location_note.as_deref()
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")),
        desc = esc(case.description.as_deref().unwrap_or("")),
        reported_at = format_local(case.reported_at),
        reporter = esc(&unit_name(&case.reported_by.unit_id)),
        // A dissuasion-first case has no dispatch deadline until the committee escalates.
        dispatch_due = match case.waiting_for() {
            Some(xuncha_core::workflow::WaitingFor::CommitteeDissuadeOrEscalate) => {
                "—（居委会上报后起算）".to_owned()
            }
            _ => format_local(case.dispatch_due),
        },
        handle_due = case
            .handle_due
            .map(format_local)
            .unwrap_or_else(|| "—".into()),
        unit = esc(&case
            .assigned_unit
            .as_deref()
            .map(unit_name)
            .unwrap_or_else(|| "—".into())),
        returns = case.return_count,
        reworks = case.rework_count,
        reason = case
            .last_reason
            .as_deref()
            .map_or(String::new(), |r| format!(
                "<dt>最近理由</dt><dd>{}</dd>",
                esc(r)
            )),
    );
    // Photos, before and after side by side.
    let photo_list = |kinds: &[PhotoKind]| -> String {
        let imgs: String = case
            .photos
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .map(|p| {
                format!(
                    "<img src=\"/dashboard/photos/{0}\" alt=\"照片 {0:.8}\" loading=\"lazy\">",
                    esc(&p.sha256)
                )
            })
            .collect();
        if imgs.is_empty() {
            "<p class=\"empty\">暂无照片</p>".into()
        } else {
            imgs
        }
    };
    let _ = write!(
        body,
        "<section class=\"card\"><h2>照片对比</h2><div class=\"photos\">\
         <figure id=\"photos-before\"><figcaption>处置前</figcaption>{}</figure>\
         <figure id=\"photos-after\"><figcaption>处置后 / 核查</figcaption>{}</figure></div></section>",
        photo_list(&[PhotoKind::Before]),
        photo_list(&[PhotoKind::After, PhotoKind::Verification]),
    );
    // Timeline.
    let actor_ids: Vec<String> = events.iter().map(|e| e.actor.user_id.clone()).collect();
    let names = user_names(state, actor_ids).await;
    body.push_str(
        "<section class=\"card\"><h2>处理过程</h2><ol class=\"timeline\" id=\"timeline\">",
    );
    for event in &events {
        let detail = match &event.action {
            Action::Dispatch { unit_id } => format!("派往 {}", unit_name(unit_id)),
            Action::Return { reason } | Action::Reopen { reason } | Action::Cancel { reason } => {
                format!("理由：{reason}")
            }
            _ => String::new(),
        };
        let minutes = meeting::parse_minutes(event)
            .map(|(u, t)| format!("联席会议纪要（{}）：{t}", unit_name(u)));
        let note = minutes.or_else(|| event.note.clone()).unwrap_or_default();
        let gps = event.gps.as_ref().map_or(String::new(), |g| {
            format!(
                " · 位置 {:.5}N {:.5}E{}",
                g.lat,
                g.lon,
                g.accuracy_m.map_or(String::new(), |a| format!(" ±{a:.0}m"))
            )
        });
        let _ = write!(
            body,
            "<li data-kind=\"{code}\"><b>{action}</b> {detail} <span class=\"meta\">{who} · {role} · {unit} · {when}（设备时间 {device}）{gps}{photos}</span>{note}</li>",
            code = event.action.kind().code(),
            action = event.action.kind().name_zh(),
            detail = esc(&detail),
            who = esc(names
                .get(&event.actor.user_id)
                .map_or(event.actor.user_id.as_str(), String::as_str)),
            role = event.actor.role.name_zh(),
            unit = esc(&unit_name(&event.actor.unit_id)),
            when = format_local(event.effective_time()),
            device = format_local(event.device_time),
            gps = esc(&gps),
            photos = if event.photos.is_empty() {
                String::new()
            } else {
                format!(" · 照片 {} 张", event.photos.len())
            },
            note = if note.is_empty() {
                String::new()
            } else {
                format!("<br>{}", esc(&note))
            },
        );
    }
    body.push_str("</ol></section></div><div>");
    // Routing decision.
    body.push_str(&routing_card(
        row.routing.as_ref(),
        now.with_timezone(&xuncha_core::time::SHANGHAI).date_naive(),
    ));
    // Actions.
    let suggested = routing_owner(row.routing.as_ref());
    // The 派往 select lists only the units the server would accept (routing + unit directory).
    let targets = crate::policy::catalog::dispatch_targets(&catalog, case)
        .unwrap_or_else(|| catalog.units().to_vec());
    body.push_str(&actions_card(case, web, &targets, suggested.as_deref()));
    // Mini map.
    if let Some(estate) = estate {
        let markers: Vec<Marker> = case
            .location
            .as_ref()
            .map(|g| Marker {
                case_id: case.id,
                lat: g.lat,
                lon: g.lon,
                status: case.status,
                overdue,
                label: info.name_zh.to_owned(),
            })
            .into_iter()
            .collect();
        let _ = write!(
            body,
            "<section class=\"card\"><h2>位置</h2>{}</section>",
            render_map(std::slice::from_ref(estate), &markers, 420.0, 300.0)
        );
    }
    body.push_str("</div></div>");
    let title = format!("案件 {} · {}", &case.id.to_string()[..8], info.name_zh);
    Ok((status, user_page(web, &title, "/dashboard/cases", &body)).into_response())
}

/// The unit id the routing decision names as owner, to preselect in the dispatch form.
fn routing_owner(routing: Option<&serde_json::Value>) -> Option<String> {
    routing?
        .get("owner")?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

/// The routing decision stored at ingest: who does the work, who supervises, who shares the duty,
/// and the legal basis with the rules version it was routed under (a warning once the rules'
/// source document is past its validity on `today`, Beijing date).
fn routing_card(routing: Option<&serde_json::Value>, today: chrono::NaiveDate) -> String {
    let Some(r) = routing else {
        return "<section class=\"card\"><h2>分派建议</h2><p class=\"empty\">无分派建议（小区不在目录中）。</p></section>".into();
    };
    let unit_names = |key: &str| -> String {
        r.get(key)
            .and_then(|v| v.as_array())
            .map(|units| {
                units
                    .iter()
                    .filter_map(|u| u.get("name").and_then(|n| n.as_str()))
                    .collect::<Vec<_>>()
                    .join("、")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "—".into())
    };
    let owner = r
        .get("owner")
        .and_then(|o| o.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("—");
    let supervisor = r
        .get("supervisor")
        .and_then(|o| o.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("—");
    let basis = r.get("legal_basis").and_then(|b| b.as_str()).unwrap_or("—");
    let date = |key: &str| {
        r.get(key)
            .and_then(|d| d.as_str())
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    // Cases routed before rules carried a version show none (rules version 1 had no source dates).
    let version = match (
        r.get("rules_version").and_then(|v| v.as_u64()),
        date("rules_effective_from"),
    ) {
        (Some(v), Some(from)) => format!("（规则版本 {v}，{from} 起施行）"),
        (Some(v), None) => format!("（规则版本 {v}）"),
        _ => "（规则版本未记录：上报于规则记录版本之前）".to_owned(),
    };
    let expired = match date("rules_effective_until") {
        Some(until) if today > until => format!(
            "<p class=\"notice error\" role=\"status\" id=\"rules-expired\">注意 [RULES_EXPIRED]：本案依据的政策有效期至 {until}，已过期；请民政部门核实现行政策并更新分派规则。</p>"
        ),
        _ => String::new(),
    };
    let basis_html = esc(basis).replace('\n', "<br>");
    format!(
        "<section class=\"card\" id=\"routing\"><h2>分派建议（上报时按规则计算）</h2><dl class=\"facts\">\
         <dt>责任单位</dt><dd id=\"routing-owner\">{}</dd><dt>监管单位</dt><dd id=\"routing-supervisor\">{}</dd>\
         <dt>先期处置</dt><dd>{}</dd>\
         <dt>协同单位</dt><dd id=\"routing-co\">{}</dd><dt>逐级上报</dt><dd>{}</dd>\
         <dt>依据</dt><dd id=\"routing-basis\">{}<br><span class=\"meta\" id=\"rules-version\">{}</span></dd></dl>{}</section>",
        esc(owner),
        esc(supervisor),
        esc(&unit_names("first_on_site")),
        esc(&unit_names("co_responsible")),
        esc(&unit_names("escalation_chain")),
        basis_html,
        esc(&version),
        expired,
    )
}

/// Exactly the actions the workflow allows this user now, each as its own small form.
fn actions_card(
    case: &Case,
    web: &WebUser,
    units: &[xuncha_core::OrgUnit],
    suggested: Option<&str>,
) -> String {
    let allowed = super::allowed_actions(case, &web.actor());
    let mut out =
        String::from("<section class=\"card actions\" id=\"actions\"><h2>可执行操作</h2>");
    if allowed.is_empty() {
        out.push_str("<p class=\"empty\">您的角色当前对该案件没有可执行的操作。</p>");
    }
    let csrf = csrf_field(&web.csrf_token);
    // Minutes are recorded on the joint-meeting page, which collects the member unit and text.
    for kind in allowed.into_iter().filter(|&k| k != ActionKind::Minutes) {
        if kind == ActionKind::Verify {
            // On-site verification needs a photo and a GPS fix taken where the fix is: the
            // dashboard has neither, so it says who does it, and offers no button that could
            // only fail (issue 10 item 8).
            out.push_str(VERIFY_ON_SITE);
            continue;
        }
        let fields = match kind {
            ActionKind::Dispatch => {
                let mut sorted: Vec<&xuncha_core::OrgUnit> = units.iter().collect();
                sorted.sort_by_key(|u| (Some(u.id.as_str()) != suggested, u.unit_type, u.name.clone()));
                let opts = options(
                    sorted.iter().map(|u| (u.id.as_str(), u.name.as_str())),
                    suggested.unwrap_or(""),
                );
                format!("<label>派往 <select name=\"unit_id\" id=\"dispatch-unit\" required>{opts}</select></label>{}",
                    suggested.map_or(String::new(), |_| "<span class=\"meta\">（已按分派建议预选）</span>".into()))
            }
            ActionKind::Return | ActionKind::Reopen | ActionKind::Cancel => {
                "<label>理由（必填）<textarea name=\"reason\" rows=\"2\" required maxlength=\"1000\"></textarea></label>".into()
            }
            ActionKind::Handle => {
                "<label>处置后照片（JPEG，必填）<input type=\"file\" name=\"photo\" accept=\"image/jpeg\" required></label>".into()
            }
            _ => String::new(),
        };
        let confirm = if kind == ActionKind::Cancel {
            " data-confirm=\"确定作废该案件？\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/dashboard/cases/{id}/actions\" enctype=\"multipart/form-data\" id=\"action-{code}\"{confirm}>\
             {csrf}<input type=\"hidden\" name=\"kind\" value=\"{code}\"><input type=\"hidden\" name=\"version\" value=\"{version}\">\
             {fields}<label>备注 <input name=\"note\" maxlength=\"1000\"></label> \
             <button type=\"submit\" id=\"do-{code}\">{label}</button></form>",
            id = case.id,
            code = kind.code(),
            version = case.version,
            label = kind.name_zh(),
        );
    }
    out.push_str("</section>");
    out
}

/// Shown instead of a 核查结案 button: verification is done on site, on the phone.
pub const VERIFY_ON_SITE: &str = "<p class=\"meta\" id=\"verify-on-site\">核查结案（VERIFY）：待现场核查：由社区居委会或巡查员在手机上现场拍照定位核查（需现场照片与小区范围内或案件位置附近的 GPS 定位）。</p>";

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
    mut multipart: Multipart,
    photo_limit: u64,
) -> Result<ActionForm, WebError> {
    let mut form = ActionForm::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        WebError::BadInput(format!("表单无法读取：{e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(bad)?;
            if bytes.len() as u64 > photo_limit {
                return Err(WebError::BadInput(format!(
                    "照片超过 {photo_limit} 字节上限"
                )));
            }
            if !bytes.is_empty() {
                form.photo = Some(bytes.to_vec());
            }
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        if value.chars().count() > 2000 {
            return Err(WebError::BadInput(format!("字段 {name} 过长")));
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

/// Stores an uploaded photo the way the API does (re-encoded under the limits, content-addressed,
/// recorded with an audit entry) and returns its address.
async fn store_photo(state: &AppState, web: &WebUser, bytes: Vec<u8>) -> Result<String, WebError> {
    let sha = photo_files::sha256_bytes(&bytes);
    match state
        .storage
        .photo(sha.clone())
        .await
        .map_err(storage_error)?
    {
        // Stored before: this user presented its bytes, so it is theirs to cite too.
        Some(stored) => {
            photo_files::record_received(&state.photo_files(), &web.authed.0, stored, "dashboard")
                .await
                .map_err(ApiError::from)?;
        }
        None => {
            photo_files::store_received(
                &state.photo_files(),
                &web.authed.0,
                &sha,
                bytes,
                "dashboard",
            )
            .await
            .map_err(ApiError::from)?;
        }
    }
    Ok(sha)
}

pub async fn case_action(
    State(state): State<AppState>,
    web: WebUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let app = &state;
    let form = read_action_form(multipart, app.config.limits.photo_bytes).await?;
    web.check_csrf(&form.csrf)?;
    // Visibility first (audited refusal), then the workflow decides through ingest.
    let (row, _) = load_case(app, &web, &id).await?;
    let case_id = row.case.id;
    if !form.version.is_empty() && form.version != row.case.version.to_string() {
        let msg = "案件在您打开页面后已被他人更新，请确认当前状态后再操作";
        return render_case(
            app,
            &web,
            &id,
            Some((NoticeKind::Error, msg)),
            StatusCode::CONFLICT,
        )
        .await;
    }
    let kind = ActionKind::ALL
        .into_iter()
        .find(|k| k.code() == form.kind && *k != ActionKind::Report)
        .ok_or_else(|| WebError::BadInput(format!("未知操作 {}", form.kind)))?;
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
                let sha = store_photo(app, &web, bytes).await?;
                photos.push(PhotoRef {
                    sha256: sha,
                    kind: PhotoKind::After,
                });
            }
            Action::Handle
        }
        ActionKind::Verify => {
            return Err(WebError::BadInput(
                "核查结案须在现场用手机拍照并定位后提交，网页端不能核查 (VERIFY_ON_SITE_ONLY)"
                    .to_owned(),
            ));
        }
        ActionKind::Reopen => Action::Reopen { reason },
        ActionKind::Cancel => Action::Cancel { reason },
        ActionKind::Minutes => {
            return Err(WebError::BadInput(
                "联席会议纪要在联席会议页面记录（须选择成员单位）".into(),
            ));
        }
        ActionKind::Comment | ActionKind::Report => Action::Comment,
    };
    match submit_event(app, &web, case_id, action, photos, Some(form.note)).await? {
        Ok(_) => Ok(
            Redirect::to(&format!("/dashboard/cases/{case_id}?done={}", kind.code()))
                .into_response(),
        ),
        Err((code, message)) => {
            let text = format!("操作未执行：{message}（{code}）");
            render_case(
                app,
                &web,
                &id,
                Some((NoticeKind::Error, &text)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// A stored photo, for users who may see a case that references it (the API's rule).
pub async fn photo(
    State(state): State<AppState>,
    web: WebUser,
    Path(sha): Path<String>,
) -> Result<Response, WebError> {
    let app = &state;
    if !photo_files::is_sha256_hex(&sha) {
        return Err(WebError::NotFound(format!("照片 {sha}")));
    }
    app.storage
        .photo(sha.clone())
        .await
        .map_err(storage_error)?
        .ok_or_else(|| WebError::NotFound(format!("照片 {sha}")))?;
    let allowed = crate::http::api::photos::may_read_photo(app, web.user(), &sha).await?;
    if !allowed {
        // Audited, but answered like an unknown photo (the API's rule).
        app.deny(&web.authed, "photo", &sha).await?;
        return Err(WebError::NotFound(format!("照片 {sha}")));
    }
    let bytes = tokio::fs::read(app.photos.final_path(&sha))
        .await
        .map_err(|e| WebError::Internal(format!("照片文件无法读取：{e}")))?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(resp)
}

// ---------------------------------------------------------------- map

pub async fn map_page(State(state): State<AppState>, web: WebUser) -> Result<Response, WebError> {
    let visible = load_visible(&state, web.user(), |q| q.open = Some(true), false).await?;
    let now = Utc::now();
    let open: Vec<&Case> = visible
        .rows
        .iter()
        .map(|r| &r.case)
        .filter(|c| c.status.is_open())
        .collect();
    let markers: Vec<Marker> = open
        .iter()
        .filter_map(|c| {
            let g = c.location.as_ref()?;
            Some(Marker {
                case_id: c.id,
                lat: g.lat,
                lon: g.lon,
                status: c.status,
                overdue: queue::is_overdue(c, now),
                label: c.category.info().name_zh.to_owned(),
            })
        })
        .collect();
    let unlocated = open.len() - markers.len();
    let mut statuses: Vec<CaseStatus> = open.iter().map(|c| c.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let mut body = format!(
        "<p class=\"meta\">{} 个小区，{} 个在办案件（{} 个无定位未标注）。地图由本系统矢量数据绘制，坐标 WGS-84。</p>",
        visible.estates.len(),
        open.len(),
        unlocated
    );
    body.push_str(&render_map(&visible.estates, &markers, 960.0, 600.0));
    body.push_str(&legend(&statuses));
    Ok(user_page(&web, "小区与案件地图", "/dashboard/map", &body))
}

// ---------------------------------------------------------------- meeting

pub async fn meeting_page(
    State(state): State<AppState>,
    web: WebUser,
) -> Result<Response, WebError> {
    // The agenda draws only on open cases; events are read for the cases on it.
    let mut visible = load_visible(&state, web.user(), |q| q.open = Some(true), false).await?;
    let now = Utc::now();
    visible
        .rows
        .retain(|r| !meeting::agenda_reasons(&r.case, now).is_empty());
    visible.load_events(&state).await?;
    let cases = visible.cases();
    let names = Names::new(&visible.estates, visible.units());
    let items = meeting::agenda(&cases, now);
    let can_record = web.user().role == Role::StreetOffice;
    let body = meeting::render_agenda(
        &items,
        &visible.events,
        &names,
        now,
        can_record,
        &web.csrf_token,
    );
    Ok(user_page(&web, "联席会议议程", "/dashboard/meeting", &body))
}

#[derive(Deserialize)]
pub struct MinutesForm {
    #[serde(default)]
    csrf: String,
    case_id: String,
    unit_id: String,
    text: String,
}

pub async fn record_minutes(
    State(state): State<AppState>,
    web: WebUser,
    axum::Form(form): axum::Form<MinutesForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&form.csrf)?;
    let app = &state;
    if web.user().role != Role::StreetOffice {
        return Err(WebError::Forbidden("联席会议纪要由街道办事处记录".into()));
    }
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > MAX_MINUTES_CHARS {
        return Err(WebError::BadInput(format!(
            "纪要内容不能为空，且不超过 {MAX_MINUTES_CHARS} 字"
        )));
    }
    if app.catalog().unit(&form.unit_id).is_none() {
        return Err(WebError::BadInput(format!(
            "未知的成员单位 {}",
            form.unit_id
        )));
    }
    let (row, _) = load_case(app, &web, &form.case_id).await?;
    match submit_event(
        app,
        &web,
        row.case.id,
        Action::Minutes {
            unit_id: form.unit_id.clone(),
            text: text.to_owned(),
        },
        Vec::new(),
        None,
    )
    .await?
    {
        Ok(_) => Ok(Redirect::to("/dashboard/meeting").into_response()),
        Err((code, message)) => Err(WebError::BadInput(format!(
            "纪要未记录：{message}（{code}）"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

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

    #[test]
    fn routing_card_shows_supervisor_rules_version_and_expiry() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let routing = decision();
        let html = routing_card(Some(&routing), day(2025, 8, 5));
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
        let html = routing_card(Some(&routing), day(2025, 8, 6));
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
        let html = routing_card(Some(&old), day(2026, 1, 1));
        assert!(html.contains("规则版本未记录"), "{html}");
        assert!(!html.contains("rules-expired"));
    }
}
