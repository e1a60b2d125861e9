//! Signing a phone out: the server revokes the device, the old refresh token is refused, the
//! phone's unsent records stay; offline, the phone forgets the session and says the server was
//! not told. Real server, real client, real SQLite store; each on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Backend, TestServer, both_backends, changchunli_fix, quick_retries};
use xuncha_core::capture::CaseDraft;
use xuncha_core::catalog::Category;
use xuncha_core::store::Store;
use xuncha_core::sync::{NoProgress, SignOut, SyncClient, SyncConfig, SyncError};
use xuncha_core::workflow::Actor;
use xuncha_server::demo::DEMO_PASSWORD;

const INSPECTOR: &str = "inspector.changchunli";

both_backends!(sign_out_revokes_the_device_and_keeps_unsent_records);
both_backends!(unsent_events_wait_for_their_author);
both_backends!(a_colleagues_comment_waits_for_the_report_it_follows);

fn client(base: &str, store: &Arc<Store>) -> SyncClient {
    let mut config = SyncConfig::new(base);
    config.retry = quick_retries();
    SyncClient::new(config, store.clone()).unwrap()
}

/// Signs `username` in on the shared phone's store: the client and the actor its records carry.
async fn sign_in(base: &str, store: &Arc<Store>, username: &str) -> (SyncClient, Actor) {
    let phone = client(base, store);
    let enrolment = phone
        .enrol(username, DEMO_PASSWORD, "长春里巡查机", &NoProgress)
        .await
        .unwrap();
    let actor = Actor {
        user_id: enrolment.user.user_id,
        role: enrolment.user.role,
        unit_id: enrolment.user.unit_id,
    };
    (phone, actor)
}

fn draft() -> CaseDraft {
    CaseDraft {
        category: Category::Garbage,
        estate_id: "changchunli".to_owned(),
        building: Some("3号楼".to_owned()),
        unit_no: None,
        location_note: None,
        description: Some("垃圾未清运".to_owned()),
        gps: Some(changchunli_fix()),
    }
}

/// `POST /api/v1/auth/refresh` with plain HTTP: the status and the error code.
async fn refresh_with(base: &str, device_id: uuid::Uuid, token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&serde_json::json!({ "device_id": device_id, "refresh_token": token }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn sign_out_revokes_the_device_and_keeps_unsent_records(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
    let phone = client(&server.base, &store);
    let enrolment = phone
        .enrol(INSPECTOR, DEMO_PASSWORD, "长春里巡查机", &NoProgress)
        .await
        .unwrap();
    let actor = Actor {
        user_id: enrolment.user.user_id.clone(),
        role: enrolment.user.role,
        unit_id: enrolment.user.unit_id.clone(),
    };
    let token = enrolment.refresh_token.expose().to_owned();
    assert_eq!(
        refresh_with(&server.base, enrolment.device_id, &token).await,
        (200, String::new()),
        "the token works before sign-out"
    );
    // Captured offline and not yet sent when the inspector signs out.
    let case = store
        .create_case_with_photos(&actor, &draft(), &[])
        .unwrap()
        .case;
    assert_eq!(store.outbox_counts().unwrap().pending, 1);

    let outcome = phone.sign_out(&NoProgress).await;

    assert_eq!(outcome, SignOut::Revoked);
    assert_eq!(phone.device_id(), None);
    assert!(matches!(
        phone.sync(&NoProgress).await,
        Err(SyncError::NotSignedIn)
    ));
    assert_eq!(
        refresh_with(&server.base, enrolment.device_id, &token).await,
        (401, "REVOKED".to_owned()),
        "the old refresh token is refused after sign-out"
    );
    // A copy of the session restored elsewhere (say, from an old keystore backup) is dead too.
    let restored = client(&server.base, &store);
    restored.resume(
        enrolment.device_id,
        &enrolment.user.user_id,
        enrolment.refresh_token.clone(),
    );
    assert!(matches!(
        restored.sync(&NoProgress).await,
        Err(SyncError::AuthRejected { code, .. }) if code == "REVOKED"
    ));
    // Signing out a device the server already refuses still ends as revoked.
    assert_eq!(restored.sign_out(&NoProgress).await, SignOut::Revoked);

    // The unsent case is still on the phone (claimed by the refused run, so `in_flight`: sent
    // first next time) and goes up with the next sign-in.
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.pending + counts.in_flight, 1, "{counts:?}");
    assert!(store.case(case.id).unwrap().is_some());
    let again = client(&server.base, &store);
    again
        .enrol(INSPECTOR, DEMO_PASSWORD, "长春里巡查机", &NoProgress)
        .await
        .unwrap();
    let report = again.sync(&NoProgress).await.unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.pending + counts.in_flight, 0, "{counts:?}");
}

