//! The KPI page and the exports over real HTTP, on SQLite and PostgreSQL, with cases in two
//! districts (和平区 changchunli, 河西区 pingshandao): figures by district and by street (the
//! estate's), the printed formulas holding for the shown fractions, and the XLSX files read back
//! with a real reader (typed cells, percent and date formats, title row).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use calamine::{Data, Reader};
use chrono::{Datelike, Utc};
use serde_json::json;
use uuid::Uuid;

use common::{Backend, TestServer, both_backends, dashboard_cookie, event, outcome};
use xuncha_server::http::dashboard::export::{Cell, Table, XLSX_TIME_FORMAT};

async fn get(t: &TestServer, cookie: &str, path: &str) -> (u16, Vec<u8>) {
    common::dashboard_get(&t.base, cookie, path).await
}

async fn page(t: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    common::dashboard_page(&t.base, cookie, path).await
}

/// The cells of the KPI table's row labelled `label`, as text.
fn kpi_row(html: &str, label: &str) -> Vec<String> {
    let start = html
        .find(&format!("<tr><td>{label}</td>"))
        .unwrap_or_else(|| panic!("no row {label}: {html}"));
    let rest = &html[start..];
    let row = &rest[..rest.find("</tr>").unwrap()];
    row.split("<td>")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap().to_owned())
        .collect()
}

/// The KPI table's column headers (after the grouping's).
fn kpi_headers(html: &str) -> Vec<String> {
    html.split("<th data-kpi=\"")
        .skip(1)
        .map(|c| c.split('"').next().unwrap().to_owned())
        .collect()
}

/// The sheet's values and styles, read with calamine.
fn read_xlsx(bytes: Vec<u8>) -> (calamine::Range<Data>, calamine::StyleRange) {
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let name = book.sheet_names()[0].clone();
    (
        book.worksheet_range(&name).unwrap(),
        book.worksheet_style(&name).unwrap(),
    )
}

fn format_code(styles: &calamine::StyleRange, at: (u32, u32)) -> String {
    styles
        .get(at)
        .and_then(|s| s.number_format.as_ref())
        .map(|f| f.format_code.clone())
        .unwrap_or_default()
}

fn column(values: &calamine::Range<Data>, header_row: u32, header: &str) -> u32 {
    (0..values.width() as u32)
        .find(|&c| values.get_value((header_row, c)) == Some(&Data::String(header.into())))
        .unwrap_or_else(|| panic!("no column {header}"))
}

/// Two walkway cases at changchunli (和平区 南营门街道), one returned once and dispatched again,
/// and one at pingshandao (河西区 友谊路街道): 和平区 has 3 dispatches and 1 return, 河西区 1 and 0.
async fn two_districts(t: &TestServer) -> [Uuid; 3] {
    let heping_inspector = t.enrol("inspector.changchunli").await.access_token;
    let hexi_inspector = t.enrol("inspector.pingshandao").await.access_token;
    let heping_street = t.enrol("street.nanyingmen").await.access_token;
    let hexi_street = t
        .enrol("unit.hexi.youyilu.street_office")
        .await
        .access_token;
    let maintenance = t.enrol("unit.heping.maintenance").await.access_token;
    let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let walkway = |id: Uuid, estate: &str| {
        event(
            id,
            json!({ "kind": "REPORT", "category": "WALKWAY", "estate_id": estate,
                    "building": "3号楼", "location_note": "3号楼南侧甬路",
                    "description": "甬路塌陷约一平方米" }),
        )
    };
    let dispatch = |id: Uuid, unit: &str| event(id, json!({ "kind": "DISPATCH", "unit_id": unit }));
    let steps = [
        (
            &heping_inspector,
            vec![walkway(a, "changchunli"), walkway(b, "changchunli")],
        ),
        (&hexi_inspector, vec![walkway(c, "pingshandao")]),
        (
            &heping_street,
            vec![
                dispatch(a, "heping.maintenance"),
                dispatch(b, "heping.maintenance"),
            ],
        ),
        (
            &maintenance,
            vec![event(
                a,
                json!({ "kind": "RETURN", "reason": "甬路属产权单位" }),
            )],
        ),
        (&heping_street, vec![dispatch(a, "heping.city_management")]),
        (&hexi_street, vec![dispatch(c, "hexi.maintenance")]),
    ];
    for (token, events) in steps {
        for r in t.push(token, events).await.results {
            assert_eq!(outcome(&r), "APPLIED", "{r:?}");
        }
    }
    [a, b, c]
}

