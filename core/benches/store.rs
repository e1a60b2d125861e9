//! Device store benchmarks on a real SQLite file (WAL, synchronous=FULL).
//!
//! `cargo bench -p xuncha-core --bench store`
//! - capture/durable_case_3_photos: one create_case with three already-processed photos (rows
//!   only: photo, event, case rows, warnings query, one fsynced commit).
//! - list/*: one page of 50 out of 100 000 cases, per filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;
use xuncha_core::capture::CaseDraft;
use xuncha_core::geo::GpsFix;
use xuncha_core::protocol::{Cursor, PROTOCOL_VERSION, PullResponse};
use xuncha_core::store::{CaseFilter, PhotoRecord, Store};
use xuncha_core::workflow::{self, Action, Actor, CaseStatus, Event};
use xuncha_core::{Category, Role};

const CASES: usize = 100_000;
const ESTATES: [(&str, f64, f64); 3] = [
    ("changchunli", 39.1135, 117.1930),
    ("pingshandao", 39.0980, 117.2120),
    ("heyuanbeili", 39.1050, 117.1680),
];

fn actor() -> Actor {
    Actor {
        user_id: "u-bench".into(),
        role: Role::Inspector,
        unit_id: "jwh-bench".into(),
    }
}

fn photo(n: u64, k: u64) -> PhotoRecord {
    PhotoRecord {
        sha256: format!("{n:032x}{k:032x}"),
        path: format!("/data/photos/{n}-{k}.jpg").into(),
        thumbnail_path: format!("/data/photos/{n}-{k}.thumb.jpg").into(),
        width: 1600,
        height: 1200,
        bytes: 300_000,
        exif_time: None,
        exif_gps: None,
    }
}

fn capture(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let actor = actor();
    let mut n = 0u64;
    c.bench_function("capture/durable_case_3_photos", |b| {
        b.iter(|| {
            n += 1;
            // Spread over a grid ~110 m apart so the duplicate check sees a realistic few cases.
            let draft = CaseDraft {
                category: Category::ALL[n as usize % Category::ALL.len()],
                estate_id: "changchunli".into(),
                building: Some("3号楼".into()),
                unit_no: Some("2单元".into()),
                location_note: Some("楼道一层".into()),
                description: Some("楼道内堆放杂物，影响通行".into()),
                gps: Some(GpsFix {
                    lat: 39.1135 + (n % 100) as f64 * 0.001,
                    lon: 117.1930 + (n / 100 % 100) as f64 * 0.001,
                    accuracy_m: Some(8.0),
                    provider: Some("gps".into()),
                }),
            };
            let photos = [photo(n, 1), photo(n, 2), photo(n, 3)];
            black_box(
                store
                    .create_case_with_photos(&actor, &draft, &photos)
                    .unwrap(),
            );
        });
    });
}

/// 100 000 cases over a year, spread over categories, estates and statuses, loaded the way a
/// phone gets them: pulled pages of 5 000 in one transaction each.
fn seeded_store(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("list.db")).unwrap();
    let start = Utc::now() - Duration::days(365);
    let actor = actor();
    let mut cases = Vec::with_capacity(5_000);
    for i in 0..CASES {
        let (estate, lat, lon) = ESTATES[i % 3];
        let event = Event {
            id: Uuid::now_v7(),
            case_id: Uuid::now_v7(),
            action: Action::Report {
                category: Category::ALL[i % Category::ALL.len()],
                estate_id: estate.into(),
                building: Some(format!("{}号楼", i % 12 + 1)),
                unit_no: Some(format!("{}单元", i % 4 + 1)),
                location_note: Some(
                    if i % 97 == 0 {
                        "东门电动车棚旁"
                    } else {
                        "楼道一层"
                    }
                    .into(),
                ),
                description: Some(format!("巡查发现问题 {i}")),
            },
            actor: actor.clone(),
            device_time: start + Duration::seconds((i as i64) * 315),
            server_time: None,
            gps: Some(GpsFix {
                lat,
                lon,
                accuracy_m: Some(10.0),
                provider: None,
            }),
            photos: vec![],
            note: None,
        };
        let mut case = workflow::apply(None, &event).unwrap();
        case.status = CaseStatus::ALL[(i / 3) % CaseStatus::ALL.len()];
        cases.push(case);
        if cases.len() == 5_000 {
            store
                .apply_pull(&PullResponse {
                    protocol: PROTOCOL_VERSION,
                    cases: std::mem::take(&mut cases),
                    events: vec![],
                    estates: vec![],
                    units: vec![],
                    routing_rules: None,
                    case_numbers: Default::default(),
                    next_cursor: Cursor(i.to_string()),
                    has_more: true,
                })
                .unwrap();
        }
    }
    store
}

fn list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path());
    let filters = [
        (
            "list/50_of_100k/status",
            CaseFilter {
                statuses: vec![CaseStatus::Dispatched],
                ..CaseFilter::default()
            },
        ),
        (
            "list/50_of_100k/category_estate",
            CaseFilter {
                categories: vec![Category::GroundLock],
                estate_ids: vec!["pingshandao".into()],
                ..CaseFilter::default()
            },
        ),
        (
            "list/50_of_100k/overdue",
            CaseFilter {
                overdue_at: Some(Utc::now()),
                ..CaseFilter::default()
            },
        ),
        (
            "list/50_of_100k/search_3_chars",
            CaseFilter {
                text: Some("电动车".into()),
                ..CaseFilter::default()
            },
        ),
        (
            "list/50_of_100k/search_2_chars",
            CaseFilter {
                text: Some("东门".into()),
                ..CaseFilter::default()
            },
        ),
    ];
    for (name, filter) in &filters {
        assert_eq!(
            store.list_cases(filter, 50, None).unwrap().items.len(),
            50,
            "{name}"
        );
        c.bench_function(name, |b| {
            b.iter(|| black_box(store.list_cases(filter, 50, None).unwrap()))
        });
    }
    // Page 21 of the status filter: keyset pagination does not slow down with depth.
    let filter = &filters[0].1;
    let mut token = None;
    for _ in 0..20 {
        token = store.list_cases(filter, 50, token.as_ref()).unwrap().next;
    }
    let token = token.unwrap();
    c.bench_function("list/50_of_100k/status_page_21", |b| {
        b.iter(|| black_box(store.list_cases(filter, 50, Some(&token)).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = capture, list
}
criterion_main!(benches);
