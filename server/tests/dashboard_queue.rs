//! The dashboard's first run and its queue over real HTTP, on SQLite and PostgreSQL: `/` leads to
//! the dashboard, `serve` names the dashboard's address, and the queue searches, sorts, filters
//! "我的待办" and shows each case's first description line, routed owner and countdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;
use uuid::Uuid;

use common::{Backend, TestServer, both_backends, dashboard_cookie, event, outcome, report};

/// The dashboard page at `path` as `cookie`'s user: status and HTML.
async fn page(t: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    common::dashboard_page(&t.base, cookie, path).await
}

/// The HTML of the queue row of `case` (empty when the case is not listed).
fn row(html: &str, case: Uuid) -> &str {
    let Some(start) = html.find(&format!("data-case=\"{case}\"")) else {
        return "";
    };
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

async fn root_redirects_to_the_dashboard(backend: Backend) {
    let t = TestServer::start(backend).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http.get(t.url("/")).send().await.unwrap();
    assert!(
        matches!(response.status().as_u16(), 303 | 307),
        "{}",
        response.status()
    );
    assert_eq!(response.headers()["location"], "/dashboard/");
    // Followed when signed in, it lands on the queue.
    let (_, cookie) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    assert_eq!(page(&t, &cookie, "/").await.0, 200, "followed to the queue");
}

async fn queue_searches_sorts_and_lists_my_work(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await;
    let committee = t.enrol("committee.changchunli").await;
    let street = t.enrol("street.nanyingmen").await;

    // A fault (the street office dispatches it), a ground lock (the committee dissuades first)
    // and small ads escalated and dispatched to city management.
    let lift = Uuid::now_v7();
    let lock = Uuid::now_v7();
    let ads = Uuid::now_v7();
    let lift_report = event(
        lift,
        json!({ "kind": "REPORT", "category": "ELEVATOR", "estate_id": "changchunli",
                "building": "5号楼", "description": "\n电梯停运<b>困人</b>\n第二行细节" }),
    );
    let pushed = t
        .push(
            &inspector.access_token,
            vec![
                lift_report,
                report(lock, "changchunli", "GROUND_LOCK"),
                report(ads, "changchunli", "SMALL_ADS"),
            ],
        )
        .await;
    for result in &pushed.results {
        assert_eq!(outcome(result), "APPLIED", "{result:?}");
    }
    let escalated = t
        .push(
            &committee.access_token,
            vec![event(ads, json!({ "kind": "ESCALATE" }))],
        )
        .await;
    assert_eq!(outcome(&escalated.results[0]), "APPLIED", "{escalated:?}");
    let dispatched = t
        .push(
            &street.access_token,
            vec![event(
                ads,
                json!({ "kind": "DISPATCH", "unit_id": "heping.city_management" }),
            )],
        )
        .await;
    assert_eq!(outcome(&dispatched.results[0]), "APPLIED", "{dispatched:?}");

    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (status, html) = page(&t, &office, "/dashboard/cases").await;
    assert_eq!(status, 200);
    // The search box, the sort selector and the "我的待办" switch are on the page.
    assert!(html.contains("type=\"search\" name=\"q\""), "{html}");
    assert!(html.contains("name=\"sort\""));
    assert!(html.contains("name=\"mine\""));
    // Rows: the description's first line (escaped), the routed owner before dispatch, the
    // countdown, and whom a dissuasion-first case waits for.
    let lift_row = row(&html, lift);
    assert!(
        lift_row.contains("电梯停运&lt;b&gt;困人&lt;/b&gt;"),
        "{lift_row}"
    );
    assert!(!lift_row.contains("第二行细节"));
    assert!(lift_row.contains("拟派："), "{lift_row}");
    assert!(lift_row.contains("class=\"countdown\">剩余"), "{lift_row}");
    let lock_row = row(&html, lock);
    assert!(lock_row.contains("等待居委会劝阻或上报"), "{lock_row}");
    let ads_row = row(&html, ads);
    assert!(
        !ads_row.is_empty() && !ads_row.contains("拟派："),
        "{ads_row}"
    );

    // The active search is shown, kept in the box, and narrows the list.
    let (status, html) = page(
        &t,
        &office,
        "/dashboard/cases?q=%E7%94%B5%E6%A2%AF%E5%81%9C%E8%BF%90",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"active-search\""), "{html}");
    assert!(html.contains("value=\"电梯停运\""));
    assert!(!row(&html, lift).is_empty());
    assert!(row(&html, lock).is_empty() && row(&html, ads).is_empty());

    // Newest and oldest first list the same cases in opposite orders (one batch shares its
    // server time; the id breaks the tie both ways); an unknown sort is named.
    let order = |html: &str| {
        let at = |case: Uuid| html.find(&format!("data-case=\"{case}\"")).unwrap();
        at(lift) < at(ads)
    };
    let (status, newest) = page(&t, &office, "/dashboard/cases?sort=newest").await;
    assert_eq!(status, 200);
    assert!(newest.contains("<option value=\"newest\" selected"));
    let (status, oldest) = page(&t, &office, "/dashboard/cases?sort=oldest").await;
    assert_eq!(status, 200);
    assert_ne!(order(&newest), order(&oldest));
    let (status, html) = page(&t, &office, "/dashboard/cases?sort=bogus").await;
    assert_eq!(status, 422);
    assert!(html.contains("未知的排序方式"), "{html}");

    // "我的待办": the street office's is what waits for its dispatch ...
    let (status, html) = page(&t, &office, "/dashboard/cases?mine=1").await;
    assert_eq!(status, 200);
    assert!(!row(&html, lift).is_empty(), "{html}");
    assert!(row(&html, lock).is_empty(), "the committee's turn");
    assert!(row(&html, ads).is_empty(), "dispatched already");
    assert!(
        html.contains("?status=REPORTED&amp;mine=1"),
        "chips keep the filter"
    );
    // ... a department's is what is dispatched to it.
    let (_, department) = dashboard_cookie(&t.base, "dept.heping.city").await;
    let (status, html) = page(&t, &department, "/dashboard/cases?mine=1").await;
    assert_eq!(status, 200);
    assert!(!row(&html, ads).is_empty(), "{html}");
    assert!(row(&html, lift).is_empty());

    // Returned, the case waits for the street office again; the unit that returned it is not
    // offered as its routed owner.
    let city = t.enrol("dept.heping.city").await;
    let returned = t
        .push(
            &city.access_token,
            vec![event(
                ads,
                json!({ "kind": "RETURN", "reason": "不属本单位" }),
            )],
        )
        .await;
    assert_eq!(outcome(&returned.results[0]), "APPLIED", "{returned:?}");
    let (_, html) = page(&t, &office, "/dashboard/cases?mine=1").await;
    let ads_row = row(&html, ads);
    assert!(!ads_row.is_empty(), "{html}");
    assert!(!ads_row.contains("拟派："), "{ads_row}");
}

