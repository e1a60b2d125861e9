//! [`SyncClient`]: enrolment, session restore, and the sync run (photos, push, pull).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::error::{LocalError, SyncError};
use super::http::{Api, Body, Secret, Session};
use super::progress::{
    PHOTO_FILE_MISSING, PHOTO_FILE_UNREADABLE, PhotoFailure, RejectedEvent, SyncProgress,
    SyncReport, SyncUpdate,
};
use super::transport::{HttpMethod, HttpTransport};
use super::{PhotoToUpload, SyncConfig, SyncStore};
use crate::protocol::{
    EnrolRequest, EnrolResponse, EventOutcome, EventResult, PROTOCOL_VERSION, PhotoUploadStatus,
    PullResponse, PushRequest, PushResponse, UserInfo,
};

/// Pull pages in one run at most: a feed that never reports `has_more = false` cannot keep a
/// phone busy forever.
const MAX_PULL_PAGES: u32 = 10_000;

/// Times one photo may meet an `OFFSET_MISMATCH` in a run before it is reported and skipped.
const MAX_OFFSET_RESYNCS: u32 = 3;

/// Revoke attempts at sign-out: the user is waiting, so one retry at most.
pub const SIGN_OUT_ATTEMPTS: u32 = 2;

/// How a sign-out ended. Either way the tokens are gone from memory.
///
/// Unsent events and photos stay in the store: they are the inspector's records and nothing
/// else holds them. The server stamps each pushed event with the user of the token that pushes
/// it, so a sync pushes only the signed-in user's events and other users' wait for their author;
/// the app should still warn before signing out while the outbox is not empty (the count is
/// `Store::outbox_counts`) and offer to sync first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOut {
    /// The server revoked the device (or already refused its token): the refresh token is dead.
    Revoked,
    /// The server was not reached (or answered otherwise): the token may still be valid
    /// server-side until an admin revokes the device.
    ForgottenLocallyOnly { error: SyncError },
}

/// The result of signing in on this device.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub device_id: Uuid,
    pub user: UserInfo,
    /// Store it in the platform keystore and pass it to [`SyncClient::resume`] next start.
    pub refresh_token: Secret,
}

/// The sync client of one device and one store.
pub struct SyncClient {
    api: Api,
    store: Arc<dyn SyncStore>,
    config: SyncConfig,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base_url", &self.config.base_url)
            .field("signed_in", &self.api.session().is_some())
            .finish_non_exhaustive()
    }
}

impl SyncClient {
    /// A client that sends its requests through `transport`: the app's platform HTTP stack on
    /// a phone (through the bindings), [`super::ReqwestTransport`] elsewhere.
    pub fn with_transport(
        config: SyncConfig,
        store: Arc<dyn SyncStore>,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<SyncClient, SyncError> {
        Ok(SyncClient {
            api: Api::new(&config, transport)?,
            store,
            config,
        })
    }

    /// A client over [`super::ReqwestTransport`] (desktop, tests; feature `reqwest-transport`).
    #[cfg(feature = "reqwest-transport")]
    pub fn new(config: SyncConfig, store: Arc<dyn SyncStore>) -> Result<SyncClient, SyncError> {
        let transport = super::ReqwestTransport::new(config.connect_timeout).map_err(|e| {
            SyncError::Config {
                message: e.to_string(),
            }
        })?;
        SyncClient::with_transport(config, store, Arc::new(transport))
    }

    /// Signs in and binds this device. The password is sent once and never kept.
    pub async fn enrol(
        &self,
        username: &str,
        password: &str,
        device_name: &str,
        progress: &dyn SyncProgress,
    ) -> Result<Enrolment, SyncError> {
        let request = EnrolRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            device_name: device_name.to_owned(),
        };
        let body = json_body(&request)?;
        let url = self.api.url("api/v1/auth/enrol")?;
        let answer: EnrolResponse = self
            .api
            .call_anonymous(HttpMethod::Post, url, Body::Json(body), progress)
            .await?;
        let refresh_token = Secret::new(answer.refresh_token);
        self.api.set_session(Some(Session {
            device_id: answer.device_id,
            user_id: answer.user.user_id.clone(),
            refresh_token: refresh_token.clone(),
            access: Some((
                Secret::new(answer.access_token),
                std::time::Instant::now()
                    + std::time::Duration::from_secs(answer.access_expires_in_s),
            )),
        }));
        tracing::info!(device_id = %answer.device_id, user = %answer.user.username, "sync: device enrolled");
        Ok(Enrolment {
            device_id: answer.device_id,
            user: answer.user,
            refresh_token,
        })
    }

