//! Device store and capture API against real SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::{Duration, Utc};
use uuid::Uuid;
use xuncha_core::capture::{CaptureWarning, CaseDraft, EventDraft};
use xuncha_core::geo::GpsFix;
use xuncha_core::protocol::{Cursor, EventOutcome, EventResult, PROTOCOL_VERSION, PullResponse};
use xuncha_core::store::{CaseFilter, EventSyncState, PhotoRecord, PhotoUploadState, Store};
use xuncha_core::workflow::{self, Action, Actor, Case, CaseStatus, PhotoKind};
use xuncha_core::{Category, Role};

// Points inside the demo estates (CONTRACT: demo data).
const CHANGCHUNLI: (f64, f64) = (39.1135, 117.1930);
const PINGSHANDAO: (f64, f64) = (39.0980, 117.2120);

fn inspector() -> Actor {
    Actor {
        user_id: "u-inspector".into(),
        role: Role::Inspector,
        unit_id: "hx-pingshandao-jwh".into(),
    }
}

fn fix(at: (f64, f64), accuracy_m: f64) -> GpsFix {
    GpsFix {
        lat: at.0,
        lon: at.1,
        accuracy_m: Some(accuracy_m),
        provider: Some("gps".into()),
    }
}

/// `metres` north of `at`.
fn north_of(at: (f64, f64), metres: f64) -> (f64, f64) {
    (at.0 + metres / 111_195.0, at.1)
}

fn draft(category: Category, estate: &str, at: (f64, f64), accuracy_m: f64) -> CaseDraft {
    CaseDraft {
        category,
        estate_id: estate.into(),
        building: Some("3号楼".into()),
        unit_no: Some("2单元".into()),
        location_note: Some("楼道一层".into()),
        description: Some("楼道内堆放大量杂物，影响通行".into()),
        gps: Some(fix(at, accuracy_m)),
    }
}

fn open_store(dir: &Path) -> Store {
    Store::open(&dir.join("xuncha.db")).unwrap()
}

fn photo(n: u8) -> PhotoRecord {
    PhotoRecord {
        sha256: format!("{n:02x}").repeat(32),
        path: format!("/data/photos/{n}.jpg").into(),
        thumbnail_path: format!("/data/photos/{n}.thumb.jpg").into(),
        width: 1600,
        height: 1200,
        bytes: 250_000,
        exif_time: None,
        exif_gps: None,
    }
}

/// The server's answer that it applied `event_id`, with `case` as its copy.
fn applied(event_id: Uuid, case: &Case) -> EventResult {
    EventResult {
        event_id,
        outcome: EventOutcome::Applied {
            case: Box::new(case.clone()),
        },
    }
}

fn comment(note: &str) -> EventDraft {
    EventDraft {
        action: Action::Comment,
        gps: None,
        note: Some(note.into()),
        photo_kind: PhotoKind::Before,
    }
}

#[test]
fn new_store_has_latest_schema_and_builtin_estates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    assert_eq!(store.schema_version().unwrap(), 6);
    let ids: Vec<String> = store.estates().unwrap().into_iter().map(|e| e.id).collect();
    for id in ["changchunli", "pingshandao", "heyuanbeili"] {
        assert!(ids.contains(&id.to_string()), "{ids:?}");
    }
    assert!(store.photo_dir().is_dir());
    drop(store);
    // Reopening an up-to-date file changes nothing.
    let store = open_store(dir.path());
    assert_eq!(store.schema_version().unwrap(), 6);
    assert_eq!(store.estates().unwrap().len(), ids.len());
}

