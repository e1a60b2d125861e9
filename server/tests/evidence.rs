//! Evidence is checked (issue 10 items 4, 7, 8) and uploads are bounded (issue 11 item 7): HTTP
//! scenarios against a real server, each on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer, both_backends, event, jpeg, outcome, report, sha256};
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_server::Server;
use xuncha_server::storage::photo_files::{self, PhotoStore};

both_backends!(
    actions_apply_only_with_the_actors_own_received_photos,
    citing_a_hash_never_grants_read_access,
    uploads_have_a_quota_and_the_status_answers_only_the_uploader,
    sweeps_remove_stale_parts_and_photos_no_applied_event_cites,
    dashboard_offers_only_actions_its_forms_can_complete,
);

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

/// Uploads a whole photo and returns its address.
async fn upload_photo(t: &TestServer, token: &str, bytes: Vec<u8>) -> String {
    t.upload_photo(token, bytes).await
}

fn with_photo(mut event: Value, sha: &str, kind: &str) -> Value {
    event["photos"] = json!([{ "sha256": sha, "kind": kind }]);
    event
}

fn at(mut event: Value, lat: f64, lon: f64) -> Value {
    event["gps"] = json!({ "lat": lat, "lon": lon, "accuracy_m": 5.0, "provider": "gps" });
    event
}

async fn push_one(t: &TestServer, token: &str, event: Value) -> String {
    outcome(&t.push(token, vec![event]).await.results[0])
}

