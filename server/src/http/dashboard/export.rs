//! Tables the dashboard offers for download, as CSV (UTF-8 with BOM, so Excel on Chinese Windows
//! opens it correctly) and as XLSX. One [`Table`] feeds both formats.
//!
//! In XLSX, times are real Excel date-times on Beijing's wall clock with a date format, rates are
//! numbers with a percent format, coordinates numbers with six decimals; every column is as wide
//! as its content, a title row names the period and filters, and the bold header row is frozen.
//! In CSV, times are Beijing time as text (`2026-11-27 09:30`), rates fractions (`0.3333`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};
use xuncha_core::time::{format_local, to_local};

use super::error::{Internal, WebError};

/// A cell: text or a number (numbers stay numeric in XLSX so sums and sorting work).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// A fraction shown as a percentage (0.3333 → 33.3%).
    Rate(f64),
    /// A moment, shown in Beijing time.
    Time(DateTime<Utc>),
    /// A latitude or longitude in degrees (six decimals, about 0.1 m).
    Degrees(f64),
    Empty,
}

impl Cell {
    /// A rate, empty when there is none (zero denominator) or it is not finite.
    pub fn rate(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Rate(v),
            _ => Cell::Empty,
        }
    }

    /// A moment, empty when there is none.
    pub fn time(at: Option<DateTime<Utc>>) -> Cell {
        at.map_or(Cell::Empty, Cell::Time)
    }

    /// Degrees, empty when there are none.
    pub fn degrees(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Degrees(v),
            _ => Cell::Empty,
        }
    }

    /// The text the cell shows in CSV (and the width it needs in XLSX).
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) | Cell::Rate(n) => format_number(*n),
            Cell::Time(at) => format_local(*at),
            Cell::Degrees(d) => format!("{d:.6}"),
            Cell::Empty => String::new(),
        }
    }
}

impl From<DateTime<Utc>> for Cell {
    fn from(at: DateTime<Utc>) -> Cell {
        Cell::Time(at)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Number(v),
            _ => Cell::Empty,
        }
    }
}

impl From<u32> for Cell {
    fn from(v: u32) -> Cell {
        Cell::Number(f64::from(v))
    }
}

/// A titled table with a header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Sheet name in XLSX (at most 31 characters, no `[]:*?/\`).
    pub sheet: String,
    /// The XLSX title row above the header (period and filters); CSV has none, so its first line
    /// stays the header.
    pub title: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Why a spreadsheet could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("生成 XLSX 失败: {0}")]
    Xlsx(#[from] XlsxError),
}

impl ExportError {
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Xlsx(_) => "EXPORT_XLSX_FAILED",
        }
    }
}

