//! Talking to the sync server: enrolment and one sync pass (push the outbox, upload photos,
//! pull changes). The store decides what to send and how answers fold into cases; this module
//! only moves the protocol's JSON and photo bytes over HTTP and reports progress.
//!
//! TLS: verified against bundled Mozilla roots (`webpki-root-certs`), so nothing platform-specific
//! has to be initialised on Android before the first request (see bindings/README.md).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use xuncha_core::protocol::{
    ApiError, EnrolRequest, EnrolResponse, PROTOCOL_VERSION, PhotoUploadStatus, PullResponse,
    PushRequest, PushResponse, RefreshRequest, RefreshResponse,
};
use xuncha_core::store::{PendingPhoto, Store};

use crate::error::XunchaError;

/// Events per push request (the server's batch limit is larger).
const PUSH_BATCH: u32 = 100;
/// Cases per pull page.
const PULL_PAGE: u32 = 200;
/// Pages one pass pulls at most; the next pass continues from the stored cursor.
const MAX_PULL_PAGES: u32 = 1_000;

/// What a sync pass is doing, for the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    PushEvents,
    UploadPhotos,
    Pull,
}

/// Progress of one phase: `done` of `total` (events, photos, or pulled pages so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u32,
    pub total: u32,
}

/// Implemented by the app (Kotlin / Swift / Python) to watch a sync. Called from a background
/// thread; keep it quick.
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// What one sync pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Events the server stored (applied now or earlier).
    pub events_accepted: u32,
    /// Events the server refused for good; they are parked with the reason (see the case timeline).
    pub events_rejected: u32,
    pub photos_uploaded: u32,
    pub cases_updated: u32,
    /// Local events that no longer apply on top of the server's newer state.
    pub stale_local_events: u32,
}

/// The device's credentials after enrolment.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub server_url: String,
    pub device_id: uuid::Uuid,
    pub access_token: String,
    pub refresh_token: String,
}

/// An HTTP client that trusts the bundled Mozilla roots only.
pub(crate) fn http_client() -> Result<reqwest::Client, XunchaError> {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok());
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("xuncha-ffi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| XunchaError::Network {
            code: "HTTP_CLIENT".to_owned(),
            detail: e.to_string(),
        })
}

fn network(error: reqwest::Error) -> XunchaError {
    XunchaError::Network {
        code: "NETWORK".to_owned(),
        detail: error.to_string(),
    }
}

/// Maps a non-success answer to the typed error, keeping the server's `{code, message}`.
async fn server_error(response: Response) -> XunchaError {
    let status = response.status();
    let (code, detail) = match response.json::<ApiError>().await {
        Ok(api) => (api.code, api.message),
        Err(_) => (format!("HTTP_{}", status.as_u16()), status.to_string()),
    };
    match status {
        StatusCode::UNAUTHORIZED => XunchaError::Unauthenticated { code, detail },
        StatusCode::FORBIDDEN => XunchaError::NotAllowed { code, detail },
        StatusCode::NOT_FOUND => XunchaError::NotFound { code, detail },
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            XunchaError::Server { code, detail }
        }
        _ => XunchaError::InvalidInput { code, detail },
    }
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, XunchaError> {
    if !response.status().is_success() {
        return Err(server_error(response).await);
    }
    response.json::<T>().await.map_err(|e| XunchaError::Server {
        code: "BAD_RESPONSE".to_owned(),
        detail: format!("the server's answer does not parse: {e}"),
    })
}

fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// `POST /api/v1/auth/enrol`.
pub(crate) async fn enrol(
    http: &reqwest::Client,
    server_url: &str,
    request: &EnrolRequest,
) -> Result<EnrolResponse, XunchaError> {
    let response = http
        .post(url(server_url, "/api/v1/auth/enrol"))
        .json(request)
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, xuncha_core::store::StoreError> + Send + 'static,
) -> Result<T, XunchaError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| XunchaError::Storage {
            code: "TASK".to_owned(),
            detail: e.to_string(),
        })?
        .map_err(XunchaError::from)
}

/// One sync pass. Every step is committed as it is answered, so the pass can be cancelled at any
/// await point and run again: unanswered events are sent again (the server deduplicates by id),
/// uploads resume from the offset the server reports.
pub(crate) struct SyncPass<'a> {
    pub http: &'a reqwest::Client,
    pub store: &'a Arc<Store>,
    pub credentials: Credentials,
    pub listener: Option<Arc<dyn SyncListener>>,
    /// Set when the access token was refreshed during the pass.
    pub refreshed: bool,
}

