//! The real `xuncha-server` binary, killed with SIGKILL while a phone pushes its backlog, then
//! restarted on the same data: nothing it acknowledged is lost, nothing is stored twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, Phone, access_token, both_backends, changchunli_fix};
use uuid::Uuid;
use xuncha_core::capture::CaseDraft;
use xuncha_core::catalog::Category;
use xuncha_core::store::EventSyncState;
use xuncha_core::sync::{SyncProgress, SyncUpdate};

const CASES: usize = 600;
const BATCH: u32 = 50;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server binary on `port` over `data` (and PostgreSQL if given); waits for /healthz.
async fn spawn_server(data: &Path, database_url: Option<&str>, port: u16, log_name: &str) -> Child {
    let log = std::fs::File::create(data.join(log_name)).unwrap();
    let mut command = Command::new(common::server_binary());
    command
        .args([
            "serve",
            "--demo",
            "--no-history",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data",
        ])
        .arg(data)
        .env_remove("XUNCHA_DATABASE_URL")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    if let Some(url) = database_url {
        command.args(["--database", url]);
    }
    let mut child = command.spawn().unwrap();
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "server exited at start with {status}; log in {}",
                data.join(log_name).display()
            );
        }
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become healthy on port {port}");
}

/// SIGKILLs the server once `after` events are acknowledged, from another thread a moment
/// later, so the kill lands while the next batch is on its way or being stored.
struct KillSwitch {
    child: Arc<Mutex<Option<Child>>>,
    after: u32,
}

impl SyncProgress for KillSwitch {
    fn on_update(&self, update: SyncUpdate) {
        if let SyncUpdate::Pushing { sent, .. } = update
            && sent >= self.after
            && let Some(mut child) = self.child.lock().unwrap().take()
        {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3));
                child.kill().unwrap();
                child.wait().unwrap();
            });
        }
    }
}

both_backends!(server_killed_mid_batch_and_restarted_loses_nothing_it_acknowledged);

async fn server_killed_mid_batch_and_restarted_loses_nothing_it_acknowledged(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let database_url = backend.database_url().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = spawn_server(data.path(), database_url.as_deref(), port, "server-1.log").await;

    let phone = Phone::enrol_custom(
        &base,
        "inspector.changchunli",
        |c| c.push_batch = BATCH,
        |s| s,
    )
    .await;
    let mut case_ids = Vec::with_capacity(CASES);
    for n in 0..CASES {
        let draft = CaseDraft {
            category: Category::Garbage,
            estate_id: "changchunli".to_owned(),
            building: Some(format!("{}号楼", n % 20 + 1)),
            unit_no: None,
            location_note: None,
            description: Some(format!("积存垃圾 #{n}")),
            gps: Some(changchunli_fix()),
        };
        case_ids.push(
            phone
                .store
                .create_case_with_photos(&phone.actor, &draft, &[])
                .unwrap()
                .case
                .id,
        );
    }

    let slot = Arc::new(Mutex::new(Some(child)));
    let switch = KillSwitch {
        child: slot.clone(),
        after: 200,
    };
    let error = phone.client.sync(&switch).await.unwrap_err();
    assert!(
        error.is_transient(),
        "the dead server is a transient failure: {error}"
    );
    assert!(slot.lock().unwrap().is_none(), "the server was killed");

    // What the phone was told is stored.
    let mut acknowledged: Vec<(Uuid, Uuid)> = Vec::new();
    for case_id in &case_ids {
        for stored in phone.store.case_events(*case_id).unwrap() {
            if stored.sync_state == EventSyncState::Synced {
                acknowledged.push((*case_id, stored.event.id));
            }
        }
    }
    assert!(
        acknowledged.len() >= 200 && acknowledged.len() < CASES,
        "{} acknowledged",
        acknowledged.len()
    );

    // Restart on the same data: every acknowledged event is there.
    let mut restarted =
        spawn_server(data.path(), database_url.as_deref(), port, "server-2.log").await;
    let admin = access_token(&base, "admin").await;
    for (case_id, event_id) in &acknowledged {
        let events = common::server_events(&base, &admin, *case_id).await;
        assert!(
            events.iter().any(|e| e["id"] == event_id.to_string()),
            "acknowledged event {event_id} lost"
        );
    }

    // The phone finishes; nothing is refused, nothing is stored twice.
    let report = phone.sync().await;
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        report.applied as usize + report.duplicate as usize,
        CASES - acknowledged.len(),
        "{report:?}"
    );
    let counts = phone.store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending, counts.in_flight, counts.rejected),
        (0, 0, 0)
    );
    let observer = Phone::enrol(&base, "committee.changchunli").await;
    let pulled = observer.sync().await;
    let seen: HashSet<Uuid> = case_ids
        .iter()
        .copied()
        .filter(|id| observer.store.case(*id).unwrap().is_some())
        .collect();
    assert_eq!(seen.len(), CASES);
    assert_eq!(
        pulled.pulled_events as usize, CASES,
        "one event per case, none twice: {pulled:?}"
    );

    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
