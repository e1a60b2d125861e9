//! The storage case query (`Storage::query_cases`) on a real SQLite file and a real PostgreSQL
//! database: it returns exactly what the in-memory rule (`access::can_see_case` + the filters)
//! admits, pages without duplicates or gaps while new cases arrive, counts per status, and the
//! migration that added its columns backfills rows stored before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::workflow::{Action, Event};
use xuncha_core::{Actor, CaseStatus, Category, Role};
use xuncha_server::policy::access;
use xuncha_server::policy::catalog::{Catalog, demo_catalog};
use xuncha_server::storage::postgres::PostgresStorage;
use xuncha_server::storage::sqlite::SqliteStorage;
use xuncha_server::storage::{
    AwaitingUnit, CaseQuery, CaseRow, CaseScope, CaseSort, IngestBatch, Storage, UserRecord,
};

use common::{Backend, both_backends, create_database};

/// A named narrowing of a query, for the filter table.
type Narrow = Box<dyn Fn(&mut CaseQuery)>;
/// A `cases` row as schema version 1 stores it.
type V1Row = (String, String, String, String, Option<String>, String, i64);

use common::open_storage as open;

fn actor(role: Role, unit: &str) -> Actor {
    Actor {
        user_id: format!("{}-{unit}", role.code()),
        role,
        unit_id: unit.to_owned(),
    }
}

fn user(role: Role, unit: &str) -> UserRecord {
    UserRecord {
        id: format!("{}-{unit}", role.code()),
        username: String::new(),
        display_name: String::new(),
        role,
        unit_id: unit.to_owned(),
        password_hash: String::new(),
        disabled: false,
    }
}

async fn push(
    storage: &dyn Storage,
    catalog: &Arc<Catalog>,
    by: Actor,
    at: DateTime<Utc>,
    case_id: Uuid,
    action: Action,
) {
    // What the server's clock gives ingest (`ingest::now`): microseconds, as both backends store.
    let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap();
    let event = Event {
        id: Uuid::now_v7(),
        case_id,
        action,
        actor: by.clone(),
        device_time: at,
        server_time: None,
        gps: None,
        photos: Vec::new(),
        note: None,
    };
    let results = storage
        .ingest(IngestBatch {
            actor: by,
            device_id: Uuid::now_v7(),
            events: vec![event],
            catalog: catalog.clone(),
            now: at,
            max_device_skew: chrono::TimeDelta::minutes(10),
            verify_max_distance_m: 100.0,
        })
        .await
        .unwrap();
    match &results[0].outcome {
        EventOutcome::Applied { .. } => {}
        other => panic!("event not applied: {other:?}"),
    }
}

/// (estate, its district, committee unit, street office unit)
const ESTATES: [(&str, &str, &str, &str); 3] = [
    (
        "changchunli",
        "heping",
        "heping.nanyingmen.changchunli.committee",
        "heping.nanyingmen.street_office",
    ),
    (
        "pingshandao",
        "hexi",
        "hexi.youyilu.pingshandao.committee",
        "hexi.youyilu.street_office",
    ),
    (
        "heyuanbeili",
        "nankai",
        "nankai.xuefu.heyuan.committee",
        "nankai.xuefu.street_office",
    ),
];

const CATEGORIES: [Category; 5] = [
    Category::CommonAreaClutter,
    Category::Garbage,
    Category::FireLaneBlocked,
    Category::SmallAds,
    Category::GroundLock,
];

/// Reports one case in the estate at `at` and walks it to one of six states.
async fn one_case(
    storage: &dyn Storage,
    catalog: &Arc<Catalog>,
    estate: usize,
    n: usize,
    at: DateTime<Utc>,
) -> Uuid {
    let (estate_id, district, committee, street) = ESTATES[estate];
    let committee = actor(Role::Committee, committee);
    let street = actor(Role::StreetOffice, street);
    let city = format!("{district}.city_management");
    let fire = format!("{district}.fire_rescue");
    let id = Uuid::now_v7();
    let report = Action::Report {
        category: CATEGORIES[n % CATEGORIES.len()],
        estate_id: estate_id.to_owned(),
        building: Some(format!("{}号楼", n % 4 + 1)),
        unit_no: None,
        location_note: None,
        description: Some(if n.is_multiple_of(3) {
            "楼道堆放杂物 Stairwell".to_owned()
        } else {
            "门口地面 50%_损坏".to_owned()
        }),
    };
    let step = Duration::minutes(1);
    push(storage, catalog, committee.clone(), at, id, report).await;
    match n % 6 {
        0 => {}
        1 => push(storage, catalog, committee, at + step, id, Action::Dissuade).await,
        2 => push(storage, catalog, committee, at + step, id, Action::Escalate).await,
        3 | 4 => {
            push(storage, catalog, committee, at + step, id, Action::Escalate).await;
            let dispatch = Action::Dispatch {
                unit_id: city.clone(),
            };
            push(
                storage,
                catalog,
                street.clone(),
                at + step * 2,
                id,
                dispatch,
            )
            .await;
            if n % 6 == 4 {
                let dept = actor(Role::Department, &city);
                let back = Action::Return {
                    reason: "不属本单位".to_owned(),
                };
                push(storage, catalog, dept, at + step * 3, id, back).await;
                let again = Action::Dispatch { unit_id: fire };
                push(storage, catalog, street, at + step * 4, id, again).await;
            }
        }
        _ => {
            let cancel = Action::Cancel {
                reason: "重复".to_owned(),
            };
            push(storage, catalog, committee, at + step, id, cancel).await;
        }
    }
    id
}

