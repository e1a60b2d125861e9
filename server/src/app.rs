//! The running server: shared state, the router with its layers, and [`Server::start`], which
//! tests use in-process on port 0.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::api;
use crate::auth::RateLimiter;
use crate::config::Config;
use crate::demo::{self, DemoAccount};
use crate::domain::Catalog;
use crate::error::ApiError;
use crate::openapi;
use crate::photo_store::PhotoStore;
use crate::storage::{self, Storage, StorageError};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Arc<dyn Storage>,
    pub photos: Arc<PhotoStore>,
    pub limiter: Arc<RateLimiter>,
    /// Bounds on password checks and credential attempts (issue 11).
    pub throttle: Arc<crate::throttle::Throttle>,
    catalog: Arc<RwLock<Arc<Catalog>>>,
    pub uploads_in_progress: Arc<Mutex<HashSet<String>>>,
    /// Verified against when a username is unknown, so both cases cost one argon2 run.
    pub dummy_password_hash: Arc<str>,
}

impl AppState {
    /// The estates, units and routing rules in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Reloads the catalog from storage (after an import).
    pub async fn reload_catalog(&self) -> Result<(), StorageError> {
        let fresh = Arc::new(self.storage.load_catalog().await?);
        if let Ok(mut current) = self.catalog.write() {
            *current = fresh;
        }
        Ok(())
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
    Password(#[from] crate::auth::PasswordError),
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

/// All routes. Later helpers add theirs (Open311, dashboard) by merging routers onto this one.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/v1/auth/enrol", post(api::auth::enrol))
        .route("/api/v1/auth/refresh", post(api::auth::refresh))
        .route("/api/v1/auth/revoke", post(api::auth::revoke_self))
        .route("/api/v1/me", get(api::auth::me))
        .route("/api/v1/sync/push", post(api::sync::push))
        .route("/api/v1/sync/pull", get(api::sync::pull))
        .route("/api/v1/cases/{id}", get(api::sync::get_case))
        .route("/api/v1/photos/{sha256}/status", get(api::photos::status))
        .route("/api/v1/photos/{sha256}", put(api::photos::upload).get(api::photos::download))
        .route("/api/v1/admin/devices/{id}/revoke", post(api::admin::revoke_device))
        .route("/api/v1/admin/users/{id}/disable", post(api::admin::disable_user))
        .route("/api/v1/admin/audit/verify", get(api::admin::verify_audit))
        .merge(crate::dashboard::router(&state))
        .merge(crate::open311::routes())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(close_after_refused_body))
        .layer(middleware::from_fn(security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<axum::body::Body>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

pub struct Server;

/// A server accepting connections; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    demo_accounts: Vec<DemoAccount>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
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

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Runs until the task ends (used by the binary together with a signal).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Server {
    /// Opens storage (running migrations), seeds demo data if asked, binds and serves.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        let storage = storage::open(&config).await?;
        Server::start_with_storage(config, storage).await
    }

    pub async fn start_with_storage(
        config: Config,
        storage: Arc<dyn Storage>,
    ) -> Result<RunningServer, StartError> {
        let photos = PhotoStore::new(config.photo_dir()).map_err(StartError::Photos)?;
        let demo_accounts = if config.demo {
            demo::seed(storage.as_ref()).await?
        } else {
            Vec::new()
        };
        let catalog = storage.load_catalog().await?;
        let dummy_password_hash: Arc<str> = crate::auth::hash_password("xuncha-dummy".to_owned())
            .await?
            .into();
        let state = AppState {
            throttle: Arc::new(crate::throttle::Throttle::new(&config.auth)),
            limiter: Arc::new(RateLimiter::new(
                config.limits.requests_per_second,
                config.limits.request_burst,
            )),
            config: Arc::new(config),
            storage,
            photos: Arc::new(photos),
            catalog: Arc::new(RwLock::new(Arc::new(catalog))),
            uploads_in_progress: Arc::new(Mutex::new(HashSet::new())),
            dummy_password_hash,
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
        let task = tokio::spawn(crate::serve::serve(
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
            stop: Some(stop),
            task,
        })
    }
}
