//! The server's API spoken by hand, as the server's integration tests do: event bodies as a phone
//! sends them, outcomes as codes, a dashboard session without a browser.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::protocol::{EventOutcome, EventResult};
use xuncha_server::demo::DEMO_PASSWORD;

/// An event body as a phone sends it; the actor is a placeholder the server must ignore.
pub fn event(case_id: Uuid, action: Value) -> Value {
    json!({
        "id": Uuid::now_v7(),
        "case_id": case_id,
        "action": action,
        "actor": { "user_id": "forged", "role": "admin", "unit_id": "forged" },
        "device_time": Utc::now(),
        "gps": { "lat": 39.1135, "lon": 117.1930, "accuracy_m": 8.0, "provider": "gps" },
        "photos": [],
    })
}

pub fn report(case_id: Uuid, estate_id: &str, category: &str) -> Value {
    event(
        case_id,
        json!({ "kind": "REPORT", "category": category, "estate_id": estate_id, "building": "3号楼", "description": "楼道堆放杂物" }),
    )
}

/// `APPLIED`, `DUPLICATE` or `REJECTED:<code>`.
pub fn outcome(result: &EventResult) -> String {
    match &result.outcome {
        EventOutcome::Applied { .. } => "APPLIED".to_owned(),
        EventOutcome::Duplicate { .. } => "DUPLICATE".to_owned(),
        EventOutcome::Rejected { code, .. } => format!("REJECTED:{code}"),
    }
}

/// A small real JPEG (gradient).
pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
    crate::gradient_jpeg(width, height, 0, 90)
}

/// GET `path` of the dashboard as the session `cookie`: status and body.
pub async fn dashboard_get(base: &str, cookie: &str, path: &str) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// A dashboard page at `path` as the session `cookie`: status and HTML.
pub async fn dashboard_page(base: &str, cookie: &str, path: &str) -> (u16, String) {
    let (status, body) = dashboard_get(base, cookie, path).await;
    (status, String::from_utf8(body).unwrap())
}

/// A dashboard session without a browser: the sign-in form, then the cookie. Sends the login
/// page's CSRF token along when the page carries one.
pub async fn dashboard_cookie(base: &str, username: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{base}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let pre_cookie = page
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let html = page.text().await.unwrap();
    let mut body = format!("username={username}&password={DEMO_PASSWORD}");
    let needle = "name=\"csrf\" value=\"";
    if let Some(start) = html.find(needle) {
        let rest = &html[start + needle.len()..];
        body.push_str(&format!("&csrf={}", &rest[..rest.find('"').unwrap()]));
    }
    let mut request = http
        .post(format!("{base}/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = pre_cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 303, "dashboard sign-in of {username}");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (http, cookie)
}

/// A file part of a form: (file name, content type, bytes).
pub type FilePart<'a> = (&'a str, &'a str, &'a [u8]);

/// A `multipart/form-data` body as a browser sends a form: the text fields, then an optional
/// file in the field `photo`. Returns the content type (with its boundary) and the body.
pub fn multipart_form(fields: &[(&str, &str)], photo: Option<FilePart<'_>>) -> (String, Vec<u8>) {
    let boundary = "xuncha-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file, content_type, bytes)) = photo {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{file}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