#[test]
fn database_from_a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xuncha.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x)")
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.code(), "SCHEMA_TOO_NEW");
    let message = err.to_string();
    assert!(message.contains("99") && message.contains('6'), "{message}");
    assert!(message.contains("更新应用"), "{message}");
    // Untouched: same version, no tables added, still a rollback-journal file.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn capture_stores_case_event_and_photos() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let photos = [photo(1), photo(2), photo(3)];
    let captured = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::CommonAreaClutter, "changchunli", CHANGCHUNLI, 8.0),
            &photos,
        )
        .unwrap();
    assert!(captured.warnings.is_empty(), "{:?}", captured.warnings);
    assert_eq!(captured.case.status, CaseStatus::Reported);
    assert_eq!(captured.case.id, captured.event.case_id);
    assert_eq!(captured.event.id.get_version_num(), 7, "UUIDv7 event id");
    assert_eq!(captured.case.id.get_version_num(), 7, "UUIDv7 case id");
    assert_eq!(captured.event.photos.len(), 3);
    assert!(
        captured
            .event
            .photos
            .iter()
            .all(|p| p.kind == PhotoKind::Before)
    );

    let stored = store.case(captured.case.id).unwrap().unwrap();
    assert_eq!(stored, captured.case);
    let events = store.case_events(captured.case.id).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].sync_state, EventSyncState::Pending);
    assert_eq!(events[0].event, captured.event);
    let pending = store.pending_photos().unwrap();
    assert_eq!(pending.len(), 3);
    assert!(
        pending
            .iter()
            .all(|p| p.uploaded_bytes == 0 && p.bytes == 250_000)
    );
}

#[test]
fn blank_text_is_stored_as_none_and_unknown_estate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut d = draft(Category::Garbage, "changchunli", CHANGCHUNLI, 5.0);
    d.description = Some("   ".into());
    let captured = store
        .create_case_with_photos(&inspector(), &d, &[])
        .unwrap();
    assert_eq!(captured.case.description, None);

    let err = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::Garbage, "nowhere", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), "UNKNOWN_ESTATE");
}

#[test]
fn low_gps_accuracy_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let captured = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 120.0),
            &[],
        )
        .unwrap();
    assert_eq!(captured.warnings.len(), 1, "{:?}", captured.warnings);
    let warning = &captured.warnings[0];
    assert_eq!(warning.code(), "LOW_GPS_ACCURACY");
    assert_eq!(
        warning,
        &CaptureWarning::LowGpsAccuracy {
            accuracy_m: 120.0,
            limit_m: 50.0
        }
    );
    assert!(
        warning.message_zh().contains("120"),
        "{}",
        warning.message_zh()
    );
    // 50 m exactly is still fine; the case is stored either way.
    let ok = store
        .check_draft(&draft(
            Category::SmallAds,
            "changchunli",
            north_of(CHANGCHUNLI, 500.0),
            50.0,
        ))
        .unwrap();
    assert!(!ok.iter().any(|w| w.code() == "LOW_GPS_ACCURACY"), "{ok:?}");
    assert!(store.case(captured.case.id).unwrap().is_some());
}

