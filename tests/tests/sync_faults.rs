//! What goes wrong between a phone and the server: lost answers, cancelled runs, conflicting
//! actions, a malformed event in a batch, bad photos. Real server, real client, real SQLite
//! stores; each scenario on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::proxy::Proxy;
use common::{
    Backend, Phone, Recorder, TestServer, access_token, both_backends, changchunli_fix, jpeg,
    jpeg_claiming, server_events, sha256,
};
use uuid::Uuid;
use xuncha_core::capture::{CaseDraft, EventDraft};
use xuncha_core::catalog::Category;
use xuncha_core::protocol::{Cursor, EventResult, PullResponse};
use xuncha_core::store::{EventSyncState, PhotoUploadState, Store};
use xuncha_core::sync::{
    LocalError, PHOTO_FILE_MISSING, PhotoFailure, PhotoToUpload, PullApplied, SyncError,
    SyncProgress, SyncStore, SyncUpdate,
};
use xuncha_core::workflow::{Action, CaseStatus, Event, PhotoKind};

fn draft(n: usize) -> CaseDraft {
    CaseDraft {
        category: Category::Garbage,
        estate_id: "changchunli".to_owned(),
        building: Some(format!("{}号楼", n % 12 + 1)),
        unit_no: None,
        location_note: None,
        description: Some(format!("垃圾未清运 #{n}")),
        gps: Some(changchunli_fix()),
    }
}

fn capture(phone: &Phone, n: usize) -> Uuid {
    phone
        .store
        .create_case_with_photos(&phone.actor, &draft(n), &[])
        .unwrap()
        .case
        .id
}

both_backends!(
    lost_acknowledgement_retried_gives_no_duplicate,
    cancelled_run_reruns_without_duplicates,
    conflicting_actions_one_applies_the_other_is_parked,
    one_malformed_event_in_a_hundred_leaves_ninety_nine_applied,
    bad_photos_each_get_their_own_4xx_and_the_server_stays_up,
    photo_upload_resumes_after_lost_chunk_answers,
    rate_limited_requests_wait_for_retry_after,
    an_event_too_large_for_the_server_is_parked_alone,
    a_photo_whose_file_is_gone_is_parked_not_retried_every_run,
);

async fn lost_acknowledgement_retried_gives_no_duplicate(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let proxy = Proxy::start(server.server.as_ref().unwrap().addr()).await;
    let phone = Phone::enrol(&proxy.base(), "inspector.changchunli").await;
    let cases: Vec<Uuid> = (0..3).map(|n| capture(&phone, n)).collect();

    // The server commits the batch; its answer never reaches the phone.
    proxy.faults.drop_push_answers.store(1, Ordering::SeqCst);
    let report = phone.sync().await;
    assert_eq!(proxy.faults.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(
        proxy.faults.pushes_forwarded.load(Ordering::SeqCst),
        2,
        "one retry"
    );
    // The retry is recognised: same ids, same bodies, answered DUPLICATE, stored once.
    assert_eq!(
        (report.applied, report.duplicate, report.rejected.len()),
        (0, 3, 0),
        "{report:?}"
    );
    let counts = phone.store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.in_flight, counts.rejected),
        (0, 0, 0)
    );
    let admin = access_token(&server.base, "admin").await;
    for case_id in cases {
        assert_eq!(
            server_events(&server.base, &admin, case_id).await.len(),
            1,
            "case {case_id}"
        );
        let events = phone.store.case_events(case_id).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].sync_state, EventSyncState::Synced);
    }
}

/// Drops the sync future as soon as the first retry is announced: a cancel at an await point.
struct CancelOnRetry(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl SyncProgress for CancelOnRetry {
    fn on_update(&self, update: SyncUpdate) {
        if matches!(update, SyncUpdate::Retrying { .. })
            && let Some(cancel) = self.0.lock().unwrap().take()
        {
            let _ = cancel.send(());
        }
    }
}

async fn cancelled_run_reruns_without_duplicates(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let proxy = Proxy::start(server.server.as_ref().unwrap().addr()).await;
    let phone = Phone::enrol(&proxy.base(), "inspector.changchunli").await;
    let cases: Vec<Uuid> = (0..5).map(|n| capture(&phone, n)).collect();

    // Every push answer is lost; the run is cancelled while it waits to retry.
    proxy
        .faults
        .drop_push_answers
        .store(u32::MAX, Ordering::SeqCst);
    let (cancel, cancelled) = tokio::sync::oneshot::channel();
    let progress = CancelOnRetry(std::sync::Mutex::new(Some(cancel)));
    tokio::select! {
        result = phone.client.sync(&progress) => panic!("the run should have been cancelled: {result:?}"),
        _ = cancelled => {}
    }
    // The server has the batch, the phone still holds it as in flight.
    assert_eq!(phone.store.outbox_counts().unwrap().in_flight, 5);

    // A run where every answer is lost gives up after its bounded attempts, transiently.
    let error = phone
        .client
        .sync(&xuncha_core::sync::NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SyncError::Network { attempts: 4, .. }),
        "{error}"
    );
    assert!(error.is_transient());

    proxy.faults.drop_push_answers.store(0, Ordering::SeqCst);
    let report = phone.sync().await;
    assert_eq!((report.applied, report.duplicate), (0, 5), "{report:?}");
    let admin = access_token(&server.base, "admin").await;
    for case_id in cases {
        assert_eq!(server_events(&server.base, &admin, case_id).await.len(), 1);
    }
    assert_eq!(phone.store.outbox_counts().unwrap().in_flight, 0);
}

