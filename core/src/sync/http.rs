//! The HTTP side: one reqwest client, the device session (tokens), and [`Api::call`], which sends
//! a request with bounded retries, refreshes an expired access token once, and classifies every
//! answer into "done", "retry later" or "refused".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::SyncConfig;
use super::error::SyncError;
use super::progress::{SyncProgress, SyncUpdate};
use super::retry::{RetryPolicy, parse_retry_after};
use crate::protocol::{ApiError, RefreshRequest, RefreshResponse};

/// A token. `Debug` and `Display` never show it; [`Secret::expose`] is the one way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The token itself: only for the request header and for the app's keystore.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Refresh this long before the server's expiry, so a request never leaves with a token that
/// dies on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// The device's tokens. The refresh token is long-lived and device-bound: at rest it belongs in
/// the platform keystore (Android Keystore-wrapped / iOS Keychain), which is the app's job; the
/// core keeps it only in memory and never logs it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub device_id: Uuid,
    /// The signed-in user: the sync run pushes only the events this user recorded.
    pub user_id: String,
    pub refresh_token: Secret,
    pub access: Option<(Secret, Instant)>,
}

impl Session {
    fn valid_access(&self) -> Option<Secret> {
        self.access
            .as_ref()
            .filter(|(_, expires)| Instant::now() + EXPIRY_MARGIN < *expires)
            .map(|(token, _)| token.clone())
    }
}

