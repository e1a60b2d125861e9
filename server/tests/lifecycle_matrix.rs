//! Issue 10: every case reaches a verified close by the unit the policy names, on server time.
//!
//! The matrix drives every category of the catalog × every management mode (company, owner-self,
//! resident-self) × both lamp owners through the HTTP API: reported by a phone account, escalated
//! by the committee where dissuasion comes first, dispatched by the street office to the routed
//! owner, accepted and handled by an account of that owner unit with an uploaded AFTER photo, and
//! verified on site with an uploaded photo and GPS inside the estate, until CLOSED. The other
//! scenarios pin items 1, 2, 3, 5 and 6 one by one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use common::{Backend, TestServer, both_backends, event, outcome, report};
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::estate::{Estate, LampOwner, ManagementMode};
use xuncha_core::geo::Geometry;
use xuncha_core::protocol::EventOutcome;
use xuncha_core::{Case, CaseStatus, Category, Role, UnitType};
use xuncha_server::demo::{DEMO_PASSWORD, DemoAccount};

both_backends!(
    every_category_and_mode_reaches_closed,
    assigned_street_office_and_committee_accept_and_handle,
    dissuasion_first_deadline_runs_from_escalation,
    server_time_decides_and_device_time_is_bounded,
    minutes_are_typed_and_only_the_street_office_writes_them,
    dispatch_targets_are_limited_to_the_estates_units,
);