async fn conflicting_actions_one_applies_the_other_is_parked(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let inspector = Phone::enrol(&server.base, "inspector.changchunli").await;
    let committee = Phone::enrol(&server.base, "committee.changchunli").await;
    let case_id = capture(&inspector, 1);
    inspector.sync().await;
    committee.sync().await;

    // Offline, the inspector dissuades on site while the committee escalates the same case.
    let draft = |action| EventDraft {
        action,
        gps: Some(changchunli_fix()),
        note: None,
        photo_kind: PhotoKind::Before,
    };
    inspector
        .store
        .record_event_with_photos(&inspector.actor, case_id, &draft(Action::Dissuade), &[])
        .unwrap();
    let escalation = committee
        .store
        .record_event_with_photos(&committee.actor, case_id, &draft(Action::Escalate), &[])
        .unwrap()
        .event;

    assert_eq!(inspector.sync().await.applied, 1);
    let report = committee.sync().await;
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    let rejected = &report.rejected[0];
    assert_eq!(
        (rejected.event_id, rejected.case_id),
        (escalation.id, case_id)
    );
    assert_eq!(rejected.code, "INVALID_STATE", "{rejected:?}");
    assert!(!rejected.message.is_empty());

    // Parked with its reason for the UI, gone from the queue, the server's state shown.
    let parked = committee.store.rejected_events().unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].event.id, escalation.id);
    assert_eq!(parked[0].reject_code.as_deref(), Some("INVALID_STATE"));
    assert_eq!(
        committee.store.case(case_id).unwrap().unwrap().status,
        CaseStatus::ResolvedOnSite
    );
    // Never retried: the next run sends nothing.
    let again = committee.sync().await;
    assert_eq!(
        (again.batches, again.applied, again.rejected.len()),
        (0, 0, 0),
        "{again:?}"
    );
}

/// The real store, with one claimed event corrupted on its way to the wire (as a buggy or
/// hostile client would send it): the only way to get an event past the phone's own workflow.
struct CorruptOne {
    store: Arc<Store>,
    victim: Arc<std::sync::Mutex<Option<Uuid>>>,
}

impl SyncStore for CorruptOne {
    fn unanswered_events(&self, author: &str) -> Result<u32, LocalError> {
        self.store.unanswered_events(author)
    }
    fn claim_events(&self, author: &str, limit: u32) -> Result<Vec<Event>, LocalError> {
        let mut events = self.store.claim_events(author, limit)?;
        let victim = *self.victim.lock().unwrap();
        for event in events.iter_mut().filter(|e| Some(e.id) == victim) {
            if let Some(gps) = event.gps.as_mut() {
                gps.lat = 999.0;
            }
        }
        Ok(events)
    }
    fn record_results(&self, results: &[EventResult]) -> Result<(), LocalError> {
        self.store.record_results(results)
    }
    fn photos_to_upload(&self) -> Result<Vec<PhotoToUpload>, LocalError> {
        self.store.photos_to_upload()
    }
    fn record_photo_progress(&self, sha256: &str, received: u64) -> Result<(), LocalError> {
        self.store.record_photo_progress(sha256, received)
    }
    fn mark_photo_uploaded(&self, sha256: &str) -> Result<(), LocalError> {
        SyncStore::mark_photo_uploaded(self.store.as_ref(), sha256)
    }
    fn mark_photo_refused(&self, failure: &PhotoFailure) -> Result<(), LocalError> {
        SyncStore::mark_photo_refused(self.store.as_ref(), failure)
    }
    fn cursor(&self) -> Result<Option<Cursor>, LocalError> {
        self.store.cursor()
    }
    fn apply_pull(&self, page: &PullResponse) -> Result<PullApplied, LocalError> {
        SyncStore::apply_pull(self.store.as_ref(), page)
    }
}

