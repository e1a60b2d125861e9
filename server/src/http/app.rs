//! The running server: shared state, the router with its layers, and [`Server::start`], which
//! tests use in-process on port 0.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::http::api;
use crate::http::auth::RateLimiter;
use crate::http::error::ApiError;
use crate::http::openapi;
use crate::model::{DemoAccount, DemoHistory};
use crate::policy::catalog::Catalog;
use crate::storage::photo_files::{PhotoFiles, PhotoStore};
use crate::storage::{Storage, StorageError};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Arc<dyn Storage>,
    pub photos: Arc<PhotoStore>,
    pub limiter: Arc<RateLimiter>,
    /// Bounds on password checks and credential attempts (issue 11).
    pub throttle: Arc<crate::http::throttle::Throttle>,
    /// Replaced whole on reload; readers keep the version they loaded.
    catalog: Arc<ArcSwap<Catalog>>,
    pub uploads_in_progress: Arc<Mutex<HashSet<String>>>,
    /// Verified against when a username is unknown, so both cases cost one argon2 run.
    pub dummy_password_hash: Arc<str>,
}

impl AppState {
    /// The estates, units and routing rules in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Reloads the catalog from storage (after an import).
    pub async fn reload_catalog(&self) -> Result<(), StorageError> {
        let fresh = self.storage.load_catalog().await?;
        self.catalog.store(Arc::new(fresh));
        Ok(())
    }