/// Characters that make a spreadsheet treat a cell as a formula when they lead it (CSV
/// injection, OWASP): `= + - @`, a TAB or CR (Excel skips them and reads what follows), and the
/// full-width `＝ ＋ － ＠` that Chinese input methods produce.
const FORMULA_LEADS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// The one CSV formula guard (dashboard and `export cases`): text that a spreadsheet would run as
/// a formula gets a leading `'`; plain numbers such as `-3` stay numbers.
pub fn formula_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_LEADS) && text.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn csv_field(text: &str, out: &mut String) {
    let text = formula_safe(text);
    let guarded = matches!(text, std::borrow::Cow::Owned(_));
    if guarded || text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

impl Table {
    /// RFC 4180 CSV with CRLF line ends, preceded by a UTF-8 BOM.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        let push_row = |cells: &mut dyn Iterator<Item = String>, out: &mut String| {
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                csv_field(&cell, out);
            }
            out.push_str("\r\n");
        };
        push_row(&mut self.headers.iter().cloned(), &mut out);
        for row in &self.rows {
            push_row(&mut row.iter().map(Cell::text), &mut out);
        }
        out
    }

    /// An XLSX workbook with one sheet: the title row (if any), the bold frozen header row,
    /// typed cells, and columns as wide as their content.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, ExportError> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name(&self.sheet)?;
        let bold = Format::new().set_bold();
        let title_format = Format::new().set_bold().set_font_size(14);
        let time_format = Format::new().set_num_format(XLSX_TIME_FORMAT);
        let rate_format = Format::new().set_num_format(XLSX_RATE_FORMAT);
        let degrees_format = Format::new().set_num_format("0.000000");
        let col_num = |col: usize| u16::try_from(col).unwrap_or(u16::MAX);
        let mut header_row = 0;
        if let Some(title) = &self.title {
            sheet.write_string_with_format(0, 0, title, &title_format)?;
            header_row = 1;
        }
        for (col, header) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(header_row, col_num(col), header, &bold)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let r = u32::try_from(r).unwrap_or(u32::MAX - 2) + header_row + 1;
            for (col, cell) in row.iter().enumerate() {
                let col = col_num(col);
                match cell {
                    Cell::Text(s) => {
                        sheet.write_string(r, col, s)?;
                    }
                    Cell::Number(n) => {
                        sheet.write_number(r, col, *n)?;
                    }
                    Cell::Rate(n) => {
                        sheet.write_number_with_format(r, col, *n, &rate_format)?;
                    }
                    Cell::Degrees(n) => {
                        sheet.write_number_with_format(r, col, *n, &degrees_format)?;
                    }
                    Cell::Time(at) => match excel_local_time(*at) {
                        Some(t) => {
                            sheet.write_datetime_with_format(r, col, t, &time_format)?;
                        }
                        None => {
                            sheet.write_string(r, col, format_local(*at))?;
                        }
                    },
                    Cell::Empty => {}
                }
            }
        }
        for (col, width) in self.column_widths().into_iter().enumerate() {
            sheet.set_column_width(col_num(col), width)?;
        }
        sheet.set_freeze_panes(header_row + 1, 0)?;
        Ok(workbook.save_to_buffer()?)
    }

    /// Each column's width in Excel character units: its widest header or cell (CJK characters
    /// count twice), plus a margin, between 6 and 60.
    pub fn column_widths(&self) -> Vec<f64> {
        let count = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.headers.len()))
            .max()
            .unwrap_or(0);
        (0..count)
            .map(|col| {
                let header = self.headers.get(col).map_or(0, |h| display_width(h));
                let widest = self
                    .rows
                    .iter()
                    .filter_map(|row| row.get(col))
                    .map(|cell| match cell {
                        // Shown as `2026-11-27 09:30` and `33.3%`.
                        Cell::Time(_) => 16,
                        Cell::Rate(_) => 7,
                        other => other.text().lines().map(display_width).max().unwrap_or(0),
                    })
                    .fold(header, usize::max);
                (widest as f64 + 2.0).clamp(6.0, 60.0)
            })
            .collect()
    }
}

/// The XLSX number format of times: Beijing wall-clock date and minute.
pub const XLSX_TIME_FORMAT: &str = "yyyy-mm-dd hh:mm";
/// The XLSX number format of rates.
pub const XLSX_RATE_FORMAT: &str = "0.0%";

/// Beijing's wall clock at `at` as an Excel date-time (Excel has no time zones); `None` outside
/// Excel's range (before 1900 or after 9999).
fn excel_local_time(at: DateTime<Utc>) -> Option<ExcelDateTime> {
    let local = to_local(at)?.naive_local().and_utc();
    ExcelDateTime::from_timestamp(local.timestamp()).ok()
}

/// Columns a text takes in a spreadsheet or a chart: wide (CJK, full-width) characters count two.
pub fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

/// A table as a CSV download named `file_stem.csv`.
pub fn csv_download(table: &Table, file_stem: &str) -> Response {
    download(
        table.to_csv().into_bytes(),
        "text/csv; charset=utf-8",
        &format!("{file_stem}.csv"),
    )
}

