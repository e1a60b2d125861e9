//! Dashboard query benchmark (not a test): the first page of a street office's case queue with
//! 100 000 cases in the database, 1 % of them in its street, read two ways in the same run:
//!
//! - before: the old path, every case and event through the change feed (`changes_since`, the
//!   phones' sync feed), filtered in memory with `access::can_see_case` and the queue filter;
//! - after: `Storage::query_cases` with the scope from `access::case_scope`.
//!
//!     CARGO_TARGET_DIR=/work/target cargo bench -p xuncha-server --bench dashboard_query
//!
//! PostgreSQL too when `XUNCHA_TEST_DATABASE_URL` (an admin URL of a test cluster) is set.
//! Optional env: BENCH_CASES (default 100000), BENCH_RUNS (default 5 before, 10× that after).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;
use xuncha_core::workflow::{Action, Event};
use xuncha_core::{Actor, Category, Role};
use xuncha_server::http::dashboard::queue::QueueFilter;
use xuncha_server::policy::access;
use xuncha_server::policy::catalog::{Catalog, demo_catalog};
use xuncha_server::storage::postgres::PostgresStorage;
use xuncha_server::storage::sqlite::SqliteStorage;
use xuncha_server::storage::{CaseRow, IngestBatch, Storage, UserRecord};

/// Page size of the old change-feed scan (the server's default `pull_page_cases`).
const FEED_PAGE: usize = 500;
/// Rows on the queue's first page.
const QUEUE_PAGE: usize = 200;
/// Other estates in the city besides the street's own.
const OTHER_ESTATES: usize = 99;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The demo catalog plus 99 copies of 平山道小区 (another district and street), so the city has
/// 100 estates and the street office's one holds 1 % of the cases.
fn city_catalog() -> Catalog {
    let (mut estates, units, rules) = demo_catalog().unwrap().into_parts();
    let template = estates["pingshandao"].clone();
    for n in 0..OTHER_ESTATES {
        let mut estate = template.clone();
        estate.id = format!("estate-{n:03}");
        estate.name = format!("小区{n:03}");
        estates.insert(estate.id.clone(), estate);
    }
    Catalog::new(estates, units, rules)
}

fn committee(unit: &str) -> Actor {
    Actor {
        user_id: format!("bench-{unit}"),
        role: Role::Committee,
        unit_id: unit.to_owned(),
    }
}

