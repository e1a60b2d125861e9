//! The HTTP transport the sync client talks to (Mozilla application-services' `viaduct`
//! pattern): the core builds requests and reads answers, the platform moves the bytes. On a phone
//! the app passes its own implementation through the bindings (Kotlin over
//! `HttpURLConnection`, Swift over `URLSession`), so TLS, the trust store (MDM-installed CAs,
//! Android's network security config), the system proxy, VPN, pinning and iOS background
//! transfers are the platform's. Desktop, the Python tests and the Rust end-to-end tests use
//! [`ReqwestTransport`] (feature `reqwest-transport`); the phone library never links reqwest,
//! hyper, rustls or ring.
//!
//! A transport only moves bytes. It never retries, never follows a redirect to another host with
//! the `Authorization` header, never interprets a status: a 4xx or 5xx is a normal
//! [`HttpResponse`]; only "no answer" is a [`TransportError`]. The retry, `Retry-After` and
//! parking rules stay in the core (`http.rs`, `retry.rs`, `client.rs`).

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// The HTTP methods the sync protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
        }
    }
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    Empty,
    /// Small bodies (JSON).
    Bytes(Vec<u8>),
    /// `length` bytes of the file at `path` from byte `offset`: a photo part. The transport
    /// reads (or streams, or hands to a background upload) the file itself, so photo bytes
    /// never cross the FFI.
    File {
        path: PathBuf,
        offset: u64,
        length: u64,
    },
}

impl RequestBody {
    /// Bytes on the wire.
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(bytes) => bytes.len() as u64,
            RequestBody::File { length, .. } => *length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One request, built anew for every attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    /// Absolute `http(s)` URL, query included.
    pub url: String,
    /// Header names in lower case. `authorization` carries the access token: a transport never
    /// logs headers.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
    /// Time to get a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Time for the whole exchange, body sent and answer read.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers are left out: `authorization` holds a token.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The server's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as the platform gives them; look them up with [`HttpResponse::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no answer came. Every kind but [`TransportError::InvalidRequest`] and
/// [`TransportError::FileUnreadable`] is transient: the sync client retries it with backoff,
/// exactly as it did with its own HTTP stack.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// No route, DNS failure, connection refused or reset, answer cut short.
    #[error("network: {message}")]
    Network { message: String },
    /// The connect or the whole-request timeout passed.
    #[error("timeout: {message}")]
    Timeout { message: String },
    /// The TLS handshake failed (untrusted or expired certificate, pinning mismatch). Retried
    /// like a network failure: a captive portal or a clock fixed by NTP can end it.
    #[error("TLS: {message}")]
    Tls { message: String },
    /// The platform stopped the request (app suspended, session invalidated).
    #[error("cancelled: {message}")]
    Cancelled { message: String },
    /// The transport cannot send this request at all (bad URL, unsupported method): a bug,
    /// never retried.
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
    /// The body file of a photo part could not be read.
    #[error("file unreadable: {message}")]
    FileUnreadable { message: String },
}

/// Boxed future of [`HttpTransport::send`].
pub type SendFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>,
>;

/// Moves one request and its answer. Implementations: the app's (through the bindings) and
/// [`ReqwestTransport`]. Dropping the returned future cancels the request.
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> SendFuture<'_>;
}

/// Reads the part of a file a [`RequestBody::File`] names (blocking: call it off async threads).
pub fn read_file_part(
    path: &std::path::Path,
    offset: u64,
    length: u64,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut part = Vec::with_capacity(usize::try_from(length).unwrap_or(0).min(16 << 20));
    file.take(length).read_to_end(&mut part)?;
    if (part.len() as u64) < length {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "{}: {} bytes from {offset} asked, {} there",
                path.display(),
                length,
                part.len()
            ),
        ));
    }
    Ok(part)
}

#[cfg(feature = "reqwest-transport")]
pub use reqwest_transport::ReqwestTransport;

#[cfg(feature = "reqwest-transport")]
mod reqwest_transport {
    use std::sync::Arc;

    use super::{
        HttpMethod, HttpRequest, HttpResponse, HttpTransport, RequestBody, SendFuture,
        TransportError, read_file_part,
    };

    /// The desktop / test transport: reqwest over rustls on `ring`, verifying against the
    /// bundled Mozilla roots. One connection pool per transport. Per-request timeouts come from
    /// the request; the connect timeout of the first request builds the client.
    pub struct ReqwestTransport {
        http: reqwest::Client,
    }

