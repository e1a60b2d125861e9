//! KPI page handlers: the core's `kpi::compute` over the quarter's cases of the user's scope
//! (read with the storage case query) and their events.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

use super::export::Table;
use super::html::{esc, options};
use xuncha_core::kpi::{self, KpiGroup, KpiRow, Quarter};

use super::kpi_view::{GROUPS, KpiLine, QuarterArg, kpi_charts, kpi_export, kpi_table};
use super::web::{WebError, WebUser, download, load_visible, query_all, scoped_query, user_page};
use crate::http::app::AppState;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KpiQuery {
    /// `2026Q4`; default: the current Beijing quarter.
    pub quarter: String,
    /// `unit`, `community` or `estate`.
    pub group: String,
}

struct Resolved {
    quarter: QuarterArg,
    group: KpiGroup,
    group_code: &'static str,
    group_label: &'static str,
}

fn resolve(q: &KpiQuery) -> Result<Resolved, WebError> {
    let quarter = if q.quarter.trim().is_empty() {
        QuarterArg::of(Utc::now().with_timezone(&Shanghai).date_naive())
    } else {
        QuarterArg::parse(&q.quarter)
            .ok_or_else(|| WebError::BadInput(format!("季度格式应为 2026Q4：{}", q.quarter)))?
    };
    let (group, group_code, group_label) = match q.group.as_str() {
        "" | "unit" => (KpiGroup::Unit, "unit", "责任单位"),
        "community" => (KpiGroup::Community, "community", "社区"),
        "estate" => (KpiGroup::Estate, "estate", "小区"),
        other => return Err(WebError::BadInput(format!("未知的统计口径 {other}"))),
    };
    Ok(Resolved {
        quarter,
        group,
        group_code,
        group_label,
    })
}

async fn lines(state: &AppState, web: &WebUser, r: &Resolved) -> Result<Vec<KpiLine>, WebError> {
    let period = Quarter {
        year: r.quarter.year,
        quarter: r.quarter.quarter,
    };
    // The quarter's cases: reported before it ended and either still open (a deadline may fall
    // in it) or settled no earlier than its start (a closed or cancelled case's last event).
    let reported_to = period.end() - TimeDelta::microseconds(1);
    let mut visible = load_visible(
        state,
        web.user(),
        |q| {
            q.open = Some(true);
            q.reported_to = Some(reported_to);
        },
        false,
    )
    .await?;
    let settled = query_all(state, {
        let mut q = scoped_query(web.user(), &visible.catalog);
        q.open = Some(false);
        q.reported_to = Some(reported_to);
        q.updated_from = Some(period.start());
        q
    })
    .await?;
    visible.rows.extend(settled);
    visible.load_events(state).await?;
    let cases = visible.cases();
    let rows = kpi::compute(&cases, &visible.events, &visible.estates, period, r.group);
    let catalog = &visible.catalog;
    Ok(rows
        .iter()
        .map(|row| {
            // Unit rows are keyed by unit id: show the directory's name.
            let unit_name = (r.group == KpiGroup::Unit)
                .then(|| catalog.unit(&row.key).map(|u| u.name.clone()))
                .flatten();
            line(row, unit_name)
        })
        .collect())
}

fn line(row: &KpiRow, unit_name: Option<String>) -> KpiLine {
    KpiLine {
        label: unit_name.unwrap_or_else(|| row.label.clone()),
        due: row.due,
        closed_on_time: row.closed_on_time,
        closed: row.closed,
        dispatched: row.dispatched,
        returned: row.returned,
        reopened: row.reopened,
        on_time_rate: row.on_time_rate,
        closure_rate: row.closure_rate,
        rework_rate: row.rework_rate,
        return_rate: row.return_rate,
        avg_handle_hours: row.avg_handle_hours,
    }
}

pub async fn kpi_page(
    State(state): State<AppState>,
    web: WebUser,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let r = resolve(&q)?;
    let lines = lines(&state, &web, &r).await?;
    let qs = format!("quarter={}&group={}", r.quarter.code(), r.group_code);
    let mut body = format!(
        "<form method=\"get\" action=\"/dashboard/kpi\" class=\"filters\" id=\"kpi-filter\">\
         <a href=\"/dashboard/kpi?quarter={prev}&group={g}\">‹ 上一季度</a>\
         <label>季度 <input name=\"quarter\" value=\"{q}\" size=\"7\" pattern=\"[0-9]{{4}}[Qq][1-4]\"></label>\
         <a href=\"/dashboard/kpi?quarter={next}&group={g}\">下一季度 ›</a>\
         <label>统计口径 <select name=\"group\">{groups}</select></label><button type=\"submit\">查询</button></form>",
        prev = r.quarter.previous().code(),
        next = r.quarter.next().code(),
        q = esc(&r.quarter.code()),
        g = r.group_code,
        groups = options(GROUPS, r.group_code),
    );
    let _ = write!(
        body,
        "<h2>{}（{}）</h2><p class=\"meta\">按期结案率 = 按期结案 / 应结；结案率 = 结案 / 派遣；返工率 = 返工 / 结案；\
         退回率 = 退回 / 派遣；时间按北京时间季度划分，只统计您可见的案件。</p>\
         <p class=\"exports\">导出：<a href=\"/dashboard/kpi.csv?{qs}\" id=\"kpi-csv\">CSV</a>\
         <a href=\"/dashboard/kpi.xlsx?{qs}\" id=\"kpi-xlsx\">Excel (XLSX)</a></p>",
        r.quarter.name_zh(),
        r.group_label,
    );
    body.push_str(&kpi_table(&lines, r.group_label));
    if !lines.is_empty() {
        body.push_str(&kpi_charts(&lines));
    }
    Ok(user_page(&web, "考核评价", "/dashboard/kpi", &body))
}

async fn export_table(
    state: &AppState,
    web: &WebUser,
    q: &KpiQuery,
) -> Result<(Table, String), WebError> {
    let r = resolve(q)?;
    let lines = lines(state, web, &r).await?;
    Ok((
        kpi_export(&lines, r.group_label, r.quarter),
        format!("考核{}_{}", r.quarter.code(), r.group_code),
    ))
}

pub async fn kpi_csv(
    State(state): State<AppState>,
    web: WebUser,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let (table, name) = export_table(&state, &web, &q).await?;
    Ok(download(
        table.to_csv().into_bytes(),
        "text/csv; charset=utf-8",
        &format!("{name}.csv"),
    ))
}

pub async fn kpi_xlsx(
    State(state): State<AppState>,
    web: WebUser,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let (table, name) = export_table(&state, &web, &q).await?;
    let bytes = tokio::task::spawn_blocking(move || table.to_xlsx())
        .await
        .map_err(|_| WebError::Internal("export task failed".into()))?
        .map_err(|e| WebError::Internal(format!("{e}（{}）", e.code())))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{name}.xlsx"),
    ))
}