    /// Restores the session from the keystore: the access token is fetched on first use.
    /// `user_id` is the enrolled user's (`Enrolment::user`): only their events are pushed.
    pub fn resume(&self, device_id: Uuid, user_id: &str, refresh_token: Secret) {
        self.api.set_session(Some(Session {
            device_id,
            user_id: user_id.to_owned(),
            refresh_token,
            access: None,
        }));
    }

    /// Signs this device out: asks the server to revoke it (`POST /api/v1/auth/revoke`, at most
    /// [`SIGN_OUT_ATTEMPTS`] tries, since a person is waiting), then forgets the tokens whatever
    /// the answer. Never fails: a revoke that did not reach the server is
    /// [`SignOut::ForgottenLocallyOnly`], so the app can say so (an admin can still revoke the
    /// device). A server that already refuses the token (`REVOKED`, `REFRESH_INVALID`) counts
    /// as revoked. The outbox is not touched: see [`SignOut`].
    pub async fn sign_out(&self, progress: &dyn SyncProgress) -> SignOut {
        let Some(session) = self.api.session() else {
            return SignOut::ForgottenLocallyOnly {
                error: SyncError::NotSignedIn,
            };
        };
        let outcome = match self.revoke(progress).await {
            Ok(()) => SignOut::Revoked,
            Err(SyncError::AuthRejected { code, .. } | SyncError::SessionRevoked { code, .. }) => {
                tracing::info!(device_id = %session.device_id, %code, "sync: server already refuses this device");
                SignOut::Revoked
            }
            Err(error) => {
                tracing::warn!(device_id = %session.device_id, code = error.code(), %error, "sync: revoke did not reach the server; signed out on this phone only");
                SignOut::ForgottenLocallyOnly { error }
            }
        };
        self.forget_session();
        outcome
    }

    async fn revoke(&self, progress: &dyn SyncProgress) -> Result<(), SyncError> {
        let url = self.api.url("api/v1/auth/revoke")?;
        self.api
            .call_impatient::<()>(
                HttpMethod::Post,
                url,
                Body::Empty,
                SIGN_OUT_ATTEMPTS,
                progress,
            )
            .await
    }

    /// Forgets the tokens in memory without telling the server (the app also wipes its
    /// keystore entry). [`SyncClient::sign_out`] is the normal way out.
    pub fn forget_session(&self) {
        self.api.set_session(None);
    }

    /// The refresh token in force: the server rotates it on every refresh, so the app must
    /// write it back to its keystore whenever it differs from the one it holds (after every
    /// sync, failed or not). The old one is spent; sending it again revokes the device.
    pub fn refresh_token(&self) -> Option<Secret> {
        self.api.session().map(|s| s.refresh_token)
    }

    /// The enrolled device, if signed in.
    pub fn device_id(&self) -> Option<Uuid> {
        self.api.session().map(|s| s.device_id)
    }

    /// One full run: upload photos, push the outbox, pull. See the module docs for the
    /// guarantees (bounded retries, cancel-safe, rerunnable).
    pub async fn sync(&self, progress: &dyn SyncProgress) -> Result<SyncReport, SyncError> {
        if self.api.session().is_none() {
            return Err(SyncError::NotSignedIn);
        }
        let mut report = SyncReport::default();
        // Photos first: the server applies an event only when the photos it cites are there
        // (`PHOTO_NOT_RECEIVED` otherwise), and the outbox holds back events whose photos are
        // still pending.
        self.upload_photos(&mut report, progress).await?;
        self.push(&mut report, progress).await?;
        self.pull(&mut report, progress).await?;
        tracing::info!(
            applied = report.applied,
            duplicate = report.duplicate,
            rejected = report.rejected.len(),
            photos = report.photos_uploaded,
            photo_failures = report.photo_failures.len(),
            pulled_cases = report.pulled_cases,
            "sync: run finished"
        );
        progress.on_update(SyncUpdate::Done {
            report: report.clone(),
        });
        Ok(report)
    }

