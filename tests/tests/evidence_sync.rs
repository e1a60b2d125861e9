//! Evidence photos reach the server before the events that cite them (issue 10 items 4 and 7),
//! over the real sync client and the real server, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Phone, TestServer, access_token, api_get, both_backends, changchunli_fix};
use xuncha_core::capture::CaseDraft;
use xuncha_core::catalog::Category;
use xuncha_core::sync::{NoProgress, SyncReport};

fn draft(estate_id: &str) -> CaseDraft {
    CaseDraft {
        category: Category::SmallAds,
        estate_id: estate_id.to_owned(),
        building: Some("3号楼".to_owned()),
        unit_no: None,
        location_note: None,
        description: Some("楼道小广告".to_owned()),
        gps: Some(changchunli_fix()),
    }
}

both_backends!(
    an_event_waits_in_the_outbox_until_its_photo_is_uploaded,
    a_photo_the_server_lost_is_uploaded_again_before_its_event,
    the_phone_refuses_a_case_outside_its_area_before_storing_anything,
);

async fn an_event_waits_in_the_outbox_until_its_photo_is_uploaded(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let phone = Phone::enrol(&server.base, "inspector.changchunli").await;
    let photo = phone.photo(11);
    let case = phone
        .store
        .create_case_with_photos(
            &phone.actor,
            &draft("changchunli"),
            std::slice::from_ref(&photo),
        )
        .unwrap()
        .case;

    // A push alone sends nothing: the REPORT cites a photo still waiting for upload.
    let mut report = SyncReport::default();
    phone.client.push(&mut report, &NoProgress).await.unwrap();
    assert_eq!(
        (report.batches, report.applied, report.rejected.len()),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(phone.store.outbox_counts().unwrap().pending, 1);

    // A sync uploads the photo first, then the event applies.
    let report = phone.sync().await;
    assert_eq!(
        (
            report.photos_uploaded,
            report.applied,
            report.rejected.len()
        ),
        (1, 1, 0),
        "{report:?}"
    );
    let admin = access_token(&server.base, "admin").await;
    let (status, detail) =
        api_get(&server.base, &admin, &format!("/api/v1/cases/{}", case.id)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["case"]["photos"][0]["sha256"], photo.sha256.as_str());
}

async fn a_photo_the_server_lost_is_uploaded_again_before_its_event(backend: Backend) {
    let server =
        TestServer::start_with(&backend, |c| c.uploads.unreferenced_photo_expiry_s = 0).await;
    let phone = Phone::enrol(&server.base, "inspector.changchunli").await;
    let photo = phone.photo(12);
    let case = phone
        .store
        .create_case_with_photos(
            &phone.actor,
            &draft("changchunli"),
            std::slice::from_ref(&photo),
        )
        .unwrap()
        .case;
    // The photo goes up, then the phone loses the network before the push; meanwhile the
    // server sweeps it as cited by nothing.
    let mut report = SyncReport::default();
    phone
        .client
        .upload_photos(&mut report, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.photos_uploaded, 1);
    let state = server.server.as_ref().unwrap().state().clone();
    let swept =
        xuncha_server::storage::photo_files::sweep(&state.photo_files(), chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(swept.photos_removed, vec![photo.sha256.clone()]);

    // The push meets PHOTO_NOT_RECEIVED: the event stays in the outbox, the photo goes back in
    // the upload queue; the next sync sends both, in that order.
    let first = phone.sync().await;
    assert_eq!(first.applied, 0, "{first:?}");
    assert!(
        phone.store.rejected_events().unwrap().is_empty(),
        "not parked"
    );
    assert_eq!(phone.store.outbox_counts().unwrap().pending, 1);
    let second = phone.sync().await;
    assert_eq!(
        (second.photos_uploaded, second.applied),
        (1, 1),
        "{second:?}"
    );
    let admin = access_token(&server.base, "admin").await;
    let (status, _) = api_get(&server.base, &admin, &format!("/api/v1/cases/{}", case.id)).await;
    assert_eq!(status, 200);
    let (status, held) = api_get(
        &server.base,
        &admin,
        &format!("/api/v1/photos/{}/status", photo.sha256),
    )
    .await;
    assert_eq!((status, held["complete"].as_bool()), (200, Some(true)));
}

async fn the_phone_refuses_a_case_outside_its_area_before_storing_anything(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // An inspector of 平山道 in 长春里 (another district's community).
    let phone = Phone::enrol(&server.base, "inspector.pingshandao").await;
    let photo = phone.photo(13);
    let error = phone
        .store
        .create_case_with_photos(
            &phone.actor,
            &draft("changchunli"),
            std::slice::from_ref(&photo),
        )
        .unwrap_err();
    assert_eq!(error.code(), "ESTATE_FORBIDDEN", "{error}");
    assert!(
        error.to_string().contains("不在您所在单位的巡查范围内"),
        "{error}"
    );
    let counts = phone.store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.in_flight, counts.rejected),
        (0, 0, 0)
    );
    assert!(
        phone.store.pending_photos().unwrap().is_empty(),
        "no photo queued for upload"
    );
    let report = phone.sync().await;
    assert_eq!(
        (
            report.photos_uploaded,
            report.applied,
            report.rejected.len()
        ),
        (0, 0, 0)
    );
    // In its own estate the same capture is fine.
    phone
        .store
        .create_case_with_photos(
            &phone.actor,
            &draft("pingshandao"),
            std::slice::from_ref(&photo),
        )
        .unwrap();
}
