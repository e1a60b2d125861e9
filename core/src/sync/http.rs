//! The HTTP side: the app's [`HttpTransport`], the device session (tokens), and [`Api::call`],
//! which sends a request with bounded retries, refreshes an expired access token once, and
//! classifies every answer into "done", "retry later" or "refused".

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::SyncConfig;
use super::error::SyncError;
use super::progress::{PHOTO_FILE_UNREADABLE, SyncProgress, SyncUpdate};
use super::retry::{RetryPolicy, parse_retry_after};
use super::transport::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, RequestBody, TransportError,
};
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
    transport: Arc<dyn HttpTransport>,
    /// The server root, always ending in `/`.
    base: String,
    retry: RetryPolicy,
    connect_timeout: Duration,
    request_timeout: Duration,
    session: Mutex<Option<Session>>,
    /// One refresh at a time: each spends the refresh token it sends (the server rotates it),
    /// so two at once would send the same token twice.
    refreshing: tokio::sync::Mutex<()>,
}

/// A body to send; the request is built anew for every attempt.
pub(crate) enum Body {
    Empty,
    Json(serde_json::Value),
    /// A photo part: `length` bytes of the file from `offset`, read by the transport.
    File {
        path: PathBuf,
        offset: u64,
        length: u64,
    },
}

/// The core's own backstop over the transport's timeouts: a platform transport that never
/// answers still ends the attempt (dropping its future cancels the request).
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);