    /// Pushes the outbox until it is empty or only holds events this run already sent.
    pub async fn push(
        &self,
        report: &mut SyncReport,
        progress: &dyn SyncProgress,
    ) -> Result<(), SyncError> {
        let author = self
            .api
            .session()
            .map(|s| s.user_id)
            .ok_or(SyncError::NotSignedIn)?;
        let total = {
            let author = author.clone();
            self.blocking(move |s| s.unanswered_events(&author)).await?
        };
        let mut sent_this_run: HashSet<Uuid> = HashSet::new();
        let mut answered = 0u32;
        progress.on_update(SyncUpdate::Pushing { sent: 0, total });
        let url = self.api.url("api/v1/sync/push")?;
        let full = self.config.push_batch.max(1);
        let mut limit = full;
        loop {
            let batch = {
                let author = author.clone();
                self.blocking(move |s| s.claim_events(&author, limit))
                    .await?
            };
            if batch.is_empty() {
                break;
            }
            // An event that comes back after this run had it answered was not recorded: stop
            // here instead of looping; it stays `in_flight` and goes first next run.
            if batch.iter().any(|e| sent_this_run.contains(&e.id)) {
                break;
            }
            let case_of: HashMap<Uuid, Uuid> = batch.iter().map(|e| (e.id, e.case_id)).collect();
            let first = batch.first().map(|e| (e.id, e.case_id));
            let request = PushRequest {
                protocol: PROTOCOL_VERSION,
                events: batch,
            };
            let body = json_body(&request)?;
            let answer: PushResponse = match self
                .api
                .call(HttpMethod::Post, url.clone(), Body::Json(body), progress)
                .await
            {
                Ok(answer) => answer,
                // The whole request was refused for its content (too large, unparseable): find
                // the event that causes it by halving the batch, and park that one event as
                // refused so it never blocks the others.
                Err(SyncError::Refused {
                    status,
                    code,
                    message,
                }) if splits_batch(status, &code) => {
                    if case_of.len() > 1 {
                        limit = u32::try_from(case_of.len() / 2).unwrap_or(1).max(1);
                        tracing::info!(status, %code, limit, "sync: batch refused whole, halving");
                        continue;
                    }
                    let Some((event_id, case_id)) = first else {
                        break;
                    };
                    tracing::info!(%event_id, %code, "sync: event refused on its own, parked");
                    let parked = vec![EventResult {
                        event_id,
                        outcome: EventOutcome::Rejected {
                            code: code.clone(),
                            message: message.clone(),
                        },
                    }];
                    self.blocking(move |s| s.record_results(&parked)).await?;
                    sent_this_run.insert(event_id);
                    report.rejected.push(RejectedEvent {
                        event_id,
                        case_id,
                        code,
                        message,
                    });
                    answered = answered.saturating_add(1);
                    limit = full;
                    continue;
                }
                Err(error) => return Err(error),
            };
            sent_this_run.extend(case_of.keys().copied());
            report.batches += 1;
            let results: Vec<_> = answer
                .results
                .into_iter()
                .filter(|r| {
                    let ours = case_of.contains_key(&r.event_id);
                    if !ours {
                        tracing::warn!(event_id = %r.event_id, "sync: answer for an event not in the batch");
                    }
                    ours
                })
                .collect();
            for result in &results {
                match &result.outcome {
                    EventOutcome::Applied { .. } => report.applied += 1,
                    EventOutcome::Duplicate { .. } => report.duplicate += 1,
                    EventOutcome::Rejected { code, message } => {
                        tracing::info!(event_id = %result.event_id, %code, "sync: event rejected, parked");
                        report.rejected.push(RejectedEvent {
                            event_id: result.event_id,
                            case_id: case_of.get(&result.event_id).copied().unwrap_or_default(),
                            code: code.clone(),
                            message: message.clone(),
                        });
                    }
                }
            }
            let answered_now = u32::try_from(results.len()).unwrap_or(u32::MAX);
            let missing = case_of.len().saturating_sub(results.len());
            self.blocking(move |s| s.record_results(&results)).await?;
            answered = answered.saturating_add(answered_now);
            progress.on_update(SyncUpdate::Pushing {
                sent: answered,
                total: total.max(answered),
            });
            if missing > 0 {
                report.unanswered += u32::try_from(missing).unwrap_or(u32::MAX);
                return Err(SyncError::Protocol {
                    message: format!(
                        "the server answered {answered_now} of a batch of {}",
                        case_of.len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Uploads every pending photo, resuming where the server stands.
    pub async fn upload_photos(
        &self,
        report: &mut SyncReport,
        progress: &dyn SyncProgress,
    ) -> Result<(), SyncError> {
        let photos = self.blocking(|s| s.photos_to_upload()).await?;
        let count = u32::try_from(photos.len()).unwrap_or(u32::MAX);
        for (index, photo) in photos.into_iter().enumerate() {
            let index = u32::try_from(index + 1).unwrap_or(u32::MAX);
            match self
                .upload_photo(&photo, index, count, report, progress)
                .await
            {
                Ok(()) => report.photos_uploaded += 1,
                Err(PhotoOutcome::Skipped(failure)) => {
                    if failure.parks_the_photo() {
                        tracing::warn!(sha256 = %failure.sha256, code = %failure.code, "sync: photo refused or its file gone, parked");
                        let parked = failure.clone();
                        self.blocking(move |s| s.mark_photo_refused(&parked))
                            .await?;
                    } else {
                        tracing::warn!(sha256 = %failure.sha256, code = %failure.code, "sync: photo not uploaded, tried again next run");
                    }
                    report.photo_failures.push(failure);
                }
                Err(PhotoOutcome::Stop(error)) => return Err(error),
            }
        }
        Ok(())
    }

    async fn upload_photo(
        &self,
        photo: &PhotoToUpload,
        index: u32,
        count: u32,
        report: &mut SyncReport,
        progress: &dyn SyncProgress,
    ) -> Result<(), PhotoOutcome> {
        let sha = photo.sha256.clone();
        let status_url = self
            .api
            .url(&format!("api/v1/photos/{sha}/status"))
            .map_err(PhotoOutcome::Stop)?;
        let mut status: PhotoUploadStatus = self
            .api
            .call(HttpMethod::Get, status_url.clone(), Body::Empty, progress)
            .await
            .map_err(|e| photo_outcome(&sha, e))?;
        let total = file_len(&photo.path)
            .await
            .map_err(|e| file_failure(&sha, &photo.path, &e))?;
        let mut resyncs = 0u32;
        while !status.complete {
            progress.on_update(SyncUpdate::UploadingPhoto {
                index,
                count,
                sent_bytes: status.received,
                total_bytes: total,
            });
            if status.received > total {
                return Err(local_failure(
                    &sha,
                    PHOTO_FILE_UNREADABLE,
                    format!(
                        "the server holds {} bytes, the file has {total}",
                        status.received
                    ),
                ));
            }
            let offset = status.received;
            let chunk_len = (total - offset).min(self.config.photo_chunk_bytes.max(1));
            let url = self
                .api
                .url_with_query(
                    &format!("api/v1/photos/{sha}"),
                    &[
                        ("offset", &offset.to_string()),
                        ("total", &total.to_string()),
                    ],
                )
                .map_err(PhotoOutcome::Stop)?;
            let part = Body::File {
                path: photo.path.clone(),
                offset,
                length: chunk_len,
            };
            match self
                .api
                .call::<PhotoUploadStatus>(HttpMethod::Put, url, part, progress)
                .await
            {
                Ok(next) => {
                    report.photo_bytes_sent += chunk_len;
                    status = next;
                }
                Err(SyncError::Refused { code, .. })
                    if code == "OFFSET_MISMATCH" && resyncs < MAX_OFFSET_RESYNCS =>
                {
                    // A previous chunk landed but its answer was lost: ask where the server is.
                    resyncs += 1;
                    status = self
                        .api
                        .call(HttpMethod::Get, status_url.clone(), Body::Empty, progress)
                        .await
                        .map_err(|e| photo_outcome(&sha, e))?;
                    continue;
                }
                Err(error) => return Err(photo_outcome(&sha, error)),
            }
            if !status.complete && status.received <= offset {
                return Err(local_failure(
                    &sha,
                    "PROTOCOL",
                    format!("the upload did not advance past byte {offset}"),
                ));
            }
            let (sha_c, received) = (sha.clone(), status.received);
            self.blocking(move |s| s.record_photo_progress(&sha_c, received))
                .await
                .map_err(PhotoOutcome::Stop)?;
        }
        progress.on_update(SyncUpdate::UploadingPhoto {
            index,
            count,
            sent_bytes: total,
            total_bytes: total,
        });
        let sha_c = sha.clone();
        self.blocking(move |s| s.mark_photo_uploaded(&sha_c))
            .await
            .map_err(PhotoOutcome::Stop)?;
        Ok(())
    }

    /// Pulls the change feed from the stored cursor until the server says there is no more.
    pub async fn pull(
        &self,
        report: &mut SyncReport,
        progress: &dyn SyncProgress,
    ) -> Result<(), SyncError> {
        let mut cursor = self.blocking(|s| s.cursor()).await?;
        progress.on_update(SyncUpdate::Pulling { pages: 0, cases: 0 });
        loop {
            let limit = self.config.pull_limit.max(1).to_string();
            let url = match &cursor {
                Some(cursor) => self.api.url_with_query(
                    "api/v1/sync/pull",
                    &[("cursor", &cursor.0), ("limit", &limit)],
                )?,
                None => self
                    .api
                    .url_with_query("api/v1/sync/pull", &[("limit", &limit)])?,
            };
            let page: PullResponse = self
                .api
                .call(HttpMethod::Get, url, Body::Empty, progress)
                .await?;
            if page.protocol != PROTOCOL_VERSION {
                return Err(SyncError::Protocol {
                    message: format!(
                        "pull answered protocol {} (this build speaks {PROTOCOL_VERSION})",
                        page.protocol
                    ),
                });
            }
            let has_more = page.has_more;
            let next = page.next_cursor.clone();
            let stuck = has_more && cursor.as_ref() == Some(&next);
            let page = Arc::new(page);
            let applied = {
                let page = page.clone();
                self.blocking(move |s| s.apply_pull(&page)).await?
            };
            report.pull_pages += 1;
            report.pulled_cases += applied.cases_updated;
            report.pulled_events += applied.events_stored;
            report.stale_local_events.extend(applied.stale_local_events);
            progress.on_update(SyncUpdate::Pulling {
                pages: report.pull_pages,
                cases: report.pulled_cases,
            });
            if !has_more {
                return Ok(());
            }
            if stuck || report.pull_pages >= MAX_PULL_PAGES {
                return Err(SyncError::Protocol {
                    message: format!(
                        "the change feed did not end (cursor {:?}, {} pages)",
                        next.0, report.pull_pages
                    ),
                });
            }
            cursor = Some(next);
        }
    }

    /// Runs a store call off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn SyncStore) -> Result<T, LocalError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| SyncError::Local {
                code: "TASK".to_owned(),
                message: format!("store task failed: {e}"),
            })?
            .map_err(SyncError::from)
    }
}

/// A whole push refused for what it carries (body or batch too large, body unreadable by the
/// server): worth splitting. Version mismatches and auth failures are not.
fn splits_batch(status: u16, code: &str) -> bool {
    matches!(
        (status, code),
        (413, _) | (400, "BAD_JSON" | "BAD_REQUEST") | (422, _)
    )
}

/// How a single photo's upload ended when it did not complete.
enum PhotoOutcome {
    /// This photo is refused or unreadable: report it, go on with the others.
    Skipped(PhotoFailure),
    /// The whole run must stop (network down, signed out, store failing).
    Stop(SyncError),
}

fn photo_outcome(sha256: &str, error: SyncError) -> PhotoOutcome {
    match error {
        SyncError::Refused {
            status,
            code,
            message,
        } => PhotoOutcome::Skipped(PhotoFailure {
            sha256: sha256.to_owned(),
            http_status: status,
            code,
            message,
        }),
        other => PhotoOutcome::Stop(other),
    }
}

/// A photo that fails here, before or without a server verdict.
fn local_failure(sha256: &str, code: &str, message: String) -> PhotoOutcome {
    PhotoOutcome::Skipped(PhotoFailure {
        sha256: sha256.to_owned(),
        http_status: 0,
        code: code.to_owned(),
        message,
    })
}

fn json_body<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, SyncError> {
    serde_json::to_value(value).map_err(|e| SyncError::Protocol {
        message: format!("request body: {e}"),
    })
}

/// A photo file that cannot be read: gone for good (`NotFound`), or anything else (tried again).
fn file_failure(sha256: &str, path: &std::path::Path, error: &std::io::Error) -> PhotoOutcome {
    let code = if error.kind() == std::io::ErrorKind::NotFound {
        PHOTO_FILE_MISSING
    } else {
        PHOTO_FILE_UNREADABLE
    };
    local_failure(sha256, code, format!("{}: {error}", path.display()))
}

/// The file's length (blocking I/O off the async threads; no `tokio::fs` in the phone library).
async fn file_len(path: &std::path::Path) -> std::io::Result<u64> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::metadata(path).map(|m| m.len()))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::NoProgress;

    /// The FFI runs `sync` on a multi-threaded runtime: its future must be `Send`.
    #[allow(dead_code)]
    fn sync_future_is_send(client: &SyncClient) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&client.sync(&NoProgress));
    }
}
