//! Issue 11 (harden the server): panics, the public Open311 view, JSON errors on every route,
//! Open311 credentials, discovery and request ids. A real server on port 0, real HTTP, on SQLite
//! and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer, both_backends, event, outcome, report};
use serde_json::{Value, json};
use uuid::Uuid;

/// The last instant chrono can hold, less eight hours: Beijing time cannot be represented.
const FAR_FUTURE: &str = "+262142-12-31T16:00:01Z";

/// Item 1: one event whose device time is at the end of chrono's range must not take down any
/// reader: Open311 (JSON, XML, one request), the sync API, the dashboard's pages and exports.
async fn far_future_device_time_breaks_no_reader(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let case_id = Uuid::now_v7();
    let pushed = t
        .push(
            &inspector,
            vec![report(case_id, "changchunli", "STREET_LIGHT")],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    // Ingest refuses such a device time (DEVICE_TIME_IN_FUTURE), so the event is pushed with a
    // sane clock and its stored body rewritten, as a row written before that bound, or damaged on
    // disk, would be: every reader must survive it regardless.
    let mut comment = event(case_id, json!({ "kind": "COMMENT" }));
    comment["note"] = json!("时钟错乱的手机");
    let event_id = comment["id"].as_str().unwrap().to_owned();
    let pushed = t.push(&inspector, vec![comment]).await;
    assert_eq!(
        outcome(&pushed.results[0]),
        "APPLIED",
        "{:?}",
        pushed.results
    );
    store_device_time(&t, &event_id, FAR_FUTURE).await;

    for path in [
        "/open311/v2/requests.json".to_owned(),
        "/open311/v2/requests.xml".to_owned(),
        format!("/open311/v2/requests/{case_id}.json"),
        format!("/open311/v2/requests/{case_id}.xml"),
    ] {
        let response = t.http.get(t.url(&path)).send().await;
        let response = response.unwrap_or_else(|e| panic!("{path}: connection dropped: {e}"));
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.unwrap();
        // Case times are server times (the device time is evidence only), so the request
        // itself shows none of the broken clock; the answer must still come whole.
        assert!(body.contains(&case_id.to_string()), "{path}: {body}");
    }
    let (status, detail) = t.get(&inspector, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200, "{detail}");

    let (http, cookie) = common::dashboard_cookie(&t.base, "street.nanyingmen").await;
    for path in [
        "/dashboard/cases?scope=all".to_owned(),
        format!("/dashboard/cases/{case_id}"),
        "/dashboard/cases.csv?scope=all".to_owned(),
        "/dashboard/cases.xlsx?scope=all".to_owned(),
        "/dashboard/map".to_owned(),
        "/dashboard/kpi".to_owned(),
        "/dashboard/meeting".to_owned(),
    ] {
        let response = http
            .get(t.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: connection dropped: {e}"));
        assert_eq!(response.status(), 200, "{path}");
        response.bytes().await.unwrap();
    }
    let response = http
        .get(t.url(&format!("/dashboard/cases/{case_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let html = response.text().await.unwrap();
    assert!(
        html.contains("+262142-12-31 16:00 UTC"),
        "the device time is shown in UTC"
    );

    // The server still answers afterwards.
    assert_eq!(
        t.http.get(t.url("/healthz")).send().await.unwrap().status(),
        200
    );
    t.stop().await;
}

/// Item 8: anonymous callers, and signed-in callers outside the case's scope, get the public view
/// only; a caller in scope gets the details. A closed case never shows a stale return reason.
async fn open311_public_view_hides_private_details(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let outsider = t.enrol("inspector.pingshandao").await.access_token;
    let street = t.enrol("street.nanyingmen").await.access_token;
    let dept = t.enrol("dept.heping.city").await;
    let dept_unit = dept.user.unit_id.clone();
    let dept = dept.access_token;

    let case_id = Uuid::now_v7();
    let mut reported = event(
        case_id,
        json!({ "kind": "REPORT", "category": "STREET_LIGHT", "estate_id": "changchunli",
                "building": "3号楼", "unit_no": "2单元",
                "location_note": "3号楼2单元301 张三家门口",
                "description": "路灯不亮，联系13812345678" }),
    );
    reported["gps"] =
        json!({ "lat": 39.11353, "lon": 117.19307, "accuracy_m": 5.0, "provider": "gps" });
    let steps: Vec<(&str, Value)> = vec![
        (inspector.as_str(), reported),
        (
            street.as_str(),
            event(case_id, json!({ "kind": "DISPATCH", "unit_id": dept_unit })),
        ),
        (
            dept.as_str(),
            event(
                case_id,
                json!({ "kind": "RETURN", "reason": "不归我们管，找王师傅 13900001111" }),
            ),
        ),
    ];
    for (token, body) in steps {
        let pushed = t.push(token, vec![body]).await;
        assert_eq!(
            outcome(&pushed.results[0]),
            "APPLIED",
            "{:?}",
            pushed.results
        );
    }
    let path = format!("/open311/v2/requests/{case_id}.json");

    // Returned: the public note is the residents' text; the reason only for the scope.
    let public: Value = t
        .http
        .get(t.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = &public[0];
    let text = public.to_string();
    for secret in [
        "张三",
        "301",
        "13812345678",
        "13900001111",
        "王师傅",
        "2单元",
    ] {
        assert!(
            !text.contains(secret),
            "public view leaks {secret:?}: {text}"
        );
    }
    assert!(public["description"].is_null(), "{public}");
    assert_eq!(
        public["status_notes"],
        "责任单位认为不属于其职责，已退回街道办事处重新安排。"
    );
    assert_ne!(
        public["lat"],
        json!(39.11353),
        "exact coordinates are not public"
    );
    assert_ne!(public["long"], json!(117.19307));
    let (lat, long) = (
        public["lat"].as_f64().unwrap(),
        public["long"].as_f64().unwrap(),
    );
    assert!(
        (lat - 39.1135).abs() < 0.01 && (long - 117.193).abs() < 0.01,
        "{public}"
    );
    assert!(
        public["address"].as_str().unwrap().contains("长春里 3号楼"),
        "{public}"
    );
    assert_eq!(public["service_code"], "STREET_LIGHT");
    assert!(
        public["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );

    // Signed in but out of scope (another community's inspector): still the public view.
    let seen: Value = t
        .http
        .get(t.url(&path))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen[0], *public, "out of scope is public view");
    // In scope: the details, and the current reason.
    let detail: Value = t
        .http
        .get(t.url(&path))
        .header("x-api-key", &inspector)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = &detail[0];
    assert_eq!(detail["description"], "路灯不亮，联系13812345678");
    assert_eq!(detail["lat"], json!(39.11353));
    assert!(detail["address"].as_str().unwrap().contains("张三家门口"));
    assert!(
        detail["status_notes"]
            .as_str()
            .unwrap()
            .contains("13900001111"),
        "{detail}"
    );

    // Dispatched again, handled, verified: closed, and no stale reason for anybody. The evidence
    // photos are real uploads of the unit and the inspector (PHOTO_NOT_RECEIVED otherwise).
    let after = t.upload_photo(&dept, common::jpeg(64, 48)).await;
    let on_site = t.upload_photo(&inspector, common::jpeg(48, 64)).await;
    let steps: Vec<(&str, Value)> = vec![
        (
            street.as_str(),
            event(case_id, json!({ "kind": "DISPATCH", "unit_id": dept_unit })),
        ),
        (dept.as_str(), event(case_id, json!({ "kind": "ACCEPT" }))),
        (dept.as_str(), {
            let mut handled = event(case_id, json!({ "kind": "HANDLE" }));
            handled["photos"] = json!([{ "sha256": after, "kind": "AFTER" }]);
            handled
        }),
        (inspector.as_str(), {
            let mut verified = event(case_id, json!({ "kind": "VERIFY" }));
            verified["photos"] = json!([{ "sha256": on_site, "kind": "VERIFICATION" }]);
            verified["gps"] =
                json!({ "lat": 39.11353, "lon": 117.19307, "accuracy_m": 5.0, "provider": "gps" });
            verified
        }),
    ];
    for (token, body) in steps {
        let pushed = t.push(token, vec![body]).await;
        assert_eq!(
            outcome(&pushed.results[0]),
            "APPLIED",
            "{:?}",
            pushed.results
        );
    }
    for token in [None, Some(inspector.as_str())] {
        let mut request = t.http.get(t.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let closed: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(closed[0]["status"], "closed");
        assert_eq!(
            closed[0]["status_notes"], "经核查已处置完毕，本件已结案。感谢您的反映。",
            "{closed}"
        );
    }
    // The search lists the same public records.
    let list: Value = t
        .http
        .get(t.url("/open311/v2/requests.json?status=closed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = list.to_string();
    assert!(text.contains(&case_id.to_string()), "{text}");
    assert!(
        !text.contains("张三") && !text.contains("13812345678"),
        "{text}"
    );
    t.stop().await;
}

/// Low items: `api_key` only in a header or a POST body; discovery from the configured public
/// URL, not the Host header; a client's X-Request-Id kept only when clean.
async fn open311_credentials_discovery_and_request_ids(backend: Backend) {
    let mut t = TestServer::start_with(backend, |config| {
        config.public_url = Some("https://xuncha.example.cn/".to_owned());
    })
    .await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;

    // A key in the query string is refused with its own code, reading and posting alike.
    let response = t
        .http
        .get(t.url(&format!("/open311/v2/requests.json?api_key={inspector}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("API_KEY_IN_QUERY: "),
        "{body}"
    );
    for path in [
        "/open311/v2/services.json",
        "/open311/v2/services.xml",
        "/open311/discovery.json",
    ] {
        let response = t
            .http
            .get(t.url(&format!("{path}?api_key={inspector}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert!(
            response.text().await.unwrap().contains("API_KEY_IN_QUERY"),
            "{path}"
        );
    }
    let form = "service_code=GARBAGE&lat=39.1135&long=117.1930";
    let response = t
        .http
        .post(t.url(&format!("/open311/v2/requests.json?api_key={inspector}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // In the body, or in X-Api-Key, it works.
    let response = t
        .http
        .post(t.url("/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{form}&api_key={inspector}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = t
        .http
        .post(t.url("/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-api-key", &inspector)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Discovery names the configured URL whatever Host the client sends.
    let discovery: Value = t
        .http
        .get(t.url("/open311/discovery.json"))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["endpoints"][0]["url"], "https://xuncha.example.cn/open311/v2",
        "{discovery}"
    );
    assert!(!discovery.to_string().contains("evil"));

    // Request ids: a clean one is kept, anything else is replaced by a fresh UUID.
    for (sent, kept) in [
        ("phone-7.retry_2", true),
        ("bad id with spaces", false),
        ("<script>", false),
        (&"a".repeat(65) as &str, false),
        (&"a".repeat(64) as &str, true),
    ] {
        let response = t
            .http
            .get(t.url("/healthz"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        if kept {
            assert_eq!(echoed, sent);
        } else {
            assert_ne!(echoed, sent);
            assert!(Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        }
    }
    t.stop().await;
}

/// Every route answers malformed queries, paths and bodies with a JSON error (`{code, message}`,
/// or Open311's own JSON/XML list), never plain text, never a 5xx, never a dropped connection.
async fn malformed_requests_get_json_errors_on_every_route(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let admin = t.enrol("admin").await.access_token;
    let (_, cookie) = common::dashboard_cookie(&t.base, "street.nanyingmen").await;
    // The reported case: `pull?limit=-1` is a JSON 400 with a code.
    let (status, body) = t.get(&admin, "/api/v1/sync/pull?limit=-1").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "BAD_QUERY", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    // The API and Open311 routes as the router registers them, and the dashboard's.
    let dashboard: &[(&str, &str)] = &[
        ("get", "/dashboard"),
        ("get", "/dashboard/login"),
        ("post", "/dashboard/login"),
        ("get", "/dashboard/logout"),
        ("post", "/dashboard/logout"),
        ("get", "/dashboard/cases"),
        ("get", "/dashboard/cases.csv"),
        ("get", "/dashboard/cases.xlsx"),
        ("get", "/dashboard/cases/{id}"),
        ("post", "/dashboard/cases/{id}/actions"),
        ("get", "/dashboard/photos/{sha256}"),
        ("get", "/dashboard/map"),
        ("get", "/dashboard/kpi"),
        ("get", "/dashboard/kpi.csv"),
        ("get", "/dashboard/kpi.xlsx"),
        ("get", "/dashboard/meeting"),
        ("post", "/dashboard/meeting/minutes"),
        ("get", "/dashboard/estates"),
        ("post", "/dashboard/estates"),
        ("post", "/dashboard/estates/{id}"),
    ];
    // Routes that end the session (revoke, logout) go last so the others run signed in.
    let mut routes: Vec<&(&str, &str)> = xuncha_server::http::openapi::ROUTES
        .iter()
        .chain(dashboard)
        .collect();
    routes.sort_by_key(|(_, path)| path.contains("revoke") || path.contains("logout"));
    let queries = [
        "limit=-1",
        "limit=99999999999999999999999&cursor=%FF",
        "offset=x&total=-5&quarter=%FF%FE&from=2026-13-45&scope=%00",
        "status=%E0%80&done=yes&group=?&&&==",
    ];
    let mut checked = 0;
    for (method, path) in routes {
        for filled in [
            path.replace(['{', '}'], ""),
            path.replace("{id}", "%FF%FE")
                .replace("{sha256}", "%FF")
                .replace("{file}", "%C0.json"),
        ] {
            for query in queries {
                let url = t.url(&format!("{filled}?{query}"));
                let request = match *method {
                    "get" => t.http.get(url),
                    "put" => t.http.put(url).body("{not json"),
                    _ => t
                        .http
                        .post(url)
                        .header("content-type", "application/json")
                        .body("{not json"),
                };
                let response = request
                    .bearer_auth(&admin)
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {filled}?{query}: dropped: {e}"));
                let status = response.status();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let body = response.text().await.unwrap();
                let what = format!("{method} {filled}?{query} → {status} {content_type}: {body}");
                assert!(!status.is_server_error(), "{what}");
                assert!(!content_type.starts_with("text/plain"), "{what}");
                if status.is_client_error() && content_type.starts_with("application/json") {
                    let error: Value = serde_json::from_str(&body).unwrap();
                    let error = error.as_array().map_or(&error, |list| &list[0]);
                    assert!(
                        error["code"].is_string() || error["code"].is_number(),
                        "{what}"
                    );
                    assert!(
                        error["message"].is_string() || error["description"].is_string(),
                        "{what}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked}");
    t.stop().await;
}

both_backends!(
    far_future_device_time_breaks_no_reader,
    open311_public_view_hides_private_details,
    open311_credentials_discovery_and_request_ids,
    malformed_requests_get_json_errors_on_every_route,
);

/// Rewrites the stored body of one event with another device time, beside the server.
async fn store_device_time(t: &TestServer, event_id: &str, device_time: &str) {
    let set = |body: &str| {
        let mut body: Value = serde_json::from_str(body).unwrap();
        body["device_time"] = json!(device_time);
        body.to_string()
    };
    match &t.database_url {
        None => {
            let conn = rusqlite::Connection::open(t.dir.path().join("xuncha.sqlite3")).unwrap();
            let body: String = conn
                .query_row("SELECT body FROM events WHERE id = ?1", [event_id], |r| {
                    r.get(0)
                })
                .unwrap();
            conn.execute(
                "UPDATE events SET body = ?1 WHERE id = ?2",
                [set(&body).as_str(), event_id],
            )
            .unwrap();
        }
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let row = client
                .query_one("SELECT body::text FROM events WHERE id = $1", &[&event_id])
                .await
                .unwrap();
            let body: String = row.get(0);
            client
                .execute(
                    "UPDATE events SET body = $1::text::jsonb WHERE id = $2",
                    &[&set(&body), &event_id],
                )
                .await
                .unwrap();
        }
    }
}
