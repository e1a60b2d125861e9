//! The dashboard in a real browser: headless Debian Chromium driven over WebDriver (chromedriver
//! spawned by the test on a free port) against the real server, in-process on port 0, with demo
//! data. Cases are captured the way phones capture them: enrol, upload a JPEG, push REPORT events.
//!
//! Also the plain-HTTP checks: a department cannot open another department's case by URL, POST
//! forms without the CSRF token are refused, and exports download.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::geo::GpsFix;
use xuncha_core::protocol::{EnrolResponse, PROTOCOL_VERSION, PushResponse};
use xuncha_core::workflow::{Action, Event, PhotoKind, PhotoRef};
use xuncha_core::{Actor, Category, Role};
use xuncha_server::demo::DEMO_PASSWORD;
use xuncha_server::{Config, RunningServer, Server};
use xuncha_test_support::browser::{Browser, output_dir};

async fn start_server(data: &std::path::Path) -> RunningServer {
    let config = Config {
        data_dir: data.to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        ..Config::default()
    };
    Server::start(config).await.expect("server starts")
}

fn base(server: &RunningServer) -> String {
    format!("http://{}", server.addr())
}

/// A phone: enrolled device with its bearer token.
struct Phone {
    http: reqwest::Client,
    base: String,
    token: String,
    actor: Actor,
}

impl Phone {
    async fn enrol(base: &str, username: &str) -> Phone {
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{base}/api/v1/auth/enrol"))
            .json(&json!({ "username": username, "password": DEMO_PASSWORD, "device_name": "测试手机" }))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "enrol {username}: {}",
            resp.status()
        );
        let enrol: EnrolResponse = resp.json().await.unwrap();
        Phone {
            http,
            base: base.to_owned(),
            token: enrol.access_token,
            actor: Actor {
                user_id: enrol.user.user_id,
                role: enrol.user.role,
                unit_id: enrol.user.unit_id,
            },
        }
    }

    async fn upload_photo(&self, jpeg: &[u8]) -> String {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(jpeg));
        let resp = self
            .http
            .put(format!(
                "{}/api/v1/photos/{sha}?offset=0&total={}",
                self.base,
                jpeg.len()
            ))
            .bearer_auth(&self.token)
            .body(jpeg.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "photo upload: {}",
            resp.text().await.unwrap()
        );
        sha
    }

    /// Reports a case at a point (WGS-84) with a before-photo; returns the case id.
    async fn report(
        &self,
        category: Category,
        estate: &str,
        lat: f64,
        lon: f64,
        building: &str,
        photo: Option<&str>,
    ) -> Uuid {
        let case_id = xuncha_core::ids::new_id();
        let event = Event {
            id: xuncha_core::ids::new_id(),
            case_id,
            action: Action::Report {
                category,
                estate_id: estate.into(),
                building: Some(building.into()),
                unit_no: Some("2单元".into()),
                location_note: None,
                description: Some(format!("{}（测试）", category.info().name_zh)),
            },
            actor: self.actor.clone(),
            device_time: chrono::Utc::now(),
            server_time: None,
            gps: Some(xuncha_core::geo::GpsFix {
                lat,
                lon,
                accuracy_m: Some(6.0),
                provider: Some("gps".into()),
            }),
            photos: photo
                .map(|sha| PhotoRef {
                    sha256: sha.into(),
                    kind: PhotoKind::Before,
                })
                .into_iter()
                .collect(),
            note: None,
        };
        self.push(event).await;
        case_id
    }

    async fn push(&self, event: Event) -> Value {
        let resp = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "protocol": PROTOCOL_VERSION, "events": [event] }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let body: PushResponse = resp.json().await.unwrap();
        let result = serde_json::to_value(&body.results[0]).unwrap();
        assert_eq!(result["outcome"], "APPLIED", "push refused: {result}");
        result
    }

    /// Handling needs an after-photo; verifying on site needs a photo and a GPS fix.
    async fn act_with_photo(&self, case_id: Uuid, action: Action, kind: PhotoKind, sha: &str) {
        let gps = (kind == PhotoKind::Verification).then(|| GpsFix {
            lat: 39.1136,
            lon: 117.1933,
            accuracy_m: Some(8.0),
            provider: Some("gps".into()),
        });
        let event = Event {
            id: xuncha_core::ids::new_id(),
            case_id,
            action,
            actor: self.actor.clone(),
            device_time: chrono::Utc::now(),
            server_time: None,
            gps,
            photos: vec![PhotoRef {
                sha256: sha.into(),
                kind,
            }],
            note: Some("已修复".into()),
        };
        self.push(event).await;
    }

    async fn act(&self, case_id: Uuid, action: Action) {
        let event = Event {
            id: xuncha_core::ids::new_id(),
            case_id,
            action,
            actor: self.actor.clone(),
            device_time: chrono::Utc::now(),
            server_time: None,
            gps: None,
            photos: vec![],
            note: None,
        };
        self.push(event).await;
    }
}

