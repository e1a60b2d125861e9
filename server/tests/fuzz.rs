//! Property tests (issue 11, beyond the list): arbitrary bytes and structured junk fed to the
//! parsers that see untrusted input — the push payload, the photo upload body (PUT), the
//! dashboard's multipart action form with its photo, the Open311 form, the dashboard's session
//! cookie — over real HTTP against one real server (SQLite) on port 0,
//! plus the parsers themselves in-process. Any panic fails; a panic in a handler would show as
//! `500 INTERNAL_PANIC` or a dropped connection. Case counts are bounded (proptest config) so
//! this runs in the normal `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::{Backend, TestServer, sha256};
use proptest::prelude::*;
use serde_json::{Value, json};
use xuncha_server::http::dashboard::session::token_from_cookie_header;
use xuncha_server::http::open311::Params;
use xuncha_server::http::open311::requests::{NewRequest, Search};

/// One server for all cases of this file, on its own runtime.
struct Shared {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    token: String,
    /// A street office's dashboard session, a case it may act on, and the page's CSRF token.
    cookie: String,
    case_path: String,
    csrf: String,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (server, token, cookie, case_path, csrf) = runtime.block_on(async {
            let server = TestServer::start(Backend::Sqlite).await;
            let token = server.enrol("inspector.changchunli").await.access_token;
            let case_id = uuid::Uuid::now_v7();
            server
                .push(
                    &token,
                    vec![common::report(case_id, "changchunli", "STREET_LIGHT")],
                )
                .await;
            let (http, cookie) = common::dashboard_cookie(&server.base, "street.nanyingmen").await;
            let case_path = format!("/dashboard/cases/{case_id}");
            let html = http
                .get(server.url(&case_path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let needle = "name=\"csrf\" value=\"";
            let start = html.find(needle).expect("the case page has a CSRF token") + needle.len();
            let csrf = html[start..start + html[start..].find('"').unwrap()].to_owned();
            (server, token, cookie, case_path, csrf)
        });
        Shared {
            runtime,
            server,
            token,
            cookie,
            case_path,
            csrf,
        }
    })
}

/// Sends the request and checks the answer: no dropped connection, no 5xx, a JSON body (or
/// Open311's XML / the dashboard's HTML) and never the panic layer's code.
fn answered(request: reqwest::RequestBuilder) -> Result<(u16, String), TestCaseError> {
    let shared = shared();
    let (status, content_type, body) = shared.runtime.block_on(async {
        let response = request
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("connection dropped: {e}")))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .text()
            .await
            .map_err(|e| TestCaseError::fail(format!("body cut off: {e}")))?;
        Ok::<_, TestCaseError>((status, content_type, body))
    })?;
    prop_assert!(status < 500, "{status}: {body}");
    prop_assert!(!body.contains("INTERNAL_PANIC"), "{body}");
    prop_assert!(
        !content_type.starts_with("text/plain"),
        "{status} {content_type}: {body}"
    );
    Ok((status, body))
}

/// JSON values of any shape, a few levels deep.
fn json_junk() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
        Just(json!("+262142-12-31T16:00:01Z")),
        Just(json!("REPORT")),
        Just(json!("0193a1b2-0000-7000-8000-000000000000")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "id",
                        "case_id",
                        "kind",
                        "action",
                        "device_time",
                        "gps",
                        "lat",
                        "photos",
                        "category",
                        "estate_id",
                        "note",
                        "sha256",
                        "protocol",
                        "events",
                        "x",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// A push body that looks like the real thing: protocol, events with real field names and junk.
fn push_junk() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(json!(1)), json_junk()],
        prop::collection::vec(json_junk(), 0..4),
    )
        .prop_map(|(protocol, events)| {
            serde_json::to_vec(&json!({ "protocol": protocol, "events": events })).unwrap()
        })
}

/// A form body from field names Open311 reads and arbitrary values, urlencoded or raw.
fn form_junk() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "description",
        "service_request_id",
        "status",
        "start_date",
        "end_date",
        "api_key",
        "email",
        "",
    ]);
    let value = prop_oneof![
        "\\PC{0,30}",
        Just("GARBAGE".to_owned()),
        Just("39.1135".to_owned()),
        Just("NaN".to_owned()),
        Just("1e308".to_owned()),
        Just("+262142-12-31T16:00:01Z".to_owned()),
        Just("-262143-01-01T00:00:00Z".to_owned()),
        Just("open,closed,,".to_owned()),
    ];
    prop_oneof![
        prop::collection::vec((name, value), 0..8).prop_map(|pairs| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        }),
        "[%&=+ -~]{0,80}",
    ]
}

const BOUNDARY: &str = "xunchaFuzzBoundary";

