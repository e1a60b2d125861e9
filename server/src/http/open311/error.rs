//! Errors in GeoReport v2's own shape: a list of `{code, description}` (`<errors><error>` in XML),
//! `code` being the HTTP status. The description starts with the server's stable machine code
//! (`OUTSIDE_MANAGED_ESTATES: …`) so programs need not parse prose.

use axum::http::StatusCode;
use axum::response::Response;

use super::format::{Document, Format, Record, Value};
use crate::http::error::{ApiError, refusal_status};
use crate::policy::refusal::RefusalKind;

#[derive(Debug, thiserror::Error)]
pub enum Open311Error {
    #[error("{0:?} must end in .json or .xml")]
    UnknownFormat(String),
    #[error("no service with service_code {0:?} (see services.json)")]
    UnknownService(String),
    #[error("no service request {0:?}")]
    UnknownRequest(String),
    #[error("no Open311 resource at {0}")]
    RouteNotFound(String),
    #[error("{0} is required")]
    MissingParameter(&'static str),
    #[error("{name}: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error(
        "requests are placed in their estate by coordinates: send lat and long (address_string alone cannot be placed; 请提供经纬度)"
    )]
    AddressNotSupported,
    #[error(
        "the point {lat}, {long} (WGS-84) is not inside any managed estate (该位置不在纳管的旧楼区内)"
    )]
    OutsideManagedEstates { lat: f64, long: f64 },
    #[error("send the request as application/x-www-form-urlencoded, not {0}")]
    UnsupportedContentType(String),
    #[error(
        "api_key is not accepted in the query string (it would be logged); send it as `Authorization: Bearer`, `X-Api-Key` or in the POST body (请勿把密钥放在网址中)"
    )]
    ApiKeyInQuery,
    /// Ingest refused the report; the code and message as the push result gave them.
    #[error("{message}")]
    Refused {
        code: String,
        kind: RefusalKind,
        message: String,
    },
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl Open311Error {
    /// Stable machine code, the prefix of the description.
    pub fn code(&self) -> &str {
        match self {
            Open311Error::UnknownFormat(_) => "UNKNOWN_FORMAT",
            Open311Error::UnknownService(_) => "UNKNOWN_SERVICE_CODE",
            Open311Error::UnknownRequest(_) => "UNKNOWN_SERVICE_REQUEST",
            Open311Error::RouteNotFound(_) => "ROUTE_NOT_FOUND",
            Open311Error::MissingParameter(_) => "MISSING_PARAMETER",
            Open311Error::InvalidParameter { .. } => "INVALID_PARAMETER",
            Open311Error::AddressNotSupported => "ADDRESS_NOT_SUPPORTED",
            Open311Error::OutsideManagedEstates { .. } => "OUTSIDE_MANAGED_ESTATES",
            Open311Error::UnsupportedContentType(_) => "UNSUPPORTED_CONTENT_TYPE",
            Open311Error::ApiKeyInQuery => "API_KEY_IN_QUERY",
            Open311Error::Refused { code, .. } => code,
            Open311Error::Api(e) => e.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Open311Error::UnknownFormat(_)
            | Open311Error::UnknownService(_)
            | Open311Error::UnknownRequest(_)
            | Open311Error::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Open311Error::MissingParameter(_)
            | Open311Error::InvalidParameter { .. }
            | Open311Error::AddressNotSupported
            | Open311Error::ApiKeyInQuery
            | Open311Error::OutsideManagedEstates { .. } => StatusCode::BAD_REQUEST,
            Open311Error::UnsupportedContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Open311Error::Refused { kind, .. } => refusal_status(*kind),
            // GeoReport v2: a missing or invalid api_key is a 403.
            Open311Error::Api(
                ApiError::Unauthenticated | ApiError::TokenInvalid | ApiError::Revoked,
            ) => StatusCode::FORBIDDEN,
            Open311Error::Api(e) => e.status(),
        }
    }

    pub fn document(&self) -> Document {
        Document::List {
            root: "errors",
            records: vec![
                Record::new("error")
                    .field("code", Value::Int(i64::from(self.status().as_u16())))
                    .field(
                        "description",
                        format!("{}: {}", self.code(), self.description()),
                    ),
            ],
        }
    }

    fn description(&self) -> String {
        match self {
            Open311Error::Api(ApiError::Unauthenticated) => {
                "api_key (an access token) is required: `Authorization: Bearer`, `X-Api-Key` or api_key in the POST body".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn respond(&self, format: Format) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = ?self, "Open311 request failed");
        }
        let mut response = self.document().respond(format, self.status());
        if let Open311Error::Api(ApiError::RateLimited { retry_after_s }) = self
            && let Ok(value) = retry_after_s.to_string().parse()
        {
            response.headers_mut().insert("retry-after", value);
        }
        response
    }
}

impl From<crate::storage::StorageError> for Open311Error {
    fn from(e: crate::storage::StorageError) -> Self {
        Open311Error::Api(ApiError::from(e))
    }
}