/// Reports `total` cases through `Storage::ingest` in batches of 500, every 100th in 长春里.
async fn seed(storage: &dyn Storage, catalog: &Arc<Catalog>, total: usize) {
    let categories = [
        Category::CommonAreaClutter,
        Category::Garbage,
        Category::SmallAds,
        Category::GroundLock,
    ];
    let street = committee("heping.nanyingmen.changchunli.committee");
    let others = committee("hexi.youyilu.pingshandao.committee");
    let mut batches: HashMap<bool, Vec<Event>> = HashMap::new();
    let started = Instant::now();
    for n in 0..total {
        let in_street = n % 100 == 0;
        let estate_id = if in_street {
            "changchunli".to_owned()
        } else {
            format!("estate-{:03}", n % OTHER_ESTATES)
        };
        let actor = if in_street { &street } else { &others };
        let batch = batches.entry(in_street).or_default();
        batch.push(Event {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            action: Action::Report {
                category: categories[n % categories.len()],
                estate_id,
                building: Some(format!("{}号楼", n % 12 + 1)),
                unit_no: Some(format!("{}单元", n % 4 + 1)),
                location_note: None,
                description: Some("楼道堆放杂物，影响通行".to_owned()),
            },
            actor: actor.clone(),
            device_time: Utc::now(),
            server_time: None,
            gps: None,
            photos: Vec::new(),
            note: None,
        });
        if batch.len() == 500 {
            let events = std::mem::take(batch);
            storage
                .ingest(IngestBatch {
                    actor: actor.clone(),
                    device_id: Uuid::now_v7(),
                    events,
                    catalog: catalog.clone(),
                    now: Utc::now(),
                    max_device_skew: chrono::TimeDelta::minutes(10),
                    verify_max_distance_m: 100.0,
                })
                .await
                .unwrap();
        }
    }
    for (in_street, events) in batches.drain().filter(|(_, e)| !e.is_empty()) {
        let actor = if in_street { &street } else { &others };
        storage
            .ingest(IngestBatch {
                actor: actor.clone(),
                device_id: Uuid::now_v7(),
                events,
                catalog: catalog.clone(),
                now: Utc::now(),
                max_device_skew: chrono::TimeDelta::minutes(10),
                verify_max_distance_m: 100.0,
            })
            .await
            .unwrap();
    }
    println!(
        "  seeded {total} cases through Storage::ingest in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The pre-query path: the whole change feed, filtered and sorted in memory.
async fn first_page_before(
    storage: &dyn Storage,
    catalog: &Catalog,
    user: &UserRecord,
) -> Vec<Uuid> {
    let mut cursor = 0;
    let mut latest: HashMap<Uuid, CaseRow> = HashMap::new();
    let mut events = 0usize;
    loop {
        let page = storage.changes_since(cursor, FEED_PAGE).await.unwrap();
        let visible: Vec<CaseRow> = page
            .cases
            .into_iter()
            .filter(|row| access::can_see_case(user, catalog, row))
            .collect();
        events += page
            .events
            .iter()
            .filter(|e| visible.iter().any(|r| r.case.id == e.case_id))
            .count();
        for row in visible {
            latest.insert(row.case.id, row);
        }
        if !page.has_more || page.next_cursor <= cursor {
            break;
        }
        cursor = page.next_cursor;
    }
    assert!(events >= latest.len());
    let cases: Vec<_> = latest.into_values().map(|r| r.case).collect();
    let estates = catalog
        .estates()
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let rows = QueueFilter::default()
        .apply(&cases, &estates, Utc::now())
        .unwrap();
    rows.iter().take(QUEUE_PAGE).map(|c| c.id).collect()
}

/// The storage case query, as the queue page runs it.
async fn first_page_after(
    storage: &dyn Storage,
    catalog: &Catalog,
    user: &UserRecord,
) -> Vec<Uuid> {
    let estates: Vec<_> = catalog
        .estates()
        .values()
        .filter(|e| access::can_see_estate(user, catalog, e))
        .cloned()
        .collect();
    let mut query = QueueFilter::default()
        .to_query(access::case_scope(user, catalog), &estates, Utc::now())
        .unwrap();
    query.limit = QUEUE_PAGE;
    let page = storage.query_cases(query).await.unwrap();
    assert!(page.total() > 0);
    page.rows.iter().map(|r| r.case.id).collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn run(name: &str, storage: Arc<dyn Storage>, total: usize, runs: usize) {
    println!("{name}:");
    let catalog = Arc::new(city_catalog());
    seed(storage.as_ref(), &catalog, total).await;
    let user = UserRecord {
        id: "bench-street".into(),
        username: "bench-street".into(),
        display_name: String::new(),
        role: Role::StreetOffice,
        unit_id: "heping.nanyingmen.street_office".into(),
        password_hash: String::new(),
        disabled: false,
    };
    // Both paths must show the same page (the sort keys tie only on equal deadlines).
    let before_ids = first_page_before(storage.as_ref(), &catalog, &user).await;
    let after_ids = first_page_after(storage.as_ref(), &catalog, &user).await;
    assert_eq!(before_ids.len(), after_ids.len());
    assert_eq!(before_ids, after_ids, "both paths give the same first page");
    let mut before = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        first_page_before(storage.as_ref(), &catalog, &user).await;
        before.push(t.elapsed());
    }
    let mut after = Vec::new();
    for _ in 0..runs * 10 {
        let t = Instant::now();
        first_page_after(storage.as_ref(), &catalog, &user).await;
        after.push(t.elapsed());
    }
    let (b, a) = (median(before), median(after));
    println!(
        "  queue first page ({} rows), street office, {total} cases, 1 % in its street:",
        after_ids.len()
    );
    println!(
        "    before (change feed + in-memory filter): median {:.1} ms over {runs} runs",
        b.as_secs_f64() * 1e3
    );
    println!(
        "    after  (Storage::query_cases):           median {:.2} ms over {} runs",
        a.as_secs_f64() * 1e3,
        runs * 10
    );
    println!(
        "    speed-up {:.0}x",
        b.as_secs_f64() / a.as_secs_f64().max(1e-9)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = env_usize("BENCH_CASES", 100_000);
    let runs = env_usize("BENCH_RUNS", 5);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStorage::open(&dir.path().join("bench.sqlite3"))
        .await
        .unwrap();
    run("SQLite", Arc::new(sqlite), total, runs).await;
    match std::env::var("XUNCHA_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let name = format!("xuncha_bench_{}", Uuid::now_v7().simple());
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            let pg = PostgresStorage::connect(&format!("{base}/{name}"), 4)
                .await
                .unwrap();
            run("PostgreSQL", Arc::new(pg), total, runs).await;
        }
        _ => println!("PostgreSQL: skipped (XUNCHA_TEST_DATABASE_URL not set)"),
    }
}