/// 3 estates × `per_estate` cases, half reported 10 days ago (overdue unless settled), half
/// in the last hours.
async fn seed_mixed(storage: &dyn Storage, catalog: &Arc<Catalog>, per_estate: usize) {
    let now = Utc::now();
    for estate in 0..ESTATES.len() {
        for n in 0..per_estate {
            let at = if n % 2 == 0 {
                now - Duration::days(10) + Duration::minutes((n * 7 + estate) as i64)
            } else {
                now - Duration::hours(3) + Duration::minutes((n * 3 + estate) as i64)
            };
            one_case(storage, catalog, estate, n, at).await;
        }
    }
}

async fn all_rows(storage: &dyn Storage) -> Vec<CaseRow> {
    storage.changes_since(0, 1_000_000).await.unwrap().cases
}

fn viewers() -> Vec<UserRecord> {
    vec![
        user(Role::Inspector, "heping.nanyingmen.changchunli.committee"),
        user(Role::Committee, "hexi.youyilu.pingshandao.committee"),
        user(Role::CompanyStaff, "company.heping_nanyingmen"),
        user(Role::StreetOffice, "heping.nanyingmen.street_office"),
        user(Role::StreetOffice, "nankai.xuefu.street_office"),
        user(Role::Department, "heping.city_management"),
        // Co-responsible for clutter and ground locks (三(三)3), never dispatched to.
        user(Role::Department, "heping.housing"),
        // Supervises garbage (三(一)4) in 河西区.
        user(Role::Department, "hexi.city_management"),
        user(Role::Department, "heping.fire_rescue"),
        user(Role::Department, "hexi.fire_rescue"),
        user(Role::Department, "no.such.unit"),
        user(Role::Inspector, "no.such.unit"),
        user(Role::Admin, "tianjin.civil_affairs"),
    ]
}

/// Every page of a query, in order.
async fn every_page(storage: &dyn Storage, mut query: CaseQuery) -> Vec<CaseRow> {
    let mut out = Vec::new();
    loop {
        let page = storage.query_cases(query.clone()).await.unwrap();
        out.extend(page.rows);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

fn ids(rows: &[CaseRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.case.id).collect()
}

fn status_counts(rows: &[&CaseRow]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row.case.status.code().to_owned()).or_default() += 1;
    }
    counts
}

