//! HTTP scenarios against a real server, each on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Backend, TestServer, both_backends, event, jpeg, jpeg_claiming, outcome, report, sha256,
};
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::protocol::EventOutcome;

both_backends!(
    enrol_refresh_and_revoke,
    push_is_idempotent_by_event_id,
    one_malformed_event_among_100_leaves_99_applied,
    each_role_sees_only_its_own,
    photo_upload_resumes_and_bad_photos_get_their_own_errors,
    audit_chain_detects_tampering,
    limits_answer_with_codes,
);

async fn enrol_refresh_and_revoke(backend: Backend) {
    let t = TestServer::start(backend).await;
    // Wrong password: 401 with a code.
    let response = t
        .http
        .post(t.url("/api/v1/auth/enrol"))
        .json(&json!({ "username": "inspector.changchunli", "password": "wrong", "device_name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "BAD_CREDENTIALS"
    );

    let phone = t.enrol("inspector.changchunli").await;
    assert_eq!(phone.user.role.code(), "inspector");
    let (status, me) = t.get(&phone.access_token, "/api/v1/me").await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("inspector.changchunli"))
    );

    // Refresh: a new access token works, the old one stops.
    let (status, refreshed) = t
        .post(
            "",
            "/api/v1/auth/refresh",
            json!({ "device_id": phone.device_id, "refresh_token": phone.refresh_token }),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.get(&access, "/api/v1/me").await.0, 200);
    let (status, body) = t.get(&phone.access_token, "/api/v1/me").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("TOKEN_INVALID"))
    );
    // A refresh token is bound to its device.
    let other = t.enrol("inspector.changchunli").await;
    let (status, body) = t
        .post(
            "",
            "/api/v1/auth/refresh",
            json!({ "device_id": other.device_id, "refresh_token": phone.refresh_token }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("REFRESH_INVALID"))
    );

    // Self revoke: the next request is refused, and so is refreshing.
    assert_eq!(
        t.post(&access, "/api/v1/auth/revoke", json!({})).await.0,
        204
    );
    let (status, body) = t.get(&access, "/api/v1/me").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));
    let (status, body) = t
        .post(
            "",
            "/api/v1/auth/refresh",
            json!({ "device_id": phone.device_id, "refresh_token": phone.refresh_token }),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));

    // Only admins revoke other devices; an admin's revoke applies at once.
    let (status, body) = t
        .post(
            &other.access_token,
            &format!("/api/v1/admin/devices/{}/revoke", other.device_id),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("ROLE_FORBIDDEN"))
    );
    let admin = t.enrol("admin").await;
    assert_eq!(
        t.post(
            &admin.access_token,
            &format!("/api/v1/admin/devices/{}/revoke", other.device_id),
            json!({})
        )
        .await
        .0,
        204
    );
    assert_eq!(t.get(&other.access_token, "/api/v1/me").await.0, 401);
    let (status, _) = t
        .post(
            &admin.access_token,
            &format!("/api/v1/admin/devices/{}/revoke", Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // Disabling a user stops all their devices.
    let staff = t.enrol("company.changchunli").await;
    assert_eq!(t.get(&staff.access_token, "/api/v1/me").await.0, 200);
    let path = format!("/api/v1/admin/users/{}/disable", staff.user.user_id);
    assert_eq!(t.post(&admin.access_token, &path, json!({})).await.0, 204);
    let (status, body) = t.get(&staff.access_token, "/api/v1/me").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));

    // No token at all.
    let response = t.http.get(t.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "UNAUTHENTICATED"
    );
}