async fn status_of(t: &TestServer, token: &str, case_id: Uuid) -> String {
    let (status, detail) = t.get(token, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["case"]["status"].as_str().unwrap().to_owned()
}

/// Reports a GARBAGE case in 长春里 with the inspector's own BEFORE photo and walks it to ACCEPTED
/// by 和平区城管 (the routed owner).
async fn accepted_case(t: &TestServer, inspector: &str, seed: u16) -> Uuid {
    let case_id = Uuid::now_v7();
    let before = upload_photo(t, inspector, jpeg(64 + seed, 48)).await;
    let reported = with_photo(report(case_id, "changchunli", "GARBAGE"), &before, "BEFORE");
    assert_eq!(push_one(t, inspector, reported).await, "APPLIED");
    let committee = t.enrol("committee.changchunli").await.access_token;
    assert_eq!(
        push_one(t, &committee, event(case_id, json!({ "kind": "ESCALATE" }))).await,
        "APPLIED"
    );
    let street = t.enrol("street.nanyingmen").await.access_token;
    let dispatch = event(
        case_id,
        json!({ "kind": "DISPATCH", "unit_id": "heping.city_management" }),
    );
    assert_eq!(push_one(t, &street, dispatch).await, "APPLIED");
    let dept = t.enrol("dept.heping.city").await.access_token;
    assert_eq!(
        push_one(t, &dept, event(case_id, json!({ "kind": "ACCEPT" }))).await,
        "APPLIED"
    );
    case_id
}

async fn actions_apply_only_with_the_actors_own_received_photos(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let dept = t.enrol("dept.heping.city").await.access_token;
    let outsider = t.enrol("inspector.pingshandao").await.access_token;

    // A REPORT citing a photo not yet uploaded waits: refused for now, not for good.
    let case_id = Uuid::now_v7();
    let photo = jpeg(80, 60);
    let sha = sha256(&photo);
    let reported = with_photo(report(case_id, "changchunli", "GARBAGE"), &sha, "BEFORE");
    assert_eq!(
        push_one(&t, &inspector, reported.clone()).await,
        "REJECTED:PHOTO_NOT_RECEIVED"
    );
    assert_eq!(
        t.get(&inspector, &format!("/api/v1/cases/{case_id}"))
            .await
            .0,
        404
    );
    upload_photo(&t, &inspector, photo).await;
    assert_eq!(
        push_one(&t, &inspector, reported).await,
        "APPLIED",
        "the same event, once its photo is there"
    );

    let case_id = accepted_case(&t, &inspector, 1).await;
    // HANDLE with an AFTER photo that was never uploaded.
    let never = sha256(b"never uploaded");
    let handle = |sha: &str| with_photo(event(case_id, json!({ "kind": "HANDLE" })), sha, "AFTER");
    let answer = t.push(&dept, vec![handle(&never)]).await;
    let xuncha_core::protocol::EventOutcome::Rejected { code, message } =
        &answer.results[0].outcome
    else {
        panic!("{answer:?}");
    };
    assert_eq!(code, "PHOTO_NOT_RECEIVED");
    assert!(message.contains("照片"), "Chinese message: {message}");
    // HANDLE with a photo someone else uploaded and no case of the department's shows.
    let foreign = upload_photo(&t, &outsider, jpeg(90, 70)).await;
    assert_eq!(
        push_one(&t, &dept, handle(&foreign)).await,
        "REJECTED:PHOTO_NOT_RECEIVED"
    );
    assert_eq!(status_of(&t, &dept, case_id).await, "ACCEPTED");
    // Its own uploaded photo: applied.
    let after = upload_photo(&t, &dept, jpeg(100, 80)).await;
    assert_eq!(push_one(&t, &dept, handle(&after)).await, "APPLIED");

    // VERIFY with a fake hash at (0, 0): refused; with a real photo at (0, 0): outside.
    let verify = |sha: &str, lat: f64, lon: f64| {
        at(
            with_photo(
                event(case_id, json!({ "kind": "VERIFY" })),
                sha,
                "VERIFICATION",
            ),
            lat,
            lon,
        )
    };
    assert_eq!(
        push_one(&t, &inspector, verify(&never, 0.0, 0.0)).await,
        "REJECTED:PHOTO_NOT_RECEIVED"
    );
    let check = upload_photo(&t, &inspector, jpeg(110, 90)).await;
    let answer = t.push(&inspector, vec![verify(&check, 0.0, 0.0)]).await;
    let xuncha_core::protocol::EventOutcome::Rejected { code, message } =
        &answer.results[0].outcome
    else {
        panic!("{answer:?}");
    };
    assert_eq!(code, "VERIFY_LOCATION_OUTSIDE");
    assert!(message.contains("现场核查"), "{message}");
    // 2 km away from the case and outside the estate: still outside.
    assert_eq!(
        push_one(&t, &inspector, verify(&check, 39.1315, 117.1930)).await,
        "REJECTED:VERIFY_LOCATION_OUTSIDE"
    );
    assert_eq!(status_of(&t, &inspector, case_id).await, "HANDLED");
    // On site (the reported location): closed.
    assert_eq!(
        push_one(&t, &inspector, verify(&check, 39.1135, 117.1930)).await,
        "APPLIED"
    );
    assert_eq!(status_of(&t, &inspector, case_id).await, "CLOSED");
}

async fn citing_a_hash_never_grants_read_access(backend: Backend) {
    let t = TestServer::start(backend).await;
    let owner = t.enrol("inspector.pingshandao").await.access_token;
    let other = t.enrol("inspector.changchunli").await.access_token;
    let photo = jpeg(120, 90);
    let sha = upload_photo(&t, &owner, photo.clone()).await;

    // B cites A's photo in a case of B's own: refused, and B still cannot read it or learn of it.
    let case_id = Uuid::now_v7();
    let cited = with_photo(report(case_id, "changchunli", "SMALL_ADS"), &sha, "BEFORE");
    assert_eq!(
        push_one(&t, &other, cited.clone()).await,
        "REJECTED:PHOTO_NOT_RECEIVED"
    );
    let (status, body) = t.get(&other, &format!("/api/v1/photos/{sha}")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "same answer as an unknown photo"
    );
    let (status, held) = t.get(&other, &format!("/api/v1/photos/{sha}/status")).await;
    assert_eq!(
        (
            status,
            held["received"].as_u64(),
            held["complete"].as_bool()
        ),
        (200, Some(0), Some(false))
    );
    let unknown = sha256(b"no such photo");
    let (status, body) = t.get(&other, &format!("/api/v1/photos/{unknown}")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    // B cannot finish the upload by claiming it either: a PUT of nothing is refused.
    let (status, body) = upload(&t, &other, &sha, 0, Some(photo.len() as u64), Vec::new()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("PHOTO_EMPTY")),
        "{body}"
    );

    // Once A's photo is attached to A's case, those who see that case may cite it; B still not.
    let a_case = Uuid::now_v7();
    let a_report = with_photo(report(a_case, "pingshandao", "SMALL_ADS"), &sha, "BEFORE");
    assert_eq!(push_one(&t, &owner, a_report).await, "APPLIED");
    assert_eq!(
        push_one(&t, &other, cited.clone()).await,
        "REJECTED:PHOTO_NOT_RECEIVED"
    );
    assert_eq!(t.get(&other, &format!("/api/v1/photos/{sha}")).await.0, 404);

    // B uploads the same bytes: now B holds it too, may cite it and read it.
    let (status, held) = upload(&t, &other, &sha, 0, Some(photo.len() as u64), photo).await;
    assert_eq!(
        (status, held["complete"].as_bool()),
        (200, Some(true)),
        "{held}"
    );
    assert_eq!(push_one(&t, &other, cited).await, "APPLIED");
    assert_eq!(t.get(&other, &format!("/api/v1/photos/{sha}")).await.0, 200);
}

async fn uploads_have_a_quota_and_the_status_answers_only_the_uploader(backend: Backend) {
    let t = TestServer::start_with(backend, |c| {
        c.uploads.parts_per_user = 2;
        c.uploads.part_bytes_per_user = 100_000;
    })
    .await;
    let a = t.enrol("inspector.changchunli").await.access_token;
    let b = t.enrol("inspector.pingshandao").await.access_token;

    // A stored photo: complete for its uploader, unknown to B (who sees no case of it).
    let sha = upload_photo(&t, &a, jpeg(60, 40)).await;
    let (_, held) = t.get(&a, &format!("/api/v1/photos/{sha}/status")).await;
    assert_eq!(held["complete"].as_bool(), Some(true));
    let (_, held) = t.get(&b, &format!("/api/v1/photos/{sha}/status")).await;
    assert_eq!(
        (held["received"].as_u64(), held["complete"].as_bool()),
        (Some(0), Some(false))
    );

    // A made-up hash with a 20 MB total: refused before a byte is kept.
    let made_up = sha256(b"made up");
    let (status, body) = upload(
        &t,
        &a,
        &made_up,
        0,
        Some(20 * 1024 * 1024 - 1),
        vec![0u8; 1000],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("UPLOAD_QUOTA")),
        "{body}"
    );
    // Two unfinished uploads are allowed, a third is not.
    let parts: Vec<String> = (0u8..3).map(|i| sha256(&[i; 8])).collect();
    for sha in &parts[..2] {
        let (status, body) = upload(&t, &a, sha, 0, Some(5000), vec![7u8; 1000]).await;
        assert_eq!(
            (status, body["received"].as_u64()),
            (200, Some(1000)),
            "{body}"
        );
    }
    let (status, body) = upload(&t, &a, &parts[2], 0, Some(5000), vec![7u8; 1000]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("UPLOAD_QUOTA")),
        "{body}"
    );
    // Chinese message with the limits.
    assert!(
        body["message"].as_str().unwrap().contains("未完成"),
        "{body}"
    );

    // The status tells A of A's upload; B gets the unknown-photo answer, and B's own upload of
    // the same address starts from zero without touching A's.
    let (_, held) = t
        .get(&a, &format!("/api/v1/photos/{}/status", parts[0]))
        .await;
    assert_eq!(held["received"].as_u64(), Some(1000));
    let (_, held) = t
        .get(&b, &format!("/api/v1/photos/{}/status", parts[0]))
        .await;
    assert_eq!(
        (held["received"].as_u64(), held["complete"].as_bool()),
        (Some(0), Some(false))
    );
    let (status, body) = upload(&t, &b, &parts[0], 1000, Some(5000), vec![1u8; 10]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("OFFSET_MISMATCH"))
    );
    let (_, held) = t
        .get(&a, &format!("/api/v1/photos/{}/status", parts[0]))
        .await;
    assert_eq!(
        held["received"].as_u64(),
        Some(1000),
        "A's upload untouched"
    );

    // An empty PUT: 400 with a code, never a 500.
    let empty = sha256(b"");
    for (sha, total) in [
        (empty.as_str(), None),
        (made_up.as_str(), None),
        (made_up.as_str(), Some(0)),
    ] {
        let (status, body) = upload(&t, &b, sha, 0, total, Vec::new()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("PHOTO_EMPTY")),
            "{sha} {total:?}: {body}"
        );
    }
}