fn this_quarter() -> String {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    format!("{}年第{}季度", today.year(), today.month0() / 3 + 1)
}

async fn kpi_by_district_and_street(backend: Backend) {
    let t = TestServer::start(backend).await;
    two_districts(&t).await;
    let (_, admin) = dashboard_cookie(&t.base, "admin").await;

    let (status, html) = page(&t, &admin, "/dashboard/kpi?group=district").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<option value=\"district\" selected"),
        "{html}"
    );
    // The printed formulas are the definitions' ...
    assert!(html.contains(&xuncha_core::kpi::formula_note()), "{html}");
    assert!(html.contains("结案率 = 结案 / 应结"), "{html}");
    // ... and each holds for the fractions the table shows.
    let headers = kpi_headers(&html);
    let heping = kpi_row(&html, "和平区");
    let hexi = kpi_row(&html, "河西区");
    let cell = |row: &[String], name: &str| -> String {
        let i = headers.iter().position(|h| h == name).unwrap();
        row[i + 1].clone()
    };
    assert_eq!(cell(&heping, "派遣"), "3", "{heping:?}");
    assert_eq!(cell(&heping, "退回"), "1");
    assert_eq!(cell(&heping, "退回率"), "33.3%（1/3）");
    assert_eq!(cell(&hexi, "派遣"), "1", "{hexi:?}");
    assert_eq!(cell(&hexi, "退回率"), "0.0%（0/1）");
    for formula in xuncha_core::kpi::formula_note().split('；') {
        let (rate, rest) = formula.split_once(" = ").unwrap();
        let (num, den) = rest.split_once(" / ").unwrap();
        for row in [&heping, &hexi] {
            assert!(
                cell(row, rate).ends_with(&format!("（{}/{}）", cell(row, num), cell(row, den))),
                "{formula}: {row:?}"
            );
        }
    }
    // Every column explains itself on hover.
    assert_eq!(html.matches("<abbr title=\"").count(), headers.len());

    let (status, html) = page(&t, &admin, "/dashboard/kpi?group=street").await;
    assert_eq!(status, 200);
    assert_eq!(kpi_row(&html, "南营门街道")[4], "3");
    assert_eq!(kpi_row(&html, "友谊路街道")[4], "1");
    // The district filter keeps one district's streets.
    let (status, html) = page(
        &t,
        &admin,
        "/dashboard/kpi?group=street&district=%E5%92%8C%E5%B9%B3%E5%8C%BA",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("<tr><td>南营门街道</td>"), "{html}");
    assert!(!html.contains("<tr><td>友谊路街道</td>"), "{html}");
    assert!(html.contains(&format!("{} · 和平区 · 统计口径：街道", this_quarter())));

    let (status, html) = page(&t, &admin, "/dashboard/kpi?group=bogus").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("未知的统计口径"));

    // The export: title row with the period and filters, rates as numbers in percent format.
    let (status, bytes) = get(
        &t,
        &admin,
        "/dashboard/kpi.xlsx?group=street&district=%E5%92%8C%E5%B9%B3%E5%8C%BA",
    )
    .await;
    assert_eq!(status, 200);
    let (values, styles) = read_xlsx(bytes);
    assert_eq!(
        values.get_value((0, 0)),
        Some(&Data::String(format!(
            "考核评价 · {} · 和平区 · 统计口径：街道",
            this_quarter()
        )))
    );
    assert_eq!(values.get_value((1, 0)), Some(&Data::String("街道".into())));
    assert_eq!(
        values.get_value((2, 0)),
        Some(&Data::String("南营门街道".into()))
    );
    let rate = column(&values, 1, "退回率");
    assert_eq!(values.get_value((2, rate)), Some(&Data::Float(1.0 / 3.0)));
    assert_eq!(format_code(&styles, (2, rate)), "0.0%");
    let dispatched = column(&values, 1, "派遣");
    assert_eq!(values.get_value((2, dispatched)), Some(&Data::Float(3.0)));
    // CSV: the same columns, header first.
    let (status, bytes) = get(&t, &admin, "/dashboard/kpi.csv?group=district").await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(bytes).unwrap();
    assert!(
        csv.trim_start_matches('\u{feff}')
            .starts_with("区,应结,按期结案,结案,派遣,处置,退回,返工,按期结案率"),
        "{csv}"
    );
}