async fn push_is_idempotent_by_event_id(backend: Backend) {
    let t = TestServer::start(backend).await;
    let phone = t.enrol("inspector.changchunli").await;
    let case_id = Uuid::now_v7();
    let reported = report(case_id, "changchunli", "COMMON_AREA_CLUTTER");
    let first = t.push(&phone.access_token, vec![reported.clone()]).await;
    let EventOutcome::Applied { case } = &first.results[0].outcome else {
        panic!("expected APPLIED, got {:?}", first.results[0]);
    };
    // The actor comes from the token, not the body.
    assert_eq!(case.reported_by.user_id, phone.user.user_id);
    assert_eq!(case.reported_by.role.code(), "inspector");

    // Replay (lost acknowledgement): same result, nothing stored twice.
    let replay = t.push(&phone.access_token, vec![reported.clone()]).await;
    let EventOutcome::Duplicate { case: again } = &replay.results[0].outcome else {
        panic!("expected DUPLICATE, got {:?}", replay.results[0]);
    };
    assert_eq!(again, case);

    // Same id, different body: refused with its own code.
    let mut changed = reported.clone();
    changed["note"] = json!("different");
    let conflict = t.push(&phone.access_token, vec![changed]).await;
    assert_eq!(outcome(&conflict.results[0]), "REJECTED:EVENT_ID_CONFLICT");

    // A workflow rejection is also answered the same way on replay.
    let verify = event(case_id, json!({ "kind": "VERIFY" }));
    let refused = t.push(&phone.access_token, vec![verify.clone()]).await;
    let code = outcome(&refused.results[0]);
    assert!(code.starts_with("REJECTED:"), "{code}");
    assert_eq!(
        outcome(&t.push(&phone.access_token, vec![verify]).await.results[0]),
        code
    );

    let (status, detail) = t
        .get(&phone.access_token, &format!("/api/v1/cases/{case_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["events"].as_array().unwrap().len(), 1);
    assert!(detail["events"][0]["server_time"].is_string());
    assert!(
        detail["routing"].is_object(),
        "routing decision stored at ingest: {detail}"
    );
    // The server-assigned case number, as the dashboard and Open311 show it (issue 13).
    let number = detail["number"].as_str().unwrap_or_default();
    assert!(number.starts_with("和平-") && number.len() > 12, "{detail}");
}

async fn one_malformed_event_among_100_leaves_99_applied(backend: Backend) {
    let t = TestServer::start(backend).await;
    let phone = t.enrol("inspector.changchunli").await;
    let mut events: Vec<Value> = (0..100)
        .map(|_| report(Uuid::now_v7(), "changchunli", "SMALL_ADS"))
        .collect();
    events[37]["action"]["category"] = json!("NOT_A_CATEGORY");
    let malformed_id = events[37]["id"].as_str().unwrap().to_owned();
    let response = t.push(&phone.access_token, events).await;
    assert_eq!(response.results.len(), 100);
    let applied = response
        .results
        .iter()
        .filter(|r| outcome(r) == "APPLIED")
        .count();
    assert_eq!(applied, 99);
    assert_eq!(outcome(&response.results[37]), "REJECTED:MALFORMED_EVENT");
    assert_eq!(response.results[37].event_id.to_string(), malformed_id);

    // The same with an event the workflow refuses (unknown case).
    let mut events: Vec<Value> = (0..100)
        .map(|_| report(Uuid::now_v7(), "changchunli", "SMALL_ADS"))
        .collect();
    events[5] = event(Uuid::now_v7(), json!({ "kind": "ESCALATE" }));
    let response = t.push(&phone.access_token, events).await;
    assert_eq!(
        response
            .results
            .iter()
            .filter(|r| outcome(r) == "APPLIED")
            .count(),
        99
    );
    assert!(outcome(&response.results[5]).starts_with("REJECTED:"));

    // All 198 reached the pull feed.
    let (status, pulled) = t
        .get(&phone.access_token, "/api/v1/sync/pull?limit=500")
        .await;
    assert_eq!(status, 200);
    assert_eq!(pulled["cases"].as_array().unwrap().len(), 198);
    assert_eq!(pulled["has_more"], false);
}

async fn each_role_sees_only_its_own(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await;
    let outsider = t.enrol("inspector.pingshandao").await;
    let company = t.enrol("company.changchunli").await;
    let street = t.enrol("street.nanyingmen").await;
    let dept = t.enrol("dept.heping.city").await;
    let admin = t.enrol("admin").await;

    let case_id = Uuid::now_v7();
    let pushed = t
        .push(
            &inspector.access_token,
            vec![report(case_id, "changchunli", "STREET_LIGHT")],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let path = format!("/api/v1/cases/{case_id}");

    for (who, token, expected) in [
        ("inspector", &inspector.access_token, 200),
        ("company", &company.access_token, 200),
        ("street", &street.access_token, 200),
        ("admin", &admin.access_token, 200),
        ("other community", &outsider.access_token, 403),
        ("department before dispatch", &dept.access_token, 403),
    ] {
        let (status, body) = t.get(token, &path).await;
        assert_eq!(status, expected, "{who}: {body}");
        if status == 403 {
            assert_eq!(body["code"], "OBJECT_FORBIDDEN");
        }
    }
    let (status, body) = t
        .get(
            &inspector.access_token,
            &format!("/api/v1/cases/{}", Uuid::now_v7()),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));

    // Pull shows the case only to those who may see it.
    let cases = |body: &Value| body["cases"].as_array().map_or(0, Vec::len);
    assert_eq!(
        cases(&t.get(&outsider.access_token, "/api/v1/sync/pull").await.1),
        0
    );
    assert_eq!(
        cases(&t.get(&company.access_token, "/api/v1/sync/pull").await.1),
        1
    );
    let outsider_pull = t.get(&outsider.access_token, "/api/v1/sync/pull").await.1;
    let estates: Vec<&str> = outsider_pull["estates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(estates, vec!["pingshandao"]);

    // Reporting into another community's estate, or acting on its case, is refused per event.
    let foreign = t
        .push(
            &outsider.access_token,
            vec![report(Uuid::now_v7(), "changchunli", "SMALL_ADS")],
        )
        .await;
    assert_eq!(outcome(&foreign.results[0]), "REJECTED:ESTATE_FORBIDDEN");
    let meddle = t
        .push(
            &outsider.access_token,
            vec![event(case_id, json!({ "kind": "DISSUADE" }))],
        )
        .await;
    assert_eq!(outcome(&meddle.results[0]), "REJECTED:CASE_FORBIDDEN");

    // Dispatched to the department: now it sees the case and may accept it.
    let dispatch = event(
        case_id,
        json!({ "kind": "DISPATCH", "unit_id": dept.user.unit_id }),
    );
    let dispatched = t.push(&street.access_token, vec![dispatch]).await;
    assert_eq!(
        outcome(&dispatched.results[0]),
        "APPLIED",
        "{:?}",
        dispatched.results[0]
    );
    assert_eq!(t.get(&dept.access_token, &path).await.0, 200);
    assert_eq!(
        cases(&t.get(&dept.access_token, "/api/v1/sync/pull").await.1),
        1
    );
    let accepted = t
        .push(
            &dept.access_token,
            vec![event(case_id, json!({ "kind": "ACCEPT" }))],
        )
        .await;
    assert_eq!(
        outcome(&accepted.results[0]),
        "APPLIED",
        "{:?}",
        accepted.results[0]
    );

    // Denials were audited.
    let (_, report) = t
        .get(&admin.access_token, "/api/v1/admin/audit/verify")
        .await;
    assert!(report["problem"].is_null(), "{report}");
    let (rows, _) = t
        .server
        .as_ref()
        .unwrap()
        .state()
        .storage
        .audit_log()
        .await
        .unwrap();
    let denied = rows
        .iter()
        .filter(|r| r.entry.contains("\"ACCESS_DENIED\""))
        .count();
    assert!(
        denied >= 4,
        "expected the 403s and forbidden events in the audit log, found {denied}"
    );
}

async fn upload(
    t: &TestServer,
    token: &str,
    sha: &str,
    offset: u64,
    total: Option<u64>,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut url = format!("{}/api/v1/photos/{sha}?offset={offset}", t.base);
    if let Some(total) = total {
        url.push_str(&format!("&total={total}"));
    }
    let response = t
        .http
        .put(url)
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn photo_upload_resumes_and_bad_photos_get_their_own_errors(backend: Backend) {
    let t = TestServer::start(backend).await;
    let phone = t.enrol("inspector.changchunli").await;
    let token = &phone.access_token;
    let photo = jpeg(640, 480);
    let sha = sha256(&photo);
    let total = photo.len() as u64;
    let half = photo.len() / 2;

    // An event citing the photo before it arrives waits for it: refused for now, not for good.
    let case_id = Uuid::now_v7();
    let mut reported = report(case_id, "changchunli", "SMALL_ADS");
    reported["photos"] = json!([{ "sha256": sha, "kind": "BEFORE" }]);
    assert_eq!(
        outcome(&t.push(token, vec![reported.clone()]).await.results[0]),
        "REJECTED:PHOTO_NOT_RECEIVED"
    );

    let (status, held) = t.get(token, &format!("/api/v1/photos/{sha}/status")).await;
    assert_eq!(
        (
            status,
            held["received"].as_u64(),
            held["complete"].as_bool()
        ),
        (200, Some(0), Some(false))
    );
    let (status, held) = upload(&t, token, &sha, 0, Some(total), photo[..half].to_vec()).await;
    assert_eq!(
        (
            status,
            held["received"].as_u64(),
            held["complete"].as_bool()
        ),
        (200, Some(half as u64), Some(false))
    );
    // The interrupted client asks where to resume.
    let (_, held) = t.get(token, &format!("/api/v1/photos/{sha}/status")).await;
    assert_eq!(held["received"].as_u64(), Some(half as u64));
    let (status, body) = upload(&t, token, &sha, 0, Some(total), photo.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("OFFSET_MISMATCH"))
    );
    let (status, held) = upload(
        &t,
        token,
        &sha,
        half as u64,
        Some(total),
        photo[half..].to_vec(),
    )
    .await;
    assert_eq!(
        (status, held["complete"].as_bool()),
        (200, Some(true)),
        "{held}"
    );

    let response = t
        .http
        .get(t.url(&format!("/api/v1/photos/{sha}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stored = response.bytes().await.unwrap();
    // Now the same event applies (its earlier refusal was not final).
    assert_eq!(
        outcome(&t.push(token, vec![reported]).await.results[0]),
        "APPLIED"
    );
    assert_eq!(&stored[..2], &[0xFF, 0xD8]);
    assert!(
        !stored.windows(4).any(|w| w == b"Exif"),
        "stored photo must carry no EXIF"
    );
    // Another community cannot fetch it, nor learn that it exists.
    let outsider = t.enrol("inspector.pingshandao").await;
    let (status, body) = t
        .get(&outsider.access_token, &format!("/api/v1/photos/{sha}"))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));

    // Wrong hash.
    let other = jpeg(32, 32);
    let wrong = sha256(b"something else");
    let (status, body) = upload(&t, token, &wrong, 0, None, other).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("PHOTO_HASH_MISMATCH"))
    );
    let (_, held) = t
        .get(token, &format!("/api/v1/photos/{wrong}/status"))
        .await;
    assert_eq!(
        held["received"].as_u64(),
        Some(0),
        "a failed upload is discarded"
    );

    // Truncated JPEG (hash of the truncated bytes, so it passes the hash check).
    let truncated = jpeg(320, 240)[..900].to_vec();
    let (status, body) = upload(&t, token, &sha256(&truncated), 0, None, truncated).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("PHOTO_UNDECODABLE")),
        "{body}"
    );

    // 200 megapixels claimed by the header: refused before decoding.
    let huge = jpeg_claiming(20_000, 10_000);
    let (status, body) = upload(&t, token, &sha256(&huge), 0, None, huge).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("PHOTO_TOO_MANY_PIXELS")),
        "{body}"
    );

    // Bad address.
    let (status, body) = t.get(token, "/api/v1/photos/NOT-A-SHA/status").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("PHOTO_ADDRESS"))
    );

    // Still up.
    assert_eq!(
        t.http.get(t.url("/healthz")).send().await.unwrap().status(),
        200
    );
}

