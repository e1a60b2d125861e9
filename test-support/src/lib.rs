//! The one test harness of `xuncha-server`'s integration tests and the end-to-end tests
//! (`tests/`): a real server in-process on port 0 with real HTTP, a real SQLite file in a temp dir
//! or a fresh database on the real PostgreSQL at `XUNCHA_TEST_DATABASE_URL`, and real JPEGs.
//!
//! - this module: backends, [`both_backends!`], [`TestServer`], JPEG and hash helpers;
//! - [`api`]: a client speaking the server's API by hand (server tests);
//! - [`phone`]: real phones (store file + sync client) and server-side inspection (e2e tests);
//! - [`proxy`]: a loopback proxy that can lose answers (e2e fault tests);
//! - [`browser`]: headless Chromium over WebDriver, sign-in and screenshots (dashboard tests).
//!
//! Each test crate's `tests/common/mod.rs` re-exports what its tests name, so test files keep
//! writing `common::…`.
// A harness: a failed setup step is a failed test, so it panics with the cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod browser;
pub mod phone;
pub mod proxy;

use std::borrow::Borrow;

use serde_json::{Value, json};
use uuid::Uuid;
use xuncha_core::protocol::{EnrolResponse, PushResponse};
use xuncha_server::config::Config;
use xuncha_server::demo::DEMO_PASSWORD;
use xuncha_server::{RunningServer, Server};

/// Where the server keeps its data for one scenario.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// Admin URL of the PostgreSQL test cluster.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL test cluster. A missing URL fails loudly unless `XUNCHA_SKIP_PG=1`.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("XUNCHA_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("XUNCHA_SKIP_PG").as_deref() == Ok("1") => {
                eprintln!("XUNCHA_SKIP_PG=1: PostgreSQL variant skipped");
                None
            }
            _ => panic!(
                "XUNCHA_TEST_DATABASE_URL is not set. Start a cluster with \
                 `eval \"$(bash scripts/pg-test-cluster.sh start)\"` from the repo root, \
                 or set XUNCHA_SKIP_PG=1 to skip the PostgreSQL variants"
            ),
        }
    }

    /// A fresh database URL for this test on PostgreSQL; `None` for SQLite.
    pub async fn database_url(&self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => Some(create_database(admin).await),
        }
    }
}

/// Runs each scenario `async fn name(backend: Backend)` against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::Backend::postgres() {
                    super::$name(backend).await
                }
            }
        }
    )*};
}

/// Creates a fresh database on the cluster and returns its URL.
pub async fn create_database(admin_url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("xuncha_test_{}", Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Server config for tests: demo data, loopback port 0, no rate limit in the way.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        pg_pool_size: 4,
        ..Config::default()
    };
    config.limits.requests_per_second = 100_000.0;
    config.limits.request_burst = 100_000.0;
    // Every test client signs in from 127.0.0.1: the per-address and global sign-in limits are
    // opened here; the tests of those limits set their own.
    config.auth.per_ip_per_minute = 100_000;
    config.auth.per_ip_burst = 100_000;
    config.auth.global_per_second = 100_000;
    config.auth.global_burst = 100_000;
    config
}

/// The real server, in this process, on a free loopback port.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub http: reqwest::Client,
    /// URL of this test's own PostgreSQL database.
    pub database_url: Option<String>,
}

impl TestServer {
    /// Takes the backend by value or by reference (`start(backend)`, `start(&backend)`).
    pub async fn start(backend: impl Borrow<Backend>) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    pub async fn start_with(
        backend: impl Borrow<Backend>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        let database_url = backend.borrow().database_url().await;
        config.database_url = database_url.clone();
        adjust(&mut config);
        let server = Server::start(config).await.unwrap();
        let base = format!("http://{}", server.addr());
        TestServer {
            server: Some(server),
            dir,
            base,
            http: reqwest::Client::new(),
            database_url,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn healthy(&self) -> bool {
        let answer = self.http.get(self.url("/healthz")).send().await;
        answer.is_ok_and(|r| r.status().is_success())
    }

    pub async fn enrol(&self, username: &str) -> EnrolResponse {
        let response = self
            .http
            .post(self.url("/api/v1/auth/enrol"))
            .json(&json!({ "username": username, "password": DEMO_PASSWORD, "device_name": format!("{username} phone") }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "enrol {username}");
        response.json().await.unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn push(&self, token: &str, events: Vec<Value>) -> PushResponse {
        let (status, body) = self
            .post(
                token,
                "/api/v1/sync/push",
                json!({ "protocol": 1, "events": events }),
            )
            .await;
        assert_eq!(status, 200, "push: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// Uploads a whole photo through the photo API in one part; returns its address.
    pub async fn upload_photo(&self, token: &str, bytes: Vec<u8>) -> String {
        let sha = sha256(&bytes);
        let response = self
            .http
            .put(self.url(&format!(
                "/api/v1/photos/{sha}?offset=0&total={}",
                bytes.len()
            )))
            .bearer_auth(token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status == 200 && body["complete"] == true,
            "upload {sha}: {status} {body}"
        );
        sha
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
    }
}

/// A real baseline JPEG: a gradient that `seed` makes unique, at `quality`.
pub fn gradient_jpeg(width: u16, height: u16, seed: u8, quality: u8) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&[
                (x % 256) as u8 ^ seed,
                (y % 256) as u8,
                ((x + y) % 256) as u8,
            ]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A small real JPEG whose frame header claims `width`×`height` (only SOF0 is patched), as a
/// decompression bomb would.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = gradient_jpeg(16, 16, 7, 85);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// Lower-case hex SHA-256, the photo address.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A storage opened directly (no HTTP server), with the folder its SQLite file lives in.
pub struct OpenedStorage {
    pub storage: std::sync::Arc<dyn xuncha_server::storage::Storage>,
    pub _dir: tempfile::TempDir,
}

/// The storage of `backend`: a fresh SQLite file, or a fresh database on the PostgreSQL cluster.
pub async fn open_storage(backend: &Backend) -> OpenedStorage {
    use xuncha_server::storage::postgres::PostgresStorage;
    use xuncha_server::storage::sqlite::SqliteStorage;
    let dir = tempfile::tempdir().unwrap();
    let storage: std::sync::Arc<dyn xuncha_server::storage::Storage> = match backend {
        Backend::Sqlite => std::sync::Arc::new(
            SqliteStorage::open(&dir.path().join("xuncha.sqlite3"))
                .await
                .unwrap(),
        ),
        Backend::Postgres(admin) => {
            let url = create_database(admin).await;
            std::sync::Arc::new(PostgresStorage::connect(&url, 8).await.unwrap())
        }
    };
    OpenedStorage { storage, _dir: dir }
}