/// A multipart body for the dashboard's action form: real field names (and junk ones), values of
/// any text, photo parts of random or JPEG-shaped bytes, sometimes cut off before the end.
fn multipart_junk() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let part = (
        prop::sample::select(vec![
            "csrf", "kind", "version", "unit_id", "reason", "note", "photo", "", "x\"y",
        ]),
        prop_oneof![
            "\\PC{0,40}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..300),
            Just(vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
            Just(b"DISPATCH".to_vec()),
        ],
        any::<bool>(),
    );
    (
        prop::collection::vec(part, 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(parts, finished, with_csrf)| {
            let mut body = Vec::new();
            for (name, value, as_file) in parts {
                body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
                let filename = if as_file { "; filename=\"p.jpg\"" } else { "" };
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n")
                        .as_bytes(),
                );
                body.extend_from_slice(&value);
                body.extend_from_slice(b"\r\n");
            }
            if finished {
                body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
            }
            (body, with_csrf)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn push_bodies_of_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = shared();
        let (status, body) = answered(
            s.server.http.post(s.server.url("/api/v1/sync/push"))
                .bearer_auth(&s.token)
                .header("content-type", "application/json")
                .body(bytes),
        )?;
        prop_assert_eq!(status, 400, "{}", body);
    }

    #[test]
    fn push_bodies_of_structured_junk(bytes in push_junk()) {
        let s = shared();
        let (status, body) = answered(
            s.server.http.post(s.server.url("/api/v1/sync/push"))
                .bearer_auth(&s.token)
                .header("content-type", "application/json")
                .body(bytes),
        )?;
        if status == 200 {
            let parsed: Value = serde_json::from_str(&body).unwrap();
            prop_assert!(parsed["results"].is_array(), "{}", body);
        }
    }

    #[test]
    fn photo_upload_bodies_and_offsets(
        bytes in prop::collection::vec(any::<u8>(), 1..2048),
        offset in prop_oneof![Just(0u64), any::<u64>()],
        total in prop::option::of(prop_oneof![Just(2048u64), any::<u64>()]),
        real_address in any::<bool>(),
    ) {
        let s = shared();
        let sha = if real_address { sha256(&bytes) } else { "ab".repeat(32) };
        let mut url = format!("/api/v1/photos/{sha}?offset={offset}");
        if let Some(total) = total {
            url.push_str(&format!("&total={total}"));
        }
        answered(s.server.http.put(s.server.url(&url)).bearer_auth(&s.token).body(bytes))?;
    }

    #[test]
    fn photo_upload_of_jpeg_shaped_junk(
        segments in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)), 0..8),
    ) {
        let s = shared();
        let mut bytes = vec![0xff, 0xd8];
        for (marker, payload) in segments {
            bytes.extend_from_slice(&[0xff, marker]);
            bytes.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
            bytes.extend_from_slice(&payload);
        }
        let sha = sha256(&bytes);
        let url = format!("/api/v1/photos/{sha}?offset=0&total={}", bytes.len());
        answered(s.server.http.put(s.server.url(&url)).bearer_auth(&s.token).body(bytes))?;
    }

    #[test]
    fn open311_forms_parse_without_panicking(form in form_junk()) {
        let mut params = Params::from_query(Some(&form));
        params.extend_form(form.as_bytes());
        let _ = NewRequest::from_params(&params);
        let _ = Search::from_params(&params, chrono::Utc::now());
        if let Ok(search) = Search::from_params(&params, chrono::Utc::now()) {
            let _ = search.to_query(chrono::Utc::now());
        }
    }

    #[test]
    fn open311_posts_of_junk_forms(form in form_junk()) {
        let s = shared();
        answered(
            s.server.http.post(s.server.url("/open311/v2/requests.json"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-api-key", &s.token)
                .body(form.clone()),
        )?;
        // The same junk as a search query (without api_key, which the query string refuses).
        answered(s.server.http.get(s.server.url(&format!("/open311/v2/requests.xml?{form}"))))?;
    }

    #[test]
    fn cookie_headers_never_panic(header in "[ -~]{0,120}") {
        let _ = token_from_cookie_header(&header);
        let s = shared();
        let (status, body) = answered(
            s.server.http.get(s.server.url("/dashboard/cases")).header("cookie", header.clone()),
        )?;
        // No valid session in junk: the sign-in page (or a redirect to it), never the queue.
        prop_assert!(status == 303 || body.contains("name=\"password\""), "{}: {}", status, body);
    }

    #[test]
    fn cookie_headers_shaped_like_ours(
        token in "[0-9a-f]{0,80}",
        before in "[ -:<-~]{0,20}",
        after in "[ -:<-~]{0,20}",
    ) {
        let header = format!("{before}; xuncha_session={token}; {after}");
        let parsed = token_from_cookie_header(&header);
        prop_assert!(parsed.is_none() || parsed.is_some_and(|t| !t.is_empty()));
        let s = shared();
        answered(s.server.http.get(s.server.url("/dashboard")).header("cookie", header.clone()))?;
    }

    #[test]
    fn dashboard_action_multipart_junk((body, with_csrf) in multipart_junk()) {
        let s = shared();
        // The real CSRF token first, when asked, so the junk reaches the photo pipeline too.
        let mut full = Vec::new();
        if with_csrf {
            full.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
                    s.csrf
                )
                .as_bytes(),
            );
        }
        full.extend_from_slice(&body);
        answered(
            s.server
                .http
                .post(s.server.url(&format!("{}/actions", s.case_path)))
                .header("cookie", &s.cookie)
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(full),
        )?;
    }

    #[test]
    fn dashboard_action_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let s = shared();
        answered(
            s.server
                .http
                .post(s.server.url(&format!("{}/actions", s.case_path)))
                .header("cookie", &s.cookie)
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(bytes),
        )?;
    }
}
