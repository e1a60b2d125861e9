//! The map with buildings (issue 13) over real HTTP, on SQLite and PostgreSQL: building
//! footprints imported from GeoJSON on the estates page (valid, and refused with the file and the
//! feature named), surviving a restart and reaching the map page's data; the base map off (no
//! other host referenced) and on (the template in the page, the tile host in the CSP); the
//! new-estate form's notices and kept fields; and the CLI `estates buildings import`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_server::Server;

use common::{Backend, TestServer, both_backends, dashboard_cookie, report};

struct Admin {
    http: reqwest::Client,
    cookie: String,
}

impl Admin {
    async fn login(t: &TestServer, username: &str) -> Admin {
        let (http, cookie) = dashboard_cookie(&t.base, username).await;
        Admin { http, cookie }
    }

    async fn get(&self, t: &TestServer, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self
            .http
            .get(t.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    }

    async fn csrf(&self, t: &TestServer) -> String {
        let (_, _, html) = self.get(t, "/dashboard/estates").await;
        let needle = "name=\"csrf\" value=\"";
        let at = html.find(needle).unwrap() + needle.len();
        html[at..].split('"').next().unwrap().to_owned()
    }

    /// Uploads `text` as the buildings file `file_name` of `estate`: status, Location, body.
    async fn upload(
        &self,
        t: &TestServer,
        estate: &str,
        file_name: &str,
        text: &str,
    ) -> (u16, String, String) {
        let boundary = "xuncha-map-test";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/geo+json\r\n\r\n{text}\r\n--{boundary}--\r\n",
            self.csrf(t).await
        );
        let r = self
            .http
            .post(t.url(&format!("/dashboard/estates/{estate}/buildings")))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    async fn post_form(
        &self,
        t: &TestServer,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.push(("csrf".to_owned(), self.csrf(t).await));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let r = self
            .http
            .post(t.url(path))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }
}

/// Status, `Location` and body of a form's answer.
async fn answer(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, r.text().await.unwrap())
}

