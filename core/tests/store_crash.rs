//! A case the store said was saved survives the process being killed (SIGKILL, no unwinding,
//! no destructors, no checkpoint). The child is this test binary re-run with an env var.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use uuid::Uuid;
use xuncha_core::capture::CaseDraft;
use xuncha_core::geo::GpsFix;
use xuncha_core::store::{EventSyncState, Store};
use xuncha_core::workflow::Actor;
use xuncha_core::{Category, Role};

const CHILD_DB_ENV: &str = "XUNCHA_CRASH_CHILD_DB";

fn actor() -> Actor {
    Actor {
        user_id: "u-1".into(),
        role: Role::Inspector,
        unit_id: "jwh-1".into(),
    }
}

/// In the child: save cases, announce each id, then keep writing until killed.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DB_ENV) else {
        return; // Only does something when the parent test runs it.
    };
    let store = Store::open(path.as_ref()).unwrap();
    let draft = CaseDraft {
        category: Category::FireLaneBlocked,
        estate_id: "changchunli".into(),
        building: Some("5号楼".into()),
        unit_no: None,
        location_note: Some("消防通道".into()),
        description: Some("私家车占用消防通道".into()),
        gps: Some(GpsFix {
            lat: 39.1135,
            lon: 117.1930,
            accuracy_m: Some(6.0),
            provider: Some("gps".into()),
        }),
    };
    for n in 0.. {
        let captured = store
            .create_case_with_photos(&actor(), &draft, &[])
            .unwrap();
        // Only after the call returned (= what the app would tell the user) is it announced.
        println!("SAVED {} {n}", captured.case.id);
    }
}

#[test]
fn case_committed_before_sigkill_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xuncha.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut saved = Vec::new();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("SAVED ") {
            let id = rest.split_whitespace().next().unwrap();
            saved.push(Uuid::parse_str(id).unwrap());
            if saved.len() == 20 {
                break;
            }
        }
    }
    // Killed mid-stream, while it is inside further transactions.
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "child must have been killed, not exited: {status:?}"
    );
    assert_eq!(saved.len(), 20, "child announced too few saves");

    let store = Store::open(&path).unwrap();
    for id in &saved {
        let case = store.case(*id).unwrap();
        assert!(
            case.is_some(),
            "case {id} was announced as saved but is gone"
        );
        let events = store.case_events(*id).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].sync_state, EventSyncState::Pending);
    }
    let integrity: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
