//! Real phones for the end-to-end tests (a real SQLite store file each and the real sync client
//! over loopback HTTP), and plain-HTTP looks at what the server holds.

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
use xuncha_server::demo::DEMO_PASSWORD;

use crate::sha256;

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
    crate::gradient_jpeg(width, height, seed, 85)
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
