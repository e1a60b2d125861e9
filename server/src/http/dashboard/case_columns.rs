//! The columns of a case export, written once for the dashboard's queue export (CSV and XLSX)
//! and the `export cases` command: [`CASE_COLUMNS`] is one list of (Chinese header, value), so
//! a column is added, moved or renamed in one line.
//!
//! Coordinates are offered both as stored (WGS-84) and as Chinese maps expect them (GCJ-02,
//! `xuncha_core::geo`); every deadline is its own column; the legal basis is the routing
//! decision's citations (section codes, and each citation shortened), or the category's policy
//! sections when the case was never routed.

use chrono::{DateTime, Utc};
use xuncha_core::Case;
use xuncha_core::estate::Estate;
use xuncha_core::geo::wgs84_to_gcj02;

use super::export::{Cell, Table};
use super::queue::Names;
use crate::model::CaseRow;

/// What a column's value may look up besides the case: names and the export's moment.
pub struct ExportContext<'a> {
    pub names: &'a Names<'a>,
    /// The moment "overdue" is judged at.
    pub now: DateTime<Utc>,
}

impl ExportContext<'_> {
    fn estate(&self, case: &Case) -> Option<&Estate> {
        self.names.estates.get(case.estate_id.as_str()).copied()
    }
}

/// A column: its header and how a case row fills it.
pub type CaseColumn = (&'static str, fn(&CaseRow, &ExportContext<'_>) -> Cell);

/// Longest a citation's quote is in the 依据摘要 column before it is cut with "…".
const BASIS_QUOTE_CHARS: usize = 40;

fn text(value: &Option<String>) -> Cell {
    Cell::from(value.clone().unwrap_or_default())
}

fn from_estate(row: &CaseRow, cx: &ExportContext<'_>, pick: fn(&Estate) -> &str) -> Cell {
    Cell::from(cx.estate(&row.case).map_or("", pick).to_owned())
}

fn gcj02(row: &CaseRow) -> Option<(f64, f64)> {
    row.case
        .location
        .as_ref()
        .map(|fix| wgs84_to_gcj02(fix.lat, fix.lon))
}

/// The unit at work on the case, or the one routing names before dispatch.
fn responsible(row: &CaseRow, cx: &ExportContext<'_>) -> Cell {
    match row.case.assigned_unit.as_deref() {
        Some(unit) => Cell::from(cx.names.unit(unit).to_owned()),
        None => Cell::from(row.routed().map(|r| r.owner.name).unwrap_or_default()),
    }
}

/// The routing decision's citations, one per line (`三(一)4：“…”`).
fn citations(row: &CaseRow) -> Vec<String> {
    row.routed()
        .map(|r| {
            r.legal_basis
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The section codes cited: each citation's label (`三(一)4`, `《…消防法》第二十八条`); the
/// category's policy sections when there is no routing decision.
fn basis_sections(row: &CaseRow, _: &ExportContext<'_>) -> Cell {
    let cited = citations(row);
    let labels: Vec<String> = if cited.is_empty() {
        row.case
            .category
            .info()
            .policy_sections
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        cited
            .iter()
            .map(|c| c.split_once('：').map_or(c.as_str(), |(l, _)| l).to_owned())
            .collect()
    };
    Cell::from(labels.join("；"))
}

/// Each citation cut to [`BASIS_QUOTE_CHARS`] characters, separated by "；" (one line per case,
/// so the CSV stays one line per row for simple tools).
fn basis_summary(row: &CaseRow, _: &ExportContext<'_>) -> Cell {
    let lines: Vec<String> = citations(row)
        .into_iter()
        .map(|c| {
            if c.chars().count() <= BASIS_QUOTE_CHARS {
                return c;
            }
            let cut: String = c.chars().take(BASIS_QUOTE_CHARS).collect();
            format!("{cut}…")
        })
        .collect();
    Cell::from(lines.join("；"))
}

/// The columns, in order.
pub const CASE_COLUMNS: [CaseColumn; 35] = [
    ("案件编号", |r, _| text(&r.number)),
    ("案件ID", |r, _| Cell::from(r.case.id.to_string())),
    ("类别", |r, _| Cell::from(r.case.category.info().name_zh)),
    ("类别代码", |r, _| Cell::from(r.case.category.code())),
    ("状态", |r, _| Cell::from(r.case.status.name_zh())),
    ("状态代码", |r, _| Cell::from(r.case.status.code())),
    ("旧楼区", |r, cx| from_estate(r, cx, |e| &e.name)),
    ("旧楼区编号", |r, _| {
        Cell::from(r.case.estate_id.clone())
    }),
    ("区", |r, cx| from_estate(r, cx, |e| &e.district)),
    ("街道", |r, cx| from_estate(r, cx, |e| &e.street)),
    ("社区", |r, cx| from_estate(r, cx, |e| &e.community)),
    ("楼栋", |r, _| text(&r.case.building)),
    ("单元", |r, _| text(&r.case.unit_no)),
    ("位置说明", |r, _| text(&r.case.location_note)),
    ("问题描述", |r, _| text(&r.case.description)),
    ("纬度(WGS-84)", |r, _| {
        Cell::degrees(r.case.location.as_ref().map(|g| g.lat))
    }),
    ("经度(WGS-84)", |r, _| {
        Cell::degrees(r.case.location.as_ref().map(|g| g.lon))
    }),
    ("纬度(GCJ-02)", |r, _| {
        Cell::degrees(gcj02(r).map(|g| g.0))
    }),
    ("经度(GCJ-02)", |r, _| {
        Cell::degrees(gcj02(r).map(|g| g.1))
    }),
    ("上报时间", |r, _| Cell::Time(r.case.reported_at)),
    ("上报单位", |r, cx| {
        Cell::from(cx.names.unit(&r.case.reported_by.unit_id).to_owned())
    }),
    ("上报人角色", |r, _| {
        Cell::from(r.case.reported_by.role.name_zh())
    }),
    ("派遣时限", |r, _| Cell::Time(r.case.dispatch_due)),
    ("派遣时间", |r, _| Cell::time(r.case.dispatched_at)),
    ("责任单位", responsible),
    ("责任单位编号", |r, _| text(&r.case.assigned_unit)),
    ("处置时限", |r, _| Cell::time(r.case.handle_due)),
    ("处置时间", |r, _| Cell::time(r.case.handled_at)),
    ("当前期限", |r, _| Cell::time(r.case.current_due())),
    ("是否超期", |r, cx| {
        Cell::from(if r.case.is_overdue(cx.now) {
            "是"
        } else {
            "否"
        })
    }),
    ("结案时间", |r, _| Cell::time(r.case.closed_at)),
    ("返工次数", |r, _| r.case.rework_count.into()),
    ("退回次数", |r, _| r.case.return_count.into()),
    ("依据条款", basis_sections),
    ("依据摘要", basis_summary),
];

/// The headers of [`CASE_COLUMNS`].
pub fn case_headers() -> Vec<String> {
    CASE_COLUMNS.iter().map(|(h, _)| (*h).to_owned()).collect()
}

/// One case as the export's cells.
pub fn case_cells(row: &CaseRow, cx: &ExportContext<'_>) -> Vec<Cell> {
    CASE_COLUMNS
        .iter()
        .map(|(_, value)| value(row, cx))
        .collect()
}

/// Cases as an export table named `sheet`, in the given order.
pub fn case_table(sheet: &str, rows: &[CaseRow], cx: &ExportContext<'_>) -> Table {
    Table {
        sheet: sheet.to_owned(),
        title: None,
        headers: case_headers(),
        rows: rows.iter().map(|r| case_cells(r, cx)).collect(),
    }
}
