//! Issue 11, item 3 from the phone's side: every refresh rotates the refresh token, the sync
//! client keeps the new one (and tells the app through `SyncClient::refresh_token`), and a phone
//! that sends a spent token gets the typed `SessionRevoked` (`REFRESH_TOKEN_REUSED`) so the app
//! signs in again. Real server, real client, real SQLite store; each on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Backend, TestServer, both_backends, quick_retries};
use xuncha_core::store::Store;
use xuncha_core::sync::{NoProgress, SyncClient, SyncConfig, SyncError};
use xuncha_server::demo::DEMO_PASSWORD;

both_backends!(the_phone_keeps_the_rotated_token_and_a_stale_copy_is_revoked);

fn client(base: &str, store: &Arc<Store>) -> SyncClient {
    let mut config = SyncConfig::new(base);
    config.retry = quick_retries();
    SyncClient::new(config, store.clone()).unwrap()
}

async fn the_phone_keeps_the_rotated_token_and_a_stale_copy_is_revoked(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.auth.refresh_reuse_grace_s = 0).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("xuncha.db")).unwrap());
    let phone = client(&server.base, &store);
    let enrolment = phone
        .enrol(
            "inspector.changchunli",
            DEMO_PASSWORD,
            "长春里巡查机",
            &NoProgress,
        )
        .await
        .unwrap();
    let first = enrolment.refresh_token.clone();

    // Restarted from the keystore: no access token, so the first sync refreshes (and rotates).
    let restarted = client(&server.base, &store);
    restarted.resume(enrolment.device_id, &enrolment.user.user_id, first.clone());
    restarted.sync(&NoProgress).await.unwrap();
    let rotated = restarted.refresh_token().unwrap();
    assert_ne!(
        rotated.expose(),
        first.expose(),
        "the client keeps the rotated token"
    );

    // Another restart with the rotated token works.
    let again = client(&server.base, &store);
    again.resume(
        enrolment.device_id,
        &enrolment.user.user_id,
        rotated.clone(),
    );
    again.sync(&NoProgress).await.unwrap();
    let latest = again.refresh_token().unwrap();

    // An app that kept the first token (or a thief holding it) revokes the whole session.
    let stale = client(&server.base, &store);
    stale.resume(enrolment.device_id, &enrolment.user.user_id, first);
    let error = stale.sync(&NoProgress).await.unwrap_err();
    assert!(
        matches!(&error, SyncError::SessionRevoked { code, .. } if code == "REFRESH_TOKEN_REUSED"),
        "{error:?}"
    );
    assert_eq!(error.code(), "SESSION_REVOKED");
    assert!(!error.is_transient());
    // The live phone is signed out too: its next refresh is refused.
    let live = client(&server.base, &store);
    live.resume(enrolment.device_id, &enrolment.user.user_id, latest);
    assert!(matches!(
        live.sync(&NoProgress).await,
        Err(SyncError::AuthRejected { code, .. }) if code == "REVOKED"
    ));
}
