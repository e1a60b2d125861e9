//! `serve --demo` opens with a quarter of history (issue 13, "First run"), on SQLite and
//! PostgreSQL: cases in every workflow state written through the ingest path with historic server
//! times, some overdue now, returned and re-dispatched, reworked, closed late, a joint meeting
//! with minutes, real photos readable through the API and the dashboard, an intact audit chain,
//! KPI figures for the quarter, and no second copy after a restart on the same data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{TimeDelta, Utc};
use xuncha_core::kpi::Quarter;
use xuncha_core::workflow::{Action, CaseStatus, PhotoKind};
use xuncha_server::Server;

use common::{Backend, TestServer, both_backends, dashboard_cookie};

async fn page(t: &TestServer, cookie: &str, path: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(t.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.bytes().await.unwrap().to_vec())
}

async fn the_demo_history_covers_the_workflow(backend: Backend) {
    let started = std::time::Instant::now();
    let mut t = TestServer::start_with(backend, |c| c.demo_history = true).await;
    let seconds = started.elapsed().as_secs_f64();
    let server = t.server.as_ref().unwrap();
    let history = server.demo_history().cloned().expect("history seeded");
    assert!(
        (60..=120).contains(&history.cases),
        "a quarter holds 60–120 cases: {history:?}"
    );
    assert!(seconds < 30.0, "seeding took {seconds:.1} s");
    let storage = server.state().storage.clone();
    let page_all = storage.changes_since(0, 100_000).await.unwrap();
    let rows = page_all.cases;
    let events = page_all.events;
    assert_eq!(rows.len(), history.cases);
    assert_eq!(events.len(), history.events);
    let now = Utc::now();

    // Every state of the workflow occurs.
    let statuses: HashSet<CaseStatus> = rows.iter().map(|r| r.case.status).collect();
    for status in CaseStatus::ALL {
        assert!(
            statuses.contains(&status),
            "no {status:?} case: {statuses:?}"
        );
    }
    // Three estates, a quarter back, nothing in the future.
    let estates: HashSet<&str> = rows.iter().map(|r| r.case.estate_id.as_str()).collect();
    assert_eq!(estates.len(), 3, "{estates:?}");
    let oldest = rows.iter().map(|r| r.case.reported_at).min().unwrap();
    assert!(oldest > now - TimeDelta::days(92) && oldest < now - TimeDelta::days(60));
    assert!(
        events
            .iter()
            .all(|e| e.server_time.is_some_and(|at| at <= now))
    );
    for row in &rows {
        let estate = server.state().catalog().estates()[&row.case.estate_id].clone();
        let fix = row.case.location.as_ref().expect("reported with GPS");
        assert!(
            estate.boundary.contains(fix.lat, fix.lon),
            "{}",
            row.case.id
        );
        assert!(row.routing.is_some(), "routed at ingest");
    }

    // Overdue now, returned and re-dispatched, reworked, closed late.
    let overdue = rows.iter().filter(|r| r.case.is_overdue(now)).count();
    assert!(overdue >= 5, "{overdue} overdue");
    assert!(rows.iter().any(|r| r.case.return_count > 0
        && r.dispatched_units.len() >= 2
        && r.case.status == CaseStatus::Closed));
    assert!(
        rows.iter()
            .any(|r| r.case.return_count > 0 && r.case.status == CaseStatus::Returned)
    );
    assert!(
        rows.iter()
            .any(|r| r.case.rework_count > 0 && r.case.status == CaseStatus::Closed)
    );
    assert!(rows.iter().any(|r| {
        r.case.status == CaseStatus::Closed
            && r.case
                .handled_at
                .zip(r.case.handle_due)
                .is_some_and(|(handled, due)| handled > due)
    }));

    // A joint meeting in the past, with minutes by the street office.
    let minutes: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.action, Action::Minutes { .. }))
        .collect();
    assert!(!minutes.is_empty());
    assert!(
        minutes
            .iter()
            .all(|e| e.actor.role == xuncha_core::Role::StreetOffice
                && e.server_time.unwrap() < now - TimeDelta::days(5))
    );

    // Photos: a BEFORE photo on every report, AFTER on every handling; real JPEGs served by the
    // dashboard to the street office and by the API to the reporting inspector.
    for e in &events {
        match e.action {
            Action::Report { .. } => assert!(e.photos.iter().any(|p| p.kind == PhotoKind::Before)),
            Action::Handle => assert!(e.photos.iter().any(|p| p.kind == PhotoKind::After)),
            Action::Verify => assert!(!e.photos.is_empty() && e.gps.is_some()),
            _ => {}
        }
    }
    let changchunli = rows
        .iter()
        .find(|r| r.case.estate_id == "changchunli" && r.case.status == CaseStatus::Closed)
        .unwrap();
    let (_, cookie) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (status, _, html) = page(
        &t,
        &cookie,
        &format!("/dashboard/cases/{}", changchunli.case.id),
    )
    .await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, 200);
    for photo in &changchunli.case.photos {
        assert!(
            html.contains(&photo.sha256),
            "the case page shows {photo:?}"
        );
        let (status, kind, bytes) =
            page(&t, &cookie, &format!("/dashboard/photos/{}", photo.sha256)).await;
        assert_eq!((status, kind.as_str()), (200, "image/jpeg"));
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    }
    let inspector = t.enrol("inspector.changchunli").await;
    let before = &changchunli.case.photos[0];
    let response = t
        .http
        .get(t.url(&format!("/api/v1/photos/{}", before.sha256)))
        .bearer_auth(&inspector.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(&response.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);

    // The audit chain verifies, with one EVENT_APPLIED entry per event and no refusal.
    let admin = t.enrol("admin").await;
    let (status, report) = t
        .get(&admin.access_token, "/api/v1/admin/audit/verify")
        .await;
    assert_eq!(status, 200);
    assert!(report["problem"].is_null(), "{report}");
    let (audit, _) = storage.audit_log().await.unwrap();
    let applied = audit
        .iter()
        .filter(|r| r.entry.contains("\"EVENT_APPLIED\""))
        .count();
    assert_eq!(applied, history.events);
    assert!(!audit.iter().any(|r| r.entry.contains("\"EVENT_REJECTED\"")));

    // The KPI page of the quarter (the previous one in a quarter's first days) has figures.
    let mut quarter = Quarter::of(now);
    if now - quarter.start() < TimeDelta::days(3) {
        quarter = Quarter::of(quarter.start() - TimeDelta::days(1));
    }
    let (admin_http, admin_cookie) = dashboard_cookie(&t.base, "admin").await;
    drop(admin_http);
    let (status, _, kpi) = page(
        &t,
        &admin_cookie,
        &format!(
            "/dashboard/kpi?quarter={}Q{}",
            quarter.year, quarter.quarter
        ),
    )
    .await;
    let kpi = String::from_utf8(kpi).unwrap();
    assert_eq!(status, 200);
    let body = &kpi[kpi.find("<tbody>").expect("a KPI table")..];
    let body = &body[..body.find("</tbody>").unwrap()];
    assert!(body.contains("%"), "rates in the KPI table: {body}");
    assert!(
        body.split("<td>").skip(1).any(|cell| {
            let figure = cell.split('<').next().unwrap();
            figure.parse::<u32>().is_ok_and(|n| n > 0)
        }),
        "non-zero figures: {body}"
    );

    // A restart on the same data adds nothing.
    let mut config = common::test_config(t.dir.path());
    config.database_url = t.database_url.clone();
    config.demo_history = true;
    t.server.take().unwrap().shutdown().await.unwrap();
    let again = Server::start(config).await.unwrap();
    assert!(again.demo_history().is_none(), "seeded twice");
    let after = again
        .state()
        .storage
        .changes_since(0, 100_000)
        .await
        .unwrap();
    assert_eq!(after.cases.len(), history.cases);
    assert_eq!(after.events.len(), history.events);
    again.shutdown().await.unwrap();
}

