//! Open311 GeoReport v2 against the real server on port 0, over real HTTP, on SQLite and on
//! PostgreSQL (`XUNCHA_TEST_DATABASE_URL`; set `XUNCHA_SKIP_PG=1` to skip PostgreSQL knowingly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer, both_backends};
use quick_xml::events::Event as XmlEvent;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use xuncha_core::Category;

/// Open311-specific calls: raw bodies with their content type, form posts.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, content_type, body) = self.get(path).await;
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        (status, serde_json::from_str(&body).unwrap())
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

/// Parses the whole document with quick-xml (tag balance and escaping) and returns the root name.
fn well_formed_root(xml: &str) -> String {
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut root = None;
    let mut depth = 0usize;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML ({e}): {xml}"))
        {
            XmlEvent::Start(start) => {
                if depth == 0 {
                    assert!(root.is_none(), "two root elements: {xml}");
                    root = Some(start.name().as_ref().to_owned());
                }
                depth += 1;
            }
            XmlEvent::End(_) => depth -= 1,
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unclosed elements: {xml}");
    root.expect("a root element")
}

#[derive(Debug, Deserialize)]
struct XmlServices {
    service: Vec<XmlService>,
}

#[derive(Debug, Deserialize)]
struct XmlService {
    service_code: String,
    service_name: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct XmlDefinition {
    service_code: String,
}

#[derive(Debug, Deserialize)]
struct XmlRequests {
    #[serde(default)]
    request: Vec<XmlRequest>,
}

#[derive(Debug, Deserialize)]
struct XmlRequest {
    service_request_id: String,
    status: String,
    service_code: String,
    agency_responsible: String,
    requested_datetime: String,
    address: String,
    lat: f64,
    long: f64,
}

#[derive(Debug, Deserialize)]
struct XmlErrors {
    error: Vec<XmlError>,
}

#[derive(Debug, Deserialize)]
struct XmlError {
    code: u16,
    description: String,
}

fn assert_open311_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    let error = &body.as_array().expect("errors are a list")[0];
    assert_eq!(error["code"], expected.as_u16(), "{body}");
    let description = error["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("{code}: ")),
        "{description}"
    );
}

const V2: &str = "/open311/v2";

async fn round_trip(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let api = Api {
        http: server.http.clone(),
        base: server.base.clone(),
    };
    let inspector = server.enrol("inspector.changchunli").await.access_token;

    // Services: every category, JSON and XML agree.
    let (status, services) = api.get_json(&format!("{V2}/services.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(services.as_array().unwrap().len(), Category::ALL.len());
    let (status, content_type, xml) = api.get(&format!("{V2}/services.xml")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert_eq!(well_formed_root(&xml), "services");
    let parsed: XmlServices = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(parsed.service.len(), Category::ALL.len());
    let light = parsed
        .service
        .iter()
        .find(|s| s.service_code == "STREET_LIGHT")
        .unwrap();
    assert_eq!(light.service_name, "路灯");
    assert!(!light.metadata);
    assert_eq!(light.kind, "realtime");
    let (_, _, xml) = api.get(&format!("{V2}/services/STREET_LIGHT.xml")).await;
    assert_eq!(well_formed_root(&xml), "service_definition");
    let definition: XmlDefinition = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(definition.service_code, "STREET_LIGHT");
    let (status, body) = api.get_json(&format!("{V2}/services/POTHOLE.json")).await;
    assert_open311_error(status, &body, StatusCode::NOT_FOUND, "UNKNOWN_SERVICE_CODE");

    // POST: placed in 长春里 by its coordinates, routed at ingest.
    let description = "3号楼东侧路灯不亮 <夜间> & 无人修";
    let (status, body) = api
        .post_form(
            &format!("{V2}/requests.json"),
            &[
                ("api_key", inspector.as_str()),
                ("service_code", "STREET_LIGHT"),
                ("lat", "39.1135"),
                ("long", "117.1930"),
                ("address_string", "3号楼东侧"),
                ("description", description),
                ("email", "resident@example.com"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agency = created[0]["agency_responsible"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!agency.is_empty());
    assert!(
        created[0]["service_notice"]
            .as_str()
            .unwrap()
            .contains("北京时间"),
        "{created}"
    );
    // The case number the server gave the case (issue 13): an extra element, and the first
    // words of the notice residents see.
    let number = created[0]["case_number"].as_str().unwrap().to_owned();
    assert!(
        number.starts_with("和平-") && number.ends_with("-0001"),
        "{created}"
    );
    assert!(
        created[0]["service_notice"]
            .as_str()
            .unwrap()
            .starts_with(&format!("案件编号 {number}。")),
        "{created}"
    );

    // The sync API sees the same case, routed by the same code, reported by the inspector.
    let detail: Value = api
        .http
        .get(format!("{}/api/v1/cases/{id}", api.base))
        .bearer_auth(&inspector)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["case"]["estate_id"], "changchunli", "{detail}");
    assert_eq!(detail["case"]["status"], "REPORTED");
    assert_eq!(detail["case"]["category"], "STREET_LIGHT");
    assert_eq!(
        detail["routing"]["owner"]["name"],
        agency.as_str(),
        "{detail}"
    );
    assert_eq!(detail["events"].as_array().unwrap().len(), 1);
    assert_eq!(detail["events"][0]["actor"]["role"], "inspector");
    assert!(detail["events"][0]["server_time"].is_string());

    // GET one, anonymous: public fields, no description.
    let (status, one) = api.get_json(&format!("{V2}/requests/{id}.json")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let request = &one[0];
    assert_eq!(request["service_request_id"], id.as_str());
    assert_eq!(request["case_number"], number.as_str(), "{request}");
    assert_eq!(request["status"], "open");
    assert_eq!(request["service_code"], "STREET_LIGHT");
    assert_eq!(request["service_name"], "路灯");
    assert_eq!(request["agency_responsible"], agency.as_str());
    assert_eq!(
        request["status_notes"], "已收到反映，街道办事处正在核实并安排责任单位处理。",
        "the residents' text of the status"
    );
    assert!(
        request["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00"),
        "{request}"
    );
    assert!(
        request["updated_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );
    // Anonymous: the estate's centre, not the reported point; the estate, not the location note.
    let changchunli = xuncha_core::demo::estates()
        .unwrap()
        .into_iter()
        .find(|e| e.id == "changchunli")
        .unwrap();
    let (centre_lat, centre_long) =
        xuncha_server::http::open311::public::estate_centre(&changchunli).unwrap();
    assert_eq!(request["lat"], centre_lat);
    assert_eq!(request["long"], centre_long);
    assert_eq!(request["address_id"], "changchunli");
    let public_address = request["address"].as_str().unwrap();
    assert!(
        public_address.contains("长春里") && !public_address.contains("3号楼东侧"),
        "{public_address}"
    );
    assert!(
        request["description"].is_null(),
        "anonymous callers do not get the description"
    );
    // With the reporter's key (a header: never the query string) the details are there.
    let mine: Value = api
        .http
        .get(format!("{}{V2}/requests/{id}.json", api.base))
        .header("x-api-key", &inspector)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["description"], description);
    assert_eq!(mine[0]["lat"], 39.1135);
    assert_eq!(mine[0]["long"], 117.1930);
    let address = mine[0]["address"].as_str().unwrap().to_owned();
    assert!(
        address.contains("长春里") && address.contains("3号楼东侧"),
        "{address}"
    );

    // The same request as XML: well-formed, escaped, and equal to the JSON.
    let xml = api
        .http
        .get(format!("{}{V2}/requests/{id}.xml", api.base))
        .bearer_auth(&inspector)
        .send()
        .await
        .unwrap();
    let status = xml.status();
    let xml = xml.text().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(well_formed_root(&xml), "service_requests");
    assert!(xml.contains("&lt;夜间&gt; &amp;"), "{xml}");
    let parsed: XmlRequests = quick_xml::de::from_str(&xml).unwrap();
    let x = &parsed.request[0];
    assert_eq!(x.service_request_id, id);
    assert_eq!(x.status, "open");
    assert_eq!(x.service_code, "STREET_LIGHT");
    assert_eq!(x.agency_responsible, agency);
    assert_eq!(
        x.requested_datetime,
        request["requested_datetime"].as_str().unwrap()
    );
    assert_eq!(x.address, address);
    assert_eq!((x.lat, x.long), (39.1135, 117.1930));

    // Search: filters by code and status; the list in XML too.
    let (_, found) = api
        .get_json(&format!(
            "{V2}/requests.json?service_code=STREET_LIGHT,GARBAGE&status=open"
        ))
        .await;
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == id.as_str())
    );
    let (_, closed) = api
        .get_json(&format!("{V2}/requests.json?status=closed"))
        .await;
    assert!(
        !closed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == id.as_str())
    );
    let (_, by_id) = api
        .get_json(&format!(
            "{V2}/requests.json?service_request_id={id}&status=closed"
        ))
        .await;
    assert_eq!(
        by_id.as_array().unwrap().len(),
        1,
        "service_request_id supersedes other filters"
    );
    let (_, _, xml) = api
        .get(&format!("{V2}/requests.xml?service_code=STREET_LIGHT"))
        .await;
    let list: XmlRequests = quick_xml::de::from_str(&xml).unwrap();
    assert!(list.request.iter().any(|r| r.service_request_id == id));
    let (status, body) = api
        .get_json(&format!("{V2}/requests.json?status=pending"))
        .await;
    assert_open311_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_PARAMETER");

    // Token lookup: requests are synchronous, the token is the id.
    let (status, token) = api.get_json(&format!("{V2}/tokens/{id}.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token[0]["service_request_id"], id.as_str());

    // A point outside every managed estate is refused in Open311's shape, JSON and XML.
    let outside = [
        ("api_key", inspector.as_str()),
        ("service_code", "GARBAGE"),
        ("lat", "39.2000"),
        ("long", "117.0000"),
    ];
    let (status, body) = api
        .post_form(&format!("{V2}/requests.json"), &outside)
        .await;
    assert_open311_error(
        status,
        &serde_json::from_str(&body).unwrap(),
        StatusCode::BAD_REQUEST,
        "OUTSIDE_MANAGED_ESTATES",
    );
    let (status, xml) = api.post_form(&format!("{V2}/requests.xml"), &outside).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(well_formed_root(&xml), "errors");
    let errors: XmlErrors = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(errors.error[0].code, 400);
    assert!(
        errors.error[0]
            .description
            .starts_with("OUTSIDE_MANAGED_ESTATES: ")
    );

    // An address without coordinates cannot be placed.
    let (status, body) = api
        .post_form(
            &format!("{V2}/requests.json"),
            &[
                ("api_key", inspector.as_str()),
                ("service_code", "GARBAGE"),
                ("address_string", "长春里3号楼"),
            ],
        )
        .await;
    assert_open311_error(
        status,
        &serde_json::from_str(&body).unwrap(),
        StatusCode::BAD_REQUEST,
        "ADDRESS_NOT_SUPPORTED",
    );

    // No key, a wrong key, and a key whose user may not report in that estate (平山道).
    let in_changchunli = [
        ("service_code", "GARBAGE"),
        ("lat", "39.1135"),
        ("long", "117.1930"),
    ];
    let (status, body) = api
        .post_form(&format!("{V2}/requests.json"), &in_changchunli)
        .await;
    assert_open311_error(
        status,
        &serde_json::from_str(&body).unwrap(),
        StatusCode::FORBIDDEN,
        "UNAUTHENTICATED",
    );
    let mut wrong_key = in_changchunli.to_vec();
    wrong_key.push(("api_key", "xat_0000"));
    let (status, body) = api
        .post_form(&format!("{V2}/requests.json"), &wrong_key)
        .await;
    assert_open311_error(
        status,
        &serde_json::from_str(&body).unwrap(),
        StatusCode::FORBIDDEN,
        "TOKEN_INVALID",
    );
    let (status, body) = api
        .post_form(
            &format!("{V2}/requests.json"),
            &[
                ("api_key", inspector.as_str()),
                ("service_code", "GARBAGE"),
                ("lat", "39.0980"),
                ("long", "117.2120"),
            ],
        )
        .await;
    assert_open311_error(
        status,
        &serde_json::from_str(&body).unwrap(),
        StatusCode::FORBIDDEN,
        "ESTATE_FORBIDDEN",
    );

    // Unknown ids and formats.
    let (status, body) = api
        .get_json(&format!("{V2}/requests/{}.json", uuid::Uuid::now_v7()))
        .await;
    assert_open311_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "UNKNOWN_SERVICE_REQUEST",
    );
    let (status, body) = api.get_json(&format!("{V2}/requests/{id}.html")).await;
    assert_open311_error(status, &body, StatusCode::NOT_FOUND, "UNKNOWN_FORMAT");

    // Every Open311 write went through the audited ingest, and the chain is intact.
    let state = server.server.as_ref().unwrap().state();
    let (rows, head) = state.storage.audit_log().await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.entry.contains("EVENT_APPLIED") && r.entry.contains(&id))
    );
    assert!(xuncha_server::policy::audit::verify(&rows, &head).is_intact());
    server.stop().await;
}

both_backends!(round_trip);