impl SyncPass<'_> {
    fn progress(&self, phase: SyncPhase, done: u32, total: u32) {
        if let Some(listener) = &self.listener {
            listener.on_progress(SyncProgress { phase, done, total });
        }
    }

    async fn refresh(&mut self) -> Result<(), XunchaError> {
        let request = RefreshRequest {
            device_id: self.credentials.device_id,
            refresh_token: self.credentials.refresh_token.clone(),
        };
        let response = self
            .http
            .post(url(&self.credentials.server_url, "/api/v1/auth/refresh"))
            .json(&request)
            .send()
            .await
            .map_err(network)?;
        let refreshed: RefreshResponse = read_json(response).await?;
        self.credentials.access_token = refreshed.access_token;
        self.refreshed = true;
        Ok(())
    }

    /// Sends a request with the access token; on 401 refreshes once and sends it again.
    async fn send(
        &mut self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<Response, XunchaError> {
        for attempt in 0..2 {
            let response = build(self.http, &self.credentials.server_url)
                .bearer_auth(&self.credentials.access_token)
                .send()
                .await
                .map_err(network)?;
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.refresh().await?;
                continue;
            }
            return Ok(response);
        }
        Err(XunchaError::Unauthenticated {
            code: "TOKEN_REFUSED".to_owned(),
            detail: "the server refused the refreshed token".to_owned(),
        })
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, XunchaError> {
        let body = serde_json::to_vec(body).map_err(|e| XunchaError::InvalidInput {
            code: "ENCODE".to_owned(),
            detail: e.to_string(),
        })?;
        let response = self
            .send(|http, base| {
                http.post(url(base, path))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        read_json(response).await
    }

    pub async fn run(&mut self) -> Result<SyncReport, XunchaError> {
        let mut report = SyncReport::default();
        self.push(&mut report).await?;
        self.upload_photos(&mut report).await?;
        self.pull(&mut report).await?;
        Ok(report)
    }

    async fn push(&mut self, report: &mut SyncReport) -> Result<(), XunchaError> {
        let counts = blocking(self.store, |s| s.outbox_counts()).await?;
        let total = counts.pending + counts.in_flight;
        let mut done = 0;
        self.progress(SyncPhase::PushEvents, 0, total);
        // Bounded: each round answers a batch; never loop on events the server keeps not answering.
        while done < total {
            let events = blocking(self.store, |s| s.pending_events(PUSH_BATCH)).await?;
            if events.is_empty() {
                break;
            }
            let sent = u32::try_from(events.len()).unwrap_or(u32::MAX);
            let response: PushResponse = self
                .send_json(
                    "/api/v1/sync/push",
                    &PushRequest {
                        protocol: PROTOCOL_VERSION,
                        events,
                    },
                )
                .await?;
            for result in &response.results {
                match result.outcome {
                    xuncha_core::protocol::EventOutcome::Rejected { .. } => {
                        report.events_rejected += 1
                    }
                    _ => report.events_accepted += 1,
                }
            }
            blocking(self.store, move |s| s.mark_synced(&response.results)).await?;
            done += sent;
            self.progress(SyncPhase::PushEvents, done.min(total), total);
        }
        Ok(())
    }

    async fn upload_photos(&mut self, report: &mut SyncReport) -> Result<(), XunchaError> {
        let pending = blocking(self.store, |s| s.pending_photos()).await?;
        let total = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        self.progress(SyncPhase::UploadPhotos, 0, total);
        for (done, photo) in pending.into_iter().enumerate() {
            self.upload_one(&photo).await?;
            let sha = photo.sha256.clone();
            blocking(self.store, move |s| s.mark_photo_uploaded(&sha)).await?;
            report.photos_uploaded += 1;
            self.progress(
                SyncPhase::UploadPhotos,
                u32::try_from(done + 1).unwrap_or(u32::MAX),
                total,
            );
        }
        Ok(())
    }

    async fn upload_one(&mut self, photo: &PendingPhoto) -> Result<(), XunchaError> {
        let status_path = format!("/api/v1/photos/{}/status", photo.sha256);
        let response = self
            .send(|http, base| http.get(url(base, &status_path)))
            .await?;
        let status: PhotoUploadStatus = read_json(response).await?;
        if status.complete {
            return Ok(());
        }
        let offset = status.received;
        let path = photo.path.clone();
        let rest = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut file = std::fs::File::open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await
        .map_err(|e| XunchaError::Storage {
            code: "TASK".to_owned(),
            detail: e.to_string(),
        })?
        .map_err(|e| XunchaError::Storage {
            code: "PHOTO_FILE".to_owned(),
            detail: e.to_string(),
        })?;
        let upload_path = format!(
            "/api/v1/photos/{}?offset={offset}&total={}",
            photo.sha256, photo.bytes
        );
        let response = self
            .send(|http, base| http.put(url(base, &upload_path)).body(rest.clone()))
            .await?;
        let status: PhotoUploadStatus = read_json(response).await?;
        if !status.complete {
            let (sha, received) = (photo.sha256.clone(), status.received);
            blocking(self.store, move |s| {
                s.set_photo_upload_progress(&sha, received)
            })
            .await?;
            return Err(XunchaError::Server {
                code: "UPLOAD_INCOMPLETE".to_owned(),
                detail: format!("server holds {received} of {} bytes", photo.bytes),
            });
        }
        Ok(())
    }

    async fn pull(&mut self, report: &mut SyncReport) -> Result<(), XunchaError> {
        let mut pages = 0;
        loop {
            self.progress(SyncPhase::Pull, pages, pages + 1);
            let cursor = blocking(self.store, |s| s.sync_cursor()).await?;
            let cursor = cursor.map(|c| c.0).unwrap_or_default();
            let mut pull_url =
                reqwest::Url::parse(&url(&self.credentials.server_url, "/api/v1/sync/pull"))
                    .map_err(|e| XunchaError::invalid("SERVER_URL", e.to_string()))?;
            pull_url
                .query_pairs_mut()
                .append_pair("cursor", &cursor)
                .append_pair("limit", &PULL_PAGE.to_string());
            let response = self.send(|http, _| http.get(pull_url.clone())).await?;
            let page: PullResponse = read_json(response).await?;
            let has_more = page.has_more;
            let summary = blocking(self.store, move |s| s.apply_pull(&page)).await?;
            report.cases_updated += summary.cases_updated;
            report.stale_local_events +=
                u32::try_from(summary.stale_local_events.len()).unwrap_or(u32::MAX);
            pages += 1;
            if pages >= MAX_PULL_PAGES {
                return Err(XunchaError::Server {
                    code: "PULL_NOT_ENDING".to_owned(),
                    detail: format!(
                        "the server still had more after {pages} pages; the next sync continues"
                    ),
                });
            }
            if !has_more {
                self.progress(SyncPhase::Pull, pages, pages);
                return Ok(());
            }
        }
    }
}
