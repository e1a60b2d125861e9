//! Issue 11 (server hardening), the auth part: refresh-token rotation and reuse, bounded
//! password work and per-address limits, lockout per account and address, per-user session
//! caps, connection timeouts, and the dashboard's cookie, CSRF and header rules. Each scenario
//! that touches storage runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{Backend, TestServer, both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xuncha_server::demo::DEMO_PASSWORD;

both_backends!(
    refresh_rotates_and_a_spent_token_revokes_the_device,
    a_lost_refresh_answer_may_be_retried_once_within_the_grace,
    a_disabled_account_does_not_reveal_whether_its_password_was_right,
    wrong_passwords_lock_the_account_for_that_address_only,
    the_dashboard_says_in_chinese_how_long_to_wait,
    sign_ins_are_limited_per_address_and_audit_rows_cut_usernames,
    argon2_work_is_bounded_and_the_rest_wait_or_get_503,
    a_user_past_the_session_cap_loses_only_their_own_oldest,
);

/// A client whose connections come from `ip` (any 127.x address reaches the loopback server).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn enrol_as(
    http: &reqwest::Client,
    t: &TestServer,
    username: &str,
    password: &str,
) -> (u16, Value, Option<String>) {
    let response = http
        .post(t.url("/api/v1/auth/enrol"))
        .json(&json!({ "username": username, "password": password, "device_name": "test phone" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        retry_after,
    )
}

async fn refresh(t: &TestServer, device_id: &Value, token: &str) -> (u16, Value) {
    t.post(
        "",
        "/api/v1/auth/refresh",
        json!({ "device_id": device_id, "refresh_token": token }),
    )
    .await
}

async fn start_with_grace(backend: Backend, grace_s: u64) -> TestServer {
    TestServer::start_with(backend, |c| c.auth.refresh_reuse_grace_s = grace_s).await
}

async fn refresh_rotates_and_a_spent_token_revokes_the_device(backend: Backend) {
    let t = start_with_grace(backend, 0).await;
    let phone = t.enrol("inspector.changchunli").await;
    let device = json!(phone.device_id);
    let (status, first) = refresh(&t, &device, &phone.refresh_token).await;
    assert_eq!(status, 200, "{first}");
    let rotated = first["refresh_token"]
        .as_str()
        .expect("a rotated refresh token")
        .to_owned();
    assert_ne!(rotated, phone.refresh_token);
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.get(&access, "/api/v1/me").await.0, 200);

    // The spent token comes back (a thief, or an app that kept the old one): the device dies.
    let (status, body) = refresh(&t, &device, &phone.refresh_token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("REFRESH_TOKEN_REUSED")),
        "{body}"
    );
    let (status, body) = t.get(&access, "/api/v1/me").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));
    let (status, body) = refresh(&t, &device, &rotated).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));

    // Audited, and other devices of the user are untouched.
    let (rows, _) = t
        .server
        .as_ref()
        .unwrap()
        .state()
        .storage
        .audit_log()
        .await
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.entry.contains("REFRESH_TOKEN_REUSED"))
    );
    let other = t.enrol("inspector.changchunli").await;
    assert_eq!(t.get(&other.access_token, "/api/v1/me").await.0, 200);
    // An unknown token is still just invalid.
    let (status, body) = refresh(&t, &json!(other.device_id), "xrt_never_issued").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("REFRESH_INVALID"))
    );
    assert_eq!(t.get(&other.access_token, "/api/v1/me").await.0, 200);
}