/// How one attempt ended when it did not succeed.
enum Failure {
    /// Worth another attempt after a pause (`Retry-After` if the server gave one).
    Transient {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The access token expired or is unknown: refresh and send again.
    TokenExpired,
    Fatal(SyncError),
}

/// The authenticated HTTP client of one device.
pub(crate) struct Api {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    session: Mutex<Option<Session>>,
    /// One refresh at a time: each spends the refresh token it sends (the server rotates it),
    /// so two at once would send the same token twice.
    refreshing: tokio::sync::Mutex<()>,
}

/// A body to send; built anew for every attempt.
pub(crate) enum Body {
    Empty,
    Json(serde_json::Value),
    /// A photo chunk (at most `SyncConfig::photo_chunk_bytes`), copied per attempt.
    Bytes(Vec<u8>),
}

/// The device's TLS: rustls on the `ring` provider, verifying against the bundled Mozilla roots
/// only, so nothing platform-specific has to be initialised on Android before the first request
/// (see bindings/README.md). The provider is passed explicitly rather than installed process-wide:
/// no global state, and it stays `ring` even when another crate in the same build enables
/// aws-lc-rs. ALPN offers HTTP/1.1 only: the phone build has no HTTP/2.
fn device_tls_config() -> Result<rustls::ClientConfig, SyncError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SyncError::Config {
        message: format!("TLS: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Api {
    pub fn new(config: &SyncConfig) -> Result<Api, SyncError> {
        // A trailing slash makes `join` keep a path prefix (`https://host/xuncha/`).
        let with_slash = if config.base_url.ends_with('/') {
            config.base_url.clone()
        } else {
            format!("{}/", config.base_url)
        };
        let base = Url::parse(&with_slash)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| SyncError::Config {
                message: format!(
                    "base_url {:?} is not an absolute http(s) URL",
                    config.base_url
                ),
            })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(device_tls_config()?)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("xuncha-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config {
                message: format!("HTTP client: {e}"),
            })?;
        Ok(Api {
            http,
            base,
            retry: config.retry.clone(),
            session: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// `path` relative to the server root, e.g. `api/v1/sync/push`.
    pub fn url(&self, path: &str) -> Result<Url, SyncError> {
        self.base.join(path).map_err(|e| SyncError::Config {
            message: format!("URL {path}: {e}"),
        })
    }

    pub fn set_session(&self, session: Option<Session>) {
        if let Ok(mut slot) = self.session.lock() {
            *slot = session;
        }
    }

    pub fn session(&self) -> Option<Session> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    /// Keeps the refresh token the server rotated to (the one sent is spent).
    fn set_refresh(&self, device_id: Uuid, token: Secret) {
        if let Ok(mut slot) = self.session.lock()
            && let Some(session) = slot.as_mut().filter(|s| s.device_id == device_id)
        {
            session.refresh_token = token;
        }
    }

    fn set_access(&self, device_id: Uuid, token: Secret, expires_in_s: u64) {
        if let Ok(mut slot) = self.session.lock()
            && let Some(session) = slot.as_mut().filter(|s| s.device_id == device_id)
        {
            session.access = Some((token, Instant::now() + Duration::from_secs(expires_in_s)));
        }
    }

    /// Sends without a token (enrol, refresh), with retries.
    pub async fn call_anonymous<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body,
        progress: &dyn SyncProgress,
    ) -> Result<T, SyncError> {
        self.call_with(method, url, body, false, self.retry.max_attempts, progress)
            .await
    }

    /// Sends with the device's access token (refreshing it when needed), with retries.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body,
        progress: &dyn SyncProgress,
    ) -> Result<T, SyncError> {
        self.call_with(method, url, body, true, self.retry.max_attempts, progress)
            .await
    }

    /// Like [`Api::call`] but with at most `max_attempts` tries, for a request a person is
    /// waiting on (sign-out) rather than a background run.
    pub async fn call_impatient<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body,
        max_attempts: u32,
        progress: &dyn SyncProgress,
    ) -> Result<T, SyncError> {
        let max_attempts = max_attempts.clamp(1, self.retry.max_attempts.max(1));
        self.call_with(method, url, body, true, max_attempts, progress)
            .await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body,
        authed: bool,
        max_attempts: u32,
        progress: &dyn SyncProgress,
    ) -> Result<T, SyncError> {
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            let token = if authed {
                let session = self.session().ok_or(SyncError::NotSignedIn)?;
                match session.valid_access() {
                    Some(token) => Some(token),
                    None => Some(self.refresh(max_attempts, progress).await?),
                }
            } else {
                None
            };
            attempt += 1;
            let failure = match self
                .attempt::<T>(&method, &url, &body, token.as_ref())
                .await
            {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            match failure {
                Failure::Fatal(error) => return Err(error),
                Failure::TokenExpired if authed && !refreshed => {
                    // Not a failed attempt: the token simply aged out (or the server restarted
                    // with a shorter TTL). One refresh per call; a second 401 is fatal.
                    refreshed = true;
                    attempt -= 1;
                    if let Some(session) = self.session() {
                        self.set_access(session.device_id, Secret::new(String::new()), 0);
                    }
                }
                Failure::TokenExpired => {
                    return Err(SyncError::AuthRejected {
                        code: "TOKEN_INVALID".to_owned(),
                        message: "the server refused a freshly refreshed access token".to_owned(),
                    });
                }
                Failure::Transient {
                    status,
                    message,
                    retry_after,
                } => {
                    if attempt >= max_attempts {
                        tracing::warn!(%url, attempt, ?status, %message, "sync: giving up on request");
                        return Err(match status {
                            Some(status) => SyncError::ServerUnavailable {
                                status,
                                attempts: attempt,
                                message,
                            },
                            None => SyncError::Network {
                                attempts: attempt,
                                message,
                            },
                        });
                    }
                    let delay = self.retry.delay(attempt, retry_after);
                    tracing::info!(%url, attempt, ?status, delay_ms = delay.as_millis() as u64, %message, "sync: retrying");
                    progress.on_update(SyncUpdate::Retrying {
                        attempt: attempt + 1,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        reason: message,
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: &Method,
        url: &Url,
        body: &Body,
        token: Option<&Secret>,
    ) -> Result<T, Failure> {
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        request = match body {
            Body::Empty => request,
            Body::Json(value) => request.json(value),
            Body::Bytes(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone()),
        };
        let response = request.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // A body cut off mid-way is a network failure like any other: try again.
        let bytes = response.bytes().await.map_err(|e| transport_failure(&e))?;
        if status.is_success() {
            // 204 No Content (revoke) carries no JSON: it reads as `null`, i.e. `()`.
            let json: &[u8] = if bytes.is_empty() && status == StatusCode::NO_CONTENT {
                b"null"
            } else {
                &bytes
            };
            return serde_json::from_slice(json).map_err(|e| {
                Failure::Fatal(SyncError::Protocol {
                    message: format!("{url}: answer is not the expected JSON: {e}"),
                })
            });
        }
        let error: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
            code: format!("HTTP_{}", status.as_u16()),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        Err(classify(status, error, retry_after))
    }

    /// Gets a fresh access token with the refresh token, with as many attempts as the call that
    /// needs it; a refused refresh (revoked device, unknown token) ends the session.
    async fn refresh(
        &self,
        max_attempts: u32,
        progress: &dyn SyncProgress,
    ) -> Result<Secret, SyncError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let session = self.session().ok_or(SyncError::NotSignedIn)?;
        if let Some(token) = session.valid_access() {
            // Another call refreshed while this one waited.
            return Ok(token);
        }
        let request = RefreshRequest {
            device_id: session.device_id,
            refresh_token: session.refresh_token.expose().to_owned(),
        };
        let body = serde_json::to_value(&request).map_err(|e| SyncError::Protocol {
            message: format!("refresh request: {e}"),
        })?;
        let url = self.url("api/v1/auth/refresh")?;
        let answer: RefreshResponse = Box::pin(self.call_with(
            Method::POST,
            url,
            Body::Json(body),
            false,
            max_attempts,
            progress,
        ))
        .await?;
        if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
            // Kept before anything else can fail: the token sent is spent from now on.
            self.set_refresh(session.device_id, Secret::new(rotated));
        }
        let token = Secret::new(answer.access_token);
        self.set_access(session.device_id, token.clone(), answer.access_expires_in_s);
        tracing::debug!(device_id = %session.device_id, "sync: access token refreshed");
        Ok(token)
    }
}

fn transport_failure(error: &reqwest::Error) -> Failure {
    if error.is_builder() {
        return Failure::Fatal(SyncError::Config {
            message: error.to_string(),
        });
    }
    // Connect refused, DNS, timeout, connection reset, body cut short: all worth a retry.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Transient {
        status: None,
        message,
        retry_after: None,
    }
}

fn classify(status: StatusCode, error: ApiError, retry_after: Option<Duration>) -> Failure {
    let message = format!("{}: {}", error.code, error.message);
    match (status, error.code.as_str()) {
        (StatusCode::UNAUTHORIZED, "TOKEN_INVALID") => Failure::TokenExpired,
        (StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_REUSED") => {
            Failure::Fatal(SyncError::SessionRevoked {
                code: error.code,
                message: error.message,
            })
        }
        (StatusCode::UNAUTHORIZED, _) => Failure::Fatal(SyncError::AuthRejected {
            code: error.code,
            message: error.message,
        }),
        // Too many wrong passwords for this account from here: retrying would only wait out
        // the lock behind the user's back; the app says how long (`Retry-After`).
        (StatusCode::TOO_MANY_REQUESTS, "LOGIN_LOCKED") => Failure::Fatal(SyncError::Refused {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        }),
        (StatusCode::TOO_MANY_REQUESTS, _) => Failure::Transient {
            status: Some(status.as_u16()),
            message,
            retry_after,
        },
        // Another request of ours still holds the upload on the server (e.g. after a timeout).
        (StatusCode::CONFLICT, "UPLOAD_IN_PROGRESS") => Failure::Transient {
            status: Some(status.as_u16()),
            message,
            retry_after,
        },
        (s, _) if s.is_server_error() => Failure::Transient {
            status: Some(status.as_u16()),
            message,
            retry_after,
        },
        (s, _) => Failure::Fatal(SyncError::Refused {
            status: s.as_u16(),
            code: error.code,
            message: error.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn body(code: &str) -> ApiError {
        ApiError {
            code: code.to_owned(),
            message: "m".to_owned(),
        }
    }

    #[test]
    fn device_tls_uses_ring_and_every_bundled_root() {
        let config = device_tls_config().unwrap();
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
        // Every bundled root parses into a trust anchor: none is silently dropped.
        let mut roots = rustls::RootCertStore::empty();
        let (added, ignored) = roots
            .add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        assert_eq!(ignored, 0);
        assert!(added > 100, "{added} roots");
    }

    #[test]
    fn the_device_client_builds_without_a_process_wide_provider() {
        // reqwest with `rustls-no-provider` panics when building a client without a provider;
        // the device client brings its own.
        let config = SyncConfig::new("https://xuncha.example.cn/api/");
        let api = Api::new(&config).unwrap();
        assert_eq!(
            api.url("v1/ping").unwrap().as_str(),
            "https://xuncha.example.cn/api/v1/ping"
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("xat_supersecret");
        assert!(!format!("{secret:?}").contains("supersecret"));
        let session = Session {
            device_id: Uuid::nil(),
            user_id: "u-1".to_owned(),
            refresh_token: Secret::new("xrt_refreshsecret"),
            access: Some((secret, Instant::now())),
        };
        let shown = format!("{session:?}");
        assert!(
            !shown.contains("supersecret") && !shown.contains("refreshsecret"),
            "{shown}"
        );
    }

    #[test]
    fn answers_are_classified() {
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, body("TOKEN_INVALID"), None),
            Failure::TokenExpired
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, body("REVOKED"), None),
            Failure::Fatal(SyncError::AuthRejected { code, .. }) if code == "REVOKED"
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, body("LOGIN_LOCKED"), Some(Duration::from_secs(60))),
            Failure::Fatal(SyncError::Refused { status: 429, code, .. }) if code == "LOGIN_LOCKED"
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, body("REFRESH_TOKEN_REUSED"), None),
            Failure::Fatal(SyncError::SessionRevoked { code, .. }) if code == "REFRESH_TOKEN_REUSED"
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, body("RATE_LIMITED"), Some(Duration::from_secs(2))),
            Failure::Transient { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, body("HTTP_503"), None),
            Failure::Transient {
                status: Some(503),
                ..
            }
        ));
        assert!(matches!(
            classify(StatusCode::CONFLICT, body("UPLOAD_IN_PROGRESS"), None),
            Failure::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, body("PHOTO_HASH_MISMATCH"), None),
            Failure::Fatal(SyncError::Refused { status: 422, code, .. }) if code == "PHOTO_HASH_MISMATCH"
        ));
    }

    #[test]
    fn base_url_must_be_absolute_http() {
        for bad in ["", "ftp://x/", "not a url", "/relative"] {
            let config = SyncConfig::new(bad);
            assert!(
                matches!(Api::new(&config), Err(SyncError::Config { .. })),
                "{bad}"
            );
        }
        let api = Api::new(&SyncConfig::new("http://127.0.0.1:8080/xuncha")).unwrap();
        assert_eq!(
            api.url("api/v1/sync/push").unwrap().as_str(),
            "http://127.0.0.1:8080/xuncha/api/v1/sync/push"
        );
    }
}
