//! Harness for the end-to-end tests: a real server (in-process on port 0, or the real binary as
//! a child process), real phones (a real SQLite store file each and the real sync client over
//! loopback HTTP), real JPEG files, a real PostgreSQL database per test, and a small HTTP proxy
//! that can lose answers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use xuncha_core::geo::GpsFix;
use xuncha_core::store::{PhotoRecord, Store};
use xuncha_core::sync::{
    NoProgress, RetryPolicy, SyncClient, SyncConfig, SyncProgress, SyncReport, SyncStore,
    SyncUpdate,
};
use xuncha_core::workflow::Actor;
use xuncha_server::config::{Config, Limits};
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

/// Runs each scenario `async fn name(backend: Backend)` against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::common::Backend::postgres() {
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
    let name = format!("xuncha_e2e_{}", Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Server config for tests: demo data, loopback port 0, no rate limit in the way.
pub fn server_config(dir: &Path, database_url: Option<String>) -> Config {
    Config {
        data_dir: dir.to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        database_url,
        pg_pool_size: 4,
        limits: Limits {
            requests_per_second: 100_000.0,
            request_burst: 100_000.0,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// The real server, in this process, on a free loopback port.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub base: String,
}

impl TestServer {
    pub async fn start(backend: &Backend) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: &Backend, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = server_config(dir.path(), backend.database_url().await);
        adjust(&mut config);
        let server = Server::start(config).await.unwrap();
        let base = format!("http://{}", server.addr());
        TestServer {
            server: Some(server),
            dir,
            base,
        }
    }

    pub async fn healthy(&self) -> bool {
        let answer = reqwest::get(format!("{}/healthz", self.base)).await;
        answer.is_ok_and(|r| r.status().is_success())
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
    }
}

/// Keeps every progress update of a run, in order.
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<SyncUpdate>>);

impl SyncProgress for Recorder {
    fn on_update(&self, update: SyncUpdate) {
        self.0.lock().unwrap().push(update);
    }
}

impl Recorder {
    pub fn updates(&self) -> Vec<SyncUpdate> {
        self.0.lock().unwrap().clone()
    }
}

/// Fast retries so failing scenarios end quickly.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    }
}

/// One phone: its own SQLite store file and sync client, signed in as a demo user.
pub struct Phone {
    pub dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub client: SyncClient,
    pub actor: Actor,
    pub username: String,
}

impl Phone {
    /// A phone whose store is wrapped (to tamper with what goes on the wire).
    pub async fn enrol_with(
        base: &str,
        username: &str,
        wrap: impl FnOnce(Arc<Store>) -> Arc<dyn SyncStore>,
    ) -> Phone {
        Phone::enrol_custom(base, username, |_| {}, wrap).await
    }

    /// A phone with its own sync settings and, optionally, a wrapped store.
    pub async fn enrol_custom(
        base: &str,
        username: &str,
        adjust: impl FnOnce(&mut SyncConfig),
        wrap: impl FnOnce(Arc<Store>) -> Arc<dyn SyncStore>,
    ) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
        let mut config = SyncConfig::new(base);
        config.retry = quick_retries();
        adjust(&mut config);
        let client = SyncClient::new(config, wrap(store.clone())).unwrap();
        let enrolment = client
            .enrol(
                username,
                DEMO_PASSWORD,
                &format!("{username} 测试机"),
                &NoProgress,
            )
            .await
            .unwrap();
        let actor = Actor {
            user_id: enrolment.user.user_id.clone(),
            role: enrolment.user.role,
            unit_id: enrolment.user.unit_id.clone(),
        };
        Phone {
            dir,
            store,
            client,
            actor,
            username: username.to_owned(),
        }
    }

    pub async fn enrol(base: &str, username: &str) -> Phone {
        Phone::enrol_with(base, username, |store| store).await
    }

    pub async fn sync(&self) -> SyncReport {
        self.client.sync(&NoProgress).await.unwrap()
    }

    /// A real JPEG written to this phone's photo folder and registered as processed.
    pub fn photo(&self, seed: u8) -> PhotoRecord {
        let bytes = jpeg(320, 240, seed);
        self.photo_from_bytes(&bytes, &sha256(&bytes))
    }

    /// A photo row for arbitrary bytes filed under `sha256` (which may be a lie).
    pub fn photo_from_bytes(&self, bytes: &[u8], sha256: &str) -> PhotoRecord {
        let path = self.store.photo_dir().join(format!("{sha256}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        PhotoRecord {
            sha256: sha256.to_owned(),
            path: path.clone(),
            thumbnail_path: path,
            width: 320,
            height: 240,
            bytes: bytes.len() as u64,
            exif_time: None,
            exif_gps: None,
        }
    }
}

/// A fix inside 长春里 (39.1135 N, 117.1930 E).
pub fn changchunli_fix() -> GpsFix {
    GpsFix {
        lat: 39.1135,
        lon: 117.1930,
        accuracy_m: Some(8.0),
        provider: Some("gps".to_owned()),
    }
}

/// A real baseline JPEG: a gradient that `seed` makes unique.
pub fn jpeg(width: u16, height: u16, seed: u8) -> Vec<u8> {
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
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A small real JPEG whose frame header claims `width`×`height` (only SOF0 is patched), as a
/// decompression bomb would.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg(16, 16, 7);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `GET path` with the phone's token obtained by a plain enrol (for server-side checks).
pub async fn api_get(base: &str, token: &str, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Enrols `username` with plain HTTP and returns the access token (server-side inspection).
pub async fn access_token(base: &str, username: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/enrol"))
        .json(&serde_json::json!({
            "username": username, "password": DEMO_PASSWORD, "device_name": "e2e inspector"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "enrol {username}");
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The server's stored events of a case, as the admin sees them.
pub async fn server_events(base: &str, admin_token: &str, case_id: Uuid) -> Vec<serde_json::Value> {
    let (status, body) = api_get(base, admin_token, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200, "case {case_id}: {body}");
    body["events"].as_array().cloned().unwrap_or_default()
}

/// Path of the real server binary built from `server/src/main.rs` (see tests/Cargo.toml).
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xuncha-server-e2e"))
}
