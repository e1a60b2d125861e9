//! Events: the local outbox the sync client drains, and the server's events pulled in.
//!
//! A local event is `pending` until a push claims it (`in_flight`, attempt counted), then
//! `synced` or `rejected` by the server's answer. A push that never got an answer leaves events
//! `in_flight`; the next claim hands them out again (the server deduplicates by event id), so a
//! batch that half-committed on the server is never believed all-or-nothing here.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol::{Cursor, EventOutcome, EventResult, PullResponse};
use crate::store::cases::{self, load_server_snapshot, write_server_snapshot, write_view};
use crate::store::error::{Error, Result};
use crate::store::{Store, StoreError, id_from_blob, now, reference, to_ms};
use crate::workflow::{Case, Event, apply};

/// The server's code for an event citing a photo it does not hold for its actor.
pub use crate::workflow::PHOTO_NOT_RECEIVED;

/// Pushes of one event after which a `PHOTO_NOT_RECEIVED` parks it instead of uploading its
/// photos again.
pub const PHOTO_RESEND_ATTEMPTS: i64 = 5;

/// Where a stored event stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventSyncState {
    /// Recorded here, not yet sent.
    Pending,
    /// Sent, no answer yet (sent again on the next push).
    InFlight,
    /// The server has it.
    Synced,
    /// The server refused it for good; `reject_code` / `reject_message` say why.
    Rejected,
}

