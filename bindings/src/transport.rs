//! The app's HTTP stack as the core's transport (the `viaduct` pattern): the app implements
//! [`HttpTransport`] over its platform (Kotlin `HttpURLConnection`, Swift `URLSession`) and passes
//! it to `XunchaClient(dbPath, transport)`. TLS, the trust store, proxies and background uploads
//! are the platform's; the retries, `Retry-After` and token refresh stay in the core. This file
//! only converts records.

use std::sync::Arc;
use std::time::Duration;

use xuncha_core::sync as core_sync;

/// The HTTP methods the sync protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
}

/// One header. Request header names are lower case; `authorization` carries the access token,
/// so a transport never logs headers.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for HttpHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.name.eq_ignore_ascii_case("authorization") {
            "***"
        } else {
            &self.value
        };
        write!(f, "{}: {value}", self.name)
    }
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum HttpBody {
    Empty,
    /// A small body (JSON).
    Bytes {
        bytes: Vec<u8>,
    },
    /// A photo part: `length` bytes of the file at `path` from byte `offset`. Stream it from the
    /// file (or hand it to a background upload); photo bytes never cross the FFI.
    FilePart {
        path: String,
        offset: u64,
        length: u64,
    },
}

/// One request. The library sends a new one for every attempt.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    pub method: HttpMethod,
    /// Absolute `http(s)` URL, query included.
    pub url: String,
    pub headers: Vec<HttpHeader>,
    pub body: HttpBody,
    /// Time to get a connection (TCP + TLS), in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time for the whole exchange, in milliseconds: give up with `Timeout` after it.
    pub timeout_ms: u64,
}

/// The server's answer, whatever its status: a 4xx or 5xx is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// Why no answer came. `Network`, `Timeout`, `Tls` and `Cancelled` are retried by the library
/// with backoff; `InvalidRequest` is a bug and stops the sync; `FileUnreadable` skips the photo
/// until the next sync. Kotlin: `TransportException.Network(reason)` …; Swift:
/// `TransportError.network(reason:)` ….
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// No route, DNS failure, connection refused or reset, answer cut short.
    #[error("network: {reason}")]
    Network { reason: String },
    /// The connect timeout or the whole-request timeout passed.
    #[error("timeout: {reason}")]
    Timeout { reason: String },
    /// The TLS handshake failed (certificate not trusted by the platform, pinning mismatch).
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// The platform stopped the request (app suspended, session invalidated).
    #[error("cancelled: {reason}")]
    Cancelled { reason: String },
    /// The request cannot be sent at all (malformed URL, unsupported method).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    /// The photo part's file could not be read.
    #[error("file unreadable: {reason}")]
    FileUnreadable { reason: String },
}

/// An exception the app's transport did not declare (a bug in it, or an unchecked platform
/// exception): treated as a network failure, so the library retries and nothing is lost.
impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Network {
            reason: format!("transport failed unexpectedly: {}", error.reason),
        }
    }
}

/// Implemented by the app over its platform's HTTP stack. Called from the library's worker
/// threads, one request at a time per client. Cancelling the call (Kotlin coroutine cancellation,
/// a Swift task cancelled) must abort the request.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// The app's transport as the core sees it.
pub(crate) struct PlatformTransport(pub Arc<dyn HttpTransport>);

impl core_sync::HttpTransport for PlatformTransport {
    fn send(&self, request: core_sync::HttpRequest) -> core_sync::SendFuture<'_> {
        let transport = self.0.clone();
        Box::pin(async move {
            transport
                .send(request.into())
                .await
                .map(Into::into)
                .map_err(Into::into)
        })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn headers(list: Vec<(String, String)>) -> Vec<HttpHeader> {
    list.into_iter()
        .map(|(name, value)| HttpHeader { name, value })
        .collect()
}

impl From<core_sync::HttpRequest> for HttpRequest {
    fn from(request: core_sync::HttpRequest) -> Self {
        HttpRequest {
            method: match request.method {
                core_sync::HttpMethod::Get => HttpMethod::Get,
                core_sync::HttpMethod::Post => HttpMethod::Post,
                core_sync::HttpMethod::Put => HttpMethod::Put,
            },
            url: request.url,
            headers: headers(request.headers),
            body: match request.body {
                core_sync::RequestBody::Empty => HttpBody::Empty,
                core_sync::RequestBody::Bytes(bytes) => HttpBody::Bytes { bytes },
                core_sync::RequestBody::File {
                    path,
                    offset,
                    length,
                } => HttpBody::FilePart {
                    path: path.to_string_lossy().into_owned(),
                    offset,
                    length,
                },
            },
            connect_timeout_ms: millis(request.connect_timeout),
            timeout_ms: millis(request.timeout),
        }
    }
}

impl From<HttpResponse> for core_sync::HttpResponse {
    fn from(response: HttpResponse) -> Self {
        core_sync::HttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: response.body,
        }
    }
}

impl From<TransportError> for core_sync::TransportError {
    fn from(error: TransportError) -> Self {
        use core_sync::TransportError as Core;
        match error {
            TransportError::Network { reason } => Core::Network { message: reason },
            TransportError::Timeout { reason } => Core::Timeout { message: reason },
            TransportError::Tls { reason } => Core::Tls { message: reason },
            TransportError::Cancelled { reason } => Core::Cancelled { message: reason },
            TransportError::InvalidRequest { reason } => Core::InvalidRequest { message: reason },
            TransportError::FileUnreadable { reason } => Core::FileUnreadable { message: reason },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_authorization_header_never_prints() {
        let request: HttpRequest = core_sync::HttpRequest {
            method: core_sync::HttpMethod::Put,
            url: "https://x.example/api/v1/photos/ab?offset=0&total=9".to_owned(),
            headers: vec![("authorization".to_owned(), "Bearer xat_secret".to_owned())],
            body: core_sync::RequestBody::File {
                path: "/data/p.jpg".into(),
                offset: 4,
                length: 5,
            },
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_millis(60_500),
        }
        .into();
        assert!(!format!("{request:?}").contains("xat_secret"));
        assert_eq!(request.timeout_ms, 60_500);
        assert_eq!(
            request.body,
            HttpBody::FilePart {
                path: "/data/p.jpg".to_owned(),
                offset: 4,
                length: 5
            }
        );
    }
}
