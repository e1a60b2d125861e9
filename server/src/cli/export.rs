//! `export cases --out FILE.csv`: every case, one row each, for the street office's spreadsheets.
//! UTF-8 with a byte-order mark and CRLF lines so Excel opens Chinese text correctly; times in
//! Beijing time; Chinese headers, with the stable codes in their own columns.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::CliError;
use crate::http::dashboard::case_columns::{ExportContext, case_table};
use crate::http::dashboard::queue::Names;
use crate::policy::catalog::Catalog;
use crate::storage::{CaseQuery, CaseScope, CaseSort, query_all};
use crate::storage::{CaseRow, Storage};

/// The whole file as bytes: the dashboard's case columns
/// ([`crate::http::dashboard::case_columns::CASE_COLUMNS`]) as CSV with a BOM, one line per case
/// in the given order; "overdue" is judged at `now`.
pub fn render(rows: &[CaseRow], catalog: &Catalog, now: DateTime<Utc>) -> Vec<u8> {
    let names = Names {
        estates: catalog
            .estates()
            .iter()
            .map(|(id, e)| (id.as_str(), e))
            .collect(),
        units: catalog.units().iter().map(|u| (u.id.as_str(), u)).collect(),
    };
    let cx = ExportContext { names: &names, now };
    case_table("案件", rows, &cx).to_csv().into_bytes()
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
    let bytes = render(&rows, &catalog, chrono::Utc::now());
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
    fn empty_export_has_bom_and_header() {
        let bytes = render(&[], &Catalog::default(), Utc::now());
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert!(
            text.starts_with("\u{feff}案件编号,案件ID,类别,类别代码"),
            "{text}"
        );
        assert!(text.ends_with("依据摘要\r\n"), "{text}");
    }
}
