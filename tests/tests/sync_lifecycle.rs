//! A case's whole life across phones and roles, over the real sync client and the real server,
//! on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Backend, Phone, TestServer, access_token, api_get, both_backends, changchunli_fix,
    server_events,
};
use xuncha_core::capture::{CaseDraft, EventDraft};
use xuncha_core::catalog::Category;
use xuncha_core::store::PhotoRecord;
use xuncha_core::workflow::{Action, CaseStatus, PhotoKind};

fn draft(category: Category, description: &str) -> CaseDraft {
    CaseDraft {
        category,
        estate_id: "changchunli".to_owned(),
        building: Some("3号楼".to_owned()),
        unit_no: Some("2单元".to_owned()),
        location_note: Some("楼道口".to_owned()),
        description: Some(description.to_owned()),
        gps: Some(changchunli_fix()),
    }
}

fn action(action: Action, kind: PhotoKind) -> EventDraft {
    EventDraft {
        action,
        gps: Some(changchunli_fix()),
        note: Some("现场处理".to_owned()),
        photo_kind: kind,
    }
}

fn record(
    phone: &Phone,
    case_id: uuid::Uuid,
    act: Action,
    kind: PhotoKind,
    photos: &[PhotoRecord],
) {
    phone
        .store
        .record_event_with_photos(&phone.actor, case_id, &action(act, kind), photos)
        .unwrap_or_else(|e| panic!("{} may fire this offline: {e}", phone.username));
}

both_backends!(
    two_phones_capture_offline_and_the_case_runs_to_closed,
    each_role_sees_and_does_only_its_own
);

