//! The units a routing decision names beside the owner (issue 10, policy fidelity): the supervisor
//! (ELEVATOR: 市场监管, 三(一)5) and the co-responsible units (GROUND_LOCK: 住房城乡建设, 三(三)3)
//! see the case and may comment on it through the HTTP API, before any dispatch; other departments
//! do not. The case records the rules version it was routed under. Each on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer, both_backends, event, outcome, report};
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::Role;
use xuncha_server::demo::DEMO_PASSWORD;

both_backends!(supervisor_and_co_responsible_departments_see_and_comment,);

/// Creates a department account for `unit_id` with the demo password.
async fn department(t: &TestServer, username: &str, unit_id: &str) {
    let storage = &t.server.as_ref().unwrap().state().storage;
    storage
        .create_user(
            xuncha_server::storage::UserRecord {
                id: format!("u-{username}"),
                username: username.into(),
                display_name: username.into(),
                role: Role::Department,
                unit_id: unit_id.into(),
                password_hash: xuncha_server::policy::passwords::hash_password(
                    DEMO_PASSWORD.into(),
                )
                .await
                .unwrap(),
                disabled: false,
            },
            xuncha_server::policy::audit::AuditDraft::new(
                "USER_CREATED",
                "user",
                format!("u-{username}"),
            ),
        )
        .await
        .unwrap();
}

async fn supervisor_and_co_responsible_departments_see_and_comment(backend: Backend) {
    let t = TestServer::start(backend).await;
    department(&t, "dept.heping.market", "heping.market_regulation").await;
    department(&t, "dept.heping.housing", "heping.housing").await;
    department(&t, "dept.heping.maintenance", "heping.maintenance").await;
    department(&t, "dept.hexi.market", "hexi.market_regulation").await;
    let inspector = t.enrol("inspector.changchunli").await;
    let market = t.enrol("dept.heping.market").await;
    let housing = t.enrol("dept.heping.housing").await;
    let maintenance = t.enrol("dept.heping.maintenance").await;
    let other_district = t.enrol("dept.hexi.market").await;

    let lift = Uuid::now_v7();
    let lock = Uuid::now_v7();
    let pushed = t
        .push(
            &inspector.access_token,
            vec![
                report(lift, "changchunli", "ELEVATOR"),
                report(lock, "changchunli", "GROUND_LOCK"),
            ],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    assert_eq!(outcome(&pushed.results[1]), "APPLIED");

    // The routing stored on the case: the designated maintainer does the work (三(三)7), market
    // regulation supervises (三(一)5), under rules version 2.
    let (status, body) = t
        .get(&inspector.access_token, &format!("/api/v1/cases/{lift}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let routing = &body["routing"];
    assert_eq!(routing["owner"]["id"], "heping.maintenance", "{routing}");
    assert_eq!(routing["supervisor"]["id"], "heping.market_regulation");
    assert_eq!(routing["rules_version"], 2);
    assert_eq!(routing["rules_effective_from"], "2020-08-06");
    assert_eq!(routing["rules_effective_until"], "2025-08-05");
    assert!(
        routing["legal_basis"]
            .as_str()
            .unwrap()
            .contains("三(一)5：“负责指导有关区市场监管部门加强旧楼区内电梯安全监督管理”"),
        "{routing}"
    );

    // Who sees which case before any dispatch.
    let see = |token: &str, case: Uuid| {
        let path = format!("/api/v1/cases/{case}");
        let token = token.to_owned();
        let t = &t;
        async move { t.get(&token, &path).await.0 }
    };
    for (who, token, case, expected) in [
        ("supervisor", &market.access_token, lift, 200),
        ("supervisor, other case", &market.access_token, lock, 403),
        ("co-responsible", &housing.access_token, lock, 200),
        (
            "co-responsible, other case",
            &housing.access_token,
            lift,
            403,
        ),
        (
            "owner before dispatch",
            &maintenance.access_token,
            lift,
            403,
        ),
        ("other district", &other_district.access_token, lift, 403),
    ] {
        assert_eq!(see(token, case).await, expected, "{who}");
    }
    let pulled = |body: Value| -> Vec<String> {
        body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        pulled(t.get(&market.access_token, "/api/v1/sync/pull").await.1),
        vec![lift.to_string()]
    );
    assert_eq!(
        pulled(t.get(&housing.access_token, "/api/v1/sync/pull").await.1),
        vec![lock.to_string()]
    );
    assert!(
        pulled(
            t.get(&other_district.access_token, "/api/v1/sync/pull")
                .await
                .1
        )
        .is_empty()
    );

    // They may comment; a department the routing does not name may not.
    let comment = |case| {
        let mut e = event(case, json!({ "kind": "COMMENT" }));
        e["note"] = json!("已知悉，将督促养护单位处置");
        e
    };
    let said = t.push(&market.access_token, vec![comment(lift)]).await;
    assert_eq!(
        outcome(&said.results[0]),
        "APPLIED",
        "{:?}",
        said.results[0]
    );
    let said = t.push(&housing.access_token, vec![comment(lock)]).await;
    assert_eq!(
        outcome(&said.results[0]),
        "APPLIED",
        "{:?}",
        said.results[0]
    );
    let refused = t.push(&housing.access_token, vec![comment(lift)]).await;
    assert_eq!(outcome(&refused.results[0]), "REJECTED:CASE_FORBIDDEN");
    let refused = t
        .push(&other_district.access_token, vec![comment(lift)])
        .await;
    assert_eq!(outcome(&refused.results[0]), "REJECTED:CASE_FORBIDDEN");
    // Seeing is not owning: the supervisor cannot accept a case that was never dispatched to it.
    let accept = t
        .push(
            &market.access_token,
            vec![event(lift, json!({ "kind": "ACCEPT" }))],
        )
        .await;
    assert!(
        outcome(&accept.results[0]).starts_with("REJECTED"),
        "{:?}",
        accept.results[0]
    );

    // The comment is on the case as everyone who sees it reads it.
    let (_, body) = t
        .get(&inspector.access_token, &format!("/api/v1/cases/{lift}"))
        .await;
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"]["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["REPORT", "COMMENT"], "{body}");
}