async fn a_lost_refresh_answer_may_be_retried_once_within_the_grace(backend: Backend) {
    let t = start_with_grace(backend, 60).await;
    let phone = t.enrol("inspector.changchunli").await;
    let device = json!(phone.device_id);
    let (status, lost) = refresh(&t, &device, &phone.refresh_token).await;
    assert_eq!(status, 200);
    // The phone never saw `lost` and asks again with its token: answered, with a new pair.
    let (status, again) = refresh(&t, &device, &phone.refresh_token).await;
    assert_eq!(status, 200, "{again}");
    let kept = again["refresh_token"].as_str().unwrap();
    assert_ne!(kept, lost["refresh_token"].as_str().unwrap());
    // The answer that was lost is spent and no longer the latest: using it is reuse.
    let (status, body) = refresh(&t, &device, lost["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("REFRESH_TOKEN_REUSED"))
    );
}

async fn a_disabled_account_does_not_reveal_whether_its_password_was_right(backend: Backend) {
    let t = TestServer::start(backend).await;
    let admin = t.enrol("admin").await;
    let staff = t.enrol("company.changchunli").await;
    let path = format!("/api/v1/admin/users/{}/disable", staff.user.user_id);
    assert_eq!(t.post(&admin.access_token, &path, json!({})).await.0, 204);
    let http = reqwest::Client::new();
    let right = enrol_as(&http, &t, "company.changchunli", DEMO_PASSWORD).await;
    let wrong = enrol_as(&http, &t, "company.changchunli", "not-the-password").await;
    assert_eq!(
        (right.0, right.1["code"].as_str()),
        (401, Some("BAD_CREDENTIALS")),
        "{}",
        right.1
    );
    assert_eq!(
        (wrong.0, wrong.1["code"].as_str()),
        (401, Some("BAD_CREDENTIALS"))
    );
    assert_eq!(right.1["message"], wrong.1["message"]);
    // The dashboard says the same for both.
    let web = client_from("127.0.0.1");
    let (status_right, page_right) =
        web_sign_in(&web, &t, "company.changchunli", DEMO_PASSWORD).await;
    let (status_wrong, page_wrong) = web_sign_in(&web, &t, "company.changchunli", "nope").await;
    assert_eq!((status_right, status_wrong), (401, 401));
    assert!(page_right.contains("用户名或密码错误") && page_wrong.contains("用户名或密码错误"));
    assert!(!page_right.contains("停用"));
}

async fn wrong_passwords_lock_the_account_for_that_address_only(backend: Backend) {
    let t = TestServer::start_with(backend, |c| {
        c.auth.lockout_after_failures = 3;
        c.auth.lockout_base_s = 120;
    })
    .await;
    let attacker = client_from("127.0.0.2");
    let user = "inspector.changchunli";
    for _ in 0..2 {
        let (status, body, _) = enrol_as(&attacker, &t, user, "guess").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("BAD_CREDENTIALS"))
        );
    }
    let (status, body, retry) = enrol_as(&attacker, &t, user, "guess").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("LOGIN_LOCKED")),
        "{body}"
    );
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 100);
    // Now even the right password is refused from that address…
    let (status, body, _) = enrol_as(&attacker, &t, user, DEMO_PASSWORD).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("LOGIN_LOCKED")));
    // …but the real user elsewhere signs in: the attacker cannot lock them out.
    let real = client_from("127.0.0.3");
    let (status, _, _) = enrol_as(&real, &t, user, DEMO_PASSWORD).await;
    assert_eq!(status, 200);
    // An unknown account locks the same way (nothing tells the two apart).
    for _ in 0..2 {
        assert_eq!(enrol_as(&attacker, &t, "nobody.here", "x").await.0, 401);
    }
    assert_eq!(enrol_as(&attacker, &t, "nobody.here", "x").await.0, 429);

    // The admin lifts the lock (what `xuncha-server admin user unlock` does).
    let storage = &t.server.as_ref().unwrap().state().storage;
    let lifted = storage
        .unlock_login(
            user.to_owned(),
            xuncha_server::policy::audit::AuditDraft::new("LOGIN_UNLOCKED", "user", user),
        )
        .await
        .unwrap();
    assert_eq!(lifted, 1);
    let (status, _, _) = enrol_as(&attacker, &t, user, DEMO_PASSWORD).await;
    assert_eq!(status, 200);
}