/// The query filters and visibility equal the in-memory rule, for every kind of viewer.
async fn query_equals_in_memory_filter(backend: Backend) {
    let opened = open(&backend).await;
    let storage = opened.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    seed_mixed(storage, &catalog, 12).await;
    let rows = all_rows(storage).await;
    assert_eq!(rows.len(), 36);
    let now = Utc::now();
    let filters: Vec<(&str, Narrow)> = vec![
        ("none", Box::new(|_: &mut CaseQuery| {})),
        (
            "statuses",
            Box::new(|q: &mut CaseQuery| {
                q.statuses = vec![CaseStatus::Dispatched, CaseStatus::Reported]
            }),
        ),
        (
            "categories",
            Box::new(|q: &mut CaseQuery| {
                q.categories = vec![Category::Garbage, Category::SmallAds]
            }),
        ),
        (
            "estate",
            Box::new(|q: &mut CaseQuery| q.estate_ids = Some(vec!["changchunli".to_owned()])),
        ),
        ("open", Box::new(|q: &mut CaseQuery| q.open = Some(true))),
        ("closed", Box::new(|q: &mut CaseQuery| q.open = Some(false))),
        (
            "overdue",
            Box::new(|q: &mut CaseQuery| q.overdue = Some(true)),
        ),
        (
            "on time",
            Box::new(|q: &mut CaseQuery| q.overdue = Some(false)),
        ),
        (
            "assigned",
            Box::new(|q: &mut CaseQuery| q.assigned_unit = Some("heping.fire_rescue".to_owned())),
        ),
        (
            "awaiting a department",
            Box::new(|q: &mut CaseQuery| {
                q.awaiting = Some(AwaitingUnit {
                    unit: "heping.fire_rescue".to_owned(),
                    dispatch: false,
                })
            }),
        ),
        (
            "awaiting a street office",
            Box::new(|q: &mut CaseQuery| {
                q.awaiting = Some(AwaitingUnit {
                    unit: "heping.nanyingmen.street_office".to_owned(),
                    dispatch: true,
                })
            }),
        ),
        (
            "reported range",
            Box::new(move |q: &mut CaseQuery| {
                q.reported_from = Some(now - Duration::days(11));
                q.reported_to = Some(now - Duration::days(5));
            }),
        ),
        (
            "text",
            Box::new(|q: &mut CaseQuery| q.text = Some("stairWELL".to_owned())),
        ),
        (
            "text wildcard",
            Box::new(|q: &mut CaseQuery| q.text = Some("50%_".to_owned())),
        ),
        (
            "text miss",
            Box::new(|q: &mut CaseQuery| q.text = Some("%".to_owned() + "无此")),
        ),
        (
            "combined",
            Box::new(|q: &mut CaseQuery| {
                q.open = Some(true);
                q.overdue = Some(true);
                q.categories = vec![Category::CommonAreaClutter, Category::FireLaneBlocked];
            }),
        ),
    ];
    let mut seen_nonempty = 0;
    for viewer in viewers() {
        let scope = access::case_scope(&viewer, &catalog);
        for (name, adjust) in &filters {
            let mut query = CaseQuery::new(scope.clone(), now);
            query.limit = 1000;
            adjust(&mut query);
            let page = storage.query_cases(query.clone()).await.unwrap();
            let expected: Vec<&CaseRow> = rows
                .iter()
                .filter(|r| access::can_see_case(&viewer, &catalog, r))
                .filter(|r| query.matches(r))
                .collect();
            let got: HashSet<Uuid> = ids(&page.rows).into_iter().collect();
            let want: HashSet<Uuid> = expected.iter().map(|r| r.case.id).collect();
            assert_eq!(
                got, want,
                "{:?} {} with filter {name}",
                viewer.role, viewer.unit_id
            );
            assert_eq!(page.rows.len(), got.len(), "no duplicates");
            assert_eq!(page.counts, status_counts(&expected), "counts, {name}");
            assert!(page.next.is_none());
            if !want.is_empty() {
                seen_nonempty += 1;
            }
        }
    }
    assert!(seen_nonempty > 40, "the data set exercises the filters");
    // The stored rows are the same rows the change feed returns.
    let admin = CaseQuery {
        limit: 1000,
        ..CaseQuery::new(CaseScope::All, now)
    };
    let mut from_query = storage.query_cases(admin).await.unwrap().rows;
    let mut from_feed = rows.clone();
    from_query.sort_by_key(|r| r.case.id);
    from_feed.sort_by_key(|r| r.case.id);
    assert_eq!(from_query, from_feed);
}

/// A department sees every case ever dispatched to it, including one it returned, and every case
/// whose routing names it as supervisor or co-responsible; a returned and re-dispatched case is
/// visible to both units, and to no department the case does not involve.
async fn department_scope_follows_dispatch_history(backend: Backend) {
    let opened = open(&backend).await;
    let storage = opened.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    let now = Utc::now();
    let returned = one_case(storage, &catalog, 0, 4, now - Duration::hours(1)).await;
    let dispatched = one_case(storage, &catalog, 0, 3, now - Duration::hours(1)).await;
    let only_reported = one_case(storage, &catalog, 0, 0, now - Duration::hours(1)).await;
    let in_hexi = one_case(storage, &catalog, 1, 3, now - Duration::hours(1)).await;
    let visible = |unit: &str| {
        let scope = access::case_scope(&user(Role::Department, unit), &catalog);
        let query = CaseQuery::new(scope, now);
        async move {
            let mut got = ids(&storage.query_cases(query).await.unwrap().rows);
            got.sort();
            got
        }
    };
    // returned: GROUND_LOCK, dispatched: SMALL_ADS, only_reported: COMMON_AREA_CLUTTER; 三(三)3
    // names city management and housing co-responsible for clutter and ground locks.
    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort();
        ids
    };
    assert_eq!(
        visible("heping.city_management").await,
        sorted(vec![returned, dispatched, only_reported])
    );
    assert_eq!(visible("heping.fire_rescue").await, vec![returned]);
    assert_eq!(
        visible("heping.housing").await,
        sorted(vec![returned, only_reported]),
        "co-responsible, never dispatched"
    );
    assert_eq!(visible("hexi.city_management").await, vec![in_hexi]);
    assert!(visible("heping.market_regulation").await.is_empty());
    // The currently assigned unit narrows further.
    let mut query = CaseQuery::new(CaseScope::All, now);
    query.assigned_unit = Some("heping.city_management".to_owned());
    assert_eq!(
        ids(&storage.query_cases(query).await.unwrap().rows),
        vec![dispatched]
    );
}