    /// What the photo-file operations need, from this state.
    pub fn photo_files(&self) -> PhotoFiles {
        PhotoFiles {
            storage: self.storage.clone(),
            store: self.photos.clone(),
            config: self.config.clone(),
            uploads_in_progress: self.uploads_in_progress.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("photo folder: {0}")]
    Photos(std::io::Error),
    #[error("demo data: {0}")]
    Demo(String),
    #[error("password hashing: {0}")]
    Password(#[from] crate::policy::passwords::PasswordError),
}

impl StartError {
    pub fn code(&self) -> &'static str {
        match self {
            StartError::Storage(e) => e.code(),
            StartError::Bind { .. } => "BIND",
            StartError::Photos(_) => "PHOTO_DIR",
            StartError::Demo(_) => "DEMO_DATA",
            StartError::Password(_) => "PASSWORD_HASH",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct MakeRequestUuid;

impl MakeRequestId for MakeRequestUuid {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        xuncha_core::ids::new_id()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A refused POST/PUT may leave its body unread (e.g. 413 from Content-Length, 409 on a wrong
/// photo offset); closing the connection keeps the client from reusing a half-read stream.
async fn close_after_refused_body(request: Request<axum::body::Body>, next: Next) -> Response {
    let sends_body = request.method() == Method::POST || request.method() == Method::PUT;
    let mut response = next.run(request).await;
    let status = response.status();
    if sends_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Headers every response carries, whatever produced it (issue 11): browsers never sniff a
/// content type (`X-Content-Type-Options: nosniff`).
async fn security_headers(request: Request<axum::body::Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The JSON API's operations as (method, path, handler): the router is built from this table,
/// and a test compares it (with [`crate::http::open311::operations`]) to the operations the
/// OpenAPI document describes ([`crate::http::openapi::ROUTES`]).
pub fn api_operations() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/healthz", get(healthz)),
        ("get", "/api/openapi.json", get(openapi::document)),
        ("post", "/api/v1/auth/enrol", post(api::auth::enrol)),
        ("post", "/api/v1/auth/refresh", post(api::auth::refresh)),
        ("post", "/api/v1/auth/revoke", post(api::auth::revoke_self)),
        ("get", "/api/v1/me", get(api::auth::me)),
        ("post", "/api/v1/sync/push", post(api::sync::push)),
        ("get", "/api/v1/sync/pull", get(api::sync::pull)),
        ("get", "/api/v1/cases/{id}", get(api::sync::get_case)),
        (
            "get",
            "/api/v1/photos/{sha256}/status",
            get(api::photos::status),
        ),
        ("put", "/api/v1/photos/{sha256}", put(api::photos::upload)),
        ("get", "/api/v1/photos/{sha256}", get(api::photos::download)),
        (
            "post",
            "/api/v1/admin/devices/{id}/revoke",
            post(api::admin::revoke_device),
        ),
        (
            "post",
            "/api/v1/admin/users/{id}/disable",
            post(api::admin::disable_user),
        ),
        (
            "get",
            "/api/v1/admin/audit/verify",
            get(api::admin::verify_audit),
        ),
    ]
}

/// Registers `operations` on `router` (two methods of one path merge into one route).
pub fn with_operations<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    operations: Vec<(&'static str, &'static str, MethodRouter<S>)>,
) -> Router<S> {
    operations
        .into_iter()
        .fold(router, |router, (_, path, handler)| {
            router.route(path, handler)
        })
}

/// All routes: the API's, the dashboard's and Open311's.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let router = with_operations(Router::new(), api_operations())
        .merge(crate::http::dashboard::router(&state))
        .merge(crate::http::open311::routes())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let router = with_error_layers(router)
        .layer(middleware::from_fn(close_after_refused_body))
        .layer(middleware::from_fn(security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    with_request_id_guard(router)
}

/// The span every request's log lines carry: its request id, method and path.
fn request_span(request: &Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Layers that turn every failure into `{code, message}` JSON (issue 11): a panic in a handler
/// becomes a logged `500 INTERNAL_PANIC` instead of a dropped connection, and axum's plain-text
/// extractor rejections (bad query string, path, JSON or form body) become JSON with a code.
/// They sit inside the request-id and trace layers, so the log line and the response both carry
/// the request id.
fn with_error_layers(router: Router) -> Router {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(json_rejections))
}

/// The answer to a panicking handler. The panic text goes to the log (inside the request's span,
/// so with its request id), never to the client.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned());
    tracing::error!(panic = %detail, "handler panicked; answered 500 INTERNAL_PANIC");
    let body = xuncha_core::protocol::ApiError {
        code: "INTERNAL_PANIC".to_owned(),
        message: "服务器内部错误，请把响应头 X-Request-Id 告诉管理员 (internal error; quote the X-Request-Id header)".to_owned(),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

/// Largest plain-text rejection body read back to be rewrapped as JSON; axum's are one line.
const REJECTION_TEXT_BYTES: usize = 4096;

/// Rewrites axum's plain-text extractor rejections as `{code, message}` JSON, on every route.
async fn json_rejections(request: Request<axum::body::Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain_text {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let body = xuncha_core::protocol::ApiError {
        code: rejection_code(status).to_owned(),
        message: format!("请求无效 (invalid request): {text}"),
    };
    let mut fresh = (status, axum::Json(body)).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW, header::CONNECTION] {
        if let Some(value) = parts.headers.get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    fresh
}

/// A stable code for a plain-text answer of axum or tower (no route, wrong method, body over the
/// limit …), from its status alone. Extractor rejections never get here: the handlers' extractors
/// (`http::extract`) answer them as typed [`ApiError::Malformed`] errors.
fn rejection_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::NOT_FOUND => "ROUTE_NOT_FOUND",
        _ if status.is_server_error() => "INTERNAL",
        _ => "BAD_REQUEST",
    }
}

/// Longest client-chosen `X-Request-Id` kept; longer or unusual ones are replaced.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// A request id a client may choose: 1 to 64 characters of `[A-Za-z0-9-_.]`, so it can be written
/// to logs and echoed in a header as it is.
pub fn is_clean_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Outermost: drops a client-chosen `X-Request-Id` that is not clean (or repeated), so the
/// request-id layer generates a fresh one instead of reflecting it into logs and headers.
fn with_request_id_guard(router: Router) -> Router {
    router.layer(middleware::from_fn(drop_unclean_request_id))
}

async fn drop_unclean_request_id(mut request: Request<axum::body::Body>, next: Next) -> Response {
    let ids = request.headers().get_all("x-request-id");
    let count = ids.iter().count();
    let clean = ids.iter().all(|id| is_clean_request_id(id.as_bytes()));
    if count > 1 || !clean {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

pub struct Server;

/// A server accepting connections; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    demo_accounts: Vec<DemoAccount>,
    demo_history: Option<DemoHistory>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The periodic photo sweep; stopped with the server.
    sweeper: tokio::task::JoinHandle<()>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Accounts created by `--demo` (empty otherwise).
    pub fn demo_accounts(&self) -> &[DemoAccount] {
        &self.demo_accounts
    }

    /// The history `--demo` seeded at this start (`None`: not asked, or the database had cases).
    pub fn demo_history(&self) -> Option<&DemoHistory> {
        self.demo_history.as_ref()
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.sweeper.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Runs until the task ends (used by the binary together with a signal).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Server {
    /// Binds and serves on opened (and, with `--demo`, seeded) storage. `Server::start`
    /// (`crate::start`, above this layer) opens the storage and seeds the demo data first.
    pub async fn serve(
        config: Config,
        storage: Arc<dyn Storage>,
        demo_accounts: Vec<DemoAccount>,
        demo_history: Option<DemoHistory>,
    ) -> Result<RunningServer, StartError> {
        let photos = PhotoStore::new(config.photo_dir()).map_err(StartError::Photos)?;
        let catalog = storage.load_catalog().await?;
        let dummy_password_hash: Arc<str> =
            crate::policy::passwords::hash_password("xuncha-dummy".to_owned())
                .await?
                .into();
        let state = AppState {
            throttle: Arc::new(crate::http::throttle::Throttle::new(&config.auth)),
            limiter: Arc::new(RateLimiter::new(
                config.limits.requests_per_second,
                config.limits.request_burst,
            )),
            config: Arc::new(config),
            storage,
            photos: Arc::new(photos),
            catalog: Arc::new(ArcSwap::from_pointee(catalog)),
            uploads_in_progress: Arc::new(Mutex::new(HashSet::new())),
            dummy_password_hash,
        };
        // Unfinished uploads left by a crash or a vanished client, and photos nobody cited:
        // once now, then every `sweep_interval_s` (issue 11 item 7).
        if let Err(error) =
            crate::storage::photo_files::sweep(&state.photo_files(), chrono::Utc::now()).await
        {
            tracing::warn!(%error, "startup photo sweep failed");
        }
        let sweeper = {
            let state = state.clone();
            let every = Duration::from_secs(state.config.uploads.sweep_interval_s.max(1));
            tokio::spawn(async move {
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    ticks.tick().await;
                    if let Err(error) =
                        crate::storage::photo_files::sweep(&state.photo_files(), chrono::Utc::now())
                            .await
                    {
                        tracing::warn!(%error, "photo sweep failed");
                    }
                }
            })
        };
        let addr = state.config.bind;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        let connections = state.config.connections.clone();
        let task = tokio::spawn(crate::http::serve::serve(
            listener,
            app,
            connections,
            async move {
                let _ = stopped.await;
            },
        ));
        tracing::info!(%addr, backend = state.storage.backend_name(), "Xuncha server listening");
        // Give the accept loop a moment so the first request never races it.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(RunningServer {
            addr,
            state,
            demo_accounts,
            demo_history,
            stop: Some(stop),
            task,
            sweeper,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: u32,
    }

    async fn boom() -> &'static str {
        panic!("a bug in one handler")
    }

    async fn paged(
        crate::http::extract::Query(_): crate::http::extract::Query<Page>,
    ) -> &'static str {
        "ok"
    }

    /// axum's own extractor: its plain-text rejection is still answered as JSON.
    async fn raw_paged(axum::extract::Query(_): axum::extract::Query<Page>) -> &'static str {
        "ok"
    }

    /// Log lines written by the test's subscriber.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A panicking handler answers `500 {code, message}` with a request id, is logged with that
    /// id, and the server keeps serving (real HTTP on loopback; the current-thread runtime runs
    /// the server on this thread, so the test's log subscriber sees its lines).
    #[tokio::test]
    async fn a_panic_is_a_json_500_with_the_request_id_not_a_dropped_connection() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let request_id = HeaderName::from_static("x-request-id");
        let app = with_error_layers(
            Router::new()
                .route("/boom", get(boom))
                .route("/paged", get(paged))
                .route("/raw-paged", get(raw_paged)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
        let app = with_request_id_guard(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let response = http
                .get(format!("http://{addr}/boom"))
                .send()
                .await
                .expect("answered, not dropped");
            assert_eq!(response.status(), 500);
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "INTERNAL_PANIC", "{body}");
            assert!(
                !body["message"].as_str().unwrap().contains("a bug"),
                "{body}"
            );
            let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
            let line = log
                .lines()
                .find(|l| l.contains("INTERNAL_PANIC") && l.contains(&id))
                .unwrap_or_else(|| panic!("no log line with request id {id}: {log}"));
            assert!(line.contains("a bug in one handler"), "{line}");
        }
        let response = http
            .get(format!("http://{addr}/paged?limit=-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "BAD_QUERY", "{body}");
        let response = http
            .get(format!("http://{addr}/raw-paged?limit=-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "BAD_REQUEST", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("limit"),
            "{body}"
        );
        server.abort();
    }

    #[test]
    fn request_ids_are_kept_only_when_clean() {
        assert!(is_clean_request_id(b"phone-7.retry_2"));
        assert!(is_clean_request_id("a".repeat(64).as_bytes()));
        assert!(!is_clean_request_id("a".repeat(65).as_bytes()));
        assert!(!is_clean_request_id(b""));
        assert!(!is_clean_request_id(b"a b"));
        assert!(!is_clean_request_id("编号".as_bytes()));
        assert!(!is_clean_request_id(b"x\r\ny"));
    }
}
