//! The admin CLI, run as the built `xuncha-server` binary on temporary data folders (SQLite).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use xuncha_core::{Category, UnitType};
use xuncha_server::{RunningServer, Server};

fn xuncha(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xuncha-server"))
        .args(args)
        .env_remove("XUNCHA_DATABASE_URL")
        .env_remove("XUNCHA_DATA")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the xuncha-server binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn assert_fails(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected failure; stdout: {}",
        text(&output.stdout)
    );
    text(&output.stderr)
}

async fn start(data: &Path, demo: bool) -> RunningServer {
    let mut config = common::test_config(data);
    config.demo = demo;
    Server::start(config).await.expect("server starts")
}

/// A data folder holding the demo units and estates; returns the 长春里 committee's unit id.
async fn demo_data(data: &Path) -> (String, String) {
    let server = start(data, true).await;
    let catalog = server.state().catalog();
    let committee = catalog
        .units()
        .iter()
        .find(|u| {
            u.unit_type == UnitType::ResidentsCommittee
                && u.community.as_deref() == Some("长春里社区")
        })
        .unwrap()
        .id
        .clone();
    let company = catalog.estates()["changchunli"]
        .company_unit
        .clone()
        .unwrap();
    server.shutdown().await.unwrap();
    (committee, company)
}