#[test]
fn point_outside_the_chosen_estate_names_the_estate_containing_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let captured = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::Garbage, "changchunli", PINGSHANDAO, 10.0),
            &[],
        )
        .unwrap();
    let outside: Vec<_> = captured
        .warnings
        .iter()
        .filter(|w| w.code() == "OUTSIDE_ESTATE")
        .collect();
    assert_eq!(outside.len(), 1, "{:?}", captured.warnings);
    match outside[0] {
        CaptureWarning::OutsideEstate {
            chosen_estate_id,
            containing_estate_id,
            containing_estate_name,
            ..
        } => {
            assert_eq!(chosen_estate_id, "changchunli");
            assert_eq!(containing_estate_id.as_deref(), Some("pingshandao"));
            assert!(
                containing_estate_name
                    .as_deref()
                    .is_some_and(|n| n.contains("平山道"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        outside[0].message_zh().contains("平山道"),
        "{}",
        outside[0].message_zh()
    );

    // Far from every estate: warned, no containing estate.
    let nowhere = store
        .check_draft(&draft(
            Category::Garbage,
            "changchunli",
            (39.30, 117.50),
            10.0,
        ))
        .unwrap();
    assert!(nowhere.iter().any(|w| matches!(
        w,
        CaptureWarning::OutsideEstate {
            containing_estate_id: None,
            ..
        }
    )));
}

#[test]
fn possible_duplicates_within_50_m_are_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let actor = inspector();
    let first = store
        .create_case_with_photos(
            &actor,
            &draft(Category::GroundLock, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    // A different category right there, and the same category 120 m away: not duplicates.
    store
        .create_case_with_photos(
            &actor,
            &draft(Category::Garbage, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    store
        .create_case_with_photos(
            &actor,
            &draft(
                Category::GroundLock,
                "changchunli",
                north_of(CHANGCHUNLI, 120.0),
                5.0,
            ),
            &[],
        )
        .unwrap();

    let second = store
        .create_case_with_photos(
            &actor,
            &draft(
                Category::GroundLock,
                "changchunli",
                north_of(CHANGCHUNLI, 30.0),
                5.0,
            ),
            &[],
        )
        .unwrap();
    let duplicates: Vec<_> = second
        .warnings
        .iter()
        .filter_map(|w| match w {
            CaptureWarning::PossibleDuplicates { radius_m, cases } => Some((radius_m, cases)),
            _ => None,
        })
        .collect();
    assert_eq!(duplicates.len(), 1, "{:?}", second.warnings);
    let (radius_m, cases) = duplicates[0];
    assert_eq!(*radius_m, 50.0);
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].case.id, first.case.id);
    assert!(
        (cases[0].distance_m - 30.0).abs() < 1.0,
        "{}",
        cases[0].distance_m
    );
    assert!(second.warnings[0].message_zh().contains("50"));
}

#[test]
fn actions_go_through_the_shared_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let actor = inspector();
    let captured = store
        .create_case_with_photos(
            &actor,
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();

    // Whatever the shared workflow refuses, the store refuses with the same code, storing nothing.
    let verify = EventDraft {
        action: Action::Verify,
        gps: None,
        note: None,
        photo_kind: PhotoKind::Verification,
    };
    let expected = {
        let mut event = captured.event.clone();
        event.action = Action::Verify;
        workflow::apply(Some(&captured.case), &event).unwrap_err()
    };
    let err = store
        .record_event_with_photos(&actor, captured.case.id, &verify, &[])
        .unwrap_err();
    assert_eq!(err.code(), expected.code());
    assert_eq!(store.case_events(captured.case.id).unwrap().len(), 1);
    assert_eq!(
        store.case(captured.case.id).unwrap().unwrap(),
        captured.case
    );

    // A note with photos is accepted, stored, and bumps the version.
    let recorded = store
        .record_event_with_photos(&actor, captured.case.id, &comment("已拍照"), &[photo(7)])
        .unwrap();
    assert_eq!(recorded.case.version, captured.case.version + 1);
    assert_eq!(
        store.case(captured.case.id).unwrap().unwrap(),
        recorded.case
    );
    assert_eq!(store.case_events(captured.case.id).unwrap().len(), 2);

    let unknown = store.add_note(&actor, Uuid::now_v7(), "x").unwrap_err();
    assert_eq!(unknown.code(), "UNKNOWN_CASE");
}

#[test]
fn outbox_claims_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let actor = inspector();
    let a = store
        .create_case_with_photos(
            &actor,
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    let b = store
        .create_case_with_photos(
            &actor,
            &draft(Category::Garbage, "pingshandao", PINGSHANDAO, 5.0),
            &[],
        )
        .unwrap();

    // Another user's sync on this phone claims none of them.
    assert!(
        store
            .pending_events("u-someone-else", 10)
            .unwrap()
            .is_empty()
    );
    let claimed = store.pending_events(&actor.user_id, 10).unwrap();
    assert_eq!(
        claimed.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![a.event.id, b.event.id]
    );
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.pending, counts.in_flight), (0, 2));
    // Unanswered in-flight events are handed out again (the server deduplicates by id).
    assert_eq!(
        store.pending_events(&actor.user_id, 1).unwrap()[0].id,
        a.event.id
    );
    assert_eq!(store.case_events(a.case.id).unwrap()[0].attempts, 2);

    let mut server_a = a.case.clone();
    server_a.updated_at += Duration::seconds(1);
    let results = vec![
        EventResult {
            event_id: a.event.id,
            outcome: EventOutcome::Applied {
                case: Box::new(server_a.clone()),
            },
        },
        EventResult {
            event_id: b.event.id,
            outcome: EventOutcome::Rejected {
                code: "ROLE_NOT_ALLOWED".into(),
                message: "不允许".into(),
            },
        },
    ];
    store.mark_synced(&results).unwrap();
    store.mark_synced(&results).unwrap(); // a repeated answer changes nothing

    assert_eq!(
        store.case_events(a.case.id).unwrap()[0].sync_state,
        EventSyncState::Synced
    );
    assert_eq!(
        store.case(a.case.id).unwrap().unwrap(),
        server_a,
        "server snapshot is the base"
    );
    let rejected = store.rejected_events().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event.id, b.event.id);
    assert_eq!(rejected[0].reject_code.as_deref(), Some("ROLE_NOT_ALLOWED"));
    assert_eq!(rejected[0].reject_message.as_deref(), Some("不允许"));
    // A refused report stays visible on the phone (nothing the user saved disappears).
    assert!(store.case(b.case.id).unwrap().is_some());
    assert!(store.pending_events(&actor.user_id, 10).unwrap().is_empty());

    let page = store.list_cases(&CaseFilter::default(), 10, None).unwrap();
    let unsynced: Vec<(Uuid, u32)> = page
        .items
        .iter()
        .map(|i| (i.case.id, i.unsynced_changes))
        .collect();
    assert!(
        unsynced.contains(&(a.case.id, 0)) && unsynced.contains(&(b.case.id, 0)),
        "{unsynced:?}"
    );
}

#[test]
fn a_change_waits_for_another_users_unsent_change_it_follows() {
    // Two people share a phone: the inspector reports offline and hands the phone over; the
    // colleague comments on that case. The server must see the report first, so the colleague's
    // comment (and anything after it on that case) waits until the report is answered.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let reporter = inspector();
    let colleague = Actor {
        user_id: "u-inspector-2".into(),
        ..inspector()
    };
    let report = store
        .create_case_with_photos(
            &reporter,
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    let other_case = store
        .create_case_with_photos(
            &colleague,
            &draft(Category::Garbage, "pingshandao", PINGSHANDAO, 5.0),
            &[],
        )
        .unwrap();
    let comment = store
        .add_note(&colleague, report.case.id, "已联系物业")
        .unwrap();
    let reporters_follow_up = store
        .add_note(&reporter, report.case.id, "物业已到场")
        .unwrap();

    let colleagues_turn = store.pending_events(&colleague.user_id, 10).unwrap();
    assert_eq!(
        colleagues_turn.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![other_case.event.id],
        "the comment waits for the report it follows; the colleague's own case does not"
    );
    let reporters_turn = store.pending_events(&reporter.user_id, 10).unwrap();
    assert_eq!(
        reporters_turn.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![report.event.id],
        "the reporter's follow-up waits for the colleague's comment before it"
    );

    store
        .mark_synced(&[applied(report.event.id, &report.case)])
        .unwrap();
    let colleagues_turn = store.pending_events(&colleague.user_id, 10).unwrap();
    assert_eq!(
        colleagues_turn.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![other_case.event.id, comment.event.id]
    );
    assert!(
        store
            .pending_events(&reporter.user_id, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.unanswered_events_of(&reporter.user_id).unwrap(), 1);

    store
        .mark_synced(&[applied(comment.event.id, &comment.case)])
        .unwrap();
    let reporters_turn = store.pending_events(&reporter.user_id, 10).unwrap();
    assert_eq!(
        reporters_turn.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![reporters_follow_up.event.id]
    );
}

#[test]
fn an_edit_made_while_an_upload_is_in_flight_is_not_marked_clean() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let actor = inspector();
    let a = store
        .create_case_with_photos(
            &actor,
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    let in_flight = store.pending_events(&actor.user_id, 10).unwrap();
    assert_eq!(in_flight.len(), 1);
    // The user adds a note while the push is on the wire.
    let noted = store.add_note(&actor, a.case.id, "补充：三楼也有").unwrap();
    // The server answers the report only.
    store.mark_synced(&[applied(a.event.id, &a.case)]).unwrap();
    let item = store
        .list_cases(&CaseFilter::default(), 10, None)
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.case.id == a.case.id)
        .unwrap();
    assert_eq!(item.unsynced_changes, 1, "the note still has to go");
    assert_eq!(
        item.case, noted.case,
        "the note stays applied on top of the server's case"
    );
    let next = store.pending_events(&actor.user_id, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, noted.event.id);
}

fn server_copy(case: &Case, version_bump: u32, status: CaseStatus) -> Case {
    let mut c = case.clone();
    c.version += version_bump;
    c.status = status;
    c.updated_at += Duration::minutes(5);
    c
}

#[test]
fn pull_is_authoritative_and_local_pending_events_are_reapplied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let actor = inspector();
    let mine = store
        .create_case_with_photos(
            &actor,
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[],
        )
        .unwrap();
    store.pending_events(&actor.user_id, 10).unwrap();
    store
        .mark_synced(&[applied(mine.event.id, &mine.case)])
        .unwrap();
    // Offline: a note, not yet pushed.
    let note = store
        .add_note(&actor, mine.case.id, "居民已被告知")
        .unwrap();

    // Meanwhile the street office escalated it on the server; someone else reported a case.
    let mut echoed_report = mine.event.clone();
    echoed_report.server_time = Some(Utc::now());
    let server_mine = server_copy(&mine.case, 1, CaseStatus::Escalated);
    let other_report = {
        let other_actor = Actor {
            user_id: "u-2".into(),
            role: Role::CompanyStaff,
            unit_id: "c-1".into(),
        };
        let mut e = mine.event.clone();
        e.id = Uuid::now_v7();
        e.case_id = Uuid::now_v7();
        e.actor = other_actor;
        e.server_time = Some(Utc::now());
        e
    };
    let other_case = workflow::apply(None, &other_report).unwrap();
    let pull = PullResponse {
        protocol: PROTOCOL_VERSION,
        cases: vec![server_mine.clone(), other_case.clone()],
        events: vec![echoed_report.clone(), other_report.clone()],
        estates: vec![],
        units: vec![],
        routing_rules: None,
        case_numbers: [(other_case.id, "和平-20261204-0002".to_owned())].into(),
        next_cursor: Cursor("c-42".into()),
        has_more: false,
    };
    assert_eq!(store.case_number(other_case.id).unwrap(), None);
    let summary = store.apply_pull(&pull).unwrap();
    // The server's case number is kept and shown (issue 13).
    assert_eq!(
        store.case_number(other_case.id).unwrap().as_deref(),
        Some("和平-20261204-0002")
    );
    let detail = store.case_detail(other_case.id, None).unwrap().unwrap();
    assert_eq!(detail.number.as_deref(), Some("和平-20261204-0002"));
    assert_eq!(store.case_number(mine.case.id).unwrap(), None);
    assert_eq!(summary.cases_updated, 2);
    assert_eq!(
        summary.events_stored, 1,
        "our own echoed event is not stored twice"
    );
    assert_eq!(store.sync_cursor().unwrap(), Some(Cursor("c-42".into())));

    let view = store.case(mine.case.id).unwrap().unwrap();
    let mut note_event = note.event.clone();
    note_event.case_id = mine.case.id;
    let expected = workflow::apply(Some(&server_mine), &note_event).unwrap();
    assert_eq!(view, expected, "server state with the local note on top");
    assert_eq!(view.status, CaseStatus::Escalated);
    assert_eq!(store.case(other_case.id).unwrap().unwrap(), other_case);
    let events = store.case_events(mine.case.id).unwrap();
    assert_eq!(events[0].event.server_time, echoed_report.server_time);
    assert_eq!(events[1].sync_state, EventSyncState::Pending);

    // Applying the same page again changes nothing.
    store.apply_pull(&pull).unwrap();
    assert_eq!(store.case(mine.case.id).unwrap().unwrap(), expected);
    // An older snapshot arriving late does not win over a newer one.
    let mut stale = pull.clone();
    stale.cases = vec![mine.case.clone(), other_case.clone()];
    stale.events.clear();
    stale.case_numbers.clear();
    store.apply_pull(&stale).unwrap();
    // A page without numbers (an older server) leaves the stored number.
    assert_eq!(
        store.case_number(other_case.id).unwrap().as_deref(),
        Some("和平-20261204-0002")
    );
    assert_eq!(
        store.case(mine.case.id).unwrap().unwrap().status,
        CaseStatus::Escalated
    );
}

#[test]
fn pulled_estates_replace_the_builtin_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut estate = store.estate("changchunli").unwrap().unwrap();
    estate.id = "server-estate".into();
    estate.name = "服务器小区".into();
    let pull = PullResponse {
        protocol: PROTOCOL_VERSION,
        cases: vec![],
        events: vec![],
        estates: vec![estate.clone()],
        units: vec![],
        routing_rules: None,
        case_numbers: Default::default(),
        next_cursor: Cursor("1".into()),
        has_more: false,
    };
    store.apply_pull(&pull).unwrap();
    assert_eq!(store.estates().unwrap(), vec![estate]);
    drop(store);
    // Reopening does not seed the demo again.
    let store = open_store(dir.path());
    assert_eq!(store.estates().unwrap().len(), 1);
}