impl EventSyncState {
    fn code(self) -> &'static str {
        match self {
            EventSyncState::Pending => "pending",
            EventSyncState::InFlight => "in_flight",
            EventSyncState::Synced => "synced",
            EventSyncState::Rejected => "rejected",
        }
    }

    fn from_code(code: &str) -> Result<EventSyncState> {
        Ok(match code {
            "pending" => EventSyncState::Pending,
            "in_flight" => EventSyncState::InFlight,
            "synced" => EventSyncState::Synced,
            "rejected" => EventSyncState::Rejected,
            other => {
                return Err(Error::BadColumn {
                    column: "events.sync_state",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// A stored event with its sync bookkeeping (for timelines and the "refused" list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event: Event,
    pub sync_state: EventSyncState,
    /// Pushes that carried it.
    pub attempts: u32,
    pub reject_code: Option<String>,
    pub reject_message: Option<String>,
}

/// What a pull changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullSummary {
    pub cases_updated: u32,
    pub events_stored: u32,
    /// Local events still waiting for the server that no longer apply on top of the server's
    /// newer state (the server will most likely refuse them; the user sees the answer).
    pub stale_local_events: Vec<Uuid>,
}

/// Counts for a sync badge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    pub pending: u32,
    pub in_flight: u32,
    pub rejected: u32,
}

impl Store {
    /// Claims up to `limit` unanswered local events that `author` (`actor.user_id`) recorded,
    /// oldest first, for one push: marks them `in_flight` and counts the attempt. Events a
    /// previous push left unanswered come first. Other users' events stay pending for their own
    /// sign-in: the server stamps pushed events with the token's user. An event also waits
    /// while an earlier event of another author on the same case is unanswered (a colleague's
    /// comment on a report not yet sent), so the server sees each case's changes in order, and
    /// while it or an earlier unanswered event of its case cites a photo not uploaded yet (the
    /// server applies an event only once its photos are there): pending, or parked `refused`
    /// until the user retries it (`retry_refused_photo`), so nothing is lost meanwhile.
    pub fn pending_events(&self, author: &str, limit: u32) -> Result<Vec<Event>, StoreError> {
        Ok(self.write(|tx| {
            let claimed: Vec<(i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, event_json FROM events AS mine
                     WHERE sync_state IN ('pending', 'in_flight')
                       AND json_extract(event_json, '$.actor.user_id') = ?2
                       AND NOT EXISTS (
                           SELECT 1 FROM events AS earlier
                           WHERE earlier.case_id = mine.case_id AND earlier.seq < mine.seq
                             AND earlier.sync_state IN ('pending', 'in_flight')
                             AND json_extract(earlier.event_json, '$.actor.user_id') <> ?2)
                       AND NOT EXISTS (
                           SELECT 1 FROM events AS waiting, json_each(waiting.event_json, '$.photos') AS cited
                           JOIN photos ON photos.sha256 = json_extract(cited.value, '$.sha256')
                           WHERE waiting.case_id = mine.case_id AND waiting.seq <= mine.seq
                             AND waiting.sync_state IN ('pending', 'in_flight')
                             AND photos.upload_state <> 'uploaded')
                     ORDER BY seq LIMIT ?1",
                )?;
                stmt.query_map(rusqlite::params![i64::from(limit), author], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            let mut mark = tx.prepare_cached(
                "UPDATE events SET sync_state = 'in_flight', attempts = attempts + 1 WHERE seq = ?1",
            )?;
            let mut events = Vec::with_capacity(claimed.len());
            for (seq, json) in claimed {
                mark.execute([seq])?;
                events.push(serde_json::from_str(&json)?);
            }
            Ok(events)
        })?)
    }

    /// Unanswered local events (`pending` + `in_flight`) of one author.
    pub fn unanswered_events_of(&self, author: &str) -> Result<u32, StoreError> {
        Ok(self.read(|conn| {
            let count: i64 = conn.query_row(
                "SELECT count(*) FROM events WHERE sync_state IN ('pending', 'in_flight')
                 AND json_extract(event_json, '$.actor.user_id') = ?1",
                [author],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })?)
    }

    /// Records the server's answers to a push. A `PHOTO_NOT_RECEIVED` for an event whose
    /// photos this phone had uploaded (the server no longer holds them) puts those photos back
    /// in the upload queue and the event back in the outbox, a few times at most
    /// ([`PHOTO_RESEND_ATTEMPTS`]); otherwise it is parked like any refusal. `APPLIED` / `DUPLICATE` mark the event synced and
    /// take the server's case as the new base; `REJECTED` parks the event with its reason and
    /// drops it from the local view. Answers for events already answered are ignored, so a
    /// repeated call changes nothing.
    pub fn mark_synced(&self, results: &[EventResult]) -> Result<(), StoreError> {
        Ok(self.write(|tx| {
            let mut touched = BTreeSet::new();
            for result in results {
                let Some((case_id, state)) = local_event_state(tx, result.event_id)? else {
                    tracing::warn!(event_id = %result.event_id, "store: answer for an unknown event");
                    continue;
                };
                if !matches!(state, EventSyncState::Pending | EventSyncState::InFlight) {
                    continue;
                }
                match &result.outcome {
                    EventOutcome::Applied { case } | EventOutcome::Duplicate { case } => {
                        set_event_state(tx, result.event_id, EventSyncState::Synced, None)?;
                        take_server_snapshot(tx, case)?;
                    }
                    EventOutcome::Rejected { code, .. }
                        if code == PHOTO_NOT_RECEIVED
                            && photo_gone_from_server(tx, result.event_id)? =>
                    {
                        // The server lost a photo it had acknowledged (swept after a long
                        // wait): upload it again and send the event after it.
                        tracing::info!(event_id = %result.event_id, "store: photo missing on the server, uploaded again before the event");
                        set_event_state(tx, result.event_id, EventSyncState::Pending, None)?;
                        continue;
                    }
                    EventOutcome::Rejected { code, message } => {
                        tracing::info!(event_id = %result.event_id, %code, "store: event rejected");
                        set_event_state(
                            tx,
                            result.event_id,
                            EventSyncState::Rejected,
                            Some((code, message)),
                        )?;
                    }
                }
                cases::bump_change_counter(tx, case_id, -1)?;
                touched.insert(case_id);
            }
            tx.execute("UPDATE sync_state SET last_push_at = ?1 WHERE id = 1", [to_ms(now())])?;
            for case_id in touched {
                refold(tx, case_id)?;
            }
            Ok(())
        })?)
    }

    /// Applies one page of the server's change feed in one transaction: reference data, the
    /// server's events and cases (authoritative), then re-applies local unanswered events on
    /// top, and moves the cursor — all or nothing.
    pub fn apply_pull(&self, pull: &PullResponse) -> Result<PullSummary, StoreError> {
        let summary = self.write(|tx| {
            reference::store_pulled(tx, pull)?;
            let mut summary = PullSummary::default();
            let mut touched = BTreeSet::new();
            for event in &pull.events {
                if store_server_event(tx, event)? {
                    summary.events_stored += 1;
                }
                touched.insert(event.case_id);
            }
            for (case_id, number) in &pull.case_numbers {
                tx.execute(
                    "INSERT INTO case_numbers (case_id, number) VALUES (?1, ?2)
                     ON CONFLICT (case_id) DO UPDATE SET number = excluded.number",
                    params![case_id.as_bytes().as_slice(), number],
                )?;
            }
            for case in &pull.cases {
                take_server_snapshot(tx, case)?;
                summary.cases_updated += 1;
                touched.insert(case.id);
            }
            for case_id in touched {
                summary.stale_local_events.extend(refold(tx, case_id)?);
            }
            tx.execute(
                "UPDATE sync_state SET cursor = ?1, last_pull_at = ?2 WHERE id = 1",
                params![pull.next_cursor.0, to_ms(now())],
            )?;
            Ok(summary)
        })?;
        if !pull.cases.is_empty() {
            // Large pulls change the index statistics the planner needs to pick, e.g., between
            // the deadline index and the time index for the overdue list.
            self.optimize();
        }
        Ok(summary)
    }

    /// Where the next pull starts; `None` before the first pull.
    pub fn sync_cursor(&self) -> Result<Option<Cursor>, StoreError> {
        Ok(self.read(|conn| {
            let cursor: Option<String> =
                conn.query_row("SELECT cursor FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
            Ok(cursor.map(Cursor))
        })?)
    }

    /// Sets the pull cursor (normally [`Store::apply_pull`] does it with the data).
    pub fn set_sync_cursor(&self, cursor: &Cursor) -> Result<(), StoreError> {
        Ok(self.write(|tx| {
            tx.execute(
                "UPDATE sync_state SET cursor = ?1 WHERE id = 1",
                [&cursor.0],
            )?;
            Ok(())
        })?)
    }

    /// Every stored event of a case, oldest first, with its sync state.
    pub fn case_events(&self, case_id: Uuid) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self.read(|conn| {
            query_outbox(
                conn,
                "WHERE case_id = ?1 ORDER BY seq",
                params![case_id.as_bytes().as_slice()],
            )
        })?)
    }

    /// Local events the server refused, newest first: the app shows them with their reason.
    pub fn rejected_events(&self) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self.read(|conn| {
            query_outbox(
                conn,
                "WHERE sync_state = 'rejected' ORDER BY seq DESC",
                params![],
            )
        })?)
    }

    /// How many local events wait, travel, or were refused.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(self.read(|conn| {
            let mut counts = OutboxCounts::default();
            let mut stmt = conn.prepare_cached(
                "SELECT sync_state, count(*) FROM events
                 WHERE sync_state IN ('pending', 'in_flight', 'rejected') GROUP BY sync_state",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let n = u32::try_from(row.get::<_, i64>(1)?).unwrap_or(u32::MAX);
                match EventSyncState::from_code(&row.get::<_, String>(0)?)? {
                    EventSyncState::Pending => counts.pending = n,
                    EventSyncState::InFlight => counts.in_flight = n,
                    EventSyncState::Rejected => counts.rejected = n,
                    EventSyncState::Synced => {}
                }
            }
            Ok(counts)
        })?)
    }
}