async fn enrol_status(
    server: &RunningServer,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/auth/enrol", server.addr()))
        .json(&serde_json::json!({ "username": username, "password": password, "device_name": "cli test" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["access_token"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn user_add_takes_the_password_from_stdin_or_a_file_and_the_user_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (committee, company) = demo_data(dir.path()).await;

    let secret = "长春里-巡查-2026";
    let output = xuncha(
        &[
            "user",
            "add",
            "zhang.san",
            "--role",
            "inspector",
            "--unit",
            &committee,
            "--display-name",
            "张三",
            "--data",
            data,
        ],
        &format!("{secret}\n"),
    );
    let stdout = assert_ok(&output);
    assert!(
        stdout.contains("created user zhang.san (inspector"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(secret) && !text(&output.stderr).contains(secret),
        "the password is never echoed"
    );

    let password_file = dir.path().join("pw.txt");
    std::fs::write(&password_file, "company-secret-1\nignored second line\n").unwrap();
    let output = xuncha(
        &[
            "user",
            "add",
            "li.si",
            "--role",
            "company_staff",
            "--unit",
            &company,
            "--password-file",
            password_file.to_str().unwrap(),
            "--data",
            data,
        ],
        "",
    );
    assert_ok(&output);

    // Refusals: same name again, unknown role, role not fitting the unit, short password.
    let again = xuncha(
        &[
            "user",
            "add",
            "zhang.san",
            "--role",
            "inspector",
            "--unit",
            &committee,
            "--data",
            data,
        ],
        "another-password\n",
    );
    assert!(assert_fails(&again).contains("already exists"));
    let role = xuncha(
        &[
            "user", "add", "w", "--role", "mayor", "--unit", &committee, "--data", data,
        ],
        "long-enough-pw\n",
    );
    assert!(assert_fails(&role).contains("unknown role \"mayor\""));
    let misfit = xuncha(
        &[
            "user",
            "add",
            "w",
            "--role",
            "street_office",
            "--unit",
            &committee,
            "--data",
            data,
        ],
        "long-enough-pw\n",
    );
    assert!(assert_fails(&misfit).contains("cannot act for"));
    let short = xuncha(
        &[
            "user",
            "add",
            "w",
            "--role",
            "inspector",
            "--unit",
            &committee,
            "--data",
            data,
        ],
        "short\n",
    );
    assert!(assert_fails(&short).contains("at least 8"));
    let unit = xuncha(
        &[
            "user",
            "add",
            "w",
            "--role",
            "inspector",
            "--unit",
            "nowhere",
            "--data",
            data,
        ],
        "long-enough-pw\n",
    );
    assert!(assert_fails(&unit).contains("not in the unit directory"));

    // The new accounts sign in against the same data folder; a wrong password does not.
    let server = start(dir.path(), false).await;
    assert_eq!(
        enrol_status(&server, "zhang.san", secret).await.0,
        StatusCode::OK
    );
    assert_eq!(
        enrol_status(&server, "li.si", "company-secret-1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        enrol_status(&server, "zhang.san", "wrong-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    server.shutdown().await.unwrap();
}

fn ring(west: f64, south: f64, east: f64, north: f64) -> serde_json::Value {
    serde_json::json!([
        [west, south],
        [east, south],
        [east, north],
        [west, north],
        [west, south]
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn estates_import_reports_bad_features_by_index_and_imports_good_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (_, company) = demo_data(dir.path()).await;
    let feature = |id: &str, geometry: serde_json::Value| {
        serde_json::json!({"type": "Feature", "id": id, "geometry": geometry, "properties": {
            "name": format!("{id}小区"), "district": "和平区", "street": "南营门街道", "community": "长春里社区",
            "management_mode": "COMPANY", "company_unit": company, "lamp_owner": "CITY", "buildings": ["1号楼"]}})
    };
    let polygon = |r: serde_json::Value| serde_json::json!({"type": "Polygon", "coordinates": [r]});

    let bad = serde_json::json!({"type": "FeatureCollection", "features": [
        feature("xinli", polygon(ring(117.20, 39.120, 117.202, 39.122))),
        feature("broken", serde_json::json!({"type": "Polygon", "coordinates": [[[117.2, 39.1], [117.3, 39.1], [117.3, 39.2]]]})),
        feature("point", serde_json::json!({"type": "Point", "coordinates": [117.2, 39.1]})),
    ]});
    let bad_file = dir.path().join("bad.geojson");
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let stderr = assert_fails(&xuncha(
        &[
            "estates",
            "import",
            bad_file.to_str().unwrap(),
            "--data",
            data,
        ],
        "",
    ));
    assert!(
        stderr.contains("feature 1 (broken): geometry: polygon 0 ring 0: 3 positions"),
        "{stderr}"
    );
    assert!(
        stderr.contains("feature 2 (point): geometry: geometry type \"Point\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 invalid feature(s); nothing was imported"),
        "{stderr}"
    );

    let good = serde_json::json!({"type": "FeatureCollection", "features": [
        feature("xinli", polygon(ring(117.20, 39.120, 117.202, 39.122))),
        feature("anshan", serde_json::json!({"type": "MultiPolygon", "coordinates": [[ring(117.21, 39.13, 117.212, 39.132)]]})),
    ]});
    let good_file = dir.path().join("good.geojson");
    std::fs::write(&good_file, good.to_string()).unwrap();
    let dry = assert_ok(&xuncha(
        &[
            "estates",
            "import",
            good_file.to_str().unwrap(),
            "--dry-run",
            "--data",
            data,
        ],
        "",
    ));
    assert!(dry.contains("2 estate(s) valid"), "{dry}");
    let stdout = assert_ok(&xuncha(
        &[
            "estates",
            "import",
            good_file.to_str().unwrap(),
            "--data",
            data,
        ],
        "",
    ));
    assert!(
        stdout.contains("imported 2 estate(s): xinli, anshan"),
        "{stdout}"
    );

    // The server loads them, and Open311 now places a point inside 新里 in it.
    let server = start(dir.path(), false).await;
    let catalog = server.state().catalog();
    assert_eq!(
        catalog.estates()["xinli"].buildings,
        vec!["1号楼".to_owned()]
    );
    assert!(
        catalog.estates().contains_key("changchunli"),
        "the import adds, it does not replace"
    );
    let placed =
        xuncha_server::http::open311::place::locate(&catalog, 39.121, 117.201, chrono::Utc::now())
            .unwrap();
    assert_eq!(placed.id, "xinli");
    server.shutdown().await.unwrap();
}

/// Rewrites the audit log from entry 2 on the way someone with the database file would: entry 2
/// edited, every later link recomputed with `hash(prev, entry)`, the head moved to the new tip.
fn rewrite_audit_tail(db_path: &Path, hash: impl Fn(&str, &str) -> String) {
    let db = rusqlite::Connection::open(db_path).unwrap();
    db.execute_batch("DROP TRIGGER audit_log_no_update;")
        .unwrap();
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT seq, entry FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev: String = db
        .query_row("SELECT hash FROM audit_log WHERE seq = 1", [], |r| r.get(0))
        .unwrap();
    for (seq, entry) in rows.into_iter().skip(1) {
        let entry = if seq == 2 {
            entry.replace("\"seq\":2,", "\"seq\":2, ")
        } else {
            entry
        };
        let next = hash(&prev, &entry);
        db.execute(
            "UPDATE audit_log SET entry = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            rusqlite::params![entry, prev, next, seq],
        )
        .unwrap();
        prev = next;
    }
    db.execute("UPDATE sync_head SET audit_hash = ?1 WHERE id = 1", [prev])
        .unwrap();
}

/// Issue 11: with a plain SHA-256 chain, an edit with every later hash recomputed verified as
/// intact. Keyed with a secret outside the database, it does not; and even someone holding the
/// key is caught by a checkpoint printed earlier.
#[tokio::test(flavor = "multi_thread")]
async fn audit_rewrites_are_caught_by_the_key_and_by_a_checkpoint() {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    demo_data(dir.path()).await;
    let key_file = dir.path().join("audit.key");
    assert!(
        key_file.exists(),
        "the key file is created in the data folder"
    );
    let db_path = dir.path().join("xuncha.sqlite3");
    let db_bytes = std::fs::read(&db_path).unwrap();
    let key_hex = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !db_bytes
            .windows(key_hex.trim().len())
            .any(|w| w == key_hex.trim().as_bytes()),
        "the key is not in the database"
    );
    let checkpoint = assert_ok(&xuncha(&["audit", "checkpoint", "--data", data], ""));
    let checkpoint = checkpoint.trim().to_owned();
    assert!(
        checkpoint.starts_with("xuncha-audit-checkpoint v1 seq="),
        "{checkpoint}"
    );
    assert_ok(&xuncha(
        &[
            "audit",
            "verify",
            "--checkpoint",
            &checkpoint,
            "--data",
            data,
        ],
        "",
    ));

    // Without the key: the rewrite with plain SHA-256 is caught.
    let backup = dir.path().join("backup.sqlite3");
    std::fs::copy(&db_path, &backup).unwrap();
    rewrite_audit_tail(&db_path, |prev, entry| {
        let mut hasher = sha2::Sha256::new();
        hasher.update(prev.as_bytes());
        hasher.update(b"\n");
        hasher.update(entry.as_bytes());
        hex::encode(hasher.finalize())
    });
    let stderr = assert_fails(&xuncha(&["audit", "verify", "--data", data], ""));
    assert!(
        stderr.contains("audit chain broken at entry 2 (HASH)"),
        "{stderr}"
    );

    // With the stolen key the chain alone looks intact, but the checkpoint is not.
    std::fs::copy(&backup, &db_path).unwrap();
    let key = hex::decode(key_hex.trim()).unwrap();
    rewrite_audit_tail(&db_path, |prev, entry| {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(prev.as_bytes());
        mac.update(b"\n");
        mac.update(entry.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    });
    assert_ok(&xuncha(&["audit", "verify", "--data", data], ""));
    let stderr = assert_fails(&xuncha(
        &[
            "audit",
            "verify",
            "--checkpoint",
            &checkpoint,
            "--data",
            data,
        ],
        "",
    ));
    assert!(stderr.contains("(CHECKPOINT)"), "{stderr}");
    // A checkpoint line that was altered is refused.
    let forged = checkpoint.replace("seq=", "seq=1");
    let stderr = assert_fails(&xuncha(
        &["audit", "verify", "--checkpoint", &forged, "--data", data],
        "",
    ));
    assert!(stderr.contains("CHECKPOINT_SIGNATURE"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_passes_then_names_the_first_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    demo_data(dir.path()).await;
    let stdout = assert_ok(&xuncha(&["audit", "verify", "--data", data], ""));
    assert!(stdout.contains("audit chain intact"), "{stdout}");

    // Someone with file access drops the append-only trigger and edits entry 2.
    let db = rusqlite::Connection::open(dir.path().join("xuncha.sqlite3")).unwrap();
    db.execute_batch(r#"DROP TRIGGER audit_log_no_update; UPDATE audit_log SET entry = replace(entry, '"seq":2,', '"seq":2, ') WHERE seq = 2;"#)
        .unwrap();
    drop(db);
    let output = xuncha(&["audit", "verify", "--data", data], "");
    let stderr = assert_fails(&output);
    assert!(
        stderr.contains("audit chain broken at entry 2 (HASH)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("entry 2: {\"seq\":2, "),
        "the bad entry is shown: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_cases_writes_excel_ready_csv_in_beijing_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = start(dir.path(), true).await;
    let (_, token) = enrol_status(
        &server,
        "inspector.changchunli",
        xuncha_server::demo::DEMO_PASSWORD,
    )
    .await;
    let description = "=HYPERLINK(\"x\"), 3号楼门口堆物";
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("api_key", token.as_str()),
            ("service_code", "COMMON_AREA_CLUTTER"),
            ("lat", "39.1135"),
            ("long", "117.1930"),
            ("description", description),
        ])
        .finish();
    let response = reqwest::Client::new()
        .post(format!("http://{}/open311/v2/requests.json", server.addr()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let created: serde_json::Value = response.json().await.unwrap();
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (row, _) = server
        .state()
        .storage
        .case_with_events(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    server.shutdown().await.unwrap();

    let out = dir.path().join("cases.csv");
    let stdout = assert_ok(&xuncha(
        &[
            "export",
            "cases",
            "--out",
            out.to_str().unwrap(),
            "--data",
            data,
        ],
        "",
    ));
    assert!(stdout.contains("exported 1 case(s)"), "{stdout}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        &bytes[..3],
        b"\xEF\xBB\xBF",
        "UTF-8 byte-order mark for Excel"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 3, "header, one case, final CRLF: {text}");
    assert!(
        lines[0].starts_with("案件编号,案件ID,类别,类别代码,状态,状态代码,旧楼区"),
        "{}",
        lines[0]
    );
    let line = lines[1];
    // The case number the server gave the case comes first (issue 13).
    let number = row.number.clone().unwrap();
    assert!(
        number.starts_with("和平-") && number.ends_with("-0001"),
        "{number}"
    );
    assert!(
        line.starts_with(&format!(
            "{number},{id},共用部位堆放物品,COMMON_AREA_CLUTTER,已上报,REPORTED,长春里,changchunli,和平区"
        )),
        "{line}"
    );
    assert!(
        line.contains("\"'=HYPERLINK(\"\"x\"\"), 3号楼门口堆物\""),
        "quoted, formula neutralised: {line}"
    );
    let local = xuncha_core::time::format_local(row.case.reported_at);
    assert!(
        line.contains(&local),
        "reported time in Beijing time {local}: {line}"
    );
    assert!(!dir.path().join("cases.csv.partial").exists());
}

#[test]
fn rules_check_passes_the_builtin_file_and_names_file_and_line_of_a_bad_one() {
    let builtin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../domain/data/routing-rules.toml"
    );
    let stdout = assert_ok(&xuncha(&["rules", "check", builtin], ""));
    let routed = format!("ok ({} categories routed", Category::ALL.len());
    assert!(stdout.contains(&routed), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(builtin).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"GROUND_LOCK\""))
        .unwrap()
        + 1;
    let bad = dir.path().join("rules.toml");
    std::fs::write(
        &bad,
        text.replacen("\"GROUND_LOCK\"", "\"GROUND_LOCKS\"", 1),
    )
    .unwrap();
    let stderr = assert_fails(&xuncha(&["rules", "check", bad.to_str().unwrap()], ""));
    let expected = format!("{}:{line}: ", bad.display());
    assert!(
        stderr.starts_with(&expected),
        "expected {expected}…, got {stderr}"
    );
    assert!(stderr.contains("[UNKNOWN_CATEGORY]"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_unlock_lifts_a_sign_in_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = start(dir.path(), true).await;
    // The shipped lockout: five wrong passwords from one address lock the account there.
    for _ in 0..4 {
        let (status, _) = enrol_status(&server, "inspector.changchunli", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = enrol_status(&server, "inspector.changchunli", "wrong").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = enrol_status(
        &server,
        "inspector.changchunli",
        xuncha_server::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "locked");

    let stdout = assert_ok(&xuncha(
        &["user", "unlock", "inspector.changchunli", "--data", data],
        "",
    ));
    assert!(stdout.contains("1 locked address"), "{stdout}");
    let (status, token) = enrol_status(
        &server,
        "inspector.changchunli",
        xuncha_server::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!token.is_empty());
    server.shutdown().await.unwrap();
}