/// A table as an XLSX download named `file_stem.xlsx` (built off the async runtime).
pub async fn xlsx_download(table: Table, file_stem: &str) -> Result<Response, WebError> {
    let bytes = tokio::task::spawn_blocking(move || table.to_xlsx())
        .await
        .map_err(|_| Internal::ExportTask)?
        .map_err(Internal::Export)?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{file_stem}.xlsx"),
    ))
}

/// A file download with a UTF-8 file name (RFC 6266 `filename*`; our names hold no spaces, the
/// one character form encoding writes differently from RFC 5987).
fn download(bytes: Vec<u8>, content_type: &'static str, file_name: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(file_name.as_bytes()).collect();
    let disposition = format!("attachment; filename=\"export\"; filename*=UTF-8''{encoded}");
    let mut resp = (StatusCode::OK, bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Integers without a decimal point; other numbers with up to 4 decimals.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        let s = format!("{n:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            sheet: "案件".into(),
            title: None,
            headers: vec!["编号".into(), "小区".into(), "比率".into()],
            rows: vec![
                vec!["a,1".into(), "长春里".into(), Cell::Number(0.5)],
                vec!["=cmd()".into(), "说\"明\"".into(), Cell::Empty],
                vec!["-3".into(), "x".into(), Cell::Number(3.0)],
            ],
        }
    }

    #[test]
    fn csv_quotes_escapes_and_guards_formulas() {
        let csv = sample().to_csv();
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert!(csv.starts_with('\u{feff}'));
        assert_eq!(lines[0], "编号,小区,比率");
        assert_eq!(lines[1], "\"a,1\",长春里,0.5");
        assert_eq!(lines[2], "\"'=cmd()\",\"说\"\"明\"\"\",");
        assert_eq!(lines[3], "-3,x,3");
    }

    #[test]
    fn a_leading_tab_or_cr_is_a_formula_too() {
        for text in ["\t=cmd()", "\r=cmd()", "＝1+1", "\t@SUM(A1)"] {
            assert_eq!(formula_safe(text), format!("'{text}"), "{text:?}");
        }
        assert_eq!(formula_safe("-3.5"), "-3.5");
        assert_eq!(formula_safe("长春里"), "长春里");
        let table = Table {
            sheet: "t".into(),
            title: None,
            headers: vec!["a".into()],
            rows: vec![vec!["\t=cmd()".into()], vec!["\r=cmd()".into()]],
        };
        let csv = table.to_csv();
        assert!(csv.contains("\"'\t=cmd()\""), "{csv:?}");
        assert!(csv.contains("\"'\r=cmd()\""), "{csv:?}");
    }

    #[test]
    fn xlsx_is_a_zip_with_the_sheet() {
        let bytes = sample().to_xlsx().unwrap();
        assert_eq!(&bytes[..2], b"PK");
        assert!(bytes.len() > 1000);
    }

    #[test]
    fn every_column_is_as_wide_as_its_content() {
        let table = Table {
            sheet: "t".into(),
            title: None,
            headers: vec!["a".into(), "责任单位".into(), "时间".into(), "率".into()],
            rows: vec![vec![
                "x".into(),
                "河西区旧楼区设施设备维修养护中心".into(),
                Cell::Time(Utc::now()),
                Cell::Rate(0.5),
            ]],
        };
        // Minimum 6; 16 CJK characters = 32 + 2; a time 16 + 2; a rate's header 2 + 2 → 6.
        assert_eq!(table.column_widths(), vec![6.0, 34.0, 18.0, 9.0]);
    }

    #[test]
    fn invalid_sheet_name_is_a_clear_error() {
        let mut t = sample();
        t.sheet = "a/b".into();
        let err = t.to_xlsx().unwrap_err();
        assert_eq!(err.code(), "EXPORT_XLSX_FAILED");
    }
}