/// Stores a new local event (pending) with its photo links and counts it against its case.
/// The case row must exist.
pub(crate) fn insert_local_event(conn: &Connection, event: &Event) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (id, case_id, kind, device_time, event_json, origin, sync_state)
         VALUES (?1, ?2, ?3, ?4, ?5, 'local', 'pending')",
    )?
    .execute(params![
        event.id.as_bytes().as_slice(),
        event.case_id.as_bytes().as_slice(),
        action_code(event),
        to_ms(event.device_time),
        serde_json::to_string(event)?,
    ])?;
    link_photos(conn, event)?;
    cases::bump_change_counter(conn, event.case_id, 1)
}

fn link_photos(conn: &Connection, event: &Event) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO event_photos (event_id, sha256, kind) VALUES (?1, ?2, ?3)",
    )?;
    for photo in &event.photos {
        let kind = serde_json::to_value(photo.kind)?;
        stmt.execute(params![
            event.id.as_bytes().as_slice(),
            photo.sha256,
            kind.as_str().unwrap_or_default()
        ])?;
    }
    Ok(())
}

fn action_code(event: &Event) -> String {
    serde_json::to_value(event.action.kind())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A server event: new ones are stored as synced; one of ours gets the server's copy (with its
/// timestamp) and counts as answered. Returns whether the row is new.
fn store_server_event(conn: &Connection, event: &Event) -> Result<bool> {
    let json = serde_json::to_string(event)?;
    let server_time = event.server_time.map(to_ms);
    if let Some((case_id, state)) = local_event_state(conn, event.id)? {
        conn.prepare_cached(
            "UPDATE events SET event_json = ?2, server_time = ?3, sync_state = 'synced',
                               reject_code = NULL, reject_message = NULL
             WHERE id = ?1",
        )?
        .execute(params![event.id.as_bytes().as_slice(), json, server_time])?;
        if matches!(state, EventSyncState::Pending | EventSyncState::InFlight) {
            cases::bump_change_counter(conn, case_id, -1)?;
        }
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO events (id, case_id, kind, device_time, server_time, event_json, origin,
                             sync_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'server', 'synced')",
    )?
    .execute(params![
        event.id.as_bytes().as_slice(),
        event.case_id.as_bytes().as_slice(),
        action_code(event),
        to_ms(event.device_time),
        server_time,
        json,
    ])?;
    link_photos(conn, event)?;
    Ok(true)
}

fn local_event_state(conn: &Connection, event_id: Uuid) -> Result<Option<(Uuid, EventSyncState)>> {
    let row: Option<(Vec<u8>, String)> = conn
        .query_row(
            "SELECT case_id, sync_state FROM events WHERE id = ?1",
            [event_id.as_bytes().as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(case_id, state)| {
        Ok((
            id_from_blob("events.case_id", &case_id)?,
            EventSyncState::from_code(&state)?,
        ))
    })
    .transpose()
}

fn set_event_state(
    conn: &Connection,
    event_id: Uuid,
    state: EventSyncState,
    rejection: Option<(&String, &String)>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE events SET sync_state = ?2, reject_code = ?3, reject_message = ?4 WHERE id = ?1",
    )?
    .execute(params![
        event_id.as_bytes().as_slice(),
        state.code(),
        rejection.map(|r| r.0),
        rejection.map(|r| r.1),
    ])?;
    Ok(())
}

/// Keeps the server's snapshot unless an equal or newer one is already stored (answers and
/// pulls may arrive out of order).
fn take_server_snapshot(conn: &Connection, case: &Case) -> Result<()> {
    match load_server_snapshot(conn, case.id)? {
        None => {
            write_view(conn, case)?;
            write_server_snapshot(conn, case)
        }
        Some(Some(stored)) if stored.version > case.version => Ok(()),
        Some(_) => write_server_snapshot(conn, case),
    }
}

/// Rebuilds a case's view: the server's snapshot with every unanswered local event applied on
/// top through the shared workflow. Events that no longer apply stay queued (the server gives
/// the final answer) and are returned. With no snapshot and nothing that applies, the view
/// stays as it was: nothing the user saved disappears from the phone.
fn refold(conn: &Connection, case_id: Uuid) -> Result<Vec<Uuid>> {
    let Some(base) = load_server_snapshot(conn, case_id)? else {
        return Ok(Vec::new());
    };
    let unanswered = {
        let mut stmt = conn.prepare_cached(
            "SELECT event_json FROM events
             WHERE case_id = ?1 AND origin = 'local' AND sync_state IN ('pending', 'in_flight')
             ORDER BY seq",
        )?;
        stmt.query_map([case_id.as_bytes().as_slice()], |r| r.get::<_, String>(0))?
            .map(|json| Ok(serde_json::from_str::<Event>(&json?)?))
            .collect::<Result<Vec<Event>>>()?
    };
    let mut view = base;
    let mut stale = Vec::new();
    for event in &unanswered {
        match apply(view.as_ref(), event) {
            Ok(case) => view = Some(case),
            Err(error) => {
                tracing::info!(event_id = %event.id, code = error.code(), "store: local event no longer applies");
                stale.push(event.id);
            }
        }
    }
    if let Some(case) = view {
        write_view(conn, &case)?;
    }
    Ok(stale)
}

fn query_outbox(
    conn: &Connection,
    tail: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<OutboxEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT event_json, sync_state, attempts, reject_code, reject_message FROM events {tail}"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(OutboxEvent {
            event: serde_json::from_str(&row.get::<_, String>(0)?)?,
            sync_state: EventSyncState::from_code(&row.get::<_, String>(1)?)?,
            attempts: u32::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            reject_code: row.get(3)?,
            reject_message: row.get(4)?,
        });
    }
    Ok(out)
}