async fn one_malformed_event_in_a_hundred_leaves_ninety_nine_applied(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let victim = Arc::new(std::sync::Mutex::new(None));
    let shared = victim.clone();
    let phone = Phone::enrol_with(&server.base, "inspector.changchunli", move |store| {
        Arc::new(CorruptOne {
            store,
            victim: shared,
        }) as Arc<dyn SyncStore>
    })
    .await;
    let cases: Vec<Uuid> = (0..100).map(|n| capture(&phone, n)).collect();
    // The 50th event gets an impossible latitude on the wire.
    let victim_event = phone.store.case_events(cases[49]).unwrap()[0].event.id;
    *victim.lock().unwrap() = Some(victim_event);

    let report = phone.sync().await;
    assert_eq!(report.batches, 1, "one batch of 100");
    assert_eq!(
        (report.applied, report.rejected.len()),
        (99, 1),
        "{report:?}"
    );
    assert_eq!(report.rejected[0].event_id, victim_event);
    assert_eq!(
        report.rejected[0].code, "INVALID_INPUT",
        "{:?}",
        report.rejected[0]
    );
    let counts = phone.store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.in_flight, counts.rejected),
        (0, 0, 1)
    );
    let admin = access_token(&server.base, "admin").await;
    assert_eq!(
        server_events(&server.base, &admin, cases[48]).await.len(),
        1
    );
    assert_eq!(
        server_events(&server.base, &admin, cases[50]).await.len(),
        1
    );
}

