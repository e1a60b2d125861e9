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
use xuncha_core::kpi::{self, KPI_COLUMNS, Kpi, KpiGroup, KpiKind, KpiRow, Quarter};

use super::chart::{Bar, Scale, bar_chart};
use super::error::{BadInput, WebError};
use super::export::{Cell, Table, csv_download, xlsx_download};
use super::layout::{html_response, options, page};
use super::reader::ScopedReader;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KpiQuery {
    /// `2026Q4`; default: the current Beijing quarter.
    pub quarter: String,
    /// A code of [`GROUPS`]; default `unit`.
    pub group: String,
    /// Only cases at estates of this district (`和平区`); default: every district in scope.
    pub district: String,
}

/// The groupings offered: (query value, grouping, column label). A district or street is the
/// estate's (where the case is), not the responsible unit's: city-level units (gas, water,
/// power) serve every district, and 三(一)1 charges each district and street office with the
/// estates in its area.
pub const GROUPS: [(&str, KpiGroup, &str); 5] = [
    ("unit", KpiGroup::Unit, "责任单位"),
    ("district", KpiGroup::District, "区"),
    ("street", KpiGroup::Street, "街道"),
    ("community", KpiGroup::Community, "社区"),
    ("estate", KpiGroup::Estate, "小区"),
];

struct Resolved {
    quarter: QuarterArg,
    group: KpiGroup,
    group_code: &'static str,
    group_label: &'static str,
    /// Empty: every district.
    district: String,
}

fn resolve(q: &KpiQuery) -> Result<Resolved, WebError> {
    let quarter = if q.quarter.trim().is_empty() {
        QuarterArg::of(Utc::now().with_timezone(&Shanghai).date_naive())
    } else {
        QuarterArg::parse(&q.quarter).ok_or_else(|| BadInput::Quarter(q.quarter.clone()))?
    };
    let code = if q.group.is_empty() { "unit" } else { &q.group };
    let (group_code, group, group_label) = GROUPS
        .into_iter()
        .find(|(c, _, _)| *c == code)
        .ok_or_else(|| BadInput::KpiGroup(q.group.clone()))?;
    Ok(Resolved {
        quarter,
        group,
        group_code,
        group_label,
        district: q.district.trim().to_owned(),
    })
}

/// The quarter's rows, labelled for people (unit rows carry the unit's name).
async fn lines(reader: &ScopedReader, r: &Resolved) -> Result<Vec<KpiRow>, WebError> {
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
    let estates = reader.estates();
    if !r.district.is_empty() {
        rows.retain(|row| {
            estates
                .iter()
                .any(|e| e.id == row.case.estate_id && e.district == r.district)
        });
    }
    let events = reader.events_of(&rows).await?;
    let cases: Vec<xuncha_core::Case> = rows.into_iter().map(|r| r.case).collect();
    let mut computed = kpi::compute(&cases, &events, &estates, period, r.group);
    if r.group == KpiGroup::Unit {
        // Unit rows are keyed by unit id: show the directory's name.
        let catalog = reader.catalog();
        for row in &mut computed {
            if let Some(unit) = catalog.unit(&row.key) {
                row.label = unit.name.clone();
            }
        }
    }
    Ok(computed)
}

/// The districts of the estates in the catalog, for the district filter.
fn districts(reader: &ScopedReader) -> Vec<String> {
    let mut names: Vec<String> = reader.estates().into_iter().map(|e| e.district).collect();
    names.sort();
    names.dedup();
    names
}

