//! Open311 GeoReport v2 under `/open311/v2/` (issue 4 item 5), so any standard GeoReport client
//! can list the case categories, file a request and follow it.
//!
//! - [`services`]: the catalog as services (service_code = category code).
//! - [`requests`]: search, file and read requests; filing goes through the sync API's ingest.
//! - [`place`]: which managed estate a point falls in.
//! - [`format`]: one field list rendered as JSON or XML; [`error`]: GeoReport's error shape.
//!
//! Authentication: `Authorization: Bearer`, `X-Api-Key` or `api_key` in a POST body, each an
//! access token from `/api/v1/auth/enrol`, checked by the same extractor as the sync API
//! (revocation, rate limit). An `api_key` in the query string is refused (`API_KEY_IN_QUERY`):
//! URLs end up in logs. Filing needs a key; reading does not, but anonymous callers get only the
//! public view ([`requests::request_record`]).

pub mod error;
pub mod format;
pub mod place;
pub mod public;
pub mod requests;
pub mod services;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, any, get, post};

use crate::http::app::AppState;
use crate::http::auth::Authed;
use crate::http::error::ApiError;
use error::Open311Error;
use format::{Document, Format, Record, Value};

/// Where the GeoReport v2 endpoint lives, relative to the server root.
pub const BASE_PATH: &str = "/open311/v2";

/// The GeoReport v2 operations as (method, path, handler), documented in the OpenAPI document.
pub fn operations() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/open311/discovery.json", get(discovery_json)),
        ("get", "/open311/discovery.xml", get(discovery_xml)),
        ("get", "/open311/v2/services.json", get(services::list_json)),
        ("get", "/open311/v2/services.xml", get(services::list_xml)),
        (
            "get",
            "/open311/v2/services/{file}",
            get(services::definition),
        ),
        ("get", "/open311/v2/requests.json", get(requests::list_json)),
        (
            "post",
            "/open311/v2/requests.json",
            post(requests::create_json),
        ),
        ("get", "/open311/v2/requests.xml", get(requests::list_xml)),
        (
            "post",
            "/open311/v2/requests.xml",
            post(requests::create_xml),
        ),
        ("get", "/open311/v2/requests/{file}", get(requests::one)),
        ("get", "/open311/v2/tokens/{file}", get(requests::token)),
    ]
}

/// The Open311 routes, merged into [`crate::http::app::router`]: [`operations`] and a GeoReport
/// not-found for anything else under `/open311/`.
pub fn routes() -> Router<AppState> {
    crate::http::app::with_operations(Router::new(), operations())
        .route("/open311/{*rest}", any(not_found))
        .layer(middleware::from_fn(refuse_api_key_in_query))
}

/// Every Open311 route refuses an `api_key` in the query string, in the format the path asks for.
async fn refuse_api_key_in_query(request: Request<Body>, next: Next) -> Response {
    match refuse_query_api_key(request.uri().query()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let format = if request.uri().path().ends_with(".xml") {
                Format::Xml
            } else {
                Format::Json
            };
            e.respond(format)
        }
    }
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

/// The header that may carry an Open311 `api_key` (besides `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// Refuses an `api_key` in the query string: URLs end up in access logs, proxies and browser
/// history, so a token there leaks (issue 11). It is accepted in a POST body, in `X-Api-Key` or
/// as `Authorization: Bearer`.
pub fn refuse_query_api_key(query: Option<&str>) -> Result<(), Open311Error> {
    let in_query = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(name, _)| name == "api_key");
    if in_query {
        Err(Open311Error::ApiKeyInQuery)
    } else {
        Ok(())
    }
}

/// The signed-in caller, if the request carries credentials: `Authorization: Bearer`, else
/// `X-Api-Key`, else `api_key` in a POST body (`body` holds only form-body parameters; the query
/// string never carries credentials, see [`refuse_query_api_key`]). Credentials that are present
/// but wrong are an error, never silently anonymous.
pub async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    body: &Params,
) -> Result<Option<Authed>, Open311Error> {
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .or_else(|| body.get("api_key"));
    let authorization = match (headers.get(header::AUTHORIZATION), key) {
        (Some(value), _) => value.clone(),
        (None, Some(key)) => {
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| ApiError::TokenInvalid)?
        }
        (None, None) => return Ok(None),
    };
    // The sync API's extractor, so both APIs check tokens, revocation and rate limits alike.
    let mut builder = Request::builder().header(header::AUTHORIZATION, authorization);
    if let Some(peer) = headers.get(crate::http::throttle::PEER_HEADER) {
        // Token guessing counts against the caller's address (issue 11).
        builder = builder.header(crate::http::throttle::PEER_HEADER, peer.clone());
    }
    let (mut parts, ()) = builder
        .body(())
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .into_parts();
    Ok(Some(Authed::from_request_parts(&mut parts, state).await?))
}

/// GeoReport service discovery: where the endpoint is and what it speaks. The URL is the
/// configured public URL, never the request's Host header (which a client chooses).
fn discovery(public_url: &str) -> Document {
    let endpoint = Record::new("endpoint")
        .field("specification", "http://wiki.open311.org/GeoReport_v2")
        .field("url", format!("{public_url}{BASE_PATH}"))
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
                "api_key = access token from POST /api/v1/auth/enrol; send it as `Authorization: Bearer`, `X-Api-Key` or in a POST body, never in the query string",
            )
            .field("endpoints", Value::List(vec![endpoint])),
    )
}

async fn discovery_json(State(state): State<AppState>) -> Response {
    discovery(&state.config.public_url()).respond(Format::Json, StatusCode::OK)
}

async fn discovery_xml(State(state): State<AppState>) -> Response {
    discovery(&state.config.public_url()).respond(Format::Xml, StatusCode::OK)
}