async fn two_phones_capture_offline_and_the_case_runs_to_closed(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let base = server.base.as_str();
    let inspector = Phone::enrol(base, "inspector.changchunli").await;
    let company = Phone::enrol(base, "company.changchunli").await;
    let committee = Phone::enrol(base, "committee.changchunli").await;
    let street = Phone::enrol(base, "street.nanyingmen").await;
    let department = Phone::enrol(base, "dept.heping.city").await;

    // Both phones capture with no sync in between: nothing waits for the network.
    let before = inspector.photo(1);
    let captured = inspector
        .store
        .create_case_with_photos(
            &inspector.actor,
            &draft(Category::SmallAds, "楼道张贴小广告"),
            std::slice::from_ref(&before),
        )
        .unwrap();
    let case_id = captured.case.id;
    let other = company
        .store
        .create_case_with_photos(
            &company.actor,
            &draft(Category::CommonAreaClutter, "楼道堆放旧家具"),
            &[company.photo(2)],
        )
        .unwrap();

    let report = inspector.sync().await;
    assert_eq!(
        (report.applied, report.duplicate, report.rejected.len()),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        (report.photos_uploaded, report.photo_failures.len()),
        (1, 0),
        "{report:?}"
    );
    let report = company.sync().await;
    assert_eq!(
        (report.applied, report.photos_uploaded),
        (1, 1),
        "{report:?}"
    );

    // Numbered by the server at ingest (issue 13), in the order the reports arrived, and
    // delivered by the pull that follows the push: the store and the case screens show it.
    let first = inspector.store.case_number(case_id).unwrap().unwrap();
    assert!(
        first.starts_with("和平-") && first.ends_with("-0001"),
        "{first}"
    );
    let second = company.store.case_number(other.case.id).unwrap().unwrap();
    assert_eq!(second, format!("{}0002", &first[..first.len() - 4]));
    let detail = inspector.store.case_detail(case_id, None).unwrap().unwrap();
    assert_eq!(detail.number.as_deref(), Some(first.as_str()));

    // Routed at ingest: the owner is the district's city management, the department's unit.
    let admin = access_token(base, "admin").await;
    let (status, detail) = api_get(base, &admin, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["case"]["status"], "REPORTED");
    assert_eq!(
        detail["routing"]["owner"]["id"],
        department.actor.unit_id.as_str(),
        "{detail}"
    );
    let (status, _) = api_get(base, &admin, &format!("/api/v1/cases/{}", other.case.id)).await;
    assert_eq!(status, 200);

    // Committee escalates (dissuasion did not work), street office dispatches to the routed unit.
    let pulled = committee.sync().await;
    assert!(pulled.pulled_cases >= 2, "{pulled:?}");
    let listed = committee
        .store
        .list_case_views(&Default::default(), 10, None)
        .unwrap();
    let numbers: Vec<Option<String>> = listed.items.into_iter().map(|i| i.number).collect();
    assert!(numbers.contains(&Some(first.clone())), "{numbers:?}");
    assert!(numbers.contains(&Some(second.clone())), "{numbers:?}");
    record(
        &committee,
        case_id,
        Action::Escalate,
        PhotoKind::Before,
        &[],
    );
    assert_eq!(committee.sync().await.applied, 1);
    street.sync().await;
    let unit_id = department.actor.unit_id.clone();
    record(
        &street,
        case_id,
        Action::Dispatch { unit_id },
        PhotoKind::Before,
        &[],
    );
    assert_eq!(street.sync().await.applied, 1);

    // The department accepts and handles it with an after-photo, offline, then syncs both.
    department.sync().await;
    assert_eq!(
        department.store.case(case_id).unwrap().unwrap().status,
        CaseStatus::Dispatched
    );
    record(&department, case_id, Action::Accept, PhotoKind::After, &[]);
    let after = department.photo(3);
    record(
        &department,
        case_id,
        Action::Handle,
        PhotoKind::After,
        std::slice::from_ref(&after),
    );
    let report = department.sync().await;
    assert_eq!(
        (
            report.applied,
            report.rejected.len(),
            report.photos_uploaded
        ),
        (2, 0, 1),
        "{report:?}"
    );

    // The inspector verifies on site with a photo and GPS: closed.
    inspector.sync().await;
    assert_eq!(
        inspector.store.case(case_id).unwrap().unwrap().status,
        CaseStatus::Handled
    );
    let check = inspector.photo(4);
    record(
        &inspector,
        case_id,
        Action::Verify,
        PhotoKind::Verification,
        std::slice::from_ref(&check),
    );
    let report = inspector.sync().await;
    assert_eq!(
        (report.applied, report.photos_uploaded),
        (1, 1),
        "{report:?}"
    );

    let (_, detail) = api_get(base, &admin, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(detail["case"]["status"], "CLOSED", "{detail}");
    let kinds: Vec<String> = server_events(base, &admin, case_id)
        .await
        .iter()
        .map(|e| e["action"]["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "REPORT", "ESCALATE", "DISPATCH", "ACCEPT", "HANDLE", "VERIFY"
        ]
    );
    for photo in [&before, &after, &check] {
        let (status, held) = api_get(
            base,
            &admin,
            &format!("/api/v1/photos/{}/status", photo.sha256),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(held["complete"], true, "{held}");
    }
    // Every phone is clean: nothing pending, nothing refused.
    for phone in [&inspector, &company, &committee, &street, &department] {
        let counts = phone.store.outbox_counts().unwrap();
        assert_eq!(
            (counts.pending, counts.in_flight, counts.rejected),
            (0, 0, 0),
            "{}",
            phone.username
        );
    }
    assert_eq!(
        inspector.store.case(case_id).unwrap().unwrap().status,
        CaseStatus::Closed
    );
}

async fn each_role_sees_and_does_only_its_own(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let base = server.base.as_str();
    let inspector = Phone::enrol(base, "inspector.changchunli").await;
    let elsewhere = Phone::enrol(base, "inspector.pingshandao").await;
    let department = Phone::enrol(base, "dept.heping.city").await;
    let street = Phone::enrol(base, "street.nanyingmen").await;

    let captured = inspector
        .store
        .create_case_with_photos(
            &inspector.actor,
            &draft(Category::StreetLight, "路灯不亮"),
            &[],
        )
        .unwrap();
    let case_id = captured.case.id;
    assert_eq!(inspector.sync().await.applied, 1);

    // Another community's inspector and a department it is not dispatched to see nothing.
    elsewhere.sync().await;
    assert!(elsewhere.store.case(case_id).unwrap().is_none());
    department.sync().await;
    assert!(department.store.case(case_id).unwrap().is_none());
    let token = access_token(base, "inspector.pingshandao").await;
    let (status, body) = api_get(base, &token, &format!("/api/v1/cases/{case_id}")).await;
    assert!(matches!(status, 403 | 404), "{status} {body}");

    // The phone refuses what the server would: an inspector may not dispatch.
    let refused = inspector
        .store
        .record_event_with_photos(
            &inspector.actor,
            case_id,
            &action(
                Action::Dispatch {
                    unit_id: department.actor.unit_id.clone(),
                },
                PhotoKind::Before,
            ),
            &[],
        )
        .unwrap_err();
    assert_eq!(refused.code(), "ROLE_NOT_ALLOWED", "{refused}");

    // The street office sees its street's case and dispatches it (a facility fault: no
    // dissuasion first); now the department sees it too.
    street.sync().await;
    assert!(street.store.case(case_id).unwrap().is_some());
    let unit_id = department.actor.unit_id.clone();
    record(
        &street,
        case_id,
        Action::Dispatch { unit_id },
        PhotoKind::Before,
        &[],
    );
    assert_eq!(street.sync().await.applied, 1);
    department.sync().await;
    assert_eq!(
        department.store.case(case_id).unwrap().unwrap().status,
        CaseStatus::Dispatched
    );
    // Still invisible to the other community.
    elsewhere.sync().await;
    assert!(elsewhere.store.case(case_id).unwrap().is_none());
}