pub async fn kpi_page(
    reader: ScopedReader,
    Query(q): Query<KpiQuery>,
) -> Result<Response, WebError> {
    let r = resolve(&q)?;
    let lines = lines(&reader, &r).await?;
    let qs = r.query_string();
    let body = html! {
        (quarter_form(&r, &districts(&reader)))
        h2 { (r.title()) }
        p.meta id="kpi-formulas" {
            (kpi::formula_note()) "；时间按北京时间季度划分，只统计您可见的案件。"
            "区、街道按案件所在旧楼区划分。把鼠标停在表头上可看各项的定义。"
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
        self.query_for(self.quarter)
    }

    fn query_for(&self, quarter: QuarterArg) -> String {
        let mut qs = form_urlencoded::Serializer::new(String::new());
        qs.append_pair("quarter", &quarter.code())
            .append_pair("group", self.group_code);
        if !self.district.is_empty() {
            qs.append_pair("district", &self.district);
        }
        qs.finish()
    }

    /// `2026年第4季度 · 和平区 · 统计口径：街道`: the period and the filters, for the page's
    /// heading and the spreadsheet's title row.
    fn title(&self) -> String {
        let mut parts = vec![self.quarter.name_zh()];
        if !self.district.is_empty() {
            parts.push(self.district.clone());
        }
        parts.push(format!("统计口径：{}", self.group_label));
        parts.join(" · ")
    }
}

/// The quarter, grouping and district form, with links to the neighbouring quarters.
fn quarter_form(r: &Resolved, districts: &[String]) -> Markup {
    let groups = GROUPS.map(|(code, _, label)| (code, label));
    let district_options: Vec<(&str, &str)> = std::iter::once(("", "全部"))
        .chain(districts.iter().map(|d| (d.as_str(), d.as_str())))
        .collect();
    html! {
        form method="get" action="/dashboard/kpi" class="filters" id="kpi-filter" {
            a href={ "/dashboard/kpi?" (r.query_for(r.quarter.previous())) } { "‹ 上一季度" }
            label { "季度 " input name="quarter" value=(r.quarter.code()) size="7" pattern="[0-9]{4}[Qq][1-4]"; }
            a href={ "/dashboard/kpi?" (r.query_for(r.quarter.next())) } { "下一季度 ›" }
            label { "统计口径 " select name="group" { (options(groups, r.group_code)) } }
            label { "区 " select name="district" { (options(district_options, &r.district)) } }
            button type="submit" { "查询" }
        }
    }
}

async fn export_table(reader: &ScopedReader, q: &KpiQuery) -> Result<(Table, String), WebError> {
    let r = resolve(q)?;
    let lines = lines(reader, &r).await?;
    let mut table = kpi_export(&lines, r.group_label, r.quarter);
    table.title = Some(format!("考核评价 · {}", r.title()));
    Ok((table, format!("考核{}_{}", r.quarter.code(), r.group_code)))
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

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// One figure as the page shows it: a rate with its fraction (`33.3%（1/3）`, `—（0/0）`), the
/// handling time in hours, a count as is.
fn shown(row: &KpiRow, k: Kpi) -> String {
    match k.def().kind {
        KpiKind::Rate { .. } => {
            let (num, den) = row.fraction(k).unwrap_or_default();
            format!("{}（{num}/{den}）", pct(row.value(k)))
        }
        KpiKind::Hours => row
            .value(k)
            .map_or_else(|| "—".to_string(), |h| format!("{h:.1} 小时")),
        KpiKind::Count => row.count(k).unwrap_or_default().to_string(),
    }
}

/// A column's header: the figure's name, with its unit in exports (`平均处置时长(小时)`).
fn header(k: Kpi, with_unit: bool) -> String {
    match k.def().kind {
        KpiKind::Hours if with_unit => format!("{}(小时)", k.name()),
        _ => k.name().to_owned(),
    }
}

/// The KPI table; every header explains its figure on hover.
pub fn kpi_table(lines: &[KpiRow], group_label: &str) -> Markup {
    if lines.is_empty() {
        return html! { p.empty { "本季度没有可考核的案件。" } };
    }
    html! {
        table.kpi id="kpi-table" {
            thead {
                tr {
                    th { (group_label) }
                    @for k in KPI_COLUMNS {
                        th data-kpi=(header(k, false)) {
                            abbr title=(k.explanation()) { (header(k, false)) }
                        }
                    }
                }
            }
            tbody {
                @for l in lines {
                    tr {
                        td { (l.label) }
                        @for k in KPI_COLUMNS { td { (shown(l, k)) } }
                    }
                }
            }
        }
    }
}

/// One chart per rate and one of the handling time, titled by the figures' definitions.
pub fn kpi_charts(lines: &[KpiRow]) -> Markup {
    let charted = KPI_COLUMNS
        .into_iter()
        .filter(|k| !matches!(k.def().kind, KpiKind::Count));
    html! {
        div.charts {
            @for k in charted {
                @let bars: Vec<Bar<'_>> = lines
                    .iter()
                    .map(|l| Bar { label: &l.label, value: l.value(k) })
                    .collect();
                @let scale = match k.def().kind {
                    KpiKind::Hours => Scale::Quantity("小时"),
                    _ => Scale::Rate,
                };
                (bar_chart(k.name(), &bars, scale))
            }
        }
    }
}

/// The KPI table for CSV/XLSX: the page's columns, rates as fractions with a percent format.
pub fn kpi_export(lines: &[KpiRow], group_label: &str, quarter: QuarterArg) -> Table {
    let headers = std::iter::once(group_label.to_owned())
        .chain(KPI_COLUMNS.iter().map(|k| header(*k, true)))
        .collect();
    Table {
        sheet: format!("考核{}", quarter.code()),
        title: None,
        headers,
        rows: lines
            .iter()
            .map(|l| {
                std::iter::once(Cell::from(l.label.clone()))
                    .chain(KPI_COLUMNS.iter().map(|k| match k.def().kind {
                        KpiKind::Rate { .. } => Cell::rate(l.value(*k)),
                        _ => l.value(*k).into(),
                    }))
                    .collect()
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

    fn sample() -> Vec<KpiRow> {
        vec![KpiRow {
            key: "heping.city_management".into(),
            label: "和平区城市管理委员会".into(),
            due: 3,
            closed_on_time: 1,
            closed: 3,
            dispatched: 5,
            handled: 4,
            returned: 0,
            reopened: 1,
            on_time_rate: Some(1.0 / 3.0),
            closure_rate: Some(1.0),
            rework_rate: Some(0.25),
            return_rate: Some(0.0),
            avg_handle_hours: Some(30.25),
        }]
    }

    #[test]
    fn table_shows_fractions_and_explains_every_column() {
        let mut lines = sample();
        lines[0].dispatched = 0;
        lines[0].return_rate = None;
        let html = kpi_table(&lines, "责任单位").into_string();
        assert!(html.contains("<td>33.3%（1/3）</td>"), "{html}");
        assert!(html.contains("<td>100.0%（3/3）</td>"), "{html}");
        assert!(html.contains("<td>25.0%（1/4）</td>"), "{html}");
        assert!(html.contains("<td>—（0/0）</td>"), "{html}");
        assert!(html.contains("30.2 小时"));
        for k in KPI_COLUMNS {
            assert!(
                html.contains(&format!("<abbr title=\"{}\">", k.explanation())),
                "{k:?} has a hover explanation"
            );
        }
        assert!(html.contains("结案率 = 结案 / 应结："), "{html}");
    }

    #[test]
    fn export_has_the_page_columns_with_rates_as_fractions() {
        let lines = sample();
        let table = kpi_export(
            &lines,
            "责任单位",
            QuarterArg {
                year: 2026,
                quarter: 4,
            },
        );
        assert_eq!(
            table.headers,
            [
                "责任单位",
                "应结",
                "按期结案",
                "结案",
                "派遣",
                "处置",
                "退回",
                "返工",
                "按期结案率",
                "结案率",
                "返工率",
                "退回率",
                "平均处置时长(小时)"
            ]
        );
        assert_eq!(table.rows[0][8], Cell::Rate(1.0 / 3.0));
        assert_eq!(table.rows[0][12], Cell::Number(30.25));
        assert!(
            table
                .to_csv()
                .contains("和平区城市管理委员会,3,1,3,5,4,0,1,0.3333,1,0.25,0,30.25"),
            "{}",
            table.to_csv()
        );
        let mut none = lines.clone();
        none[0].return_rate = None;
        assert_eq!(
            kpi_export(
                &none,
                "x",
                QuarterArg {
                    year: 2026,
                    quarter: 4
                }
            )
            .rows[0][11],
            Cell::Empty
        );
        assert_eq!(
            kpi_charts(&lines).into_string().matches("<figure").count(),
            5
        );
    }

    #[test]
    fn every_grouping_resolves_and_titles_name_the_filters() {
        for (code, group, label) in GROUPS {
            let r = resolve(&KpiQuery {
                quarter: "2026Q4".into(),
                group: code.into(),
                district: String::new(),
            })
            .unwrap();
            assert_eq!((r.group, r.group_label), (group, label));
        }
        let r = resolve(&KpiQuery {
            quarter: "2026Q4".into(),
            group: "street".into(),
            district: "和平区".into(),
        })
        .unwrap();
        assert_eq!(r.title(), "2026年第4季度 · 和平区 · 统计口径：街道");
        assert!(r.query_string().contains("district=%E5%92%8C"));
        assert!(
            resolve(&KpiQuery {
                group: "bogus".into(),
                ..Default::default()
            })
            .is_err()
        );
    }
}
