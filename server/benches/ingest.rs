//! Ingest benchmark (not a test): events per second through `POST /api/v1/sync/push` on SQLite,
//! against raw batched inserts of the very same rows into the same schema in the same run, and
//! push latency percentiles at 32 concurrent clients.
//!
//!     CARGO_TARGET_DIR=/work/target cargo bench -p xuncha-server --bench ingest
//!
//! Two baselines, both in transactions of one push's events (`BENCH_BATCH`) on a fresh database
//! with the same schema and PRAGMAs: "3 rows" inserts the event, case and audit rows as first
//! written (the case without the case query's columns); "same rows" writes exactly what a push
//! stores — the case with its query columns (so its indexes get real keys), the photo reference,
//! and the head update. The ratio against "same rows" is the goal's measure.
//!
//! Optional env: BENCH_EVENTS (default 32000), BENCH_BATCH (events per push, default 50),
//! BENCH_CLIENTS (default 32).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_server::Server;
use xuncha_server::config::Config;
use xuncha_server::demo::DEMO_PASSWORD;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report_event() -> Value {
    let case_id = Uuid::now_v7();
    json!({
        "id": Uuid::now_v7(), "case_id": case_id,
        "action": { "kind": "REPORT", "category": "COMMON_AREA_CLUTTER", "estate_id": "changchunli",
                    "building": "3号楼", "unit_no": "2单元", "description": "楼道堆放杂物，影响通行" },
        "actor": { "user_id": "x", "role": "inspector", "unit_id": "x" },
        "device_time": Utc::now(),
        "gps": { "lat": 39.1135, "lon": 117.1930, "accuracy_m": 6.5, "provider": "gps" },
        "photos": [{ "sha256": "0".repeat(64), "kind": "BEFORE" }],
        "note": "benchmark"
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// What the bench client reads of a push answer (serde skips the returned cases unparsed).
#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<OutcomeOnly>,
}

#[derive(Deserialize)]
struct OutcomeOnly {
    outcome: String,
}

/// Copies the rows the server stored into a fresh database with the same schema, in transactions
/// of `batch` events each (their event, case and audit rows), and returns events per second.
fn raw_inserts(source: &Path, target: &Path, batch: usize) -> f64 {
    type Row3 = (
        Vec<(String, String, i64, String, String, String, String)>,
        Vec<(String, String, String, String, Option<String>, String, i64)>,
        Vec<(i64, String, String, String)>,
    );
    let src = rusqlite::Connection::open(source).unwrap();
    let mut rows: Row3 = (Vec::new(), Vec::new(), Vec::new());
    let mut stmt = src
        .prepare(
            "SELECT id, case_id, seq, body_hash, body, user_id, device_id FROM events ORDER BY seq",
        )
        .unwrap();
    rows.0 = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = src.prepare("SELECT id, estate_id, status, body, routing, dispatched_units, seq FROM cases ORDER BY seq").unwrap();
    rows.1 = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = src.prepare("SELECT seq, entry, prev_hash, hash FROM audit_log WHERE entry LIKE '%EVENT_APPLIED%' ORDER BY seq").unwrap();
    rows.2 = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut conn = rusqlite::Connection::open(target).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();
    let n = rows.0.len();
    let started = Instant::now();
    for chunk_start in (0..n).step_by(batch) {
        let end = (chunk_start + batch).min(n);
        let tx = conn.transaction().unwrap();
        {
            let mut ins_event = tx.prepare_cached("INSERT INTO events (id, case_id, seq, body_hash, body, user_id, device_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").unwrap();
            let mut ins_case = tx.prepare_cached("INSERT INTO cases (id, estate_id, status, body, routing, dispatched_units, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").unwrap();
            let mut ins_audit = tx
                .prepare_cached(
                    "INSERT INTO audit_log (seq, entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
                )
                .unwrap();
            for i in chunk_start..end {
                let e = &rows.0[i];
                ins_event
                    .execute(rusqlite::params![e.0, e.1, e.2, e.3, e.4, e.5, e.6])
                    .unwrap();
                let c = &rows.1[i];
                ins_case
                    .execute(rusqlite::params![c.0, c.1, c.2, c.3, c.4, c.5, c.6])
                    .unwrap();
                let a = &rows.2[i];
                ins_audit
                    .execute(rusqlite::params![a.0, a.1, a.2, a.3])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Copies every row the pushes stored (events; cases with all columns; photo references; the
/// EVENT_APPLIED audit rows) into a fresh database with the same schema, `batch` events per
/// transaction with the head row updated in each, as the push path does. Events per second.
fn same_row_inserts(source: &Path, target: &Path, batch: usize) -> f64 {
    let src = rusqlite::Connection::open(source).unwrap();
    let columns = |table: &str| -> Vec<String> {
        src.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let read = |sql: &str, width: usize| -> Vec<Vec<rusqlite::types::Value>> {
        src.prepare(sql)
            .unwrap()
            .query_map([], |r| {
                (0..width).map(|i| r.get(i)).collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let event_columns = columns("events");
    let case_columns = columns("cases");
    let events = read(
        &format!(
            "SELECT {} FROM events ORDER BY seq",
            event_columns.join(", ")
        ),
        event_columns.len(),
    );
    let cases = read(
        &format!("SELECT {} FROM cases ORDER BY seq", case_columns.join(", ")),
        case_columns.len(),
    );
    let refs = read(
        "SELECT p.sha256, p.case_id FROM photo_refs p JOIN cases c ON c.id = p.case_id ORDER BY c.seq",
        2,
    );
    let audit = read(
        "SELECT seq, entry, prev_hash, hash FROM audit_log WHERE entry LIKE '%EVENT_APPLIED%' ORDER BY seq",
        4,
    );
    assert_eq!(events.len(), cases.len());
    assert_eq!(events.len(), refs.len());
    assert_eq!(events.len(), audit.len());
    let marks = |n: usize| {
        (1..=n)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let insert_event = format!(
        "INSERT INTO events ({}) VALUES ({})",
        event_columns.join(", "),
        marks(event_columns.len())
    );
    let insert_case = format!(
        "INSERT INTO cases ({}) VALUES ({})",
        case_columns.join(", "),
        marks(case_columns.len())
    );
    let mut conn = rusqlite::Connection::open(target).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();
    let n = events.len();
    let started = Instant::now();
    for chunk_start in (0..n).step_by(batch) {
        let end = (chunk_start + batch).min(n);
        let tx = conn.transaction().unwrap();
        {
            let mut ins_event = tx.prepare_cached(&insert_event).unwrap();
            let mut ins_case = tx.prepare_cached(&insert_case).unwrap();
            let mut ins_ref = tx
                .prepare_cached("INSERT INTO photo_refs (sha256, case_id) VALUES (?1, ?2)")
                .unwrap();
            let mut ins_audit = tx
                .prepare_cached(
                    "INSERT INTO audit_log (seq, entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
                )
                .unwrap();
            for i in chunk_start..end {
                ins_event
                    .execute(rusqlite::params_from_iter(&events[i]))
                    .unwrap();
                ins_case
                    .execute(rusqlite::params_from_iter(&cases[i]))
                    .unwrap();
                ins_ref
                    .execute(rusqlite::params_from_iter(&refs[i]))
                    .unwrap();
                ins_audit
                    .execute(rusqlite::params_from_iter(&audit[i]))
                    .unwrap();
            }
            let last = &audit[end - 1];
            tx.execute(
                "UPDATE sync_head SET change_seq = ?1, audit_seq = ?2, audit_hash = ?3 WHERE id = 1",
                rusqlite::params![end as i64, last[0], last[3]],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env_usize("BENCH_EVENTS", 32_000);
    let batch = env_usize("BENCH_BATCH", 50);
    let clients = env_usize("BENCH_CLIENTS", 32);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("api"),
        bind: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        ..Config::default()
    };
    config.limits.requests_per_second = 1e9;
    config.limits.request_burst = 1e9;
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();

    let mut tokens = Vec::new();
    for i in 0..clients {
        let enrolled: Value = http
            .post(format!("{base}/api/v1/auth/enrol"))
            .json(&json!({ "username": "inspector.changchunli", "password": DEMO_PASSWORD, "device_name": format!("bench {i}") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(enrolled["access_token"].as_str().unwrap().to_owned());
    }
    let per_client = total / clients / batch;
    let bodies: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|_| {
            (0..per_client)
                .map(|_| serde_json::to_vec(&json!({ "protocol": 1, "events": (0..batch).map(|_| report_event()).collect::<Vec<_>>() })).unwrap())
                .collect()
        })
        .collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (token, bodies) in tokens.into_iter().zip(bodies) {
        let http = http.clone();
        let url = format!("{base}/api/v1/sync/push");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for body in bodies {
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let parsed: PushAnswer = response.json().await.unwrap();
                assert_eq!(parsed.results.len(), batch);
                assert!(parsed.results.iter().all(|r| r.outcome == "APPLIED"));
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let events = clients * per_client * batch;
    let api_rate = events as f64 / elapsed.as_secs_f64();
    latencies.sort();
    server.shutdown().await.unwrap();

    // Same schema: open (and so migrate) a fresh storage, then close it and insert raw.
    let raw_path = dir.path().join("raw.sqlite3");
    drop(
        xuncha_server::storage::sqlite::SqliteStorage::open(&raw_path)
            .await
            .unwrap(),
    );
    let raw_rate = raw_inserts(
        &dir.path().join("api").join("xuncha.sqlite3"),
        &raw_path,
        batch,
    );
    let same_path = dir.path().join("same.sqlite3");
    drop(
        xuncha_server::storage::sqlite::SqliteStorage::open(&same_path)
            .await
            .unwrap(),
    );
    let same_rate = same_row_inserts(
        &dir.path().join("api").join("xuncha.sqlite3"),
        &same_path,
        batch,
    );

    println!("## Sync server ingest (SQLite, synchronous=FULL)");
    println!("events: {events} in pushes of {batch}, {clients} concurrent clients");
    println!(
        "push API:         {api_rate:>10.0} events/s  ({:.2} s)",
        elapsed.as_secs_f64()
    );
    println!(
        "raw batched rows: {raw_rate:>10.0} events/s  (event + case + audit row per event, {batch} per transaction)"
    );
    println!(
        "same rows:        {same_rate:>10.0} events/s  (every row a push stores: event, case with query columns, photo ref, audit, head; {batch} per transaction)"
    );
    println!("ratio API/raw:    {:>10.2}", api_rate / raw_rate);
    println!("ratio API/same:   {:>10.2}", api_rate / same_rate);
    println!(
        "push latency at {clients} clients: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
}