async fn sweeps_remove_stale_parts_and_photos_no_applied_event_cites(backend: Backend) {
    let mut t = TestServer::start_with(backend, |c| {
        c.uploads.unreferenced_photo_expiry_s = 0;
    })
    .await;
    let inspector = t.enrol("inspector.changchunli").await;
    let outsider = t.enrol("inspector.pingshandao").await;

    // The outsider's photo is cited only by a REPORT the server refuses (not their area).
    let refused_photo = upload_photo(&t, &outsider.access_token, jpeg(70, 50)).await;
    let refused = with_photo(
        report(Uuid::now_v7(), "changchunli", "SMALL_ADS"),
        &refused_photo,
        "BEFORE",
    );
    assert_eq!(
        push_one(&t, &outsider.access_token, refused).await,
        "REJECTED:ESTATE_FORBIDDEN"
    );
    // The inspector's photo is cited by an applied REPORT.
    let kept_photo = upload_photo(&t, &inspector.access_token, jpeg(72, 50)).await;
    let kept = with_photo(
        report(Uuid::now_v7(), "changchunli", "SMALL_ADS"),
        &kept_photo,
        "BEFORE",
    );
    assert_eq!(push_one(&t, &inspector.access_token, kept).await, "APPLIED");

    // Left behind: a part of a photo already stored (killed between the row and the delete),
    // a legacy part of no known user, an unfinished upload in progress.
    let state = t.server.as_ref().unwrap().state().clone();
    let user_id = inspector.user.user_id.clone();
    let leftover = state.photos.partial_path(&user_id, &kept_photo);
    std::fs::write(&leftover, b"left over").unwrap();
    let legacy = t
        .dir
        .path()
        .join("photos")
        .join("partial")
        .join(format!("{}.part", sha256(b"legacy")));
    std::fs::write(&legacy, b"legacy").unwrap();
    let fresh = sha256(b"fresh");
    let (status, _) = upload(
        &t,
        &inspector.access_token,
        &fresh,
        0,
        Some(5000),
        vec![1u8; 100],
    )
    .await;
    assert_eq!(status, 200);
    let fresh_part = state.photos.partial_path(&user_id, &fresh);
    assert!(fresh_part.exists());

    let report = photo_files::sweep(&state.photo_files(), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(report.photos_removed, vec![refused_photo.clone()]);
    assert!(!leftover.exists() && !legacy.exists(), "{report:?}");
    assert!(fresh_part.exists(), "a fresh unfinished upload stays");
    assert_eq!(report.parts_removed, 2);
    assert!(!state.photos.final_path(&refused_photo).exists());
    assert!(state.photos.final_path(&kept_photo).exists());
    let admin = t.enrol("admin").await.access_token;
    assert_eq!(
        t.get(&admin, &format!("/api/v1/photos/{refused_photo}"))
            .await
            .0,
        404
    );
    assert_eq!(
        t.get(&admin, &format!("/api/v1/photos/{kept_photo}"))
            .await
            .0,
        200
    );

    // At start the sweep runs too: a part left for a stored photo is gone, and with a zero
    // expiry so is every stale part.
    std::fs::write(&leftover, b"left over again").unwrap();
    let dir = t.dir.path().to_owned();
    let database_url = t.database_url.clone();
    t.stop().await;
    let mut config = common::test_config(&dir);
    config.database_url = database_url;
    config.uploads.part_expiry_s = 0;
    let server = Server::start(config).await.unwrap();
    assert!(
        !leftover.exists(),
        "startup sweep removes the part of a stored photo"
    );
    assert!(!fresh_part.exists(), "an expired part is removed");
    assert!(
        dir.join("photos")
            .join("partial")
            .join(PhotoStore::user_key(&user_id))
            .exists()
    );
    server.shutdown().await.unwrap();
}

/// A browser-like client that shows redirects instead of following them.
fn web_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in to the dashboard; returns the session cookie.
async fn dashboard_login(t: &TestServer, username: &str) -> String {
    common::dashboard_cookie(&t.base, username).await.1
}

async fn dashboard_page(t: &TestServer, cookie: &str, path: &str) -> String {
    let response = web_client()
        .get(t.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// A multipart body (the browser's form encoding) with text fields and an optional JPEG.
fn multipart(fields: &[(&str, String)], photo: Option<&[u8]>) -> (String, Vec<u8>) {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    common::multipart_form(
        &fields,
        photo.map(|bytes| ("after.jpg", "image/jpeg", bytes)),
    )
}

async fn dashboard_offers_only_actions_its_forms_can_complete(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let case_id = accepted_case(&t, &inspector, 2).await;

    // HANDLE on the dashboard: the form takes a JPEG that goes through the photo pipeline, and
    // the department's own upload is its evidence.
    let dept = dashboard_login(&t, "dept.heping.city").await;
    let page = dashboard_page(&t, &dept, &format!("/dashboard/cases/{case_id}")).await;
    assert!(
        page.contains("id=\"action-HANDLE\"") && page.contains("name=\"photo\""),
        "{page}"
    );
    let fields = [
        ("csrf", csrf_of(&page)),
        ("kind", "HANDLE".to_owned()),
        ("version", String::new()),
        ("note", "已清运".to_owned()),
    ];
    let (content_type, body) = multipart(&fields, Some(&jpeg(200, 150)));
    let response = web_client()
        .post(t.url(&format!("/dashboard/cases/{case_id}/actions")))
        .header("cookie", &dept)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_redirection(),
        "HANDLE from the dashboard: {}",
        response.status()
    );
    assert_eq!(status_of(&t, &inspector, case_id).await, "HANDLED");

    // VERIFY needs a photo and a GPS fix on site: the page says who does it, with no button.
    let committee = dashboard_login(&t, "committee.changchunli").await;
    let page = dashboard_page(&t, &committee, &format!("/dashboard/cases/{case_id}")).await;
    assert!(
        page.contains("待现场核查：由社区居委会或巡查员在手机上现场拍照定位核查"),
        "{page}"
    );
    assert!(
        !page.contains("id=\"do-VERIFY\""),
        "no 核查结案 button: {page}"
    );
    // A hand-made VERIFY post is refused with a reason, and changes nothing.
    let fields = [
        ("csrf", csrf_of(&page)),
        ("kind", "VERIFY".to_owned()),
        ("version", String::new()),
    ];
    let (content_type, body) = multipart(&fields, None);
    let response = web_client()
        .post(t.url(&format!("/dashboard/cases/{case_id}/actions")))
        .header("cookie", &committee)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("VERIFY_ON_SITE_ONLY")
    );
    assert_eq!(status_of(&t, &inspector, case_id).await, "HANDLED");
}