/// A JPEG no other test produces: the seed shifts every pixel.
fn unique_jpeg(seed: u64) -> Vec<u8> {
    let (w, h) = (48u16, 32u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let s = seed.wrapping_mul(2_654_435_761);
            pixels.extend_from_slice(&[
                (u64::from(x) * 5 + s) as u8,
                (u64::from(y) * 7 + (s >> 8)) as u8,
                (u64::from(x + y) + (s >> 16)) as u8,
            ]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Uploads a unique photo through the photo API; returns its address.
async fn upload_photo(t: &TestServer, token: &str, seed: u64) -> String {
    t.upload_photo(token, unique_jpeg(seed)).await
}

/// A point inside the estate's boundary (checked with the core's point-in-polygon).
fn inside(estate: &Estate) -> (f64, f64) {
    let ring: Vec<[f64; 2]> = match &estate.boundary {
        Geometry::Polygon(rings) => rings[0].clone(),
        Geometry::MultiPolygon(polys) => polys[0][0].clone(),
    };
    let (mut min_lon, mut min_lat, mut max_lon, mut max_lat) = (180.0, 90.0, -180.0, -90.0);
    for [lon, lat] in &ring {
        min_lon = f64::min(min_lon, *lon);
        max_lon = f64::max(max_lon, *lon);
        min_lat = f64::min(min_lat, *lat);
        max_lat = f64::max(max_lat, *lat);
    }
    for i in 0..=20 {
        for j in 0..=20 {
            // Centre first, then a spiral-ish grid.
            let fx = 0.5 + f64::from(if i % 2 == 0 { i } else { -i }) / 42.0;
            let fy = 0.5 + f64::from(if j % 2 == 0 { j } else { -j }) / 42.0;
            let lat = min_lat + (max_lat - min_lat) * fy;
            let lon = min_lon + (max_lon - min_lon) * fx;
            if estate.boundary.contains(lat, lon) {
                return (lat, lon);
            }
        }
    }
    panic!("no inside point found for {}", estate.id);
}

fn at_gps(mut e: Value, (lat, lon): (f64, f64)) -> Value {
    e["gps"] = json!({ "lat": lat, "lon": lon, "accuracy_m": 6.0, "provider": "gps" });
    e
}

fn with_photo(mut e: Value, sha: &str, kind: &str) -> Value {
    e["photos"] = json!([{ "sha256": sha, "kind": kind }]);
    e
}

fn applied_case(result: &xuncha_core::protocol::EventResult) -> Case {
    match &result.outcome {
        EventOutcome::Applied { case } => (**case).clone(),
        other => panic!("event {} not applied: {other:?}", result.event_id),
    }
}

/// Signs in (enrols a phone) once per username.
struct Tokens<'a> {
    t: &'a TestServer,
    tokens: BTreeMap<String, String>,
}

impl Tokens<'_> {
    async fn of(&mut self, username: &str) -> String {
        if let Some(token) = self.tokens.get(username) {
            return token.clone();
        }
        let token = self.t.enrol(username).await.access_token;
        self.tokens.insert(username.to_owned(), token.clone());
        token
    }
}

/// The demo account acting for `unit_id` in `role`, created through the admin CLI path when the
/// demo has none.
async fn account(
    t: &TestServer,
    accounts: &mut Vec<DemoAccount>,
    unit_id: &str,
    role: Role,
) -> String {
    if let Some(a) = accounts
        .iter()
        .find(|a| a.unit_id == unit_id && a.role == role)
    {
        return a.username.clone();
    }
    let state = t.server.as_ref().unwrap().state();
    let username = format!("matrix.{}.{}", role.code(), unit_id);
    let user = xuncha_server::cli::users::add(
        state.storage.as_ref(),
        &username,
        role.code(),
        unit_id,
        None,
        DEMO_PASSWORD.to_owned(),
    )
    .await
    .unwrap_or_else(|e| panic!("user add {username}: {e}"));
    accounts.push(DemoAccount {
        username: username.clone(),
        password: DEMO_PASSWORD.to_owned(),
        role: user.role,
        unit_id: user.unit_id,
        unit_name: String::new(),
    });
    username
}

/// Imports the estates the demo lacks (owner-self with both lamp owners, resident-self with the
/// grid's lamps) through the admin CLI's estates import, then reloads the server's catalog.
async fn import_missing_modes(t: &TestServer) {
    let state = t.server.as_ref().unwrap().state();
    let catalog = state.catalog();
    let base = |id: &str| catalog.estates().get(id).unwrap().clone();
    let variants = [
        (
            "changchunli",
            "matrix-owner-city",
            ManagementMode::OwnerSelf,
            LampOwner::City,
        ),
        (
            "pingshandao",
            "matrix-owner-grid",
            ManagementMode::OwnerSelf,
            LampOwner::StateGrid,
        ),
        (
            "heyuanbeili",
            "matrix-resident-grid",
            ManagementMode::ResidentSelf,
            LampOwner::StateGrid,
        ),
    ];
    let mut features = Vec::new();
    for (from, id, mode, lamp) in variants {
        let mut estate = base(from);
        estate.id = id.to_owned();
        estate.name = format!("{}（{id}）", estate.name);
        estate.management_mode = mode;
        estate.lamp_owner = lamp;
        if mode != ManagementMode::Company {
            estate.company_unit = None;
        }
        let mut properties = serde_json::to_value(&estate).unwrap();
        let geometry = properties
            .as_object_mut()
            .unwrap()
            .remove("boundary")
            .unwrap();
        features.push(json!({ "type": "Feature", "properties": properties, "geometry": geometry }));
    }
    let text = json!({ "type": "FeatureCollection", "features": features }).to_string();
    let estates = xuncha_server::cli::estates::parse_feature_collection(&text, &catalog).unwrap();
    xuncha_server::cli::estates::import(state.storage.as_ref(), estates, "lifecycle-matrix")
        .await
        .unwrap();
    state.reload_catalog().await.unwrap();
}

/// The committee of the estate's community, from the unit directory.
fn committee_of(t: &TestServer, estate: &Estate) -> String {
    let catalog = t.server.as_ref().unwrap().state().catalog();
    catalog
        .units()
        .iter()
        .find(|u| {
            u.unit_type == UnitType::ResidentsCommittee
                && u.community.as_deref() == Some(estate.community.as_str())
        })
        .unwrap()
        .id
        .clone()
}

fn street_office_of(t: &TestServer, estate: &Estate) -> String {
    let catalog = t.server.as_ref().unwrap().state().catalog();
    catalog
        .units()
        .iter()
        .find(|u| {
            u.unit_type == UnitType::StreetOffice
                && u.street.as_deref() == Some(estate.street.as_str())
        })
        .unwrap()
        .id
        .clone()
}

fn role_for(t: &TestServer, unit_id: &str) -> Role {
    let catalog = t.server.as_ref().unwrap().state().catalog();
    let unit = catalog.unit(unit_id).unwrap();
    xuncha_server::cli::users::role_for_unit_type(unit.unit_type)
}

struct MatrixCase {
    id: Uuid,
    category: Category,
    estate: Estate,
    reporter: String,
    owner: String,
}

async fn every_category_and_mode_reaches_closed(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    import_missing_modes(&t).await;
    let catalog = t.server.as_ref().unwrap().state().catalog();
    let mut accounts = t.server.as_ref().unwrap().demo_accounts().to_vec();
    let mut estates: Vec<Estate> = catalog.estates().values().cloned().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    let combos: BTreeSet<(String, String)> = estates
        .iter()
        .map(|e| {
            (
                format!("{:?}", e.management_mode),
                format!("{:?}", e.lamp_owner),
            )
        })
        .collect();
    assert_eq!(
        combos.len(),
        6,
        "every management mode with both lamp owners: {combos:?}"
    );

    let mut tokens = Tokens {
        t: &t,
        tokens: BTreeMap::new(),
    };
    let mut cases: Vec<MatrixCase> = Vec::new();
    let mut seed = 0u64;

    // 1. Report: every category of the catalog at every estate, by a phone of its committee.
    for estate in &estates {
        let committee = committee_of(&t, estate);
        let reporter = match accounts
            .iter()
            .find(|a| a.unit_id == committee && a.role == Role::Inspector)
        {
            Some(a) => a.username.clone(),
            None => account(&t, &mut accounts, &committee, Role::Committee).await,
        };
        let token = tokens.of(&reporter).await;
        let point = inside(estate);
        let mut batch = Vec::new();
        for category in Category::ALL {
            let id = Uuid::now_v7();
            batch.push(at_gps(report(id, &estate.id, category.code()), point));
            cases.push(MatrixCase {
                id,
                category,
                estate: estate.clone(),
                reporter: reporter.clone(),
                owner: String::new(),
            });
        }
        for r in t.push(&token, batch).await.results {
            assert_eq!(outcome(&r), "APPLIED", "report at {}", estate.id);
        }
    }
    assert_eq!(cases.len(), Category::ALL.len() * estates.len());

    // 2. Dissuasion failed: the committee escalates where the category requires dissuasion first.
    for estate in &estates {
        let committee = committee_of(&t, estate);
        let username = account(&t, &mut accounts, &committee, Role::Committee).await;
        let token = tokens.of(&username).await;
        let batch: Vec<Value> = cases
            .iter()
            .filter(|c| c.estate.id == estate.id && c.category.info().dissuade_first)
            .map(|c| at_gps(event(c.id, json!({ "kind": "ESCALATE" })), inside(estate)))
            .collect();
        for r in t.push(&token, batch).await.results {
            assert_eq!(applied_case(&r).status, CaseStatus::Escalated);
        }
    }

    // 3. The street office dispatches each case to the owner routing names.
    let mut by_street: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        by_street
            .entry(street_office_of(&t, &c.estate))
            .or_default()
            .push(i);
    }
    for (street, indexes) in &by_street {
        let username = account(&t, &mut accounts, street, Role::StreetOffice).await;
        let token = tokens.of(&username).await;
        let mut batch = Vec::new();
        for &i in indexes {
            let (status, detail) = t
                .get(&token, &format!("/api/v1/cases/{}", cases[i].id))
                .await;
            assert_eq!(status, 200, "{detail}");
            let owner = detail["routing"]["owner"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("routing of {:?}: {detail}", cases[i].category))
                .to_owned();
            cases[i].owner = owner.clone();
            batch.push(event(
                cases[i].id,
                json!({ "kind": "DISPATCH", "unit_id": owner }),
            ));
        }
        for (r, &i) in t.push(&token, batch).await.results.iter().zip(indexes) {
            let case = applied_case(r);
            assert_eq!(case.status, CaseStatus::Dispatched);
            assert_eq!(case.assigned_unit.as_deref(), Some(cases[i].owner.as_str()));
        }
    }

    // 4. An account of the owner unit accepts and handles, with its own uploaded AFTER photo.
    let mut by_owner: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        by_owner.entry(c.owner.clone()).or_default().push(i);
    }
    let owner_types: BTreeSet<UnitType> = by_owner
        .keys()
        .map(|u| catalog.unit(u).unwrap().unit_type)
        .collect();
    for wanted in [
        UnitType::StreetOffice,
        UnitType::ResidentsCommittee,
        UnitType::ManagementCompany,
        UnitType::PropertyOwner,
    ] {
        assert!(
            owner_types.contains(&wanted),
            "the matrix routes to a {wanted}: {owner_types:?}"
        );
    }
    for (owner, indexes) in &by_owner {
        let username = account(&t, &mut accounts, owner, role_for(&t, owner)).await;
        let token = tokens.of(&username).await;
        let mut batch = Vec::new();
        for &i in indexes {
            seed += 1;
            let sha = upload_photo(&t, &token, seed).await;
            batch.push(event(cases[i].id, json!({ "kind": "ACCEPT" })));
            batch.push(with_photo(
                event(cases[i].id, json!({ "kind": "HANDLE" })),
                &sha,
                "AFTER",
            ));
        }
        let results = t.push(&token, batch).await.results;
        for (pair, &i) in results.chunks(2).zip(indexes) {
            assert_eq!(
                applied_case(&pair[0]).status,
                CaseStatus::Accepted,
                "{:?} at {} by {owner}",
                cases[i].category,
                cases[i].estate.id
            );
            assert_eq!(applied_case(&pair[1]).status, CaseStatus::Handled);
        }
    }

    // 5. Verified on site: a photo and GPS inside the estate, by the reporting phone.
    let mut by_reporter: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        by_reporter.entry(c.reporter.clone()).or_default().push(i);
    }
    for (reporter, indexes) in &by_reporter {
        let token = tokens.of(reporter).await;
        let mut batch = Vec::new();
        for &i in indexes {
            seed += 1;
            let sha = upload_photo(&t, &token, seed).await;
            batch.push(at_gps(
                with_photo(
                    event(cases[i].id, json!({ "kind": "VERIFY" })),
                    &sha,
                    "VERIFICATION",
                ),
                inside(&cases[i].estate),
            ));
        }
        for (r, &i) in t.push(&token, batch).await.results.iter().zip(indexes) {
            let case = applied_case(r);
            assert_eq!(
                case.status,
                CaseStatus::Closed,
                "{:?} at {}",
                cases[i].category,
                cases[i].estate.id
            );
            assert!(case.waiting_for().is_none());
        }
    }

    // Read back: every case closed by the routed owner, with server times in order.
    let admin = tokens.of("admin").await;
    for c in &cases {
        let (status, detail) = t.get(&admin, &format!("/api/v1/cases/{}", c.id)).await;
        assert_eq!(status, 200);
        let case: Case = serde_json::from_value(detail["case"].clone()).unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        assert_eq!(case.assigned_unit.as_deref(), Some(c.owner.as_str()));
        assert!(case.reported_at <= case.dispatched_at.unwrap());
        assert!(case.dispatched_at <= case.handled_at && case.handled_at <= case.closed_at);
    }
    t.stop().await;
}