/// A square building of ~20 m at `(lon, lat)`.
fn square(lon: f64, lat: f64) -> Value {
    let d = 0.0002;
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

fn collection(features: Vec<Value>) -> String {
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn feature(props: Value, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": props, "geometry": geometry})
}

/// The map page's data attribute, parsed.
fn map_data(html: &str) -> Value {
    let needle = "data-map=\"";
    let at = html.find(needle).expect("map data") + needle.len();
    let raw = &html[at..at + html[at..].find('"').unwrap()];
    let text = raw
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

fn building_labels(data: &Value, estate: &str) -> Vec<String> {
    data["estates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == estate)
        .unwrap()["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap().to_owned())
        .collect()
}

async fn buildings_import_from_the_estates_page(backend: Backend) {
    let mut t = TestServer::start(&backend).await;
    let admin = Admin::login(&t, "admin").await;

    // The demo estates come with footprints, on the map page too.
    let (status, _, html) = admin.get(&t, "/dashboard/map").await;
    assert_eq!(status, 200);
    assert_eq!(
        building_labels(&map_data(&html), "changchunli"),
        ["1号楼", "2号楼", "3号楼", "4号楼", "5号楼", "6号楼"]
    );

    // Refused: the 3rd feature is a point. Nothing changes; the page says why, naming file and
    // feature.
    let point = json!({"type": "Point", "coordinates": [117.1925, 39.1135]});
    let bad = collection(vec![
        feature(json!({"name": "甲楼"}), square(117.1925, 39.1130)),
        feature(json!({"number": 8}), square(117.1930, 39.1135)),
        feature(json!({"name": "丙楼"}), point),
    ]);
    let (status, _, html) = admin
        .upload(&t, "changchunli", "buildings.geojson", &bad)
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("buildings.geojson 第3个要素：不是多边形"),
        "{html}"
    );
    assert!(
        html.contains("data-code=\"BUILDING_NOT_POLYGON\"") && html.contains("未保存"),
        "{html}"
    );
    assert!(!html.contains("（BUILDING_NOT_POLYGON）"), "{html}");
    // Outside the estate, and a duplicate label.
    let far = collection(vec![feature(
        json!({"name": "远楼"}),
        square(117.30, 39.20),
    )]);
    let (status, _, html) = admin.upload(&t, "changchunli", "far.geojson", &far).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("far.geojson 第1个要素：远楼 不在小区边界内"),
        "{html}"
    );
    let dup = collection(vec![
        feature(json!({"name": "甲楼"}), square(117.1925, 39.1130)),
        feature(json!({"name": "甲楼"}), square(117.1930, 39.1135)),
    ]);
    let (status, _, html) = admin.upload(&t, "changchunli", "dup.geojson", &dup).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("dup.geojson 第2个要素：楼栋名称 甲楼 重复"),
        "{html}"
    );

    // Valid: replaces the footprints, adds the new labels, says so after the redirect.
    let good = collection(vec![
        feature(json!({"name": "甲楼"}), square(117.1925, 39.1130)),
        feature(json!({"number": 8}), square(117.1930, 39.1135)),
    ]);
    let (status, location, _) = admin.upload(&t, "changchunli", "good.geojson", &good).await;
    assert_eq!(status, 303, "redirect after saving");
    assert!(
        location.starts_with("/dashboard/estates?saved=buildings"),
        "{location}"
    );
    let (_, _, html) = admin.get(&t, &location).await;
    assert!(
        html.contains("已保存：长春里 导入 2 栋楼的轮廓。"),
        "{html}"
    );

    // Audited as the admin's change of 长春里; the refused files left no entry. (`save_catalog`
    // records its own detail, `{"changed": n}`, in place of the handler's.)
    let (entries, _) = t
        .server
        .as_ref()
        .unwrap()
        .state()
        .storage
        .audit_log()
        .await
        .unwrap();
    let audit = serde_json::to_string(&entries).unwrap();
    assert_eq!(
        audit.matches("ESTATE_BUILDINGS_IMPORTED").count(),
        1,
        "{audit}"
    );
    assert!(
        audit.contains(r#"ESTATE_BUILDINGS_IMPORTED\",\"user_id"#),
        "{audit}"
    );
    assert!(
        audit.contains(r#"\"object_id\":\"changchunli\""#),
        "{audit}"
    );

    // Survives a restart (stored, not only cached) and reaches the map page and the phones.
    let server = t.server.take().unwrap();
    server.shutdown().await.unwrap();
    let mut config = common::test_config(t.dir.path());
    config.database_url = t.database_url.clone();
    // Not `--demo` again: seeding the demo would put the demo estates back.
    config.demo = false;
    let server = Server::start(config).await.unwrap();
    t.base = format!("http://{}", server.addr());
    t.server = Some(server);
    let admin = Admin::login(&t, "admin").await;
    let (_, _, html) = admin.get(&t, "/dashboard/map").await;
    assert_eq!(
        building_labels(&map_data(&html), "changchunli"),
        ["甲楼", "8号楼"]
    );
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let (status, pull) = t.get(&inspector, "/api/v1/sync/pull").await;
    assert_eq!(status, 200, "{pull}");
    let estate = pull["estates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "changchunli")
        .unwrap();
    assert_eq!(estate["footprints"][1]["label"], "8号楼");
    let labels: Vec<&str> = estate["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"3号楼") && labels.contains(&"甲楼"),
        "{labels:?}"
    );
}

async fn map_groups_cases_per_building(backend: Backend) {
    let t = TestServer::start(&backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    // Two reports at 3号楼 (the `report` helper's building) and one without a building.
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut loose = report(c, "changchunli", "SMALL_ADS");
    loose["action"].as_object_mut().unwrap().remove("building");
    loose["location"] = json!({"lat": 39.1131, "lon": 117.1925, "accuracy_m": 5.0});
    t.push(
        &inspector,
        vec![
            report(a, "changchunli", "GROUND_LOCK"),
            report(b, "changchunli", "SMALL_ADS"),
            loose,
        ],
    )
    .await;
    let street = Admin::login(&t, "street.nanyingmen").await;
    let (status, headers, html) = street.get(&t, "/dashboard/map").await;
    assert_eq!(status, 200);
    let data = map_data(&html);
    let groups = data["groups"].as_array().unwrap();
    let building = groups
        .iter()
        .find(|g| g["building"] == "3号楼")
        .expect("one marker for 3号楼");
    assert_eq!(building["cases"].as_array().unwrap().len(), 2, "{building}");
    assert_eq!(building["title"], "长春里 3号楼");
    let href = building["cases"][0]["href"].as_str().unwrap();
    assert!(href == format!("/dashboard/cases/{a}") || href == format!("/dashboard/cases/{b}"));
    // It sits on the 3号楼 footprint's centre.
    let footprint = data["estates"][0]["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "3号楼")
        .unwrap();
    let ring = footprint["rings"][0].as_array().unwrap();
    let lat_min = ring
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let lat_max = ring
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let lat = building["lat"].as_f64().unwrap();
    assert!(
        lat > lat_min && lat < lat_max,
        "{lat} in {lat_min}..{lat_max}"
    );
    let single = groups
        .iter()
        .find(|g| g["building"].is_null())
        .expect("single marker");
    assert_eq!(single["cases"].as_array().unwrap().len(), 1);
    // No base map configured: WGS-84, no tile layer, no other host referenced.
    assert_eq!(data["datum"], "wgs84");
    assert!(data["tiles"].as_array().unwrap().is_empty());
    for external in ["http://", "https://", "//unpkg", "//cdn"] {
        let hits: Vec<&str> = html
            .match_indices(external)
            .map(|(i, _)| &html[i..(i + 60).min(html.len())])
            .collect();
        // The SVG namespace is the only absolute URL in the page, and it is no request.
        assert!(
            hits.iter()
                .all(|h| h.starts_with("http://www.w3.org/2000/svg")),
            "external reference: {hits:?}"
        );
    }
    assert!(html.contains("/dashboard/assets/vendor/leaflet/leaflet.js"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self' data:;"), "{csp}");
    // The vendored assets are served locally.
    for (path, kind) in [
        ("/dashboard/assets/vendor/leaflet/leaflet.js", "javascript"),
        ("/dashboard/assets/vendor/leaflet/leaflet.css", "css"),
        (
            "/dashboard/assets/vendor/leaflet/images/layers.png",
            "image/png",
        ),
        ("/dashboard/assets/map.js", "javascript"),
    ] {
        let r = reqwest::get(t.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"].to_str().unwrap().contains(kind),
            "{path}"
        );
    }
    let r = reqwest::get(t.url("/dashboard/assets/vendor/leaflet/images/x.png"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn base_map_when_configured(backend: Backend) {
    let t = TestServer::start_with(&backend, |c| {
        c.map.tianditu_key = Some("district-key-123".to_owned());
    })
    .await;
    let street = Admin::login(&t, "street.nanyingmen").await;
    let (_, headers, html) = street.get(&t, "/dashboard/map").await;
    let data = map_data(&html);
    let url = data["tiles"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://t{s}.tianditu.gov.cn/vec_w/wmts?"),
        "{url}"
    );
    assert!(url.ends_with("tk=district-key-123"), "{url}");
    assert!(
        data["tiles"][1]["url"]
            .as_str()
            .unwrap()
            .contains("/cva_w/")
    );
    assert_eq!(data["datum"], "wgs84");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("img-src 'self' data: https://*.tianditu.gov.cn"),
        "{csp}"
    );

    // GCJ-02 tiles: the estate's coordinates are shifted (a few hundred metres in Tianjin).
    let gcj = TestServer::start_with(&backend, |c| {
        c.map.xyz_url = Some(
            "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}".to_owned(),
        );
        c.map.xyz_subdomains = Some("1234".to_owned());
        c.map.attribution = Some("© 高德地图".to_owned());
        c.map.datum = xuncha_server::config::TileDatum::Gcj02;
    })
    .await;
    let street = Admin::login(&gcj, "street.nanyingmen").await;
    let (_, headers, html) = street.get(&gcj, "/dashboard/map").await;
    let shifted = map_data(&html);
    assert_eq!(shifted["datum"], "gcj02");
    assert!(html.contains("webrd0{s}.is.autonavi.com/appmaptile"));
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("https://*.is.autonavi.com")
    );
    let first = |d: &Value| d["estates"][0]["rings"][0][0].clone();
    let (p, q) = (first(&data), first(&shifted));
    let (dlat, dlon) = (
        q[0].as_f64().unwrap() - p[0].as_f64().unwrap(),
        q[1].as_f64().unwrap() - p[1].as_f64().unwrap(),
    );
    let (elat, elon) =
        xuncha_core::geo::wgs84_to_gcj02(p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
    assert!(
        (q[0].as_f64().unwrap() - elat).abs() < 1e-9
            && (q[1].as_f64().unwrap() - elon).abs() < 1e-9
    );
    assert!(dlat.abs() > 1e-4 || dlon.abs() > 1e-4, "shifted");
}

async fn new_estate_form_says_whether_it_saved(backend: Backend) {
    let t = TestServer::start(&backend).await;
    let admin = Admin::login(&t, "admin").await;
    let (_, _, html) = admin.get(&t, "/dashboard/estates").await;
    // Each estate row offers the buildings upload.
    assert!(html.contains(
        r#"action="/dashboard/estates/changchunli/buildings" enctype="multipart/form-data""#
    ));
    assert!(html.contains("6 / 6 栋有轮廓"), "demo footprints counted");
    // No real-looking boundary pre-filled (it would overlap 长春里 when saved by accident).
    let form = &html[html.find("id=\"new-estate\"").unwrap()..];
    let area = &form[form.find("<textarea").unwrap()..form.find("</textarea>").unwrap()];
    assert!(area.ends_with('>'), "the boundary starts empty: {area}");
    assert!(area.contains("placeholder="), "{area}");

    let boundary = r#"{"type":"Polygon","coordinates":[[[117.30,39.20],[117.301,39.20],[117.301,39.201],[117.30,39.20]]]}"#;
    let mut fields = vec![
        ("id", "xinli"),
        ("name", "新里"),
        ("district", "和平区"),
        ("street", "南营门街道"),
        ("community", "长春里社区"),
        ("lamp_owner", "STATE_GRID"),
        ("management_mode", "COMPANY"),
        ("company_unit", ""),
        ("entered_on", "2026-01-01"),
        ("boundary", boundary),
    ];
    // Refused (COMPANY without a company): 422, the reason in Chinese, every field kept.
    let (status, _, html) = admin.post_form(&t, "/dashboard/estates", &fields).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("未保存：社会化服务公司管理模式须选择管理服务企业"),
        "{html}"
    );
    // Chinese on screen; the code only behind the 技术细节 toggle (issue 13).
    assert!(!html.contains("（COMPANY_REQUIRED）"), "{html}");
    assert!(html.contains("data-code=\"COMPANY_REQUIRED\""), "{html}");
    let form = &html[html.find("id=\"new-estate\"").unwrap()..];
    assert!(
        form.contains("value=\"xinli\"") && form.contains("value=\"新里\""),
        "{form}"
    );
    assert!(form.contains("117.301,39.201"), "boundary kept");
    assert!(form.contains("value=\"2026-01-01\""));
    assert!(
        form.contains("<option value=\"STATE_GRID\" selected"),
        "lamp owner kept"
    );
    // Saved: redirect, then the notice.
    fields.retain(|(k, _)| *k != "management_mode");
    fields.push(("management_mode", "RESIDENT_SELF"));
    let (status, location, _) = admin.post_form(&t, "/dashboard/estates", &fields).await;
    assert_eq!(status, 303);
    let (_, _, html) = admin.get(&t, &location).await;
    assert!(html.contains("已保存：新里 已纳入长效管理。"), "{html}");
    // An update says so too.
    let (status, location, _) = admin
        .post_form(
            &t,
            "/dashboard/estates/xinli",
            &[("management_mode", "OWNER_SELF")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, html) = admin.get(&t, &location).await;
    assert!(html.contains("已保存：新里 的管理信息已更新。"), "{html}");
}

async fn cli_imports_buildings_with_dry_run(backend: Backend) {
    let t = TestServer::start(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let storage_args = |cmd: &mut Command| {
        match &t.database_url {
            Some(url) => cmd.args(["--database", url]),
            None => cmd.arg("--data").arg(t.dir.path()),
        };
    };
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xuncha-server"));
        cmd.args(args).env_remove("XUNCHA_DATABASE_URL");
        storage_args(&mut cmd);
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let bad = dir.path().join("buildings.geojson");
    std::fs::write(
        &bad,
        collection(vec![
            feature(json!({"name": "甲楼"}), square(117.1925, 39.1130)),
            feature(json!({"name": "乙楼"}), square(117.1930, 39.1135)),
            feature(
                json!({"name": "丙楼"}),
                json!({"type": "LineString", "coordinates": [[117.19, 39.11], [117.2, 39.12]]}),
            ),
        ]),
    )
    .unwrap();
    let bad_path = bad.to_str().unwrap();
    let (ok, _, err) = run(&["estates", "buildings", "import", "changchunli", bad_path]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{bad_path} 第3个要素：不是多边形")),
        "{err}"
    );
    let good = dir.path().join("good.geojson");
    std::fs::write(
        &good,
        collection(vec![feature(
            json!({"number": 12}),
            square(117.1925, 39.1130),
        )]),
    )
    .unwrap();
    let good_path = good.to_str().unwrap();
    let (ok, out, err) = run(&[
        "estates",
        "buildings",
        "import",
        "changchunli",
        good_path,
        "--dry-run",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 building(s) valid") && out.contains("12号楼"),
        "{out}"
    );
    let admin = Admin::login(&t, "admin").await;
    let (_, _, html) = admin.get(&t, "/dashboard/map").await;
    assert_eq!(
        building_labels(&map_data(&html), "changchunli").len(),
        6,
        "dry run saved nothing"
    );
    let (ok, out, err) = run(&["estates", "buildings", "import", "changchunli", good_path]);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 1 building footprint(s) into changchunli"),
        "{out}"
    );
    let (ok, _, err) = run(&["estates", "buildings", "import", "nowhere", good_path]);
    assert!(!ok && err.contains("nowhere"), "{err}");
}

both_backends!(
    buildings_import_from_the_estates_page,
    map_groups_cases_per_building,
    base_map_when_configured,
    new_estate_form_says_whether_it_saved,
    cli_imports_buildings_with_dry_run,
);