async fn case_exports_carry_every_column(backend: Backend) {
    let t = TestServer::start(backend).await;
    let [a, _, c] = two_districts(&t).await;
    let (_, admin) = dashboard_cookie(&t.base, "admin").await;
    let before = Utc::now();
    let (status, bytes) = get(&t, &admin, "/dashboard/cases.xlsx?scope=all").await;
    assert_eq!(status, 200);
    let (values, styles) = read_xlsx(bytes);
    let header_row = 0;
    let col = |h: &str| column(&values, header_row, h);
    let row_of = |id: Uuid| -> u32 {
        let id_col = col("案件ID");
        (1..values.height() as u32)
            .find(|&r| values.get_value((r, id_col)) == Some(&Data::String(id.to_string())))
            .unwrap_or_else(|| panic!("no row for {id}"))
    };
    let text = |r: u32, h: &str| -> String {
        match values.get_value((r, col(h))) {
            Some(Data::String(s)) => s.clone(),
            other => panic!("{h}: {other:?}"),
        }
    };
    let ra = row_of(a);
    assert_eq!(text(ra, "问题描述"), "甬路塌陷约一平方米");
    assert_eq!(text(ra, "位置说明"), "3号楼南侧甬路");
    assert_eq!(text(ra, "区"), "和平区");
    assert_eq!(text(row_of(c), "区"), "河西区");
    assert!(!text(ra, "上报单位").is_empty());
    assert!(
        text(ra, "依据条款").contains("三("),
        "{}",
        text(ra, "依据条款")
    );
    let summary = text(ra, "依据摘要");
    assert!(
        summary.contains("：“") && !summary.contains('\n'),
        "{summary}"
    );
    // Times are date-times on Beijing's clock with a date format.
    for h in ["上报时间", "派遣时限", "派遣时间", "处置时限", "当前期限"] {
        match values.get_value((ra, col(h))) {
            Some(Data::DateTime(t)) => {
                let local = t.as_datetime().unwrap();
                let beijing = before
                    .with_timezone(&chrono_tz::Asia::Shanghai)
                    .naive_local();
                assert!(
                    (local - beijing).num_days().abs() <= 20,
                    "{h}: {local} near {beijing}"
                );
            }
            other => panic!("{h} is not a date-time: {other:?}"),
        }
        assert_eq!(
            format_code(&styles, (ra, col(h))),
            "yyyy-mm-dd hh:mm",
            "{h}"
        );
    }
    match values.get_value((ra, col("上报时间"))) {
        Some(Data::DateTime(t)) => {
            let beijing = Utc::now()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .naive_local();
            let diff = (t.as_datetime().unwrap() - beijing).num_minutes().abs();
            assert!(diff <= 5, "reported now, in Beijing time ({diff} min off)");
        }
        other => panic!("{other:?}"),
    }
    // Both coordinate systems, as numbers.
    let float = |r: u32, h: &str| match values.get_value((r, col(h))) {
        Some(Data::Float(v)) => *v,
        other => panic!("{h}: {other:?}"),
    };
    let (lat, lon) = (float(ra, "纬度(WGS-84)"), float(ra, "经度(WGS-84)"));
    let (glat, glon) = xuncha_core::geo::wgs84_to_gcj02(lat, lon);
    assert!((float(ra, "纬度(GCJ-02)") - glat).abs() < 1e-9);
    assert!((float(ra, "经度(GCJ-02)") - glon).abs() < 1e-9);
    assert!((glon - lon).abs() > 1e-4, "GCJ-02 is offset from WGS-84");

    // CSV: same columns, times as Beijing text.
    let (status, bytes) = get(&t, &admin, "/dashboard/cases.csv?scope=all").await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(bytes).unwrap();
    let header = csv.trim_start_matches('\u{feff}').lines().next().unwrap();
    let expected: Vec<String> = xuncha_server::http::dashboard::case_columns::case_headers();
    assert_eq!(header, expected.join(","));
    assert!(csv.contains("甬路塌陷约一平方米") && csv.contains("3号楼南侧甬路"));
}