/// The Beijing days around now (a test running over midnight sees either).
fn beijing_days() -> [String; 2] {
    let day = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&xuncha_core::time::SHANGHAI)
            .format("%Y%m%d")
            .to_string()
    };
    let now = chrono::Utc::now();
    [day(now - chrono::TimeDelta::minutes(5)), day(now)]
}

/// Issue 13: the queue rows, the case page and the export show the number the server gave each
/// case; the queue's search finds it whole or in part.
async fn cases_show_and_find_their_number(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let pushed = t
        .push(
            &inspector.access_token,
            vec![
                report(first, "changchunli", "ELEVATOR"),
                report(second, "changchunli", "SMALL_ADS"),
            ],
        )
        .await;
    for result in &pushed.results {
        assert_eq!(outcome(result), "APPLIED", "{result:?}");
    }
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (status, html) = page(&t, &office, "/dashboard/cases").await;
    assert_eq!(status, 200);
    let day = beijing_days()
        .into_iter()
        .find(|d| html.contains(&format!("和平-{d}-0001")))
        .unwrap_or_else(|| panic!("no 和平 number of today: {html}"));
    let (n1, n2) = (format!("和平-{day}-0001"), format!("和平-{day}-0002"));
    assert!(row(&html, first).contains(&n1), "{html}");
    assert!(row(&html, second).contains(&n2), "{html}");

    // The case page is titled by the number and keeps the full id.
    let (status, html) = page(&t, &office, &format!("/dashboard/cases/{second}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("<title>案件 {n2}")), "{html}");
    assert!(html.contains(&second.to_string()), "{html}");

    // Search: the whole number, its sequence, its district and day.
    let search = |q: &str| format!("/dashboard/cases?q={}", urlencode(q));
    let (_, html) = page(&t, &office, &search(&n2)).await;
    assert!(
        !row(&html, second).is_empty() && row(&html, first).is_empty(),
        "{html}"
    );
    let (_, html) = page(&t, &office, &search("0002")).await;
    assert!(
        !row(&html, second).is_empty() && row(&html, first).is_empty(),
        "{html}"
    );
    let (_, html) = page(&t, &office, &search(&format!("和平-{day}"))).await;
    assert!(
        !row(&html, second).is_empty() && !row(&html, first).is_empty(),
        "{html}"
    );

    // The export's first column is the number.
    let (status, csv) = page(&t, &office, "/dashboard/cases.csv").await;
    assert_eq!(status, 200);
    assert!(
        csv.trim_start_matches('\u{feff}').starts_with("案件编号,"),
        "{csv}"
    );
    assert!(csv.contains(&format!("\n{n1},{first},")), "{csv}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET /dashboard/logout only redirects (no sign-out on GET: CSRF); the header's 退出 is a POST
/// form with the CSRF token, and the header names the unit once.
async fn logout_get_redirects_and_header_reads_once(backend: Backend) {
    let t = TestServer::start(backend).await;
    let (_, cookie) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http
        .get(t.url("/dashboard/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/dashboard/cases");
    assert!(response.headers().get("set-cookie").is_none());
    // Still signed in.
    let (status, html) = page(&t, &cookie, "/dashboard/cases").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<form method=\"post\" action=\"/dashboard/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\""),
        "{html}"
    );
    let header = &html[html.find("<header").unwrap()..html.find("</header>").unwrap()];
    assert_eq!(header.matches("南营门街道办事处").count(), 1, "{header}");
    assert!(
        html.contains("<title>案件队列 · 巡查 · 旧楼区长效管理</title>"),
        "{html}"
    );
}

both_backends!(
    cases_show_and_find_their_number,
    root_redirects_to_the_dashboard,
    queue_searches_sorts_and_lists_my_work,
    logout_get_redirects_and_header_reads_once
);

/// `serve` names the dashboard's address when it starts.
#[test]
fn serve_prints_the_dashboard_address() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xuncha-server"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env_remove("XUNCHA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read on another thread: a server that never prints the line must fail the test, not hang it.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let found = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("Xuncha dashboard: "));
        let _ = tx.send(found);
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .ok()
        .flatten();
    child.kill().unwrap();
    child.wait().unwrap();
    let line = line.expect("the dashboard line");
    assert!(
        line.starts_with("Xuncha dashboard: http://127.0.0.1:") && line.ends_with("/dashboard/"),
        "{line}"
    );
}
