//! A street-office clerk's whole day in the dashboard, played in headless Chromium on the demo as
//! `serve --demo` opens it (a quarter of history seeded through the ingest path): sign in, search,
//! narrow to 我的待办, open a case and dispatch it with its countdown in view, read a department's
//! handling, print the dispatch slip, look at the map with its buildings, read the quarter's KPIs,
//! and export the queue and the KPIs as XLSX, read back with a real XLSX reader. Every step leaves a
//! screenshot in `test-output/clerks-day-NN-*.png` for a person to look at (issue 13).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use calamine::{Data, Reader};
use common::{Backend, TestServer};
use fantoccini::Locator;
use serde_json::Value;
use xuncha_test_support::browser::{Browser, output_dir};

/// The XLSX at `path`, downloaded with the browser's own session cookie, as its first sheet.
async fn xlsx_as_browser(
    browser: &Browser,
    base: &str,
    path: &str,
    file: &str,
) -> calamine::Range<Data> {
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let cookie = cookies
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let resp = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "download {path}");
    let bytes = resp.bytes().await.unwrap().to_vec();
    std::fs::write(output_dir().join(file), &bytes).unwrap();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    book.worksheet_range_at(0).unwrap().unwrap()
}

fn cell_text(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    range
        .get_value((row, col))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Waits until `script` (a JavaScript expression's `return`) answers `true`.
async fn wait_true(browser: &Browser, what: &str, script: &str) {
    for _ in 0..100 {
        let v = browser.client.execute(script, vec![]).await.unwrap();
        if v == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not true after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerks_day_from_sign_in_to_the_quarterly_report() {
    let mut t = TestServer::start_with(Backend::Sqlite, |c| c.demo_history = true).await;
    let base = t.base.clone();
    let browser = Browser::start().await;
    let c = &browser.client;

    // 08:30 — sign in; the queue opens on the street's open cases of the seeded quarter.
    c.goto(&format!("{base}/")).await.unwrap();
    c.wait().for_element(Locator::Id("username")).await.unwrap();
    browser.sign_in(&base, "street.nanyingmen").await;
    let total: usize = browser.text("#count-total").await.parse().unwrap();
    assert!(total > 0, "the seeded demo shows cases on first sign-in");
    assert_eq!(
        browser
            .text("header")
            .await
            .matches("南营门街道办事处")
            .count(),
        1,
        "the header names the unit once"
    );
    browser.shot("clerks-day-01-queue").await;

    // Search: the box shows what is searched and the queue narrows to it.
    c.find(Locator::Id("search"))
        .await
        .unwrap()
        .send_keys("楼道")
        .await
        .unwrap();
    browser
        .click_and_wait("#apply-filter", "#active-search")
        .await;
    assert!(browser.text("#active-search").await.contains("楼道"));
    let found: usize = browser.text("#count-total").await.parse().unwrap();
    assert!(
        found > 0 && found <= total,
        "search narrows: {found} of {total}"
    );
    browser.shot("clerks-day-02-search").await;

    // 我的待办: only cases waiting for this street office; the search is cleared first.
    c.goto(&format!("{base}/dashboard/cases")).await.unwrap();
    c.find(Locator::Id("mine"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.click_and_wait("#apply-filter", "#queue").await;
    let waiting = c
        .find_all(Locator::Css("#queue tbody tr[data-case]"))
        .await
        .unwrap();
    assert!(
        !waiting.is_empty(),
        "the demo leaves work for the street office"
    );
    let queue_text = browser.text("#queue").await;
    assert!(
        queue_text.contains("剩余") || queue_text.contains("超期"),
        "rows count down to their deadline"
    );
    browser.shot("clerks-day-03-my-to-do").await;

    // Open the first case waiting for dispatch and dispatch it to the routed owner.
    let mut dispatched = None;
    for row in &waiting {
        let id = row.attr("data-case").await.unwrap().unwrap();
        c.goto(&format!("{base}/dashboard/cases/{id}"))
            .await
            .unwrap();
        if c.find(Locator::Id("do-DISPATCH")).await.is_ok() {
            dispatched = Some(id);
            break;
        }
    }
    let case_id = dispatched.expect("a case in 我的待办 can be dispatched");
    let countdown = browser.text("#case-countdown").await;
    assert!(
        countdown.starts_with("剩余") || countdown.starts_with("超期"),
        "countdown on the case page: {countdown}"
    );
    let owner = browser.text("#routing-owner").await;
    let chosen = browser.text("#dispatch-unit option:checked").await;
    assert_eq!(chosen, owner, "派往 preselects the routing's owner");
    c.find(Locator::Css("#action-DISPATCH textarea[name=note]"))
        .await
        .unwrap()
        .send_keys("请三日内处理，处理后上传照片。")
        .await
        .unwrap();
    browser.shot("clerks-day-04-case-before-dispatch").await;
    browser
        .click_and_wait("#do-DISPATCH", "#case-status[data-status=DISPATCHED]")
        .await;
    assert!(browser.text("#timeline").await.contains("请三日内处理"));
    assert_eq!(browser.text("#case-unit").await, owner);
    browser.shot("clerks-day-05-dispatched").await;

    // The department's handling of another case: after-photos and its note, waiting for verification.
    c.goto(&format!("{base}/dashboard/cases?status=HANDLED"))
        .await
        .unwrap();
    let handled = c
        .find(Locator::Css("#queue tbody tr[data-case]"))
        .await
        .expect("the demo has a handled case awaiting verification")
        .attr("data-case")
        .await
        .unwrap()
        .unwrap();
    c.goto(&format!("{base}/dashboard/cases/{handled}"))
        .await
        .unwrap();
    assert_eq!(
        c.find(Locator::Id("case-status"))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("HANDLED")
    );
    wait_true(
        &browser,
        "after-photos load",
        "const imgs = Array.from(document.querySelectorAll('#photos-after img'));\
         return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);",
    )
    .await;
    browser.shot("clerks-day-06-department-handled").await;

    // Print the dispatch slip of the case dispatched this morning.
    c.goto(&format!("{base}/dashboard/cases/{case_id}"))
        .await
        .unwrap();
    browser.click_and_wait("#slip-link", "#slip").await;
    let slip = browser.text("#slip").await;
    for must in ["案件编号", "法律依据", "签收人", &owner] {
        assert!(slip.contains(must), "the slip carries {must}: {slip}");
    }
    browser.shot("clerks-day-07-dispatch-slip").await;

    // The map with its buildings and per-building case markers.
    c.goto(&format!("{base}/dashboard/map")).await.unwrap();
    wait_true(
        &browser,
        "Leaflet draws building footprints with labels",
        "return document.querySelectorAll('path.leaflet-interactive').length > 1 && \
         Array.from(document.querySelectorAll('.leaflet-tooltip')).some(t => t.textContent.includes('号楼'));",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.shot("clerks-day-08-map").await;

    // The quarter's KPIs: formulas printed once, fractions shown.
    c.goto(&format!("{base}/dashboard/kpi")).await.unwrap();
    let kpi = browser.text("#kpi-table").await;
    assert!(kpi.contains('%'), "rates are shown: {kpi}");
    assert!(browser.text("#kpi-formulas").await.contains("结案率"));
    browser.shot("clerks-day-09-kpi").await;

    // Exports for the district, read back with a real XLSX reader.
    let kpi_xlsx = xlsx_as_browser(
        &browser,
        &base,
        "/dashboard/kpi.xlsx",
        "clerks-day-kpi.xlsx",
    )
    .await;
    assert!(
        cell_text(&kpi_xlsx, 0, 0).contains("季度"),
        "the KPI sheet's title names the quarter: {}",
        cell_text(&kpi_xlsx, 0, 0)
    );
    let queue_xlsx = xlsx_as_browser(
        &browser,
        &base,
        "/dashboard/cases.xlsx",
        "clerks-day-cases.xlsx",
    )
    .await;
    let header_row = (0..3)
        .find(|&r| {
            (0..queue_xlsx.width() as u32).any(|col| cell_text(&queue_xlsx, r, col) == "问题描述")
        })
        .expect("a header row with 问题描述");
    let headers: Vec<String> = (0..queue_xlsx.width() as u32)
        .map(|col| cell_text(&queue_xlsx, header_row, col))
        .collect();
    for must in ["问题描述", "位置说明", "上报单位", "依据条款"] {
        assert!(
            headers.iter().any(|h| h == must),
            "export has {must}: {headers:?}"
        );
    }
    assert!(
        queue_xlsx.height() as u32 > header_row + 1,
        "the export lists the street's cases"
    );

    browser.close().await;
    t.stop().await;
}