impl Api {
    pub fn new(config: &SyncConfig, transport: Arc<dyn HttpTransport>) -> Result<Api, SyncError> {
        Ok(Api {
            transport,
            base: base_url(&config.base_url)?,
            retry: config.retry.clone(),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            session: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// `path` relative to the server root, e.g. `api/v1/sync/push`.
    pub fn url(&self, path: &str) -> Result<String, SyncError> {
        let path = path.trim_start_matches('/');
        if path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err(SyncError::Config {
                message: format!("URL path {path:?} is not usable"),
            });
        }
        Ok(format!("{}{path}", self.base))
    }

    /// `path` with a query string, each value form-encoded.
    pub fn url_with_query(&self, path: &str, pairs: &[(&str, &str)]) -> Result<String, SyncError> {
        let mut url = self.url(path)?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        url.push('?');
        url.push_str(&query.finish());
        Ok(url)
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
        method: HttpMethod,
        url: String,
        body: Body,
        progress: &dyn SyncProgress,
    ) -> Result<T, SyncError> {
        self.call_with(method, url, body, false, self.retry.max_attempts, progress)
            .await
    }

    /// Sends with the device's access token (refreshing it when needed), with retries.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: HttpMethod,
        url: String,
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
        method: HttpMethod,
        url: String,
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
        method: HttpMethod,
        url: String,
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
            let failure = match self.attempt::<T>(method, &url, &body, token.as_ref()).await {
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
        method: HttpMethod,
        url: &str,
        body: &Body,
        token: Option<&Secret>,
    ) -> Result<T, Failure> {
        let mut headers = Vec::with_capacity(3);
        headers.push(("accept".to_owned(), "application/json".to_owned()));
        if let Some(token) = token {
            headers.push((
                "authorization".to_owned(),
                format!("Bearer {}", token.expose()),
            ));
        }
        let body = match body {
            Body::Empty => RequestBody::Empty,
            Body::Json(value) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                RequestBody::Bytes(serde_json::to_vec(value).map_err(|e| {
                    Failure::Fatal(SyncError::Protocol {
                        message: format!("request body: {e}"),
                    })
                })?)
            }
            Body::File {
                path,
                offset,
                length,
            } => {
                headers.push((
                    "content-type".to_owned(),
                    "application/octet-stream".to_owned(),
                ));
                RequestBody::File {
                    path: path.clone(),
                    offset: *offset,
                    length: *length,
                }
            }
        };
        let request = HttpRequest {
            method,
            url: url.to_owned(),
            headers,
            body,
            connect_timeout: self.connect_timeout,
            timeout: self.request_timeout,
        };
        let backstop = self
            .connect_timeout
            .saturating_add(self.request_timeout)
            .saturating_add(TIMEOUT_GRACE);
        let response = match tokio::time::timeout(backstop, self.transport.send(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(transport_failure(error)),
            Err(_) => {
                return Err(transport_failure(TransportError::Timeout {
                    message: format!("no answer within {} s", backstop.as_secs()),
                }));
            }
        };
        answer(url, response)
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
            HttpMethod::Post,
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

/// Checks and normalises the server root: an absolute `http(s)` URL with a host, without query
/// or fragment, ending in `/` so that paths append under a prefix (`https://host/xuncha/`).
fn base_url(given: &str) -> Result<String, SyncError> {
    let invalid = || SyncError::Config {
        message: format!("base_url {given:?} is not an absolute http(s) URL"),
    };
    let lower = given.to_ascii_lowercase();
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.starts_with(scheme).then(|| &given[scheme.len()..]))
        .ok_or_else(invalid)?;
    let host = rest.split('/').next().unwrap_or_default();
    let usable = |c: char| !(c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'));
    if host.is_empty() || host.starts_with(':') || !given.chars().all(usable) {
        return Err(invalid());
    }
    Ok(if given.ends_with('/') {
        given.to_owned()
    } else {
        format!("{given}/")
    })
}

/// Reads an answer: success bodies as JSON, errors as the server's `{code, message}`.
fn answer<T: DeserializeOwned>(url: &str, response: HttpResponse) -> Result<T, Failure> {
    let status = response.status;
    let retry_after = response.header("retry-after").and_then(parse_retry_after);
    if (200..300).contains(&status) {
        // 204 No Content (revoke) carries no JSON: it reads as `null`, i.e. `()`.
        let json: &[u8] = if response.body.is_empty() && status == 204 {
            b"null"
        } else {
            &response.body
        };
        return serde_json::from_slice(json).map_err(|e| {
            Failure::Fatal(SyncError::Protocol {
                message: format!("{url}: answer is not the expected JSON: {e}"),
            })
        });
    }
    let error: ApiError = serde_json::from_slice(&response.body).unwrap_or_else(|_| ApiError {
        code: format!("HTTP_{status}"),
        message: String::from_utf8_lossy(&response.body)
            .chars()
            .take(200)
            .collect(),
    });
    Err(classify(status, error, retry_after))
}

/// No answer: connect refused, DNS, timeout, reset, TLS, body cut short are all worth a retry.
/// A request the transport cannot send is a bug; an unreadable photo file is the photo's
/// failure (reported with [`PHOTO_FILE_UNREADABLE`] and tried again next run).
fn transport_failure(error: TransportError) -> Failure {
    match error {
        TransportError::InvalidRequest { message } => Failure::Fatal(SyncError::Config { message }),
        TransportError::FileUnreadable { message } => Failure::Fatal(SyncError::Refused {
            status: 0,
            code: PHOTO_FILE_UNREADABLE.to_owned(),
            message,
        }),
        other => Failure::Transient {
            status: None,
            message: other.to_string(),
            retry_after: None,
        },
    }
}

fn classify(status: u16, error: ApiError, retry_after: Option<Duration>) -> Failure {
    let message = format!("{}: {}", error.code, error.message);
    match (status, error.code.as_str()) {
        (401, "TOKEN_INVALID") => Failure::TokenExpired,
        (401, "REFRESH_TOKEN_REUSED") => Failure::Fatal(SyncError::SessionRevoked {
            code: error.code,
            message: error.message,
        }),
        (401, _) => Failure::Fatal(SyncError::AuthRejected {
            code: error.code,
            message: error.message,
        }),
        // Too many wrong passwords for this account from here: retrying would only wait out
        // the lock behind the user's back; the app says how long (`Retry-After`).
        (429, "LOGIN_LOCKED") => Failure::Fatal(SyncError::Refused {
            status,
            code: error.code,
            message: error.message,
        }),
        (429, _) => Failure::Transient {
            status: Some(status),
            message,
            retry_after,
        },
        // Another request of ours still holds the upload on the server (e.g. after a timeout).
        (409, "UPLOAD_IN_PROGRESS") => Failure::Transient {
            status: Some(status),
            message,
            retry_after,
        },
        (500..=599, _) => Failure::Transient {
            status: Some(status),
            message,
            retry_after,
        },
        (s, _) => Failure::Fatal(SyncError::Refused {
            status: s,
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
            classify(401, body("TOKEN_INVALID"), None),
            Failure::TokenExpired
        ));
        assert!(matches!(
            classify(401, body("REVOKED"), None),
            Failure::Fatal(SyncError::AuthRejected { code, .. }) if code == "REVOKED"
        ));
        assert!(matches!(
            classify(429, body("LOGIN_LOCKED"), Some(Duration::from_secs(60))),
            Failure::Fatal(SyncError::Refused { status: 429, code, .. }) if code == "LOGIN_LOCKED"
        ));
        assert!(matches!(
            classify(401, body("REFRESH_TOKEN_REUSED"), None),
            Failure::Fatal(SyncError::SessionRevoked { code, .. }) if code == "REFRESH_TOKEN_REUSED"
        ));
        assert!(matches!(
            classify(429, body("RATE_LIMITED"), Some(Duration::from_secs(2))),
            Failure::Transient { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            classify(503, body("HTTP_503"), None),
            Failure::Transient {
                status: Some(503),
                ..
            }
        ));
        assert!(matches!(
            classify(409, body("UPLOAD_IN_PROGRESS"), None),
            Failure::Transient { .. }
        ));
        assert!(matches!(
            classify(422, body("PHOTO_HASH_MISMATCH"), None),
            Failure::Fatal(SyncError::Refused { status: 422, code, .. }) if code == "PHOTO_HASH_MISMATCH"
        ));
    }

    /// A transport for tests that never reaches a network.
    struct Unreachable;

    impl HttpTransport for Unreachable {
        fn send(&self, _request: HttpRequest) -> super::super::transport::SendFuture<'_> {
            Box::pin(async {
                Err(TransportError::Network {
                    message: "unreachable".to_owned(),
                })
            })
        }
    }

    fn api(base: &str) -> Result<Api, SyncError> {
        Api::new(&SyncConfig::new(base), Arc::new(Unreachable))
    }

    #[test]
    fn base_url_must_be_absolute_http() {
        for bad in [
            "",
            "ftp://x/",
            "not a url",
            "/relative",
            "http://",
            "https:///path",
            "http://host/a b",
            "http://host/?q=1",
        ] {
            assert!(matches!(api(bad), Err(SyncError::Config { .. })), "{bad}");
        }
        let api = api("http://127.0.0.1:8080/xuncha").unwrap();
        assert_eq!(
            api.url("api/v1/sync/push").unwrap(),
            "http://127.0.0.1:8080/xuncha/api/v1/sync/push"
        );
        assert_eq!(
            api.url_with_query(
                "api/v1/sync/pull",
                &[("cursor", "a+b/c=&d"), ("limit", "200")]
            )
            .unwrap(),
            "http://127.0.0.1:8080/xuncha/api/v1/sync/pull?cursor=a%2Bb%2Fc%3D%26d&limit=200"
        );
        let api = super::base_url("HTTPS://xuncha.example.cn/api/").unwrap();
        assert_eq!(api, "HTTPS://xuncha.example.cn/api/");
    }

    #[test]
    fn transport_failures_keep_the_retry_rules() {
        for transient in [
            TransportError::Network {
                message: "reset".to_owned(),
            },
            TransportError::Timeout {
                message: "60 s".to_owned(),
            },
            TransportError::Tls {
                message: "unknown issuer".to_owned(),
            },
            TransportError::Cancelled {
                message: "suspended".to_owned(),
            },
        ] {
            assert!(
                matches!(
                    transport_failure(transient.clone()),
                    Failure::Transient { status: None, .. }
                ),
                "{transient}"
            );
        }
        assert!(matches!(
            transport_failure(TransportError::InvalidRequest {
                message: "m".to_owned()
            }),
            Failure::Fatal(SyncError::Config { .. })
        ));
        assert!(matches!(
            transport_failure(TransportError::FileUnreadable { message: "m".to_owned() }),
            Failure::Fatal(SyncError::Refused { status: 0, code, .. }) if code == PHOTO_FILE_UNREADABLE
        ));
    }

    #[test]
    fn retry_after_is_read_from_any_header_case() {
        let response = HttpResponse {
            status: 503,
            headers: vec![("Retry-After".to_owned(), "3".to_owned())],
            body: br#"{"code":"MAINTENANCE","message":"m"}"#.to_vec(),
        };
        assert!(matches!(
            answer::<()>("u", response),
            Err(Failure::Transient { status: Some(503), retry_after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
        let empty = HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        };
        assert!(answer::<()>("u", empty).is_ok());
    }
}
