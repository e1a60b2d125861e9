//! The evaluation page (三(一)1 quarterly evaluation): the KPI table per quarter and grouping, its
//! charts and its export. Figures come from `xuncha_core::kpi::compute` over the quarter's cases
//! of the user's scope (read through the [`ScopedReader`]) and their events; this module only
//! shows them.

use crate::http::extract::Query;
use axum::response::Response;
use chrono::{TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use maud::{Markup, html};
use serde::Deserialize;
use xuncha_core::kpi::{self, KpiGroup, KpiRow, Quarter};

use super::chart::{Bar, Scale, bar_chart};
use super::error::{BadInput, WebError};
use super::export::{Cell, Table, csv_download, xlsx_download};
use super::layout::{head_row, html_response, options, page};
use super::reader::ScopedReader;

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
        QuarterArg::parse(&q.quarter).ok_or_else(|| BadInput::Quarter(q.quarter.clone()))?
    };
    let (group, group_code, group_label) = match q.group.as_str() {
        "" | "unit" => (KpiGroup::Unit, "unit", "责任单位"),
        "community" => (KpiGroup::Community, "community", "社区"),
        "estate" => (KpiGroup::Estate, "estate", "小区"),
        other => return Err(BadInput::KpiGroup(other.to_owned()).into()),
    };
    Ok(Resolved {
        quarter,
        group,
        group_code,
        group_label,
    })
}

async fn lines(reader: &ScopedReader, r: &Resolved) -> Result<Vec<KpiLine>, WebError> {
    let period = Quarter {
        year: r.quarter.year,
        quarter: r.quarter.quarter,
    };
    // The quarter's cases: reported before it ended and either still open (a deadline may fall
    // in it) or settled no earlier than its start (a closed or cancelled case's last event).
    let reported_to = period.end() - TimeDelta::microseconds(1);
    let mut open = reader.query();
    open.open = Some(true);
    open.reported_to = Some(reported_to);
    let mut settled = reader.query();
    settled.open = Some(false);
    settled.reported_to = Some(reported_to);
    settled.updated_from = Some(period.start());
    let mut rows = reader.all(open).await?;
    rows.extend(reader.all(settled).await?);
    let events = reader.events_of(&rows).await?;
    let cases: Vec<xuncha_core::Case> = rows.into_iter().map(|r| r.case).collect();
    let estates = reader.estates();
    let computed = kpi::compute(&cases, &events, &estates, period, r.group);
    let catalog = reader.catalog();
    Ok(computed
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
    reader: ScopedReader,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let r = resolve(&q)?;
    let lines = lines(&reader, &r).await?;
    let qs = r.query_string();
    let body = html! {
        (quarter_form(&r))
        h2 { (r.quarter.name_zh()) "（" (r.group_label) "）" }
        p.meta {
            (kpi::formula_note()) "；时间按北京时间季度划分，只统计您可见的案件。"
        }
        p.exports {
            "导出："
            a href={ "/dashboard/kpi.csv?" (qs) } id="kpi-csv" { "CSV" }
            a href={ "/dashboard/kpi.xlsx?" (qs) } id="kpi-xlsx" { "Excel (XLSX)" }
        }
        (kpi_table(&lines, r.group_label))
        @if !lines.is_empty() { (kpi_charts(&lines)) }
    };
    let frame = reader.web().frame();
    Ok(html_response(page(
        "考核评价",
        "/dashboard/kpi",
        Some(&frame),
        body,
    )))
}

impl Resolved {
    fn query_string(&self) -> String {
        quarter_query(self.quarter, self.group_code)
    }
}

fn quarter_query(quarter: QuarterArg, group_code: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("quarter", &quarter.code())
        .append_pair("group", group_code)
        .finish()
}

/// The quarter and grouping form, with links to the neighbouring quarters.
fn quarter_form(r: &Resolved) -> Markup {
    html! {
        form method="get" action="/dashboard/kpi" class="filters" id="kpi-filter" {
            a href={ "/dashboard/kpi?" (quarter_query(r.quarter.previous(), r.group_code)) } { "‹ 上一季度" }
            label { "季度 " input name="quarter" value=(r.quarter.code()) size="7" pattern="[0-9]{4}[Qq][1-4]"; }
            a href={ "/dashboard/kpi?" (quarter_query(r.quarter.next(), r.group_code)) } { "下一季度 ›" }
            label { "统计口径 " select name="group" { (options(GROUPS, r.group_code)) } }
            button type="submit" { "查询" }
        }
    }
}

async fn export_table(reader: &ScopedReader, q: &KpiQuery) -> Result<(Table, String), WebError> {
    let r = resolve(q)?;
    let lines = lines(reader, &r).await?;
    Ok((
        kpi_export(&lines, r.group_label, r.quarter),
        format!("考核{}_{}", r.quarter.code(), r.group_code),
    ))
}

pub async fn kpi_csv(
    reader: ScopedReader,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let (table, name) = export_table(&reader, &q).await?;
    Ok(csv_download(&table, &name))
}

pub async fn kpi_xlsx(
    reader: ScopedReader,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let (table, name) = export_table(&reader, &q).await?;
    xlsx_download(table, &name).await
}

/// One row of the table as shown (the core's `KpiRow`, rates `None` where the denominator is 0).
#[derive(Debug, Clone, PartialEq)]
pub struct KpiLine {
    pub label: String,
    pub due: u32,
    pub closed_on_time: u32,
    pub closed: u32,
    pub dispatched: u32,
    pub returned: u32,
    pub reopened: u32,
    pub on_time_rate: Option<f64>,
    pub closure_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub return_rate: Option<f64>,
    pub avg_handle_hours: Option<f64>,
}

/// A quarter of the Beijing calendar, parsed from `2026Q4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarterArg {
    pub year: i32,
    pub quarter: u8,
}