/// Tests that count cases start the demo without history, as before.
async fn the_demo_without_history_starts_empty(backend: Backend) {
    let t = TestServer::start(backend).await;
    let server = t.server.as_ref().unwrap();
    assert!(server.demo_history().is_none());
    let page = server.state().storage.changes_since(0, 10).await.unwrap();
    assert!(page.cases.is_empty());
}

both_backends!(
    the_demo_history_covers_the_workflow,
    the_demo_without_history_starts_empty
);

/// The real binary: `serve --demo` prints what it seeded, and the street office of 长春里 signs in
/// to a queue with cases; `--no-history` keeps the queue empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_opens_with_cases_in_the_queue() {
    for no_history in [false, true] {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_xuncha-server"));
        command
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .env_remove("XUNCHA_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if no_history {
            command.arg("--no-history");
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seeded = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("demo: seeded ") {
                    seeded = Some(line.clone());
                }
                if let Some(base) = line.strip_prefix("Xuncha dashboard: ") {
                    let _ = tx.send((
                        seeded.clone(),
                        base.trim_end_matches("/dashboard/").to_owned(),
                    ));
                }
            }
        });
        let (seeded, base) = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the server starts");
        let (http, cookie) = dashboard_cookie(&base, "street.nanyingmen").await;
        let queue = http
            .get(format!("{base}/dashboard/cases"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(queue.status(), 200);
        let html = queue.text().await.unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let listed = html.matches("data-case=\"").count();
        if no_history {
            assert_eq!(seeded, None);
            assert_eq!(listed, 0, "--no-history: an empty queue");
        } else {
            let line = seeded.expect("the seeding line");
            assert!(line.contains(" cases ("), "{line}");
            assert!(listed > 0, "cases in the street office's queue");
            assert!(html.contains("长春里"));
        }
    }
}