#[test]
fn photo_upload_progress_is_kept_and_only_moves_forward() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[photo(1), photo(2)],
        )
        .unwrap();
    let sha = photo(1).sha256;
    store.set_photo_upload_progress(&sha, 100_000).unwrap();
    store.set_photo_upload_progress(&sha, 50_000).unwrap();
    let pending = store.pending_photos().unwrap();
    let first = pending.iter().find(|p| p.sha256 == sha).unwrap();
    assert_eq!(first.uploaded_bytes, 100_000);
    assert_eq!(first.path, photo(1).path);

    store.mark_photo_uploaded(&sha).unwrap();
    let pending = store.pending_photos().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sha256, photo(2).sha256);
    assert_eq!(
        store.photo(&sha).unwrap().unwrap().1,
        PhotoUploadState::Uploaded
    );
    assert_eq!(
        store
            .mark_photo_uploaded(&"ab".repeat(32))
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
}

#[test]
fn a_refused_photo_leaves_the_queue_with_its_verdict_until_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let case = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[photo(1), photo(2)],
        )
        .unwrap()
        .case;
    let (refused, kept) = (photo(1).sha256, photo(2).sha256);
    store.set_photo_upload_progress(&refused, 4096).unwrap();

    store
        .mark_photo_refused(&refused, 422, "PHOTO_UNDECODABLE", "照片无法解码")
        .unwrap();

    let pending: Vec<String> = store
        .pending_photos()
        .unwrap()
        .into_iter()
        .map(|p| p.sha256)
        .collect();
    assert_eq!(pending, vec![kept.clone()]);
    assert_eq!(
        store.photo(&refused).unwrap().unwrap().1,
        PhotoUploadState::Refused
    );
    let refusal = store.photo_refusal(&refused).unwrap().unwrap();
    assert_eq!(
        (
            refusal.http_status,
            refusal.code.as_str(),
            refusal.message.as_str()
        ),
        (422, "PHOTO_UNDECODABLE", "照片无法解码")
    );
    assert_eq!(store.photo_refusal(&kept).unwrap(), None);
    assert_eq!(store.refused_photo_count().unwrap(), 1);
    // Still in its case, file and all.
    assert_eq!(store.case(case.id).unwrap().unwrap().photos.len(), 2);
    // Survives a restart.
    drop(store);
    let store = open_store(dir.path());
    assert_eq!(store.refused_photo_count().unwrap(), 1);

    // An uploaded photo cannot be refused afterwards; an unknown one is the caller's mistake.
    store.mark_photo_uploaded(&kept).unwrap();
    store
        .mark_photo_refused(&kept, 413, "PHOTO_TOO_LARGE", "m")
        .unwrap();
    assert_eq!(
        store.photo(&kept).unwrap().unwrap().1,
        PhotoUploadState::Uploaded
    );
    assert_eq!(
        store
            .mark_photo_refused(&"ab".repeat(32), 422, "PHOTO_UNDECODABLE", "m")
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );

    // Retried by the user: back in the queue from byte 0, the verdict gone.
    assert!(store.retry_refused_photo(&refused).unwrap());
    assert!(!store.retry_refused_photo(&refused).unwrap(), "only once");
    let pending = store.pending_photos().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].sha256.as_str(), pending[0].uploaded_bytes),
        (refused.as_str(), 0)
    );
    assert_eq!(store.photo_refusal(&refused).unwrap(), None);
    assert_eq!(store.refused_photo_count().unwrap(), 0);
}