/// Item 1: cases the street office or the committee own are accepted and handled by their accounts.
async fn assigned_street_office_and_committee_accept_and_handle(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let street = t.enrol("street.nanyingmen").await.access_token;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let committee = t.enrol("committee.changchunli").await.access_token;
    let case_id = Uuid::now_v7();
    // COMMON_AREA_CLUTTER: dissuasion first, owner the street office itself (三(三)3).
    assert_eq!(
        outcome(
            &t.push(
                &inspector,
                vec![report(case_id, "changchunli", "COMMON_AREA_CLUTTER")]
            )
            .await
            .results[0]
        ),
        "APPLIED"
    );
    let r = t
        .push(
            &committee,
            vec![event(case_id, json!({ "kind": "ESCALATE" }))],
        )
        .await;
    assert_eq!(outcome(&r.results[0]), "APPLIED");
    let r = t
        .push(
            &street,
            vec![event(
                case_id,
                json!({ "kind": "DISPATCH", "unit_id": "heping.nanyingmen.street_office" }),
            )],
        )
        .await;
    assert_eq!(outcome(&r.results[0]), "APPLIED", "{:?}", r.results[0]);
    let (_, detail) = t.get(&street, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(
        detail["routing"]["owner"]["id"],
        "heping.nanyingmen.street_office"
    );
    // A member of another unit may not act for the street office.
    let company = t.enrol("company.changchunli").await.access_token;
    let r = t
        .push(&company, vec![event(case_id, json!({ "kind": "ACCEPT" }))])
        .await;
    assert_eq!(outcome(&r.results[0]), "REJECTED:NOT_ASSIGNEE");
    let sha = upload_photo(&t, &street, 7_001).await;
    let r = t
        .push(
            &street,
            vec![
                event(case_id, json!({ "kind": "ACCEPT" })),
                with_photo(event(case_id, json!({ "kind": "HANDLE" })), &sha, "AFTER"),
            ],
        )
        .await;
    assert_eq!(
        r.results.iter().map(outcome).collect::<Vec<_>>(),
        ["APPLIED", "APPLIED"],
        "{:?}",
        r.results
    );

    // Company work at a resident-self estate goes to the committee, which handles it (二(三)).
    let accounts = t.server.as_ref().unwrap().demo_accounts().to_vec();
    let committee_account = accounts
        .iter()
        .find(|a| a.role == Role::Committee && a.unit_id == "nankai.xuefu.heyuan.committee")
        .unwrap_or_else(|| panic!("demo account for the 鹤园 committee: {accounts:?}"));
    let heyuan = t.enrol(&committee_account.username).await.access_token;
    let xuefu = accounts
        .iter()
        .find(|a| a.role == Role::StreetOffice && a.unit_id == "nankai.xuefu.street_office")
        .expect("demo account for 学府街道");
    let xuefu = t.enrol(&xuefu.username).await.access_token;
    let case_id = Uuid::now_v7();
    let r = t
        .push(
            &heyuan,
            vec![report(case_id, "heyuanbeili", "GATE_WALL_INTERCOM")],
        )
        .await;
    assert_eq!(outcome(&r.results[0]), "APPLIED");
    let (_, detail) = t.get(&xuefu, &format!("/api/v1/cases/{case_id}")).await;
    let owner = detail["routing"]["owner"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(owner, committee_account.unit_id);
    let r = t
        .push(
            &xuefu,
            vec![event(
                case_id,
                json!({ "kind": "DISPATCH", "unit_id": owner }),
            )],
        )
        .await;
    assert_eq!(outcome(&r.results[0]), "APPLIED");
    let sha = upload_photo(&t, &heyuan, 7_002).await;
    let r = t
        .push(
            &heyuan,
            vec![
                event(case_id, json!({ "kind": "ACCEPT" })),
                with_photo(event(case_id, json!({ "kind": "HANDLE" })), &sha, "AFTER"),
            ],
        )
        .await;
    assert_eq!(
        r.results.iter().map(outcome).collect::<Vec<_>>(),
        ["APPLIED", "APPLIED"]
    );
    t.stop().await;
}

/// Item 2: a dissuasion-first case is not overdue while it waits for the committee; its dispatch
/// deadline runs from the escalation, and the queue and case page say whom it waits for.
async fn dissuasion_first_deadline_runs_from_escalation(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let committee = t.enrol("committee.changchunli").await.access_token;
    let case_id = Uuid::now_v7();
    let r = t
        .push(
            &inspector,
            vec![report(case_id, "changchunli", "ILLEGAL_STRUCTURE")],
        )
        .await;
    let reported = applied_case(&r.results[0]);
    assert_eq!(reported.current_due(), None, "nobody may dispatch yet");
    assert!(!reported.is_overdue(Utc::now() + Duration::days(30)));

    // The dashboard queue and case page say whom it waits for.
    let (web, cookie) = dashboard_sign_in(&t, "street.nanyingmen").await;
    let page = |path: String| {
        let web = web.clone();
        let cookie = cookie.clone();
        let url = t.url(&path);
        async move {
            let resp = web.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let queue = page("/dashboard/cases".to_owned()).await;
    assert!(queue.contains("等待居委会劝阻或上报"), "{queue}");
    let detail = page(format!("/dashboard/cases/{case_id}")).await;
    assert!(
        detail.contains("data-waiting=\"COMMITTEE_DISSUADE_OR_ESCALATE\"")
            && detail.contains("等待居委会劝阻或上报"),
        "{detail}"
    );

    let r = t
        .push(
            &committee,
            vec![event(case_id, json!({ "kind": "ESCALATE" }))],
        )
        .await;
    let escalated = applied_case(&r.results[0]);
    let escalated_at = escalated.escalated_at.unwrap();
    assert_eq!(
        escalated.current_due(),
        Some(
            escalated_at
                + Duration::hours(i64::from(Category::IllegalStructure.info().dispatch_hours))
        ),
        "the dispatch window starts at the escalation"
    );
    let detail = page(format!("/dashboard/cases/{case_id}")).await;
    assert!(detail.contains("等待街道办事处派遣"), "{detail}");
    t.stop().await;
}

/// Item 3: the server's clock sets case times and deadlines; device time is bounded evidence.
async fn server_time_decides_and_device_time_is_bounded(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let street = t.enrol("street.nanyingmen").await.access_token;
    let before = Utc::now();

    // Recorded offline two hours ago, pushed now: case times are the server's.
    let offline = Uuid::now_v7();
    let mut e = report(offline, "changchunli", "STREET_LIGHT");
    let device_time = before - Duration::hours(2);
    e["device_time"] = json!(device_time);
    let case = applied_case(&t.push(&inspector, vec![e]).await.results[0]);
    assert!(case.reported_at >= before, "reported_at is server time");
    assert_eq!(case.reported_device_time, Some(device_time));
    assert_eq!(
        case.dispatch_due,
        case.reported_at + Duration::hours(i64::from(Category::StreetLight.info().dispatch_hours))
    );
    // An event recorded offline after that report (same phone clock) is still taken.
    let mut cancel = event(offline, json!({ "kind": "COMMENT" }));
    cancel["device_time"] = json!(device_time + Duration::minutes(5));
    cancel["note"] = json!("离线补充");
    assert_eq!(
        outcome(&t.push(&inspector, vec![cancel]).await.results[0]),
        "APPLIED"
    );

    // A phone dated 2099 is refused, not made never-overdue.
    let future = Uuid::now_v7();
    let mut e = report(future, "changchunli", "STREET_LIGHT");
    e["device_time"] = json!("2099-01-01T00:00:00Z");
    let r = t.push(&inspector, vec![e]).await;
    assert_eq!(outcome(&r.results[0]), "REJECTED:DEVICE_TIME_IN_FUTURE");
    let EventOutcome::Rejected { message, .. } = &r.results[0].outcome else {
        unreachable!()
    };
    assert!(message.contains("设备时间"), "{message}");

    // Absurd years are refused per event, and the server keeps answering.
    for absurd in ["+262142-01-01T00:00:00Z", "-262143-01-01T00:00:00Z"] {
        let mut e = report(Uuid::now_v7(), "changchunli", "STREET_LIGHT");
        e["device_time"] = json!(absurd);
        let (status, body) = t
            .post(
                &inspector,
                "/api/v1/sync/push",
                json!({ "protocol": 1, "events": [e] }),
            )
            .await;
        assert_eq!(status, 200, "{absurd}: {body}");
        let code = body["results"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(code.starts_with("DEVICE_TIME_"), "{absurd}: {body}");
    }
    let (status, _) = t.get(&street, "/api/v1/me").await;
    assert_eq!(status, 200, "the server still answers");

    // A RETURN dated before the report is refused; the deadline it would set never exists.
    let r = t
        .push(
            &street,
            vec![event(
                offline,
                json!({ "kind": "DISPATCH", "unit_id": "heping.city_management" }),
            )],
        )
        .await;
    let dispatched = applied_case(&r.results[0]);
    assert!(dispatched.dispatched_at.unwrap() >= before);
    let dept = t.enrol("dept.heping.city").await.access_token;
    let mut back = event(offline, json!({ "kind": "RETURN", "reason": "不属本单位" }));
    back["device_time"] = json!("2025-01-01T00:00:00Z");
    let r = t.push(&dept, vec![back]).await;
    assert_eq!(outcome(&r.results[0]), "REJECTED:DEVICE_TIME_BEFORE_REPORT");

    // The skew is configurable: with 0 s, one minute ahead is already refused.
    let mut strict =
        TestServer::start_with(Backend::Sqlite, |c| c.limits.max_device_clock_skew_s = 0).await;
    let phone = strict.enrol("inspector.changchunli").await.access_token;
    let mut e = report(Uuid::now_v7(), "changchunli", "STREET_LIGHT");
    e["device_time"] = json!(Utc::now() + Duration::minutes(1));
    assert_eq!(
        outcome(&strict.push(&phone, vec![e]).await.results[0]),
        "REJECTED:DEVICE_TIME_IN_FUTURE"
    );
    strict.stop().await;
    t.stop().await;
}

/// Item 5: minutes are a MINUTES event only the street office of the case's street writes.
async fn minutes_are_typed_and_only_the_street_office_writes_them(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let committee = t.enrol("committee.changchunli").await.access_token;
    let street = t.enrol("street.nanyingmen").await.access_token;
    let accounts = t.server.as_ref().unwrap().demo_accounts().to_vec();
    let other_street = accounts
        .iter()
        .find(|a| a.role == Role::StreetOffice && a.unit_id == "hexi.youyilu.street_office")
        .expect("demo account for 友谊路街道");
    let other_street = t.enrol(&other_street.username).await.access_token;
    let case_id = Uuid::now_v7();
    t.push(
        &inspector,
        vec![report(case_id, "changchunli", "STREET_LIGHT")],
    )
    .await;
    let minutes =
        json!({ "kind": "MINUTES", "unit_id": "heping.city_management", "text": "三日内修复" });
    let r = t
        .push(&committee, vec![event(case_id, minutes.clone())])
        .await;
    assert_eq!(outcome(&r.results[0]), "REJECTED:ROLE_NOT_ALLOWED");
    let r = t
        .push(&other_street, vec![event(case_id, minutes.clone())])
        .await;
    assert_eq!(outcome(&r.results[0]), "REJECTED:CASE_FORBIDDEN");
    let r = t.push(&street, vec![event(case_id, minutes)]).await;
    assert_eq!(outcome(&r.results[0]), "APPLIED");
    // A comment typed to look like minutes stays a comment.
    let mut forged = event(case_id, json!({ "kind": "COMMENT" }));
    forged["note"] = json!("【联席会议纪要】heping.city_management｜伪造的纪要");
    assert_eq!(
        outcome(&t.push(&committee, vec![forged]).await.results[0]),
        "APPLIED"
    );

    let (_, detail) = t.get(&street, &format!("/api/v1/cases/{case_id}")).await;
    let minutes: Vec<&Value> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"]["kind"] == "MINUTES")
        .collect();
    assert_eq!(minutes.len(), 1, "{detail}");
    assert_eq!(minutes[0]["action"]["text"], "三日内修复");
    // Phones' pull pages never carry minutes (older phones could not read them).
    let (status, pulled) = t.get(&inspector, "/api/v1/sync/pull").await;
    assert_eq!(status, 200);
    let kinds: Vec<&Value> = pulled["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["case_id"] == json!(case_id))
        .map(|e| &e["action"]["kind"])
        .collect();
    assert!(
        kinds.contains(&&json!("COMMENT")) && !kinds.contains(&&json!("MINUTES")),
        "{kinds:?}"
    );
    t.stop().await;
}

/// Item 6: the street office may dispatch only to units routing and the directory allow there.
async fn dispatch_targets_are_limited_to_the_estates_units(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let street = t.enrol("street.nanyingmen").await.access_token;
    let case_id = Uuid::now_v7();
    t.push(
        &inspector,
        vec![report(case_id, "changchunli", "STREET_LIGHT")],
    )
    .await;
    for foreign in ["hexi.city_management", "company.hexi_youyilu"] {
        let r = t
            .push(
                &street,
                vec![event(
                    case_id,
                    json!({ "kind": "DISPATCH", "unit_id": foreign }),
                )],
            )
            .await;
        assert_eq!(
            outcome(&r.results[0]),
            "REJECTED:DISPATCH_TARGET_NOT_ALLOWED",
            "{foreign}"
        );
    }
    // A refused dispatch gives the unit nothing: the case is still waiting for the street office.
    let (_, detail) = t.get(&street, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(detail["case"]["status"], "REPORTED");
    assert_eq!(detail["dispatched_units"], json!([]));
    // The district's own department is a target.
    let own = t.enrol("dept.heping.city").await.access_token;
    let r = t
        .push(
            &street,
            vec![event(
                case_id,
                json!({ "kind": "DISPATCH", "unit_id": "heping.city_management" }),
            )],
        )
        .await;
    assert_eq!(outcome(&r.results[0]), "APPLIED");
    let (status, _) = t.get(&own, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200);

    // The dashboard's 派往 list is the same set: the district's units, never another district's.
    let other = Uuid::now_v7();
    t.push(
        &inspector,
        vec![report(other, "changchunli", "STREET_LIGHT")],
    )
    .await;
    let (web, cookie) = dashboard_sign_in(&t, "street.nanyingmen").await;
    let page = web
        .get(t.url(&format!("/dashboard/cases/{other}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let select = page
        .split("id=\"dispatch-unit\"")
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .unwrap_or_else(|| panic!("no dispatch form: {page}"));
    assert!(
        select.contains("value=\"heping.city_management\""),
        "{select}"
    );
    assert!(
        !select.contains("value=\"hexi.city_management\""),
        "{select}"
    );
    assert!(
        !select.contains("value=\"company.hexi_youyilu\""),
        "{select}"
    );
    t.stop().await;
}

async fn dashboard_sign_in(t: &TestServer, username: &str) -> (reqwest::Client, String) {
    common::dashboard_cookie(&t.base, username).await
}

/// `serve --demo` has an account for every unit a demo case can be routed to, in a role that
/// may act for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_an_account_for_every_routed_unit() {
    let mut t = TestServer::start(Backend::Sqlite).await;
    let server = t.server.as_ref().unwrap();
    let catalog = server.state().catalog();
    let accounts = server.demo_accounts();
    let rules = xuncha_core::routing::RoutingRules::builtin().unwrap();
    let dir = xuncha_core::routing::UnitDirectory::from_units(catalog.units().to_vec()).unwrap();
    for estate in catalog.estates().values() {
        for category in Category::ALL {
            let owner = xuncha_core::routing::route(&rules, &dir, category, estate)
                .unwrap()
                .owner;
            let role = xuncha_server::cli::users::role_for_unit_type(owner.unit_type);
            assert!(
                accounts
                    .iter()
                    .any(|a| a.unit_id == owner.id && a.role == role),
                "no demo account for {} ({role:?}), owner of {category:?} at {}",
                owner.id,
                estate.id
            );
        }
    }
    t.stop().await;
}