impl QuarterArg {
    pub fn parse(text: &str) -> Option<QuarterArg> {
        let (year, q) = text.trim().split_once(['Q', 'q'])?;
        let year: i32 = year.parse().ok()?;
        let quarter: u8 = q.parse().ok()?;
        ((1..=4).contains(&quarter) && (2000..=2100).contains(&year))
            .then_some(QuarterArg { year, quarter })
    }

    pub fn of(date: chrono::NaiveDate) -> QuarterArg {
        use chrono::Datelike;
        QuarterArg {
            year: date.year(),
            quarter: u8::try_from((date.month0() / 3) + 1).unwrap_or(1),
        }
    }

    pub fn previous(self) -> QuarterArg {
        if self.quarter == 1 {
            QuarterArg {
                year: self.year - 1,
                quarter: 4,
            }
        } else {
            QuarterArg {
                year: self.year,
                quarter: self.quarter - 1,
            }
        }
    }

    pub fn next(self) -> QuarterArg {
        if self.quarter == 4 {
            QuarterArg {
                year: self.year + 1,
                quarter: 1,
            }
        } else {
            QuarterArg {
                year: self.year,
                quarter: self.quarter + 1,
            }
        }
    }

    pub fn code(self) -> String {
        format!("{}Q{}", self.year, self.quarter)
    }

    pub fn name_zh(self) -> String {
        format!("{}年第{}季度", self.year, self.quarter)
    }
}

/// Groupings offered on the page: (query value, Chinese label).
pub const GROUPS: [(&str, &str); 3] = [
    ("unit", "按责任单位"),
    ("community", "按社区"),
    ("estate", "按小区"),
];

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn hours(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |h| format!("{h:.1} 小时"))
}

/// The KPI columns in the order `KpiLine` fills them, once for the page and the export; only the
/// handling-time header differs (the export names its unit).
fn kpi_headers<'a>(group_label: &'a str, handling_time: &'a str) -> [&'a str; 12] {
    [
        group_label,
        "应结",
        "按期结案",
        "结案",
        "派遣",
        "退回",
        "返工",
        "按期结案率",
        "结案率",
        "返工率",
        "退回率",
        handling_time,
    ]
}

