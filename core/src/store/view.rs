//! What the phone's screens show, derived from the store in one place so every app (Kotlin,
//! Swift, Python through the bindings) shows the same: a photo's upload state (a photo this phone
//! does not hold came from the server, so the server has it), a case's photo counts, its unsynced
//! changes, the sync badge, and "overdue" as of the device clock now.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{
    CaseFilter, CaseListItem, EventSyncState, OutboxEvent, PageToken, PhotoRefusal,
    PhotoUploadState, Store, StoreError, now,
};
use crate::workflow::{self, ActionKind, Actor, Case, PhotoKind, PhotoRef};

/// One photo of a case as this phone knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasePhotoView {
    pub sha256: String,
    pub kind: PhotoKind,
    /// The re-encoded JPEG on this phone, if it is here (photos of other phones' cases are not).
    pub path: Option<PathBuf>,
    pub thumbnail_path: Option<PathBuf>,
    pub upload_state: PhotoUploadState,
    /// Why the server refused it, when `upload_state` is `Refused`.
    pub refusal: Option<PhotoRefusal>,
}

impl CasePhotoView {
    /// The server holds the whole file.
    pub fn uploaded(&self) -> bool {
        self.upload_state == PhotoUploadState::Uploaded
    }
}

/// One listed case with its sync bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseListView {
    pub case: Case,
    /// The case number (案件编号, e.g. `和平-20261204-0012`) the server gave it; `None` until a
    /// pull delivers it (a case reported on this phone and not yet synced).
    pub number: Option<String>,
    /// Local events the server has not answered yet (0 = in sync).
    pub unsynced_changes: u32,
    /// Photos of the case taken on this phone, how many of them the server holds, and how many
    /// it refused.
    pub photos_total: u32,
    pub photos_uploaded: u32,
    pub photos_refused: u32,
}

/// A page of listed cases, newest report first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseViewPage {
    pub items: Vec<CaseListView>,
    /// Pass back for the next page; `None` on the last page.
    pub next: Option<PageToken>,
}

/// One entry of a case's timeline: the stored event, its photos and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineView {
    pub entry: OutboxEvent,
    pub photos: Vec<CasePhotoView>,
}

/// Everything the case screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDetailView {
    pub case: Case,
    /// The case number the server gave it, as in [`CaseListView::number`].
    pub number: Option<String>,
    pub timeline: Vec<TimelineView>,
    /// The actions `actor` may take now (empty without an actor, i.e. signed out).
    pub allowed_actions: Vec<ActionKind>,
    pub photos: Vec<CasePhotoView>,
    /// Local events of the case the server has not answered yet.
    pub unsynced_changes: u32,
}

/// Counts for a sync badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncBadge {
    pub pending: u32,
    pub in_flight: u32,
    pub rejected: u32,
    pub photos_pending: u32,
    /// Photos the server refused; not counted in `photos_pending` (they are not sent again).
    pub photos_refused: u32,
}

impl EventSyncState {
    /// Still waiting for the server's answer (pending or in flight).
    pub fn is_unsynced(self) -> bool {
        matches!(self, EventSyncState::Pending | EventSyncState::InFlight)
    }
}

/// The `overdue_at` instant of a case filter for "only overdue cases": now, on the device clock.
pub fn overdue_now(overdue_only: bool) -> Option<DateTime<Utc>> {
    overdue_only.then(now)
}

/// Whether the case's running deadline has passed, on the device clock now.
pub fn is_overdue_now(case: &Case) -> bool {
    case.is_overdue(now())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Store {
    /// The photos `refs` names, each with its upload state on this phone.
    pub fn case_photos(&self, refs: &[PhotoRef]) -> Result<Vec<CasePhotoView>, StoreError> {
        refs.iter()
            .map(|photo| {
                let stored = self.photo(&photo.sha256)?;
                // A photo this phone does not hold came from the server: it has it.
                let upload_state = stored
                    .as_ref()
                    .map_or(PhotoUploadState::Uploaded, |(_, state)| *state);
                let refusal = match upload_state {
                    PhotoUploadState::Refused => self.photo_refusal(&photo.sha256)?,
                    _ => None,
                };
                let (path, thumbnail_path) = match stored {
                    Some((record, _)) => (Some(record.path), Some(record.thumbnail_path)),
                    None => (None, None),
                };
                Ok(CasePhotoView {
                    sha256: photo.sha256.clone(),
                    kind: photo.kind,
                    path,
                    thumbnail_path,
                    upload_state,
                    refusal,
                })
            })
            .collect()
    }

    /// A listed case with the counts of its photos taken on this phone.
    pub fn case_list_view(&self, item: CaseListItem) -> Result<CaseListView, StoreError> {
        let photos = self.case_photos(&item.case.photos)?;
        let local = || photos.iter().filter(|p| p.path.is_some());
        Ok(CaseListView {
            photos_total: count(local().count()),
            photos_uploaded: count(local().filter(|p| p.uploaded()).count()),
            photos_refused: count(
                local()
                    .filter(|p| p.upload_state == PhotoUploadState::Refused)
                    .count(),
            ),
            unsynced_changes: item.unsynced_changes,
            number: self.case_number(item.case.id)?,
            case: item.case,
        })
    }

    /// [`Store::list_cases`] with each case's photo counts.
    pub fn list_case_views(
        &self,
        filter: &CaseFilter,
        limit: u32,
        after: Option<&PageToken>,
    ) -> Result<CaseViewPage, StoreError> {
        let page = self.list_cases(filter, limit, after)?;
        Ok(CaseViewPage {
            items: page
                .items
                .into_iter()
                .map(|item| self.case_list_view(item))
                .collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    /// The case screen of case `id`: timeline with sync states, photos, and the actions `actor`
    /// may take (none without an actor). `None` when the case is not on this phone.
    pub fn case_detail(
        &self,
        id: Uuid,
        actor: Option<&Actor>,
    ) -> Result<Option<CaseDetailView>, StoreError> {
        let Some(case) = self.case(id)? else {
            return Ok(None);
        };
        let allowed_actions = actor.map_or_else(Vec::new, |actor| {
            workflow::allowed_actions(Some(&case), actor)
        });
        let events = self.case_events(id)?;
        let unsynced_changes = count(events.iter().filter(|e| e.sync_state.is_unsynced()).count());
        let timeline = events
            .into_iter()
            .map(|entry| {
                Ok(TimelineView {
                    photos: self.case_photos(&entry.event.photos)?,
                    entry,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(CaseDetailView {
            number: self.case_number(id)?,
            photos: self.case_photos(&case.photos)?,
            case,
            timeline,
            allowed_actions,
            unsynced_changes,
        }))
    }

    /// Counts for the sync badge: events by state, photos waiting and refused.
    pub fn sync_badge(&self) -> Result<SyncBadge, StoreError> {
        let events = self.outbox_counts()?;
        Ok(SyncBadge {
            pending: events.pending,
            in_flight: events.in_flight,
            rejected: events.rejected,
            photos_pending: count(self.pending_photos()?.len()),
            photos_refused: self.refused_photo_count()?,
        })
    }
}