/// Two people on one phone: what the first recorded and did not send is never pushed under the
/// second one's token (the server would stamp it with the second one's name); it waits for its
/// author's next sign-in.
async fn unsent_events_wait_for_their_author(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
    let (first, inspector) = sign_in(&server.base, &store, INSPECTOR).await;
    let inspectors_case = store
        .create_case_with_photos(&inspector, &draft(), &[])
        .unwrap()
        .case;
    assert_eq!(first.sign_out(&NoProgress).await, SignOut::Revoked);

    let (second, staff) = sign_in(&server.base, &store, "company.changchunli").await;
    let staff_case = store
        .create_case_with_photos(&staff, &draft(), &[])
        .unwrap()
        .case;
    let report = second.sync(&NoProgress).await.unwrap();
    assert_eq!(
        report.applied, 1,
        "only the staff member's own case: {report:?}"
    );
    assert_eq!(store.unanswered_events_of(&inspector.user_id).unwrap(), 1);
    assert_eq!(store.unanswered_events_of(&staff.user_id).unwrap(), 0);
    assert!(store.case(staff_case.id).unwrap().is_some());
    assert_eq!(second.sign_out(&NoProgress).await, SignOut::Revoked);

    let (third, _) = sign_in(&server.base, &store, INSPECTOR).await;
    let report = third.sync(&NoProgress).await.unwrap();
    assert_eq!(
        report.applied, 1,
        "the inspector's case, under the inspector's name: {report:?}"
    );
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.pending + counts.in_flight, 0, "{counts:?}");
    let events = store.case_events(inspectors_case.id).unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.event.actor.user_id == inspector.user_id),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sign_out_forgets_the_session_locally_only() {
    // A loopback port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
    let phone = client(&base, &store);
    phone.resume(
        xuncha_core::ids::new_id(),
        "u-inspector",
        xuncha_core::sync::Secret::new("xrt_kept_in_the_keystore"),
    );

    let outcome = phone.sign_out(&NoProgress).await;

    assert!(
        matches!(&outcome, SignOut::ForgottenLocallyOnly { error: SyncError::Network { attempts, .. } } if *attempts == xuncha_core::sync::SIGN_OUT_ATTEMPTS),
        "{outcome:?}"
    );
    assert_eq!(phone.device_id(), None);
    assert!(matches!(
        phone.sync(&NoProgress).await,
        Err(SyncError::NotSignedIn)
    ));
}

/// Shared phone: the inspector reports offline and signs out; the property-company colleague
/// comments on that report before it was sent. The comment must not reach the server first (it
/// would be refused as UNKNOWN_CASE and parked): it waits, and both land once each has synced.
async fn a_colleagues_comment_waits_for_the_report_it_follows(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
    let (first, inspector) = sign_in(&server.base, &store, INSPECTOR).await;
    let report = store
        .create_case_with_photos(&inspector, &draft(), &[])
        .unwrap();
    assert_eq!(first.sign_out(&NoProgress).await, SignOut::Revoked);

    let (second, staff) = sign_in(&server.base, &store, "company.changchunli").await;
    let comment = store
        .add_note(&staff, report.case.id, "物业已安排清运")
        .unwrap();
    let waiting = second.sync(&NoProgress).await.unwrap();
    assert_eq!(
        (waiting.applied, waiting.rejected.len()),
        (0, 0),
        "the comment waits for the report: {waiting:?}"
    );
    assert_eq!(store.unanswered_events_of(&staff.user_id).unwrap(), 1);
    assert_eq!(second.sign_out(&NoProgress).await, SignOut::Revoked);

    let (third, _) = sign_in(&server.base, &store, INSPECTOR).await;
    let reported = third.sync(&NoProgress).await.unwrap();
    assert_eq!(reported.applied, 1, "{reported:?}");
    assert_eq!(third.sign_out(&NoProgress).await, SignOut::Revoked);

    let (fourth, _) = sign_in(&server.base, &store, "company.changchunli").await;
    let commented = fourth.sync(&NoProgress).await.unwrap();
    assert_eq!(
        (commented.applied, commented.rejected.len()),
        (1, 0),
        "{commented:?}"
    );
    assert!(store.rejected_events().unwrap().is_empty());
    let events = store.case_events(report.case.id).unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.id).collect::<Vec<_>>(),
        vec![report.event.id, comment.event.id]
    );
    assert!(
        events
            .iter()
            .all(|e| e.sync_state == xuncha_core::store::EventSyncState::Synced),
        "{events:?}"
    );
}