async fn bad_photos_each_get_their_own_4xx_and_the_server_stays_up(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let phone = Phone::enrol(&server.base, "inspector.changchunli").await;

    let good = phone.photo(9);
    // 20000 × 10000 = 200 megapixels claimed by the frame header of a small real JPEG.
    let bomb_bytes = jpeg_claiming(20_000, 10_000);
    let bomb = phone.photo_from_bytes(&bomb_bytes, &sha256(&bomb_bytes));
    // A real JPEG cut off after its first third: the hash matches the bytes, the image does not.
    let full = jpeg(640, 480, 3);
    let cut = &full[..full.len() / 3];
    let truncated = phone.photo_from_bytes(cut, &sha256(cut));
    // A real JPEG filed under the hash of different bytes.
    let honest = jpeg(320, 240, 5);
    let wrong_hash = phone.photo_from_bytes(&honest, &sha256(b"not these bytes"));

    let photos = [
        good.clone(),
        bomb.clone(),
        truncated.clone(),
        wrong_hash.clone(),
    ];
    let draft = draft(1);
    let case = phone
        .store
        .create_case_with_photos(&phone.actor, &draft, &photos)
        .unwrap()
        .case;

    let recorder = Recorder::default();
    let report = phone.client.sync(&recorder).await.unwrap();
    // Photos go first. The server applies an event only once the photos it cites are there, so
    // the REPORT waits in the outbox while three of its photos are refused (the user may retry
    // them): nothing is sent, nothing is parked.
    assert_eq!(
        (report.batches, report.applied, report.rejected.len()),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(phone.store.outbox_counts().unwrap().pending, 1);
    // Progress: the push counted, the good photo's bytes, and the end.
    let updates = recorder.updates();
    assert!(
        updates.contains(&SyncUpdate::Pushing { sent: 0, total: 1 }),
        "{updates:?}"
    );
    assert!(
        updates.iter().any(
            |u| matches!(u, SyncUpdate::UploadingPhoto { count: 4, sent_bytes, total_bytes, .. }
            if *total_bytes == good.bytes && sent_bytes == total_bytes)
        ),
        "{updates:?}"
    );
    assert!(matches!(updates.last(), Some(SyncUpdate::Done { report: done }) if *done == report));
    assert_eq!(report.photos_uploaded, 1, "{report:?}");
    let failure = |sha: &str| {
        report
            .photo_failures
            .iter()
            .find(|f| f.sha256 == sha)
            .unwrap_or_else(|| panic!("no failure for {sha}: {report:?}"))
            .clone()
    };
    let bomb_failure = failure(&bomb.sha256);
    let truncated_failure = failure(&truncated.sha256);
    let hash_failure = failure(&wrong_hash.sha256);
    assert_eq!(
        bomb_failure.code, "PHOTO_TOO_MANY_PIXELS",
        "{bomb_failure:?}"
    );
    assert_eq!(
        truncated_failure.code, "PHOTO_UNDECODABLE",
        "{truncated_failure:?}"
    );
    assert_eq!(hash_failure.code, "PHOTO_HASH_MISMATCH", "{hash_failure:?}");
    for f in [&bomb_failure, &truncated_failure, &hash_failure] {
        assert!((400..500).contains(&f.http_status), "{f:?}");
    }
    assert!(server.healthy().await, "the server stays up");

    for f in [&bomb_failure, &truncated_failure, &hash_failure] {
        assert!(f.is_refusal(), "{f:?}");
    }

    // The good photo is stored; the refused ones leave the upload queue with the server's
    // verdict but stay on the phone and in their case: nothing is lost.
    assert!(phone.store.pending_photos().unwrap().is_empty());
    assert_eq!(phone.store.refused_photo_count().unwrap(), 3);
    for (photo, failure) in [
        (&bomb, &bomb_failure),
        (&truncated, &truncated_failure),
        (&wrong_hash, &hash_failure),
    ] {
        let (_, state) = phone.store.photo(&photo.sha256).unwrap().unwrap();
        assert_eq!(state, PhotoUploadState::Refused, "{}", photo.sha256);
        let refusal = phone.store.photo_refusal(&photo.sha256).unwrap().unwrap();
        assert_eq!(
            (refusal.http_status, refusal.code.as_str()),
            (failure.http_status, failure.code.as_str())
        );
        assert!(photo.path.exists());
    }
    assert_eq!(phone.store.case(case.id).unwrap().unwrap().photos.len(), 4);

    // The next run does not send them again.
    let recorder = Recorder::default();
    let again = phone.client.sync(&recorder).await.unwrap();
    assert!(again.photo_failures.is_empty(), "{again:?}");
    assert_eq!((again.photos_uploaded, again.photo_bytes_sent), (0, 0));
    assert!(
        !recorder
            .updates()
            .iter()
            .any(|u| matches!(u, SyncUpdate::UploadingPhoto { .. })),
        "{:?}",
        recorder.updates()
    );

    // Asked by the user, one goes back to the queue and is judged again, the same way.
    assert!(phone.store.retry_refused_photo(&truncated.sha256).unwrap());
    assert!(!phone.store.retry_refused_photo(&good.sha256).unwrap());
    let retried = phone.sync().await;
    assert_eq!(retried.photo_failures.len(), 1, "{retried:?}");
    assert_eq!(retried.photo_failures[0].code, "PHOTO_UNDECODABLE");
    assert_eq!(phone.store.refused_photo_count().unwrap(), 3);
}

async fn photo_upload_resumes_after_lost_chunk_answers(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let proxy = Proxy::start(server.server.as_ref().unwrap().addr()).await;
    let phone = Phone::enrol_custom(
        &proxy.base(),
        "inspector.changchunli",
        |c| c.photo_chunk_bytes = 4096,
        |s| s,
    )
    .await;
    let bytes = jpeg(640, 480, 11);
    assert!(
        bytes.len() > 3 * 4096,
        "several chunks: {} bytes",
        bytes.len()
    );
    let photo = phone.photo_from_bytes(&bytes, &sha256(&bytes));
    phone
        .store
        .create_case_with_photos(&phone.actor, &draft(1), std::slice::from_ref(&photo))
        .unwrap();

    // Two chunks reach the server but their acknowledgements are lost: the phone asks the
    // server where it stands and goes on from there instead of sending from the start.
    proxy.faults.drop_chunk_answers.store(2, Ordering::SeqCst);
    let report = phone.sync().await;
    assert_eq!(proxy.faults.dropped_chunks.load(Ordering::SeqCst), 2);
    assert_eq!(
        (report.photos_uploaded, report.photo_failures.len()),
        (1, 0),
        "{report:?}"
    );
    assert!(
        report.photo_bytes_sent < 2 * bytes.len() as u64,
        "resumed, not restarted: {report:?}"
    );
    assert!(phone.store.pending_photos().unwrap().is_empty());
    let admin = access_token(&server.base, "admin").await;
    let (status, held) = common::api_get(
        &server.base,
        &admin,
        &format!("/api/v1/photos/{}/status", photo.sha256),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(held["complete"], true, "{held}");
    assert_eq!(held["received"], bytes.len() as u64);
}

async fn rate_limited_requests_wait_for_retry_after(backend: Backend) {
    // Two requests per second per token, a burst of three.
    let server = TestServer::start_with(&backend, |c| {
        c.limits.requests_per_second = 2.0;
        c.limits.request_burst = 3.0;
    })
    .await;
    let phone = Phone::enrol_custom(
        &server.base,
        "inspector.changchunli",
        |c| {
            c.push_batch = 1;
            c.retry = xuncha_core::sync::RetryPolicy {
                max_attempts: 6,
                base_delay: std::time::Duration::from_millis(10),
                max_delay: std::time::Duration::from_secs(3),
            };
        },
        |s| s,
    )
    .await;
    for n in 0..6 {
        capture(&phone, n);
    }
    let recorder = Recorder::default();
    let report = phone.client.sync(&recorder).await.unwrap();
    assert_eq!((report.applied, report.batches), (6, 6), "{report:?}");
    // The server said 429 with Retry-After: 1; the client waited at least that long.
    let retries: Vec<(u64, String)> = recorder
        .updates()
        .into_iter()
        .filter_map(|u| match u {
            SyncUpdate::Retrying {
                delay_ms, reason, ..
            } => Some((delay_ms, reason)),
            _ => None,
        })
        .collect();
    assert!(!retries.is_empty(), "the limit was hit");
    for (delay_ms, reason) in &retries {
        assert!(reason.starts_with("RATE_LIMITED"), "{reason}");
        assert!(*delay_ms >= 1000, "Retry-After is a floor: {delay_ms} ms");
    }
}

async fn an_event_too_large_for_the_server_is_parked_alone(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.limits.push_body_bytes = 32 * 1024).await;
    let phone = Phone::enrol(&server.base, "inspector.changchunli").await;
    let mut cases: Vec<Uuid> = (0..4).map(|n| capture(&phone, n)).collect();
    // A description of 60 KB: the phone keeps it, the server's body limit refuses it.
    let mut huge = draft(99);
    huge.description = Some("楼道堆物".repeat(5_000));
    let too_large = phone
        .store
        .create_case_with_photos(&phone.actor, &huge, &[])
        .unwrap();
    cases.extend((4..9).map(|n| capture(&phone, n)));

    let report = phone.sync().await;
    assert_eq!(report.applied, 9, "the others are not blocked: {report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].event_id, too_large.event.id);
    assert_eq!(
        report.rejected[0].code, "BODY_TOO_LARGE",
        "{:?}",
        report.rejected[0]
    );
    let counts = phone.store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.in_flight, counts.rejected),
        (0, 0, 1)
    );
    // Parked, not retried: the next run sends nothing.
    assert_eq!(phone.sync().await.batches, 0);
}