#[test]
fn invalid_photo_hash_is_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut bad = photo(1);
    bad.sha256 = "../../etc/passwd".into();
    let err = store
        .create_case_with_photos(
            &inspector(),
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            &[bad],
        )
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        store
            .list_cases(&CaseFilter::default(), 10, None)
            .unwrap()
            .items
            .is_empty()
    );
}

fn seed_for_listing(store: &Store) -> Vec<Case> {
    let actor = inspector();
    // Two dissuasion-first categories (no deadline until the committee escalates) and a fault the
    // street office dispatches directly (its dispatch deadline runs from the report).
    let categories = [
        Category::SmallAds,
        Category::Garbage,
        Category::StairwellLighting,
    ];
    let mut cases = Vec::new();
    for n in 0..30u32 {
        let (estate, at) = if n % 2 == 0 {
            ("changchunli", CHANGCHUNLI)
        } else {
            ("pingshandao", PINGSHANDAO)
        };
        let mut d = draft(
            categories[n as usize % 3],
            estate,
            north_of(at, f64::from(n) * 100.0),
            5.0,
        );
        d.description = Some(format!(
            "第{n}号 {}",
            if n % 5 == 0 {
                "电动车堵塞楼道"
            } else {
                "小广告"
            }
        ));
        d.building = Some(format!("{}号楼", n % 4 + 1));
        cases.push(store.create_case_with_photos(&actor, &d, &[]).unwrap().case);
    }
    cases
}

