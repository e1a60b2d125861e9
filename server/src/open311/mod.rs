//! Open311 GeoReport v2 under `/open311/v2/` (issue 4 item 5), so any standard GeoReport client
//! can list the case categories, file a request and follow it.
//!
//! - [`services`]: the catalog as services (service_code = category code).
//! - [`requests`]: search, file and read requests; filing goes through the sync API's ingest.
//! - [`place`]: which managed estate a point falls in.
//! - [`format`]: one field list rendered as JSON or XML; [`error`]: GeoReport's error shape.
//!
//! Authentication: `api_key` (parameter) or `Authorization: Bearer`, both an access token from
//! `/api/v1/auth/enrol`, checked by the same extractor as the sync API (revocation, rate limit).
//! Filing needs it; reading does not, but only callers who may see a case get its description.

pub mod error;
pub mod format;
pub mod place;
pub mod requests;
pub mod services;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, get};

use crate::app::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use error::Open311Error;
use format::{Document, Format, Record, Value};

/// Where the GeoReport v2 endpoint lives, relative to the server root.
pub const BASE_PATH: &str = "/open311/v2";

/// The Open311 routes, merged into [`crate::app::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/discovery.json", get(discovery_json))
        .route("/open311/discovery.xml", get(discovery_xml))
        .route("/open311/v2/services.json", get(services::list_json))
        .route("/open311/v2/services.xml", get(services::list_xml))
        .route("/open311/v2/services/{file}", get(services::definition))
        .route(
            "/open311/v2/requests.json",
            get(requests::list_json).post(requests::create_json),
        )
        .route(
            "/open311/v2/requests.xml",
            get(requests::list_xml).post(requests::create_xml),
        )
        .route("/open311/v2/requests/{file}", get(requests::one))
        .route("/open311/v2/tokens/{file}", get(requests::token))
        .route("/open311/{*rest}", any(not_found))
}

async fn not_found(uri: Uri) -> Response {
    let format = if uri.path().ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    };
    Open311Error::RouteNotFound(uri.path().to_owned()).respond(format)
}

/// Request parameters from the query string and a form body, in order; the first non-empty
/// value of a name wins.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_query(query: Option<&str>) -> Params {
        let mut params = Params::default();
        params.extend_form(query.unwrap_or_default().as_bytes());
        params
    }

    pub fn extend_form(&mut self, bytes: &[u8]) {
        self.0
            .extend(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }
}

/// The signed-in caller, if the request carries credentials. Credentials that are present but
/// wrong are an error, never silently anonymous.
pub async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<Authed>, Open311Error> {
    let authorization = match (headers.get(header::AUTHORIZATION), params.get("api_key")) {
        (Some(value), _) => value.clone(),
        (None, Some(key)) => {
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| ApiError::TokenInvalid)?
        }
        (None, None) => return Ok(None),
    };
    // The sync API's extractor, so both APIs check tokens, revocation and rate limits alike.
    let mut builder = Request::builder().header(header::AUTHORIZATION, authorization);
    if let Some(peer) = headers.get(crate::throttle::PEER_HEADER) {
        // Token guessing counts against the caller's address (issue 11).
        builder = builder.header(crate::throttle::PEER_HEADER, peer.clone());
    }
    let (mut parts, ()) = builder
        .body(())
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .into_parts();
    Ok(Some(Authed::from_request_parts(&mut parts, state).await?))
}

/// GeoReport service discovery: where the endpoint is and what it speaks.
fn discovery(headers: &HeaderMap) -> Document {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let endpoint = Record::new("endpoint")
        .field("specification", "http://wiki.open311.org/GeoReport_v2")
        .field("url", format!("http://{host}{BASE_PATH}"))
        .field("changeset", "2026-11-27T00:00:00+08:00")
        .field("type", "production")
        .field(
            "formats",
            Value::Strings {
                item: "format",
                values: vec!["application/json".to_owned(), "text/xml".to_owned()],
            },
        );
    Document::Single(
        Record::new("discovery")
            .field("changeset", "2026-11-27T00:00:00+08:00")
            .field("contact", "天津市民政局 旧楼区长效管理（Xuncha 巡查）")
            .field(
                "key_service",
                "api_key = access token from POST /api/v1/auth/enrol",
            )
            .field("endpoints", Value::List(vec![endpoint])),
    )
}

async fn discovery_json(headers: HeaderMap) -> Response {
    discovery(&headers).respond(Format::Json, StatusCode::OK)
}

async fn discovery_xml(headers: HeaderMap) -> Response {
    discovery(&headers).respond(Format::Xml, StatusCode::OK)
}
