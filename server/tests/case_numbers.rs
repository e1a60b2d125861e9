//! Case numbers (issue 13) on a real SQLite file and a real PostgreSQL database: the server
//! numbers a case when it ingests its REPORT — district short name, Beijing day of the server
//! time, a sequence per district and day from 0001 — never twice for a re-pushed REPORT, never
//! the same number for two cases ingested at once, and the case query's text finds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::workflow::{Action, Event};
use xuncha_core::{Actor, Category, Role};
use xuncha_server::policy::catalog::{Catalog, demo_catalog};
use xuncha_server::storage::{CaseQuery, CaseScope, IngestBatch, Storage};

use common::{Backend, both_backends};

use common::open_storage as open;

/// The committee of a demo estate: (estate id, committee unit).
const HEPING: (&str, &str) = ("changchunli", "heping.nanyingmen.changchunli.committee");
const HEXI: (&str, &str) = ("pingshandao", "hexi.youyilu.pingshandao.committee");

fn report(estate: (&str, &str), at: DateTime<Utc>) -> (Actor, Event) {
    let actor = Actor {
        user_id: format!("committee-{}", estate.1),
        role: Role::Committee,
        unit_id: estate.1.to_owned(),
    };
    let event = Event {
        id: Uuid::now_v7(),
        case_id: Uuid::now_v7(),
        action: Action::Report {
            category: Category::Garbage,
            estate_id: estate.0.to_owned(),
            building: Some("1号楼".to_owned()),
            unit_no: None,
            location_note: None,
            description: Some("垃圾堆放".to_owned()),
        },
        actor: actor.clone(),
        device_time: at,
        server_time: None,
        gps: None,
        photos: Vec::new(),
        note: None,
    };
    (actor, event)
}

async fn ingest(
    storage: &dyn Storage,
    catalog: &Arc<Catalog>,
    actor: Actor,
    event: Event,
    now: DateTime<Utc>,
) -> EventOutcome {
    let results = storage
        .ingest(IngestBatch {
            actor,
            device_id: Uuid::now_v7(),
            events: vec![event],
            catalog: catalog.clone(),
            now,
            max_device_skew: chrono::TimeDelta::minutes(10),
            verify_max_distance_m: 100.0,
        })
        .await
        .unwrap();
    results.into_iter().next().unwrap().outcome
}

/// Reports a case of `estate` at server time `now`; its id.
async fn reported(
    storage: &dyn Storage,
    catalog: &Arc<Catalog>,
    estate: (&str, &str),
    now: DateTime<Utc>,
) -> Uuid {
    let (actor, event) = report(estate, now);
    let id = event.case_id;
    let outcome = ingest(storage, catalog, actor, event, now).await;
    assert!(
        matches!(outcome, EventOutcome::Applied { .. }),
        "{outcome:?}"
    );
    id
}

async fn number_of(storage: &dyn Storage, id: Uuid) -> String {
    let (row, _) = storage.case_with_events(id).await.unwrap().unwrap();
    row.number.expect("every stored case has a number")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn numbers_per_district_and_beijing_day(backend: Backend) {
    let db = open(&backend).await;
    let storage = db.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    // 16:30 UTC on 3 December is 00:30 on 4 December in Beijing: the day is Beijing's.
    let day = at("2026-12-03T16:30:00Z");
    let first = reported(storage, &catalog, HEPING, day).await;
    let second = reported(storage, &catalog, HEPING, day).await;
    let other_district = reported(storage, &catalog, HEXI, day).await;
    let next_day = reported(storage, &catalog, HEPING, at("2026-12-04T16:30:00Z")).await;
    assert_eq!(number_of(storage, first).await, "和平-20261204-0001");
    assert_eq!(number_of(storage, second).await, "和平-20261204-0002");
    assert_eq!(
        number_of(storage, other_district).await,
        "河西-20261204-0001"
    );
    assert_eq!(number_of(storage, next_day).await, "和平-20261205-0001");
}

/// A re-pushed REPORT (lost acknowledgement) is a duplicate: the case keeps its number, no
/// number is consumed, and later events never change it.
async fn re_push_keeps_the_number(backend: Backend) {
    let db = open(&backend).await;
    let storage = db.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    let now = at("2026-12-04T02:00:00Z");
    let (actor, event) = report(HEPING, now);
    let id = event.case_id;
    let first = ingest(storage, &catalog, actor.clone(), event.clone(), now).await;
    assert!(matches!(first, EventOutcome::Applied { .. }));
    let later = now + chrono::TimeDelta::minutes(5);
    let again = ingest(storage, &catalog, actor.clone(), event, later).await;
    assert!(matches!(again, EventOutcome::Duplicate { .. }), "{again:?}");
    let escalate = Event {
        id: Uuid::now_v7(),
        action: Action::Escalate,
        device_time: later,
        ..report(HEPING, later).1
    };
    let escalate = Event {
        case_id: id,
        ..escalate
    };
    let escalated = ingest(storage, &catalog, actor, escalate, later).await;
    assert!(
        matches!(escalated, EventOutcome::Applied { .. }),
        "{escalated:?}"
    );
    assert_eq!(number_of(storage, id).await, "和平-20261204-0001");
    let next = reported(storage, &catalog, HEPING, later).await;
    assert_eq!(number_of(storage, next).await, "和平-20261204-0002");
}

/// Cases ingested at the same time (PostgreSQL: concurrent transactions) get distinct numbers,
/// with no gap.
async fn concurrent_reports_get_distinct_numbers(backend: Backend) {
    let db = open(&backend).await;
    let catalog = Arc::new(demo_catalog().unwrap());
    let now = at("2026-12-04T02:00:00Z");
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let storage = db.storage.clone();
        let catalog = catalog.clone();
        tasks.push(tokio::spawn(async move {
            reported(storage.as_ref(), &catalog, HEPING, now).await
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        let id = task.await.unwrap();
        numbers.push(number_of(db.storage.as_ref(), id).await);
    }
    numbers.sort();
    let want: Vec<String> = (1..=24).map(|n| format!("和平-20261204-{n:04}")).collect();
    assert_eq!(numbers, want);
}

/// The ids of the cases the case query's text `text` finds (checked against the in-memory rule).
async fn found(storage: &dyn Storage, now: DateTime<Utc>, text: &str) -> Vec<Uuid> {
    let query = CaseQuery {
        text: Some(text.to_owned()),
        ..CaseQuery::new(CaseScope::All, now)
    };
    let page = storage.query_cases(query.clone()).await.unwrap();
    for row in &page.rows {
        assert!(query.matches(row), "in-memory rule disagrees for {text}");
    }
    page.rows.into_iter().map(|r| r.case.id).collect()
}

/// The case query's text finds a case by its whole number or a part of it.
async fn search_finds_the_number(backend: Backend) {
    let db = open(&backend).await;
    let storage = db.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    let now = at("2026-12-04T02:00:00Z");
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(reported(storage, &catalog, HEPING, now).await);
    }
    let hexi = reported(storage, &catalog, HEXI, now).await;
    assert_eq!(found(storage, now, "和平-20261204-0012").await, [ids[11]]);
    assert_eq!(found(storage, now, "0012").await, [ids[11]]);
    let mut heping = found(storage, now, "和平-20261204").await;
    heping.sort();
    assert_eq!(heping, ids);
    assert_eq!(found(storage, now, "河西-2026").await, [hexi]);
}

both_backends!(
    numbers_per_district_and_beijing_day,
    re_push_keeps_the_number,
    concurrent_reports_get_distinct_numbers,
    search_finds_the_number,
);