fn all_pages(store: &Store, filter: &CaseFilter, size: u32) -> Vec<Case> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = store.list_cases(filter, size, token.as_ref()).unwrap();
        assert!(page.items.len() <= size as usize);
        out.extend(page.items.into_iter().map(|i| i.case));
        match page.next {
            Some(next) => token = Some(next),
            None => return out,
        }
    }
}

fn newest_first(mut cases: Vec<Case>) -> Vec<Uuid> {
    cases.sort_by_key(|c| std::cmp::Reverse((c.reported_at, c.id)));
    cases.into_iter().map(|c| c.id).collect()
}

#[test]
fn listing_filters_and_pages_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cases = seed_for_listing(&store);

    let everything = all_pages(&store, &CaseFilter::default(), 7);
    assert_eq!(
        everything.iter().map(|c| c.id).collect::<Vec<_>>(),
        newest_first(cases.clone())
    );

    let filter = CaseFilter {
        categories: vec![Category::SmallAds, Category::Garbage],
        estate_ids: vec!["changchunli".into()],
        statuses: vec![CaseStatus::Reported],
        ..CaseFilter::default()
    };
    let expected: Vec<Case> = cases
        .iter()
        .filter(|c| filter.categories.contains(&c.category) && c.estate_id == "changchunli")
        .cloned()
        .collect();
    assert_eq!(expected.len(), 10);
    assert_eq!(
        all_pages(&store, &filter, 3)
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        newest_first(expected)
    );

    let closed_only = CaseFilter {
        statuses: vec![CaseStatus::Closed],
        ..CaseFilter::default()
    };
    assert!(
        store
            .list_cases(&closed_only, 50, None)
            .unwrap()
            .items
            .is_empty()
    );

    assert_eq!(
        store
            .list_cases(&CaseFilter::default(), 0, None)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    let forged = xuncha_core::store::PageToken("garbage".into());
    assert_eq!(
        store
            .list_cases(&CaseFilter::default(), 5, Some(&forged))
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
}

#[test]
fn search_finds_text_in_description_location_and_building() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cases = seed_for_listing(&store);
    let search = |text: &str| {
        let filter = CaseFilter {
            text: Some(text.into()),
            ..CaseFilter::default()
        };
        all_pages(&store, &filter, 4)
    };
    // Three or more characters: full-text index.
    let scooters = search("电动车");
    assert_eq!(scooters.len(), 6);
    assert!(
        scooters
            .iter()
            .all(|c| c.description.as_deref().unwrap().contains("电动车"))
    );
    // Two characters: LIKE fallback. Building and location note are searched too.
    assert_eq!(
        search("2号楼").len(),
        cases
            .iter()
            .filter(|c| c.building.as_deref() == Some("2号楼"))
            .count()
    );
    assert_eq!(search("一层").len(), 30);
    assert_eq!(
        search("楼道").len(),
        30,
        "location note 楼道一层 is on every case"
    );
    // LIKE wildcards and FTS syntax in user text are literal.
    assert!(search("%").is_empty());
    assert!(search("\"OR\" *").is_empty());
    // Combined with a filter.
    let filter = CaseFilter {
        text: Some("电动车堵塞".into()),
        estate_ids: vec!["changchunli".into()],
        ..CaseFilter::default()
    };
    assert_eq!(all_pages(&store, &filter, 50).len(), 3);
}