/// For a `PHOTO_NOT_RECEIVED` answer: if the event cites photos of this phone marked uploaded,
/// none it cites was refused, and it has not been pushed too often, marks those photos pending
/// again (from byte 0) and says so.
fn photo_gone_from_server(tx: &Connection, event_id: Uuid) -> Result<bool> {
    let attempts: Option<i64> = tx
        .query_row(
            "SELECT attempts FROM events WHERE id = ?1",
            [event_id.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .optional()?;
    if attempts.is_none_or(|n| n >= PHOTO_RESEND_ATTEMPTS) {
        return Ok(false);
    }
    // A cited photo the server refused for its bytes explains the answer: park the event.
    let refused: i64 = tx.query_row(
        "SELECT count(*) FROM photos WHERE upload_state = 'refused' AND sha256 IN (
             SELECT json_extract(cited.value, '$.sha256')
             FROM events, json_each(events.event_json, '$.photos') AS cited
             WHERE events.id = ?1)",
        [event_id.as_bytes().as_slice()],
        |r| r.get(0),
    )?;
    if refused > 0 {
        return Ok(false);
    }
    let requeued = tx.execute(
        "UPDATE photos SET upload_state = 'pending', uploaded_bytes = 0
         WHERE upload_state = 'uploaded' AND sha256 IN (
             SELECT json_extract(cited.value, '$.sha256')
             FROM events, json_each(events.event_json, '$.photos') AS cited
             WHERE events.id = ?1)",
        [event_id.as_bytes().as_slice()],
    )?;
    Ok(requeued > 0)
}
