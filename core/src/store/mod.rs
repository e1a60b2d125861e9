//! The device store: one SQLite file per signed-in phone (feature `device`).
//!
//! Shape (after mozilla/application-services): one writer connection and one reader connection,
//! each behind its own mutex, WAL so the reader never waits for the writer. Every write is one
//! `BEGIN IMMEDIATE` transaction. `synchronous = FULL`: the WAL is fsynced at every commit, so
//! whatever the app told the user is saved survives a process kill *and* a power cut (NORMAL
//! only survives the former). A capture is a human action and costs one fsync (~0.13 ms on the
//! build VM); bulk writes (a pull) batch many rows per commit, so FULL is cheap everywhere.
//!
//! The store keeps, per case, the last snapshot the server confirmed and the current view
//! (that snapshot with the local, unacknowledged events folded on top), plus a change counter of
//! local events the server has not answered. An edit made while an upload is in flight is a new
//! event that bumps the counter, so answering the in-flight one never marks the case clean.
//!
//! All calls are synchronous and may block on disk: call them off the UI thread (and through
//! `spawn_blocking` from async code).
//!
//! Code map: [`error`] (public `StoreError` over the rich internal error), `schema/migrations`
//! (the `user_version` migrator), `cases` (case rows, listing and search), `outbox` (events and the
//! sync-client API), `photos` (photo rows and upload progress), `reference` (estates, unit
//! directory and routing rules cached from the server), `view` (what the phone's screens show:
//! photo upload states, photo counts, unsynced changes, the sync badge).

pub(crate) mod cases;
pub mod error;
pub(crate) mod outbox;
pub(crate) mod photos;
pub(crate) mod reference;
pub(crate) mod schema;
pub(crate) mod view;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use uuid::Uuid;

pub use cases::{CaseFilter, CaseListItem, CasePage, PageToken};
pub use error::StoreError;
pub use outbox::{EventSyncState, OutboxCounts, OutboxEvent, PullSummary};
pub use photos::{PendingPhoto, PhotoRecord, PhotoRefusal, PhotoUploadState};
pub use view::{
    CaseDetailView, CaseListView, CasePhotoView, CaseViewPage, SyncBadge, TimelineView,
    is_overdue_now, overdue_now,
};

use error::{Error, Result};
use schema::migrations;

/// How long a connection waits for a lock held by another process (a second app instance, a
/// backup tool) before failing with `DATABASE`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The device's SQLite store. `Send + Sync`: share it behind an `Arc`.
pub struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    photo_dir: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("photo_dir", &self.photo_dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`, migrating it to the current schema.
    /// Photos go to a `photos` folder next to the file. A file written by a newer app version
    /// fails with `SCHEMA_TOO_NEW` and is left untouched.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let photo_dir = path
            .parent()
            .map_or_else(|| PathBuf::from("photos"), |dir| dir.join("photos"));
        Store::open_with_photo_dir(path, &photo_dir)
    }

    /// Like [`Store::open`] with an explicit folder for processed photos and thumbnails.
    pub fn open_with_photo_dir(path: &Path, photo_dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::open_inner(path, photo_dir)?)
    }

    fn open_inner(path: &Path, photo_dir: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::create_dir_all(photo_dir)?;
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // Before anything writes to the file (even the WAL switch): refuse a newer schema.
        migrations::check_not_newer(&writer)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "store: WAL unavailable, using the rollback journal");
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        let from = migrations::migrate(&mut writer)?;
        if from != migrations::LATEST {
            tracing::info!(from, to = migrations::LATEST, "store: schema migrated");
        }
        reference::seed_builtin(&mut writer)?;
        // Long-lived connection: let SQLite analyse tables whose statistics are missing or stale.
        writer.execute_batch("PRAGMA optimize = 0x10002")?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.pragma_update(None, "query_only", true)?;
        Ok(Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            photo_dir: photo_dir.to_path_buf(),
        })
    }

    /// The folder processed photos and thumbnails are written to.
    pub fn photo_dir(&self) -> &Path {
        &self.photo_dir
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.read(migrations::user_version)?)
    }

    /// Refreshes the planner's statistics where SQLite thinks they are stale (cheap when not).
    /// Failures only cost speed, so they are logged, not returned.
    pub fn optimize(&self) {
        let result = lock(&self.writer).and_then(|conn| Ok(conn.execute_batch("PRAGMA optimize")?));
        if let Err(error) = result {
            tracing::warn!(%error, "store: PRAGMA optimize failed");
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer and commits (durably).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on the reader connection (sees the last committed state).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader)?;
        f(&conn)
    }
}

fn lock(mutex: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    mutex.lock().map_err(|_| Error::Poisoned)
}

/// Times are stored as unix milliseconds, UTC.
pub(crate) fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_ms(column: &'static str, ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| Error::BadColumn {
            column,
            value: ms.to_string(),
        })
}

pub(crate) fn id_from_blob(column: &'static str, blob: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(blob).map_err(|_| Error::BadColumn {
        column,
        value: hex::encode(blob),
    })
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}