/// A small JPEG: a coloured gradient with a dark block, so before/after look different.
fn test_jpeg(seed: u8) -> Vec<u8> {
    let (w, h) = (320u16, 240u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let block = (100..180).contains(&x) && (80..160).contains(&y);
            let (r, g, b) = if block {
                (40, 40, 40u8)
            } else {
                ((x / 2) as u8 ^ seed, (y) as u8, seed.wrapping_mul(3))
            };
            pixels.extend_from_slice(&[r, g, b]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A browser-less session: sign in with the form, keep the cookie.
struct WebClient {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl WebClient {
    async fn sign_in(base: &str, username: &str) -> WebClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // The sign-in form's CSRF token: in the page and in its cookie (double submit).
        let form = http
            .get(format!("{base}/dashboard/login"))
            .send()
            .await
            .unwrap();
        let login_cookie = form.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = form.text().await.unwrap();
        let needle = "name=\"csrf\" value=\"";
        let start = html.find(needle).unwrap() + needle.len();
        let csrf = html[start..start + 64].to_owned();
        let resp = http
            .post(format!("{base}/dashboard/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", login_cookie)
            .body(format!(
                "username={username}&password={DEMO_PASSWORD}&csrf={csrf}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "sign-in of {username}");
        let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        WebClient {
            http,
            base: base.to_owned(),
            cookie,
        }
    }

    /// POSTs a urlencoded form; returns status, `Location` and body.
    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent(v)))
            .collect::<Vec<_>>()
            .join("&");
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.text().await.unwrap())
    }

    /// The CSRF token the page at `path` carries.
    async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        let needle = "name=\"csrf\" value=\"";
        let start = html.find(needle).unwrap() + needle.len();
        html[start..start + 64].to_owned()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The concrete city-management unit of a district, from the server's unit directory.
fn city_management(server: &RunningServer, district: &str) -> String {
    server
        .state()
        .catalog()
        .units()
        .iter()
        .find(|u| {
            u.unit_type == xuncha_core::UnitType::CityManagement
                && u.district.as_deref() == Some(district)
        })
        .map(|u| u.id.clone())
        .unwrap_or_else(|| panic!("no city management unit for {district}"))
}

struct Seeded {
    street_light: Uuid,
    ground_lock: Uuid,
    dispatched: Uuid,
    closed: Uuid,
    returned: Uuid,
}

/// Cases in 长春里 (南营门街道), captured by phones; one already dispatched to the district's
/// city management and one escalated by the committee.
async fn seed(server: &RunningServer) -> Seeded {
    let base = &base(server);
    let inspector = Phone::enrol(base, "inspector.changchunli").await;
    let committee = Phone::enrol(base, "committee.changchunli").await;
    let street = Phone::enrol(base, "street.nanyingmen").await;
    let before = inspector.upload_photo(&test_jpeg(7)).await;
    let street_light = inspector
        .report(
            Category::StreetLight,
            "changchunli",
            39.1135,
            117.1930,
            "3号楼",
            Some(&before),
        )
        .await;
    let ground_lock = inspector
        .report(
            Category::GroundLock,
            "changchunli",
            39.1137,
            117.1928,
            "5号楼",
            None,
        )
        .await;
    committee.act(ground_lock, Action::Escalate).await;
    let dispatched = inspector
        .report(
            Category::FitnessEquipment,
            "changchunli",
            39.1133,
            117.1933,
            "1号楼",
            None,
        )
        .await;
    street
        .act(
            dispatched,
            Action::Dispatch {
                unit_id: city_management(server, "和平区"),
            },
        )
        .await;
    // One case through the whole cycle (handled with an after-photo, verified), one returned.
    let city = Phone::enrol(base, "dept.heping.city").await;
    let walkway_photo = inspector.upload_photo(&test_jpeg(31)).await;
    let closed = inspector
        .report(
            Category::Walkway,
            "changchunli",
            39.1136,
            117.1933,
            "4号楼",
            Some(&walkway_photo),
        )
        .await;
    let unit = city_management(server, "和平区");
    street
        .act(
            closed,
            Action::Dispatch {
                unit_id: unit.clone(),
            },
        )
        .await;
    city.act(closed, Action::Accept).await;
    let after = city.upload_photo(&test_jpeg(200)).await;
    city.act_with_photo(closed, Action::Handle, PhotoKind::After, &after)
        .await;
    let verification = inspector.upload_photo(&test_jpeg(90)).await;
    inspector
        .act_with_photo(
            closed,
            Action::Verify,
            PhotoKind::Verification,
            &verification,
        )
        .await;
    let returned = inspector
        .report(
            Category::Greenery,
            "changchunli",
            39.1132,
            117.1927,
            "6号楼",
            None,
        )
        .await;
    street
        .act(returned, Action::Dispatch { unit_id: unit })
        .await;
    city.act(
        returned,
        Action::Return {
            reason: "绿化养护不属于城管，应派园林".into(),
        },
    )
    .await;
    Seeded {
        street_light,
        ground_lock,
        dispatched,
        closed,
        returned,
    }
}

async fn text_of(client: &fantoccini::Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn street_office_filters_dispatches_and_sees_the_change_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path()).await;
    let base = base(&server);
    let seeded = seed(&server).await;

    let browser = Browser::start().await;
    let client = browser.client.clone();
    let out = output_dir();

    // Sign in as the street office.
    browser.sign_in(&base, "street.nanyingmen").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard/cases")
    );
    let queue_rows = client
        .find_all(Locator::Css("#queue tbody tr"))
        .await
        .unwrap();
    assert_eq!(queue_rows.len(), 4, "the street's four open cases");
    assert_eq!(text_of(&client, "#count-total").await, "4");
    assert_eq!(text_of(&client, "#count-RETURNED").await, "1");
    assert_eq!(text_of(&client, "#count-DISPATCHED").await, "1");
    std::fs::write(
        out.join("dashboard-queue.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // Filter: street lights only.
    let category = client
        .find(Locator::Css("select[name=category]"))
        .await
        .unwrap();
    category.select_by_value("STREET_LIGHT").await.unwrap();
    client
        .find(Locator::Id("apply-filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The old page also has #queue: wait for the navigation the click starts (up to 15 s)
    // before reading the URL, or the check races the browser.
    let mut filtered = false;
    for _ in 0..150 {
        let url = client.current_url().await.unwrap();
        if url.query().unwrap_or("").contains("category=STREET_LIGHT") {
            filtered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    client
        .wait()
        .for_element(Locator::Id("queue"))
        .await
        .unwrap();
    assert!(
        filtered,
        "the filter form did not navigate to ?category=STREET_LIGHT"
    );
    let rows = client
        .find_all(Locator::Css("#queue tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].attr("data-case").await.unwrap().as_deref(),
        Some(seeded.street_light.to_string().as_str())
    );

    // Open it: REPORTED, dispatch form with the routing suggestion preselected.
    rows[0]
        .find(Locator::Css("a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("actions"))
        .await
        .unwrap();
    let status = client.find(Locator::Id("case-status")).await.unwrap();
    assert_eq!(
        status.attr("data-status").await.unwrap().as_deref(),
        Some("REPORTED")
    );
    let unit_select = client.find(Locator::Id("dispatch-unit")).await.unwrap();
    let preselected = unit_select.prop("value").await.unwrap().unwrap_or_default();
    let owner = text_of(&client, "#routing-owner").await;
    assert!(!preselected.is_empty());
    let preselected_name = client
        .find(Locator::Css("#dispatch-unit option:checked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        preselected_name, owner,
        "dispatch preselects the routing owner"
    );
    // A street office may not accept or handle: those buttons are absent.
    assert!(client.find(Locator::Id("do-ACCEPT")).await.is_err());
    assert!(client.find(Locator::Id("do-HANDLE")).await.is_err());
    std::fs::write(
        out.join("dashboard-case-detail.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // Someone acts on the case while the clerk types: the refused form comes back with the
    // typed note still in it and the error beside it (issue 13).
    let note = "请于三日内修复3号楼路灯";
    client
        .find(Locator::Css("#action-DISPATCH textarea[name=note]"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    Phone::enrol(&base, "inspector.changchunli")
        .await
        .act(seeded.street_light, Action::Comment)
        .await;
    client
        .find(Locator::Id("do-DISPATCH"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#action-DISPATCH .problem"))
        .await
        .unwrap();
    let kept = client
        .find(Locator::Css("#action-DISPATCH textarea[name=note]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(note));
    assert!(
        text_of(&client, "#action-DISPATCH .problem-text")
            .await
            .contains("已被他人更新")
    );
    std::fs::write(
        out.join("dashboard-case-refused-form.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // Dispatch and see the state change.
    client
        .find(Locator::Id("do-DISPATCH"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#case-status[data-status=DISPATCHED]"))
        .await
        .unwrap();
    assert!(text_of(&client, "#timeline").await.contains("派遣"));
    assert!(
        client.find(Locator::Id("do-DISPATCH")).await.is_err(),
        "no second dispatch"
    );
    std::fs::write(
        out.join("dashboard-case-dispatched.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The queue now counts two dispatched cases.
    client
        .goto(&format!("{base}/dashboard/cases"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#count-DISPATCHED").await, "2");
    // Rows of cases with a photo show its thumbnail, and it loads.
    let mut loaded = Value::Bool(false);
    for _ in 0..50 {
        loaded = client
            .execute(
                "const imgs = Array.from(document.querySelectorAll('#queue img.thumb'));\
                 return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);",
                vec![],
            )
            .await
            .unwrap();
        if loaded == Value::Bool(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(loaded, Value::Bool(true), "thumbnails load");
    std::fs::write(
        out.join("dashboard-queue-thumbnails.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The dispatch slip of the case just dispatched, from the case page's link.
    client
        .goto(&format!("{base}/dashboard/cases/{}", seeded.street_light))
        .await
        .unwrap();
    client
        .find(Locator::Id("slip-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("slip"))
        .await
        .unwrap();
    assert!(text_of(&client, "#slip").await.contains("签收人"));
    std::fs::write(
        out.join("dashboard-dispatch-slip.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // A closed case shows its before and after photos side by side.
    client
        .goto(&format!("{base}/dashboard/cases/{}", seeded.closed))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#case-status[data-status=CLOSED]"))
        .await
        .unwrap();
    assert_eq!(
        client
            .find_all(Locator::Css("#photos-before img"))
            .await
            .unwrap()
            .len(),
        1
    );
    // The after side holds the unit's after-photo and the inspector's verification photo.
    assert_eq!(
        client
            .find_all(Locator::Css("#photos-after img"))
            .await
            .unwrap()
            .len(),
        2
    );
    std::fs::write(
        out.join("dashboard-case-closed.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // KPI page, map and meeting agenda render.
    client
        .goto(&format!("{base}/dashboard/kpi?group=unit"))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("kpi-filter"))
        .await
        .unwrap();
    std::fs::write(
        out.join("dashboard-kpi.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client.goto(&format!("{base}/dashboard/map")).await.unwrap();
    let markers = client
        .find_all(Locator::Css("svg.map circle.marker"))
        .await
        .unwrap();
    assert_eq!(markers.len(), 4);
    std::fs::write(
        out.join("dashboard-map.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .goto(&format!("{base}/dashboard/meeting"))
        .await
        .unwrap();
    std::fs::write(
        out.join("dashboard-meeting.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    let _ = seeded.ground_lock;
    let _ = seeded.dispatched;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_department_cannot_open_another_departments_case_by_url() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path()).await;
    let base = base(&server);
    let seeded = seed(&server).await;

    // A second department: 河西区城市管理委员会 (another district's city management).
    let storage = &server.state().storage;
    storage
        .create_user(
            xuncha_server::storage::UserRecord {
                id: "u-hexi-city".into(),
                username: "dept.hexi.city".into(),
                display_name: "河西区城市管理".into(),
                role: Role::Department,
                unit_id: city_management(&server, "河西区"),
                password_hash: xuncha_server::policy::passwords::hash_password(
                    DEMO_PASSWORD.into(),
                )
                .await
                .unwrap(),
                disabled: false,
            },
            xuncha_server::policy::audit::AuditDraft::new("USER_CREATED", "user", "u-hexi-city"),
        )
        .await
        .unwrap();

    let own = WebClient::sign_in(&base, "dept.heping.city").await;
    let (status, html) = own
        .get(&format!("/dashboard/cases/{}", seeded.dispatched))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"do-ACCEPT\""), "the assignee may accept");
    assert!(!html.contains("id=\"do-DISPATCH\""));
    // Not dispatched to it: invisible even to the same department.
    let (status, _) = own
        .get(&format!("/dashboard/cases/{}", seeded.street_light))
        .await;
    assert_eq!(status, 403);

    let other = WebClient::sign_in(&base, "dept.hexi.city").await;
    let (status, html) = other
        .get(&format!("/dashboard/cases/{}", seeded.dispatched))
        .await;
    assert_eq!(status, 403);
    assert!(html.contains("OBJECT_FORBIDDEN"));
    assert!(!html.contains("健身"), "nothing of the case leaks");
    let (_, queue) = other.get("/dashboard/cases").await;
    assert!(!queue.contains(&seeded.dispatched.to_string()));
    // Its photo is refused too (the street-light case carries one).
    let (_, detail) = WebClient::sign_in(&base, "street.nanyingmen")
        .await
        .get(&format!("/dashboard/cases/{}", seeded.street_light))
        .await;
    let sha = detail.split("/dashboard/photos/").nth(1).unwrap()[..64].to_owned();
    // Answered like an unknown photo: an address never tells whether it exists.
    assert_eq!(other.get(&format!("/dashboard/photos/{sha}")).await.0, 404);

    // The refusal is in the audit log.
    let (entries, _) = storage.audit_log().await.unwrap();
    let denied = serde_json::to_string(&entries).unwrap();
    assert!(denied.contains("ACCESS_DENIED") && denied.contains(&seeded.dispatched.to_string()));

    // Unknown id: 404; not signed in: redirected to the sign-in page.
    assert_eq!(
        other
            .get(&format!("/dashboard/cases/{}", Uuid::nil()))
            .await
            .0,
        404
    );
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = anon
        .get(format!("{base}/dashboard/cases/{}", seeded.dispatched))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard/login");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_exports_download() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path()).await;
    let base = base(&server);
    let seeded = seed(&server).await;
    let street = WebClient::sign_in(&base, "street.nanyingmen").await;

    let boundary = "XUNCHA";
    let unit = city_management(&server, "和平区");
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nDISPATCH\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"unit_id\"\r\n\r\n{unit}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nforged\r\n--{boundary}--\r\n"
    );
    let resp = street
        .http
        .post(format!(
            "{base}/dashboard/cases/{}/actions",
            seeded.street_light
        ))
        .header("cookie", &street.cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("CSRF_FAILED"));
    let (_, html) = street
        .get(&format!("/dashboard/cases/{}", seeded.street_light))
        .await;
    assert!(html.contains("data-status=\"REPORTED\""), "nothing changed");

    let resp = street
        .http
        .get(format!("{base}/dashboard/cases.csv?scope=all"))
        .header("cookie", &street.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(csv.lines().count(), 6, "header + 5 cases");
    assert!(csv.contains(&seeded.ground_lock.to_string()));
    let resp = street
        .http
        .get(format!("{base}/dashboard/kpi.xlsx"))
        .header("cookie", &street.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(&resp.bytes().await.unwrap()[..2], b"PK");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_records_an_estate_leaving_management_and_the_street_office_records_minutes() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path()).await;
    let base = base(&server);
    let seeded = seed(&server).await;
    let company = server.state().catalog().estates()["changchunli"]
        .company_unit
        .clone()
        .unwrap();

    // Civil affairs: leaving long-term management needs a reason (policy 二(四)).
    let admin = WebClient::sign_in(&base, "admin").await;
    let csrf = admin.csrf("/dashboard/estates").await;
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("management_mode", "COMPANY"),
        ("company_unit", company.as_str()),
        ("entered_on", "2021-03-01"),
        ("exited_on", "2026-10-31"),
        ("exit_reason", ""),
    ];
    let (status, _, html) = admin
        .post_form("/dashboard/estates/changchunli", &fields)
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("EXIT_REASON_REQUIRED"));
    assert!(
        server.state().catalog().estates()["changchunli"]
            .exited_at
            .is_none()
    );
    fields[5] = ("exit_reason", "纳入城市更新片区，移交属地统一管理");
    let (status, location, _) = admin
        .post_form("/dashboard/estates/changchunli", &fields)
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/estates?saved=updated&estate=changchunli")
    );
    let estate = server.state().catalog().estates()["changchunli"].clone();
    assert_eq!(
        estate.exit_reason.as_deref(),
        Some("纳入城市更新片区，移交属地统一管理")
    );
    assert_eq!(
        estate.exited_at.unwrap().to_rfc3339(),
        "2026-10-30T16:00:00+00:00"
    );
    let (entries, _) = server.state().storage.audit_log().await.unwrap();
    assert!(
        serde_json::to_string(&entries)
            .unwrap()
            .contains("ESTATE_UPDATED")
    );

    // Only the admin manages estates.
    let street = WebClient::sign_in(&base, "street.nanyingmen").await;
    assert_eq!(street.get("/dashboard/estates").await.0, 403);

    // Joint meeting: the returned case is on the agenda; minutes name the member unit.
    let unit = city_management(&server, "和平区");
    let csrf = street.csrf("/dashboard/meeting").await;
    let case_id = seeded.returned.to_string();
    let text = "园林部门认领，三日内补种";
    let (status, location, _) = street
        .post_form(
            "/dashboard/meeting/minutes",
            &[
                ("csrf", &csrf),
                ("case_id", &case_id),
                ("unit_id", &unit),
                ("text", text),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/dashboard/meeting"));
    let (_, agenda) = street.get("/dashboard/meeting").await;
    assert!(agenda.contains(text));
    let unit_name = server.state().catalog().unit(&unit).unwrap().name.clone();
    assert!(agenda.contains(&format!("<b>{unit_name}</b>")));
    // Recorded through ingest as a typed MINUTES event on the case (never a COMMENT).
    let (_, events) = server
        .state()
        .storage
        .case_with_events(seeded.returned)
        .await
        .unwrap()
        .unwrap();
    assert!(events.iter().any(|e| matches!(&e.action,
        Action::Minutes { unit_id, text: t } if unit_id == &unit && t == text)));
    // A forged token records nothing.
    let (status, _, _) = street
        .post_form(
            "/dashboard/meeting/minutes",
            &[
                ("csrf", "x"),
                ("case_id", &case_id),
                ("unit_id", &unit),
                ("text", "伪造"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    server.shutdown().await.unwrap();
}

/// Issue 13: the map of 长春里 in Chromium: Leaflet (vendored, no tile server configured) draws
/// the estate and its building footprints with permanent labels, and one marker for the cases
/// of 3号楼 whose popup links to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_draws_buildings_and_per_building_markers_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path()).await;
    let base = base(&server);
    let seeded = seed(&server).await;

    let browser = Browser::start().await;
    let client = browser.client.clone();
    browser.sign_in(&base, "street.nanyingmen").await;

    client.goto(&format!("{base}/dashboard/map")).await.unwrap();
    // Leaflet renders the estate and its six buildings as interactive SVG paths.
    let mut drawn = 0;
    for _ in 0..100 {
        drawn = client
            .find_all(Locator::Css("path.leaflet-interactive"))
            .await
            .unwrap()
            .len();
        if drawn >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drawn >= 7, "estate + 6 buildings drawn, got {drawn}");
    let labels: Vec<String> = {
        let mut out = Vec::new();
        for el in client
            .find_all(Locator::Css(".leaflet-tooltip.building-label"))
            .await
            .unwrap()
        {
            out.push(el.text().await.unwrap());
        }
        out
    };
    assert!(labels.iter().any(|l| l == "3号楼"), "{labels:?}");
    // The SVG fallback is hidden once Leaflet runs.
    let fallback = client.find(Locator::Css(".map-fallback")).await.unwrap();
    assert!(!fallback.is_displayed().await.unwrap());
    // One marker for 3号楼 with its count; its popup links to the cases.
    let marker = client
        .find(Locator::Css(".case-marker[title='长春里 3号楼']"))
        .await
        .expect("the 3号楼 marker");
    let count: usize = marker.text().await.unwrap().parse().unwrap();
    assert!(count >= 1, "cases of 3号楼 on one marker: {count}");
    marker.click().await.unwrap();
    let links = client
        .wait()
        .for_element(Locator::Css(".leaflet-popup-content ul.map-case-list"))
        .await
        .unwrap()
        .find_all(Locator::Css("a"))
        .await
        .unwrap();
    assert_eq!(links.len(), count);
    let mut hrefs = Vec::new();
    for a in &links {
        hrefs.push(a.attr("href").await.unwrap().unwrap_or_default());
    }
    assert!(
        hrefs
            .iter()
            .any(|h| h.ends_with(&format!("/dashboard/cases/{}", seeded.street_light))),
        "{hrefs:?}"
    );
    // Let the popup's fade-in finish before the picture.
    tokio::time::sleep(Duration::from_millis(400)).await;
    std::fs::write(
        output_dir().join("dashboard-map-buildings.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    browser.close().await;
}
