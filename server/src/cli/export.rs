//! `export cases --out FILE.csv`: every case, one row each, for the street office's spreadsheets.
//! UTF-8 with a byte-order mark and CRLF lines so Excel opens Chinese text correctly; times in
//! Beijing time; Chinese headers, with the stable codes in their own columns.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use xuncha_core::time::format_local;

use super::CliError;
use crate::http::open311::requests::agency_responsible;
use crate::policy::catalog::Catalog;
use crate::storage::{CaseQuery, CaseScope, CaseSort, query_all};
use crate::storage::{CaseRow, Storage};

pub const HEADERS: [&str; 28] = [
    "案件编号",
    "案件ID",
    "类别",
    "类别代码",
    "状态",
    "状态代码",
    "旧楼区",
    "旧楼区编号",
    "区",
    "街道",
    "社区",
    "楼栋",
    "单元",
    "位置说明",
    "问题描述",
    "纬度(WGS-84)",
    "经度(WGS-84)",
    "上报时间",
    "上报人角色",
    "派遣时限",
    "派遣时间",
    "责任单位",
    "责任单位编号",
    "处置时限",
    "处置时间",
    "结案时间",
    "返工次数",
    "退回次数",
];

/// One CSV field: quoted when it must be, and neutralised by the dashboard's formula guard
/// ([`crate::http::dashboard::export::formula_safe`]) so a description typed by a resident cannot run
/// as a spreadsheet formula.
pub fn csv_field(value: &str) -> String {
    let value = crate::http::dashboard::export::formula_safe(value);
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.into_owned()
    }
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(format_local).unwrap_or_default()
}

pub fn case_row(row: &CaseRow, catalog: &Catalog) -> Vec<String> {
    let case = &row.case;
    let estate = catalog.estates().get(&case.estate_id);
    let from_estate = |pick: fn(&xuncha_core::Estate) -> &String| {
        estate.map(|e| pick(e).clone()).unwrap_or_default()
    };
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    vec![
        row.number.clone().unwrap_or_default(),
        case.id.to_string(),
        case.category.info().name_zh.to_owned(),
        case.category.code().to_owned(),
        case.status.name_zh().to_owned(),
        case.status.code().to_owned(),
        from_estate(|e| &e.name),
        case.estate_id.clone(),
        from_estate(|e| &e.district),
        from_estate(|e| &e.street),
        from_estate(|e| &e.community),
        text(&case.building),
        text(&case.unit_no),
        text(&case.location_note),
        text(&case.description),
        case.location
            .as_ref()
            .map(|g| format!("{:.6}", g.lat))
            .unwrap_or_default(),
        case.location
            .as_ref()
            .map(|g| format!("{:.6}", g.lon))
            .unwrap_or_default(),
        format_local(case.reported_at),
        case.reported_by.role.name_zh().to_owned(),
        format_local(case.dispatch_due),
        time(case.dispatched_at),
        agency_responsible(row, catalog).unwrap_or_default(),
        text(&case.assigned_unit),
        time(case.handle_due),
        time(case.handled_at),
        time(case.closed_at),
        case.rework_count.to_string(),
        case.return_count.to_string(),
    ]
}

/// The whole file as bytes: BOM, header, one line per case (oldest report first).
pub fn render(rows: &[CaseRow], catalog: &Catalog) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let mut line = |fields: Vec<String>| {
        let cells: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    line(HEADERS.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(case_row(row, catalog));
    }
    out.into_bytes()
}

/// Writes all cases to `out` (through a temporary file, so a failed export leaves no half file).
pub async fn export_cases(storage: &dyn Storage, out: &Path) -> Result<usize, CliError> {
    let catalog = storage.load_catalog().await?;
    let mut all = CaseQuery::new(CaseScope::All, chrono::Utc::now());
    all.sort = CaseSort::Oldest;
    let mut rows = query_all(storage, all).await?;
    // Same order as before the query existed: reported time, then id as a UUID.
    rows.sort_by(|a, b| {
        a.case
            .reported_at
            .cmp(&b.case.reported_at)
            .then(a.case.id.cmp(&b.case.id))
    });
    let bytes = render(&rows, &catalog);
    let write_error = |source| CliError::Write {
        path: out.to_owned(),
        source,
    };
    let partial = out.with_extension("csv.partial");
    let mut file = std::fs::File::create(&partial).map_err(write_error)?;
    file.write_all(&bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    std::fs::rename(&partial, out).map_err(write_error)?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("长春里"), "长春里");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("说\"不\""), "\"说\"\"不\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-3"), "-3");
        assert_eq!(csv_field("\t=1+1"), "'\t=1+1");
        assert_eq!(csv_field("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(csv_field("第一行\n第二行"), "\"第一行\n第二行\"");
    }

    #[test]
    fn empty_export_has_bom_and_header() {
        let bytes = render(&[], &Catalog::default());
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert!(text.starts_with("\u{feff}案件编号,案件ID,类别,类别代码"));
        assert!(text.ends_with("退回次数\r\n"));
    }
}