fn form_body(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Signs in through the dashboard form (GET for the CSRF token and cookie, then POST).
async fn web_sign_in(
    http: &reqwest::Client,
    t: &TestServer,
    username: &str,
    password: &str,
) -> (u16, String) {
    let (status, body, _) = web_sign_in_full(http, t, username, password).await;
    (status, body)
}

async fn web_sign_in_full(
    http: &reqwest::Client,
    t: &TestServer,
    username: &str,
    password: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let form = http.get(t.url("/dashboard/login")).send().await.unwrap();
    let cookie = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = form.text().await.unwrap();
    let needle = "name=\"csrf\" value=\"";
    let start = html
        .find(needle)
        .expect("the sign-in form has a CSRF field")
        + needle.len();
    let csrf = html[start..start + 64].to_owned();
    let response = http
        .post(t.url("/dashboard/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("username", username),
            ("password", password),
            ("csrf", csrf.as_str()),
        ]))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn the_dashboard_says_in_chinese_how_long_to_wait(backend: Backend) {
    let t = TestServer::start_with(backend, |c| {
        c.auth.lockout_after_failures = 2;
        c.auth.lockout_base_s = 300;
    })
    .await;
    let web = client_from("127.0.0.4");
    let (status, _) = web_sign_in(&web, &t, "street.nanyingmen", "wrong").await;
    assert_eq!(status, 401);
    let (status, page, headers) = web_sign_in_full(&web, &t, "street.nanyingmen", "wrong").await;
    assert_eq!(status, 429, "{page}");
    assert!(
        page.contains("请在 5 分钟 后再试") || page.contains("请在 4 分"),
        "{page}"
    );
    assert!(headers.contains_key("retry-after"));
    let (status, page) = web_sign_in(&web, &t, "street.nanyingmen", DEMO_PASSWORD).await;
    assert_eq!(status, 429, "locked also for the right password: {page}");
    // The same account from another address signs in.
    let (status, _) = web_sign_in(
        &client_from("127.0.0.5"),
        &t,
        "street.nanyingmen",
        DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, 303);
}

async fn sign_ins_are_limited_per_address_and_audit_rows_cut_usernames(backend: Backend) {
    let t = TestServer::start_with(backend, |c| {
        c.auth.per_ip_per_minute = 5;
        c.auth.per_ip_burst = 5;
        c.auth.lockout_after_failures = 1_000;
    })
    .await;
    let sprayer = client_from("127.0.0.6");
    let huge = "用".repeat(5_000);
    let (status, _, _) = enrol_as(&sprayer, &t, &huge, "x").await;
    assert_eq!(status, 401);
    for i in 0..4 {
        let (status, _, _) = enrol_as(&sprayer, &t, &format!("made.up.{i}"), "x").await;
        assert_eq!(status, 401);
    }
    let (status, body, retry) = enrol_as(&sprayer, &t, "made.up.5", "x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{body}"
    );
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // Refresh and unknown bearer tokens count against the address too.
    let (status, _) = {
        let r = sprayer
            .post(t.url("/api/v1/auth/refresh"))
            .json(&json!({ "device_id": uuid::Uuid::now_v7(), "refresh_token": "xrt_x" }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 429);
    // A forged peer header does not move the sprayer to a fresh address.
    let r = sprayer
        .get(t.url("/api/v1/me"))
        .bearer_auth("xat_guessed")
        .header("x-xuncha-peer", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    // So do Open311 clients guessing tokens.
    let r = sprayer
        .get(t.url("/open311/v2/requests.json"))
        .bearer_auth("xat_guessed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    // Another address is not affected.
    let (status, _, _) = enrol_as(
        &client_from("127.0.0.7"),
        &t,
        "inspector.changchunli",
        DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, 200);

    let (rows, _) = t
        .server
        .as_ref()
        .unwrap()
        .state()
        .storage
        .audit_log()
        .await
        .unwrap();
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.entry.contains("LOGIN_FAILED"))
        .map(|r| r.entry.as_str())
        .collect();
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|e| e.chars().count() < 600), "{failed:?}");
    assert!(failed.iter().any(|e| e.contains('…')));
}

async fn argon2_work_is_bounded_and_the_rest_wait_or_get_503(backend: Backend) {
    let t = TestServer::start_with(backend, |c| {
        c.auth.argon2_concurrency = 1;
        c.auth.argon2_queue_ms = 1;
        c.auth.per_ip_per_minute = 10_000;
        c.auth.per_ip_burst = 10_000;
        c.auth.global_per_second = 10_000;
        c.auth.global_burst = 10_000;
        c.auth.lockout_after_failures = 10_000;
    })
    .await;
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let http = http.clone();
        let url = t.url("/api/v1/auth/enrol");
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({ "username": format!("flood.{i}"), "password": "x", "device_name": "p" }))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").is_some();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_owned(), retry)
        }));
    }
    let mut busy = 0;
    for task in tasks {
        let (status, code, retry) = task.await.unwrap();
        match status {
            401 => assert_eq!(code, "BAD_CREDENTIALS"),
            503 => {
                assert_eq!(code, "SERVER_BUSY");
                assert!(retry, "503 carries Retry-After");
                busy += 1;
            }
            other => panic!("unexpected {other} {code}"),
        }
    }
    assert!(
        busy > 0,
        "16 checks at once on one slot with a 1 ms queue: some must be refused"
    );

    // The global rate: beyond it, 429 whatever the address.
    let t2 = TestServer::start_with(Backend::Sqlite, |c| {
        c.auth.global_per_second = 1;
        c.auth.global_burst = 2;
        c.auth.per_ip_per_minute = 10_000;
        c.auth.per_ip_burst = 10_000;
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..4 {
        let ip = format!("127.0.1.{}", i + 1);
        let (status, body, _) = enrol_as(&client_from(&ip), &t2, "x.y", "z").await;
        codes.push((status, body["code"].as_str().unwrap_or("").to_owned()));
    }
    assert!(
        codes.iter().any(|(s, c)| *s == 429 && c == "RATE_LIMITED"),
        "{codes:?}"
    );
}

async fn a_user_past_the_session_cap_loses_only_their_own_oldest(backend: Backend) {
    let t = TestServer::start_with(backend, |c| c.auth.sessions_per_user = 3).await;
    let office_phone = t.enrol("street.nanyingmen").await;
    let office_web = client_from("127.0.0.8");
    let office_cookie = {
        let (status, _, headers) =
            web_sign_in_full(&office_web, &t, "street.nanyingmen", DEMO_PASSWORD).await;
        assert_eq!(status, 303);
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let mut phones = Vec::new();
    for _ in 0..5 {
        phones.push(t.enrol("inspector.changchunli").await);
    }
    // The two oldest of this user went; the three newest work.
    for old in &phones[..2] {
        let (status, body) = t.get(&old.access_token, "/api/v1/me").await;
        assert_eq!((status, body["code"].as_str()), (401, Some("REVOKED")));
    }
    for new in &phones[2..] {
        assert_eq!(t.get(&new.access_token, "/api/v1/me").await.0, 200);
    }
    // Browser sign-ins of one user flood only their own sessions.
    let flooder = client_from("127.0.0.9");
    let mut cookies = Vec::new();
    for _ in 0..6 {
        let (status, _, headers) =
            web_sign_in_full(&flooder, &t, "committee.changchunli", DEMO_PASSWORD).await;
        assert_eq!(status, 303);
        cookies.push(
            headers["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    let page = |cookie: String| {
        let http = client_from("127.0.0.10");
        let url = t.url("/dashboard/cases");
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        page(cookies[0].clone()).await,
        303,
        "the flooder's oldest session ended"
    );
    assert_eq!(page(cookies[5].clone()).await, 200);
    // The street office is untouched on both channels.
    assert_eq!(page(office_cookie).await, 200);
    assert_eq!(t.get(&office_phone.access_token, "/api/v1/me").await.0, 200);
}

// ------------------------------------------------------------------ not storage-specific

async fn start_quick(adjust: impl FnOnce(&mut xuncha_server::Config)) -> TestServer {
    TestServer::start_with(Backend::Sqlite, adjust).await
}

/// Reads until the server closes the connection; `None` if it is still open after `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().map(|()| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_by_header_body_and_idle_timeouts() {
    let t = start_quick(|c| {
        c.connections.header_read_timeout_ms = 300;
        c.connections.body_timeout_ms = 300;
        c.connections.idle_timeout_ms = 600;
    })
    .await;
    let addr = t.server.as_ref().unwrap().addr();

    // Half a request head, then silence.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(5))
            .await
            .is_some(),
        "a half-sent head must be cut off"
    );

    // A silent socket.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );

    // A body that stalls after 10 of 100 bytes.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/auth/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username")
        .await
        .unwrap();
    let answer = closed_within(&mut stalled, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "a stalled body must be cut off");

    // A well-behaved client still gets its answer.
    assert_eq!(reqwest::get(t.url("/healthz")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let t = start_quick(|c| {
        c.connections.max_connections = 2;
        c.connections.header_read_timeout_ms = 30_000;
        c.connections.idle_timeout_ms = 30_000;
    })
    .await;
    let addr = t.server.as_ref().unwrap().addr();
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection is not served while two are open"
    );
    drop(first);
    let answer = closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot frees");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_says_nosniff_and_pages_allow_no_inline_script() {
    let t = start_quick(|_| {}).await;
    let http = client_from("127.0.0.1");
    for path in [
        "/healthz",
        "/nope",
        "/api/v1/me",
        "/dashboard/login",
        "/dashboard/assets/app.js",
        "/open311/v2/services.json",
    ] {
        let r = http.get(t.url(path)).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
    }
    let r = http.get(t.url("/dashboard/login")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let script_src = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap();
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    // No page carries inline script or inline event handlers (the meeting page had onclick).
    let (status, _, headers) =
        web_sign_in_full(&http, &t, "street.nanyingmen", DEMO_PASSWORD).await;
    assert_eq!(status, 303);
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for path in [
        "/dashboard/cases",
        "/dashboard/meeting",
        "/dashboard/map",
        "/dashboard/kpi",
    ] {
        let html = http
            .get(t.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lower = html.to_lowercase();
        assert!(
            !lower.contains(" onclick=")
                && !lower.contains(" onload=")
                && !lower.contains(" onsubmit="),
            "{path}"
        );
        for (i, _) in lower.match_indices("<script") {
            assert!(
                lower[i..].starts_with("<script src="),
                "{path}: inline script"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_needs_its_csrf_token_and_cookies_are_secure_behind_https() {
    let t = start_quick(|_| {}).await;
    let http = client_from("127.0.0.1");
    // No token: refused, whatever the password.
    let r = http
        .post(t.url("/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("username", "street.nanyingmen"),
            ("password", DEMO_PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("CSRF_FAILED"));
    let (status, _, headers) =
        web_sign_in_full(&http, &t, "street.nanyingmen", DEMO_PASSWORD).await;
    assert_eq!(status, 303);
    assert!(!headers["set-cookie"].to_str().unwrap().contains("Secure"));

    let https = start_quick(|c| c.public_url = Some("https://xuncha.example.cn".to_owned())).await;
    let form = http
        .get(https.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert!(
        form.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let (status, _, headers) =
        web_sign_in_full(&http, &https, "street.nanyingmen", DEMO_PASSWORD).await;
    assert_eq!(status, 303);
    let session_cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("xuncha_session="))
        .unwrap();
    assert!(session_cookie.contains("; Secure"), "{session_cookie}");
}