/// A table's XLSX, read back: typed cells on Beijing's clock, formats, bold title and header.
#[test]
fn xlsx_cells_are_typed_and_titled() {
    use calamine::Data;
    // 2026-11-27 01:30 UTC is 09:30 in Beijing.
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 27, 1, 30, 0).unwrap();
    let table = Table {
        sheet: "考核2026Q4".into(),
        title: Some("考核评价 · 2026年第4季度 · 和平区 · 统计口径：街道".into()),
        headers: vec![
            "街道".into(),
            "派遣时间".into(),
            "退回率".into(),
            "派遣".into(),
            "纬度(GCJ-02)".into(),
        ],
        rows: vec![vec![
            "南营门街道".into(),
            Cell::Time(at),
            Cell::Rate(1.0 / 3.0),
            3.into(),
            Cell::Degrees(39.114_321),
        ]],
    };
    let (values, styles) = read_xlsx(table.to_xlsx().unwrap());
    assert_eq!(
        values.get_value((0, 0)),
        Some(&Data::String(
            "考核评价 · 2026年第4季度 · 和平区 · 统计口径：街道".into()
        ))
    );
    let bold = |at| {
        styles
            .get(at)
            .and_then(|s| s.font.as_ref())
            .is_some_and(|f| f.is_bold())
    };
    assert!(
        bold((0, 0)) && bold((1, 0)) && bold((1, 4)),
        "title and header bold"
    );
    assert_eq!(
        values.get_value((1, 2)),
        Some(&Data::String("退回率".into()))
    );
    match values.get_value((2, 1)) {
        Some(Data::DateTime(t)) => assert_eq!(
            t.as_datetime().unwrap().to_string(),
            "2026-11-27 09:30:00",
            "Beijing wall-clock time"
        ),
        other => panic!("not a date-time: {other:?}"),
    }
    assert_eq!(format_code(&styles, (2, 1)), XLSX_TIME_FORMAT);
    assert_eq!(values.get_value((2, 2)), Some(&Data::Float(1.0 / 3.0)));
    assert_eq!(format_code(&styles, (2, 2)), "0.0%");
    assert_eq!(values.get_value((2, 3)), Some(&Data::Float(3.0)));
    assert_eq!(values.get_value((2, 4)), Some(&Data::Float(39.114_321)));
    // CSV keeps the header first and shows the same values as text.
    let csv = table.to_csv();
    assert!(
        csv.contains("南营门街道,2026-11-27 09:30,0.3333,3,39.114321"),
        "{csv}"
    );
    assert!(!csv.contains("考核评价"));
}

both_backends!(kpi_by_district_and_street, case_exports_carry_every_column);