/// Runs SQL on the test's own database, bypassing the server.
async fn tamper(t: &TestServer, sql: &str) {
    match &t.database_url {
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute(sql).await.unwrap();
        }
        None => {
            let conn = rusqlite::Connection::open(t.dir.path().join("xuncha.sqlite3")).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
}

async fn audit_chain_detects_tampering(backend: Backend) {
    let is_pg = matches!(backend, Backend::Postgres(_));
    let t = TestServer::start(backend).await;
    let phone = t.enrol("inspector.changchunli").await;
    for _ in 0..3 {
        t.push(
            &phone.access_token,
            vec![report(Uuid::now_v7(), "changchunli", "GARBAGE")],
        )
        .await;
    }
    let admin = t.enrol("admin").await;
    let verify = || async {
        t.get(&admin.access_token, "/api/v1/admin/audit/verify")
            .await
            .1
    };
    let report = verify().await;
    assert!(report["problem"].is_null(), "{report}");
    assert!(report["entries"].as_u64().unwrap() >= 5);

    // The log refuses edits through SQL while its guard is in place.
    let guarded = if is_pg {
        let (client, connection) =
            tokio_postgres::connect(t.database_url.as_ref().unwrap(), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("UPDATE audit_log SET entry = entry WHERE seq = 1")
            .await
            .is_err()
    } else {
        rusqlite::Connection::open(t.dir.path().join("xuncha.sqlite3"))
            .unwrap()
            .execute_batch("UPDATE audit_log SET entry = entry WHERE seq = 1")
            .is_err()
    };
    assert!(guarded, "audit_log must refuse UPDATE");

    let drop_guard = if is_pg {
        "DROP TRIGGER audit_log_no_change ON audit_log;"
    } else {
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
    };
    tamper(&t, drop_guard).await;
    tamper(&t, "CREATE TABLE audit_backup AS SELECT * FROM audit_log;").await;
    let restore = "DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup;";

    // Changed entry.
    tamper(
        &t,
        "UPDATE audit_log SET entry = replace(entry, 'GARBAGE', 'GREENERY') WHERE seq = 3;",
    )
    .await;
    tamper(
        &t,
        "UPDATE audit_log SET entry = replace(entry, 'inspector', 'admin') WHERE seq = 3;",
    )
    .await;
    let report = verify().await;
    assert_eq!(report["problem"]["seq"], 3, "{report}");
    assert_eq!(report["problem"]["code"], "HASH");
    tamper(&t, restore).await;
    assert!(verify().await["problem"].is_null());

    // Deleted entry.
    tamper(&t, "DELETE FROM audit_log WHERE seq = 2;").await;
    let report = verify().await;
    assert_eq!(
        (
            report["problem"]["seq"].as_i64(),
            report["problem"]["code"].as_str()
        ),
        (Some(2), Some("SEQ_GAP")),
        "{report}"
    );
    tamper(&t, restore).await;

    // Reordered entries: swap the contents of 2 and 3.
    tamper(
        &t,
        "UPDATE audit_log SET entry = (SELECT entry FROM audit_backup WHERE seq = 3), prev_hash = (SELECT prev_hash FROM audit_backup WHERE seq = 3), hash = (SELECT hash FROM audit_backup WHERE seq = 3) WHERE seq = 2;
         UPDATE audit_log SET entry = (SELECT entry FROM audit_backup WHERE seq = 2), prev_hash = (SELECT prev_hash FROM audit_backup WHERE seq = 2), hash = (SELECT hash FROM audit_backup WHERE seq = 2) WHERE seq = 3;",
    )
    .await;
    let report = verify().await;
    assert_eq!(report["problem"]["seq"], 2, "{report}");
    tamper(&t, restore).await;

    // Deleted tail: caught by the head.
    tamper(
        &t,
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log);",
    )
    .await;
    let report = verify().await;
    assert_eq!(report["problem"]["code"], "HEAD", "{report}");
    tamper(&t, restore).await;
    assert!(verify().await["problem"].is_null());
}

async fn limits_answer_with_codes(backend: Backend) {
    let t = TestServer::start_with(backend, |config| {
        config.limits.push_body_bytes = 64 * 1024;
        config.limits.push_batch_events = 50;
        config.limits.photo_bytes = 100_000;
        config.limits.requests_per_second = 0.001;
        config.limits.request_burst = 30.0;
    })
    .await;
    let phone = t.enrol("inspector.changchunli").await;
    let token = &phone.access_token;

    // Oversized body: 413 with a code, before parsing.
    let huge = json!({ "protocol": 1, "events": [], "padding": "x".repeat(100_000) });
    let (status, body) = t.post(token, "/api/v1/sync/push", huge).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BODY_TOO_LARGE"))
    );
    // Too many events.
    let events: Vec<Value> = (0..51)
        .map(|_| report(Uuid::now_v7(), "changchunli", "SMALL_ADS"))
        .collect();
    let (status, body) = t
        .post(
            token,
            "/api/v1/sync/push",
            json!({ "protocol": 1, "events": events }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BATCH_TOO_LARGE"))
    );
    // Wrong protocol version, bad JSON, bad cursor.
    let (status, body) = t
        .post(
            token,
            "/api/v1/sync/push",
            json!({ "protocol": 99, "events": [] }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("PROTOCOL_VERSION"))
    );
    let response = t
        .http
        .post(t.url("/api/v1/sync/push"))
        .bearer_auth(token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "BAD_JSON");
    let (status, body) = t.get(token, "/api/v1/sync/pull?cursor=abc").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_CURSOR"))
    );
    // Photo bytes.
    let (status, body) = upload(&t, token, &sha256(b"x"), 0, None, vec![0u8; 150_000]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PHOTO_TOO_LARGE"))
    );
    // Unknown route and wrong method: JSON errors too.
    let (status, body) = t.get(token, "/api/v1/nope").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("ROUTE_NOT_FOUND"))
    );
    let response = t
        .http
        .delete(t.url("/api/v1/sync/push"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    // Requests per token: the burst runs out, then 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let response = t
            .http
            .get(t.url("/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some((
                response.headers().contains_key("retry-after"),
                response.json::<Value>().await.unwrap(),
            ));
            break;
        }
    }
    let (retry_after, body) = limited.expect("the token bucket must run out");
    assert!(retry_after);
    assert_eq!(body["code"], "RATE_LIMITED");
    // Request ids on every response; health and the API document need no token.
    let response = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let spec: Value = t
        .http
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/sync/push"]["post"].is_object());
}

/// The generated OpenAPI document, served as JSON with the key schemas, and the router answering
/// every operation it documents (no `ROUTE_NOT_FOUND`, no 405): document and router cannot part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let t = TestServer::start(Backend::Sqlite).await;
    let text = t
        .http
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec: Value = serde_json::from_str(&text).expect("the document is JSON");
    for schema in [
        "Case",
        "Event",
        "Actor",
        "Action",
        "PushRequest",
        "PushResponse",
        "PullResponse",
        "CaseDetail",
        "EnrolRequest",
        "EnrolResponse",
        "AuditReport",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    let paths = spec["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, operations) in paths {
        let filled = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{sha256}", &"0".repeat(64))
            .replace("{file}", "x.json");
        for method in operations.as_object().expect("operations").keys() {
            let url = t.url(&filled);
            let request = match method.as_str() {
                "get" => t.http.get(url),
                "post" => t.http.post(url),
                "put" => t.http.put(url),
                other => panic!("undocumented method {other}"),
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is not routed: {body}");
            assert!(
                !body.contains("ROUTE_NOT_FOUND"),
                "{method} {path} is not routed: {status} {body}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, xuncha_server::http::openapi::ROUTES.len());
}
