//! The device [`Store`] as the sync engine's [`SyncStore`]: a thin mapping, no logic.

use crate::protocol::{Cursor, EventResult, PullResponse};
use crate::store::{Store, StoreError};
use crate::workflow::Event;

use super::{LocalError, PhotoFailure, PhotoToUpload, PullApplied, SyncStore};

fn local(error: StoreError) -> LocalError {
    LocalError {
        code: error.code().to_owned(),
        message: error.to_string(),
    }
}

impl SyncStore for Store {
    fn unanswered_events(&self, author: &str) -> Result<u32, LocalError> {
        self.unanswered_events_of(author).map_err(local)
    }

    fn claim_events(&self, author: &str, limit: u32) -> Result<Vec<Event>, LocalError> {
        self.pending_events(author, limit).map_err(local)
    }

    fn record_results(&self, results: &[EventResult]) -> Result<(), LocalError> {
        self.mark_synced(results).map_err(local)
    }

    fn photos_to_upload(&self) -> Result<Vec<PhotoToUpload>, LocalError> {
        Ok(self
            .pending_photos()
            .map_err(local)?
            .into_iter()
            .map(|p| PhotoToUpload {
                sha256: p.sha256,
                path: p.path,
                bytes: p.bytes,
                uploaded_bytes: p.uploaded_bytes,
            })
            .collect())
    }

    fn record_photo_progress(&self, sha256: &str, received: u64) -> Result<(), LocalError> {
        self.set_photo_upload_progress(sha256, received)
            .map_err(local)
    }

    fn mark_photo_uploaded(&self, sha256: &str) -> Result<(), LocalError> {
        Store::mark_photo_uploaded(self, sha256).map_err(local)
    }

    fn mark_photo_refused(&self, failure: &PhotoFailure) -> Result<(), LocalError> {
        Store::mark_photo_refused(
            self,
            &failure.sha256,
            failure.http_status,
            &failure.code,
            &failure.message,
        )
        .map_err(local)
    }

    fn cursor(&self) -> Result<Option<Cursor>, LocalError> {
        self.sync_cursor().map_err(local)
    }

    fn apply_pull(&self, page: &PullResponse) -> Result<PullApplied, LocalError> {
        let summary = Store::apply_pull(self, page).map_err(local)?;
        Ok(PullApplied {
            cases_updated: summary.cases_updated,
            events_stored: summary.events_stored,
            stale_local_events: summary.stale_local_events,
        })
    }
}