/// The KPI table.
pub fn kpi_table(lines: &[KpiLine], group_label: &str) -> Markup {
    if lines.is_empty() {
        return html! { p.empty { "本季度没有可考核的案件。" } };
    }
    let headers = kpi_headers(group_label, "平均处置时长");
    html! {
        table.kpi id="kpi-table" {
            (head_row(&headers))
            tbody {
                @for l in lines {
                    tr {
                        td { (l.label) }
                        td { (l.due) } td { (l.closed_on_time) } td { (l.closed) }
                        td { (l.dispatched) } td { (l.returned) } td { (l.reopened) }
                        td { (pct(l.on_time_rate)) } td { (pct(l.closure_rate)) }
                        td { (pct(l.rework_rate)) } td { (pct(l.return_rate)) }
                        td { (hours(l.avg_handle_hours)) }
                    }
                }
            }
        }
    }
}

/// The five charts of the page.
pub fn kpi_charts(lines: &[KpiLine]) -> Markup {
    let bars = |f: fn(&KpiLine) -> Option<f64>| -> Vec<Bar<'_>> {
        lines
            .iter()
            .map(|l| Bar {
                label: &l.label,
                value: f(l),
            })
            .collect()
    };
    html! {
        div.charts {
            (bar_chart("按期结案率", &bars(|l| l.on_time_rate), Scale::Rate))
            (bar_chart("结案率", &bars(|l| l.closure_rate), Scale::Rate))
            (bar_chart("返工率", &bars(|l| l.rework_rate), Scale::Rate))
            (bar_chart("退回率", &bars(|l| l.return_rate), Scale::Rate))
            (bar_chart("平均处置时长", &bars(|l| l.avg_handle_hours), Scale::Quantity("小时")))
        }
    }
}

/// The KPI table for CSV/XLSX (rates as fractions, so spreadsheets can format them).
pub fn kpi_export(lines: &[KpiLine], group_label: &str, quarter: QuarterArg) -> Table {
    let headers = kpi_headers(group_label, "平均处置时长(小时)");
    Table {
        sheet: format!("考核{}", quarter.code()),
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    Cell::from(l.label.clone()),
                    l.due.into(),
                    l.closed_on_time.into(),
                    l.closed.into(),
                    l.dispatched.into(),
                    l.returned.into(),
                    l.reopened.into(),
                    l.on_time_rate.into(),
                    l.closure_rate.into(),
                    l.rework_rate.into(),
                    l.return_rate.into(),
                    l.avg_handle_hours.into(),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn quarter_parsing_and_stepping() {
        assert_eq!(
            QuarterArg::parse("2026Q4"),
            Some(QuarterArg {
                year: 2026,
                quarter: 4
            })
        );
        assert_eq!(
            QuarterArg::parse("2026q1").unwrap().previous().code(),
            "2025Q4"
        );
        assert_eq!(QuarterArg::parse("2026Q4").unwrap().next().code(), "2027Q1");
        assert_eq!(QuarterArg::parse("2026Q5"), None);
        assert_eq!(QuarterArg::parse("abc"), None);
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(QuarterArg::of(d).name_zh(), "2026年第4季度");
    }

    #[test]
    fn table_and_export_show_missing_rates_as_dash_and_empty() {
        let lines = vec![KpiLine {
            label: "和平区城市管理委员会".into(),
            due: 4,
            closed_on_time: 3,
            closed: 4,
            dispatched: 5,
            returned: 1,
            reopened: 0,
            on_time_rate: Some(0.75),
            closure_rate: Some(1.0),
            rework_rate: Some(0.0),
            return_rate: None,
            avg_handle_hours: Some(30.25),
        }];
        let html = kpi_table(&lines, "责任单位").into_string();
        assert!(html.contains("75.0%") && html.contains("—") && html.contains("30.2 小时"));
        let table = kpi_export(
            &lines,
            "责任单位",
            QuarterArg {
                year: 2026,
                quarter: 4,
            },
        );
        assert_eq!(table.rows[0][7], Cell::Number(0.75));
        assert_eq!(table.rows[0][10], Cell::Empty);
        assert!(
            table
                .to_csv()
                .contains("和平区城市管理委员会,4,3,4,5,1,0,0.75,1,0,,30.25")
        );
        assert_eq!(
            kpi_charts(&lines).into_string().matches("<figure").count(),
            5
        );
    }
}