    impl std::fmt::Debug for ReqwestTransport {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("ReqwestTransport")
        }
    }

    /// rustls on the `ring` provider with the bundled Mozilla roots. The provider is passed
    /// explicitly rather than installed process-wide: no global state, and it stays `ring` even
    /// when another crate in the same build enables aws-lc-rs. ALPN offers HTTP/1.1 only.
    pub(crate) fn tls_config() -> Result<rustls::ClientConfig, TransportError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::InvalidRequest {
            message: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    impl ReqwestTransport {
        /// A transport whose connections give up after `connect_timeout`.
        pub fn new(connect_timeout: std::time::Duration) -> Result<Self, TransportError> {
            let http = reqwest::Client::builder()
                .tls_backend_preconfigured(tls_config()?)
                .connect_timeout(connect_timeout)
                .user_agent(concat!("xuncha-core/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| TransportError::InvalidRequest {
                    message: format!("HTTP client: {e}"),
                })?;
            Ok(ReqwestTransport { http })
        }

        async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            let method = match request.method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Post => reqwest::Method::POST,
                HttpMethod::Put => reqwest::Method::PUT,
            };
            let mut builder = self
                .http
                .request(method, &request.url)
                .timeout(request.timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder = match request.body {
                RequestBody::Empty => builder,
                RequestBody::Bytes(bytes) => builder.body(bytes),
                RequestBody::File {
                    path,
                    offset,
                    length,
                } => {
                    let part =
                        tokio::task::spawn_blocking(move || read_file_part(&path, offset, length))
                            .await
                            .map_err(|e| TransportError::FileUnreadable {
                                message: e.to_string(),
                            })?
                            .map_err(|e| TransportError::FileUnreadable {
                                message: e.to_string(),
                            })?;
                    builder.body(part)
                }
            };
            let response = builder.send().await.map_err(|e| failure(&e))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            // A body cut off mid-way is a network failure like any other.
            let body = response.bytes().await.map_err(|e| failure(&e))?.to_vec();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        }
    }

    impl HttpTransport for ReqwestTransport {
        fn send(&self, request: HttpRequest) -> SendFuture<'_> {
            Box::pin(self.exchange(request))
        }
    }

    fn failure(error: &reqwest::Error) -> TransportError {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        if error.is_builder() {
            TransportError::InvalidRequest { message }
        } else if error.is_timeout() {
            TransportError::Timeout { message }
        } else {
            TransportError::Network { message }
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used, clippy::expect_used)]

        use super::*;

        #[test]
        fn device_tls_uses_ring_and_every_bundled_root() {
            let config = tls_config().unwrap();
            let ring = rustls::crypto::ring::default_provider();
            let suites = |p: &rustls::crypto::CryptoProvider| {
                p.cipher_suites
                    .iter()
                    .map(|s| s.suite())
                    .collect::<Vec<_>>()
            };
            assert_eq!(suites(config.crypto_provider()), suites(&ring));
            assert_eq!(
                format!("{:?}", config.crypto_provider().key_provider),
                format!("{:?}", ring.key_provider)
            );
            assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
            assert!(!config.client_auth_cert_resolver.has_certs());
            let mut roots = rustls::RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
            );
            assert_eq!(ignored, 0);
            assert!(added > 100, "{added} roots");
        }

        #[test]
        fn the_transport_builds_without_a_process_wide_provider() {
            // reqwest with `rustls-no-provider` panics when building a client without a
            // provider; this transport brings its own.
            ReqwestTransport::new(std::time::Duration::from_secs(1)).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn file_parts_are_exact_and_short_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jpg");
        std::fs::write(&path, (0u8..100).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            read_file_part(&path, 10, 5).unwrap(),
            vec![10, 11, 12, 13, 14]
        );
        assert!(read_file_part(&path, 90, 20).is_err());
        let missing = read_file_part(&dir.path().join("gone.jpg"), 0, 1).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn requests_never_print_their_headers() {
        let request = HttpRequest {
            method: HttpMethod::Get,
            url: "https://x.example/api".to_owned(),
            headers: vec![("authorization".to_owned(), "Bearer xat_secret".to_owned())],
            body: RequestBody::Empty,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{request:?}").contains("xat_secret"));
    }

    #[test]
    fn response_headers_are_found_case_insensitively() {
        let response = HttpResponse {
            status: 503,
            headers: vec![("Retry-After".to_owned(), "7".to_owned())],
            body: Vec::new(),
        };
        assert_eq!(response.header("retry-after"), Some("7"));
        assert_eq!(response.header("content-type"), None);
    }
}