/// Keyset paging: every case present when paging began is returned exactly once, in sort order,
/// even though new cases are reported between pages.
async fn paging_has_no_duplicates_or_gaps_while_cases_arrive(backend: Backend) {
    let opened = open(&backend).await;
    let storage = opened.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    seed_mixed(storage, &catalog, 10).await;
    let street = user(Role::StreetOffice, "heping.nanyingmen.street_office");
    let scope = access::case_scope(&street, &catalog);
    for sort in [
        CaseSort::Newest,
        CaseSort::Oldest,
        CaseSort::DueSoonest,
        CaseSort::Status,
    ] {
        let now = Utc::now();
        let mut query = CaseQuery::new(scope.clone(), now);
        query.sort = sort;
        query.limit = 3;
        let before: HashSet<Uuid> = ids(&storage
            .query_cases(CaseQuery {
                limit: 1000,
                ..query.clone()
            })
            .await
            .unwrap()
            .rows)
        .into_iter()
        .collect();
        assert!(
            before.len() >= 10,
            "the street's ten cases and those added by earlier sorts"
        );
        let mut seen: Vec<CaseRow> = Vec::new();
        let mut pages = 0;
        loop {
            let page = storage.query_cases(query.clone()).await.unwrap();
            assert!(page.rows.len() <= 3);
            seen.extend(page.rows);
            pages += 1;
            // A new case arrives in the same street between every two pages.
            one_case(storage, &catalog, 0, pages, Utc::now()).await;
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let seen_ids = ids(&seen);
        let unique: HashSet<Uuid> = seen_ids.iter().copied().collect();
        assert_eq!(unique.len(), seen_ids.len(), "{sort:?}: a case came twice");
        assert!(before.is_subset(&unique), "{sort:?}: a case was skipped");
        let keys: Vec<(i64, String)> = seen
            .iter()
            .map(|r| (query.sort_key(&r.case), r.case.id.to_string()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if sort == CaseSort::Newest {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{sort:?}: pages out of order");
        if sort == CaseSort::Newest {
            // Newer cases land before the cursor: the newest-first walk does not reach them.
            assert_eq!(unique, before);
        }
    }
    // A page's counts cover every page.
    let query = CaseQuery {
        limit: 2,
        ..CaseQuery::new(scope.clone(), Utc::now())
    };
    let page = storage.query_cases(query.clone()).await.unwrap();
    assert_eq!(page.rows.len(), 2);
    assert_eq!(page.total(), every_page(storage, query).await.len() as u64);
}

/// Events of a set of cases: all of theirs, none of others, each case's in order.
async fn events_of_cases_returns_exactly_their_events(backend: Backend) {
    let opened = open(&backend).await;
    let storage = opened.storage.as_ref();
    let catalog = Arc::new(demo_catalog().unwrap());
    let now = Utc::now() - Duration::hours(2);
    let a = one_case(storage, &catalog, 0, 4, now).await;
    let b = one_case(storage, &catalog, 1, 2, now).await;
    let c = one_case(storage, &catalog, 2, 3, now).await;
    let events = storage.events_of_cases(vec![a, c]).await.unwrap();
    let of = |id: Uuid| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.case_id == id)
            .map(|e| format!("{:?}", e.action.kind()))
            .collect()
    };
    assert_eq!(
        of(a),
        ["Report", "Escalate", "Dispatch", "Return", "Dispatch"]
    );
    assert_eq!(of(c), ["Report", "Escalate", "Dispatch"]);
    assert!(of(b).is_empty());
    assert!(
        storage
            .events_of_cases(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Opens a database holding `rows` at schema version 1 (before the case query's columns) and
/// lets the storage migrate it.
async fn migrated_from_v1(
    backend: &Backend,
    dir: &std::path::Path,
    rows: &[CaseRow],
) -> Arc<dyn Storage> {
    let values: Vec<V1Row> = rows
        .iter()
        .map(|r| {
            (
                r.case.id.to_string(),
                r.case.estate_id.clone(),
                r.case.status.code().to_owned(),
                serde_json::to_string(&r.case).unwrap(),
                r.routing.as_ref().map(|v| v.to_string()),
                serde_json::to_string(&r.dispatched_units).unwrap(),
                r.seq,
            )
        })
        .collect();
    let insert = "INSERT INTO cases (id, estate_id, status, body, routing, dispatched_units, seq)";
    match backend {
        Backend::Sqlite => {
            let path = dir.join("v1.sqlite3");
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(include_str!(
                "../src/storage/migrations/sqlite/0001_init.sql"
            ))
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            for v in &values {
                conn.execute(
                    &format!("{insert} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    rusqlite::params![v.0, v.1, v.2, v.3, v.4, v.5, v.6],
                )
                .unwrap();
            }
            drop(conn);
            Arc::new(SqliteStorage::open(&path).await.unwrap())
        }
        Backend::Postgres(admin) => {
            let url = create_database(admin).await;
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(connection);
            client
                .batch_execute(include_str!(
                    "../src/storage/migrations/postgres/0001_init.sql"
                ))
                .await
                .unwrap();
            client
                .batch_execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
                     INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00Z');",
                )
                .await
                .unwrap();
            for v in &values {
                client
                    .execute(
                        &format!("{insert} VALUES ($1, $2, $3, ($4::text)::jsonb, ($5::text)::jsonb, ($6::text)::jsonb, $7)"),
                        &[&v.0, &v.1, &v.2, &v.3, &v.4, &v.5, &v.6],
                    )
                    .await
                    .unwrap();
            }
            drop(client);
            let _ = task.await;
            Arc::new(PostgresStorage::connect(&url, 4).await.unwrap())
        }
    }
}

/// Rows stored before migration 0002 are found by the query exactly as rows ingested after it.
async fn migration_backfills_rows_stored_before_it(backend: Backend) {
    let source = open(&backend).await;
    let catalog = Arc::new(demo_catalog().unwrap());
    seed_mixed(source.storage.as_ref(), &catalog, 12).await;
    let rows = all_rows(source.storage.as_ref()).await;
    let migrated = migrated_from_v1(&backend, source._dir.path(), &rows).await;
    let now = Utc::now();
    for viewer in viewers() {
        let scope = access::case_scope(&viewer, &catalog);
        for sort in [CaseSort::Newest, CaseSort::DueSoonest, CaseSort::Status] {
            for overdue in [None, Some(true)] {
                let query = CaseQuery {
                    sort,
                    overdue,
                    text: Some("stairwell".to_owned()).filter(|_| overdue.is_none()),
                    limit: 1000,
                    ..CaseQuery::new(scope.clone(), now)
                };
                let want = source.storage.query_cases(query.clone()).await.unwrap();
                let got = migrated.query_cases(query).await.unwrap();
                assert_eq!(
                    ids(&got.rows),
                    ids(&want.rows),
                    "{:?} {}",
                    viewer.role,
                    viewer.unit_id
                );
                assert_eq!(got.counts, want.counts);
            }
        }
    }
    let mut all = migrated
        .query_cases(CaseQuery {
            sort: CaseSort::Oldest,
            limit: 1000,
            ..CaseQuery::new(CaseScope::All, now)
        })
        .await
        .unwrap()
        .rows;
    assert!(!all.is_empty());
    // Migration 0006 numbered every case, in reported order, without a repeat.
    let numbers: Vec<String> = all.iter_mut().map(|r| r.number.take().unwrap()).collect();
    let distinct: HashSet<&String> = numbers.iter().collect();
    assert_eq!(distinct.len(), numbers.len(), "{numbers:?}");
    assert!(
        numbers
            .iter()
            .all(|n| n.ends_with("-0001") || n.contains("-00"))
    );
    let first = &numbers[0];
    assert!(first.ends_with("-0001"), "{numbers:?}");
}

both_backends!(
    migration_backfills_rows_stored_before_it,
    query_equals_in_memory_filter,
    department_scope_follows_dispatch_history,
    paging_has_no_duplicates_or_gaps_while_cases_arrive,
    events_of_cases_returns_exactly_their_events,
);