#[test]
fn overdue_filter_uses_the_running_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let cases = seed_for_listing(&store);
    let now = Utc::now();
    let overdue_at = |at| CaseFilter {
        overdue_at: Some(at),
        ..CaseFilter::default()
    };
    assert!(
        store
            .list_cases(&overdue_at(now), 50, None)
            .unwrap()
            .items
            .is_empty()
    );
    let later = now + Duration::days(400);
    let listed = all_pages(&store, &overdue_at(later), 50);
    let expected: Vec<Case> = cases
        .iter()
        .filter(|c| c.is_overdue(later))
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        newest_first(expected)
    );
}

#[test]
fn create_case_runs_the_photo_pipeline_on_camera_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (width, height) = (640u16, 480u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| [(i % 251) as u8, (i / 7 % 253) as u8, 90])
        .collect();
    let camera_file = dir.path().join("IMG_0001.jpg");
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(&camera_file, &jpeg).unwrap();

    let captured = store
        .create_case(
            &inspector(),
            &draft(Category::SmallAds, "changchunli", CHANGCHUNLI, 5.0),
            std::slice::from_ref(&camera_file),
        )
        .unwrap();
    assert_eq!(captured.case.photos.len(), 1);
    let sha = &captured.case.photos[0].sha256;
    let (record, state) = store.photo(sha).unwrap().unwrap();
    assert_eq!(state, PhotoUploadState::Pending);
    assert_eq!((record.width, record.height), (640, 480));
    assert!(record.path.starts_with(store.photo_dir()) && record.path.is_file());
    assert!(record.thumbnail_path.is_file());

    // A file that is not an image is refused with the pipeline's code; nothing is stored.
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a photo").unwrap();
    let err = store
        .create_case(
            &inspector(),
            &draft(Category::Garbage, "changchunli", CHANGCHUNLI, 5.0),
            &[text],
        )
        .unwrap_err();
    assert!(
        matches!(err, xuncha_core::store::StoreError::Photo { .. }),
        "{err:?}"
    );
    assert_eq!(
        store
            .list_cases(&CaseFilter::default(), 10, None)
            .unwrap()
            .items
            .len(),
        1
    );
}