async fn a_photo_whose_file_is_gone_is_parked_not_retried_every_run(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let phone = Phone::enrol(&server.base, "inspector.changchunli").await;
    let kept = phone.photo(11);
    let gone = phone.photo(12);
    let gone_bytes = std::fs::read(&gone.path).unwrap();
    let case = phone
        .store
        .create_case_with_photos(&phone.actor, &draft(1), &[kept.clone(), gone.clone()])
        .unwrap()
        .case;
    // A cleaner app (or the user) deleted one photo file before the phone got a signal.
    std::fs::remove_file(&gone.path).unwrap();

    let report = phone.sync().await;
    // The REPORT waits for its missing photo (evidence goes before the event that cites it).
    assert_eq!(
        (report.applied, report.photos_uploaded),
        (0, 1),
        "{report:?}"
    );
    assert_eq!(report.photo_failures.len(), 1, "{report:?}");
    let failure = &report.photo_failures[0];
    assert_eq!(
        (
            failure.sha256.as_str(),
            failure.http_status,
            failure.code.as_str()
        ),
        (gone.sha256.as_str(), 0, PHOTO_FILE_MISSING)
    );
    assert!(failure.message.contains(&gone.sha256), "{failure:?}");
    let (_, state) = phone.store.photo(&gone.sha256).unwrap().unwrap();
    assert_eq!(state, PhotoUploadState::Refused);
    assert_eq!(phone.store.refused_photo_count().unwrap(), 1);
    assert_eq!(phone.store.case(case.id).unwrap().unwrap().photos.len(), 2);

    // The next run is clean instead of failing on the same file again.
    let again = phone.sync().await;
    assert!(again.photo_failures.is_empty(), "{again:?}");
    assert!(phone.store.pending_photos().unwrap().is_empty());

    // The file comes back (restored from a backup): a retry sends it.
    std::fs::write(&gone.path, &gone_bytes).unwrap();
    assert!(phone.store.retry_refused_photo(&gone.sha256).unwrap());
    let restored = phone.sync().await;
    assert_eq!(
        (restored.photos_uploaded, restored.applied),
        (1, 1),
        "then the REPORT goes: {restored:?}"
    );
    assert!(restored.photo_failures.is_empty(), "{restored:?}");
    let (_, state) = phone.store.photo(&gone.sha256).unwrap().unwrap();
    assert_eq!(state, PhotoUploadState::Uploaded);
}
