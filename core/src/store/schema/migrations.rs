//! A small `PRAGMA user_version` migrator (rusqlite_migration does not resolve with rusqlite
//! 0.43). Each migration runs once, in order, inside the same `BEGIN IMMEDIATE` transaction as
//! the `user_version` bump, so a crash mid-migration leaves the previous schema intact.
//! A file whose version is above [`LATEST`] was written by a newer app: it is refused before
//! anything is written to it.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::error::{Error, Result};

/// One schema step. `sql` may hold several statements.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration is never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tables",
        sql: r#"
-- Reference data cached from the server (seeded from the built-in demo until the first pull).
CREATE TABLE estates (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    boundary_geojson TEXT NOT NULL,            -- GeoJSON Polygon/MultiPolygon, WGS-84 [lon, lat]
    estate_json      TEXT NOT NULL,            -- the whole `Estate`
    origin           TEXT NOT NULL CHECK (origin IN ('builtin', 'server'))
) STRICT;

CREATE TABLE org_units (
    id        TEXT PRIMARY KEY,
    unit_type TEXT NOT NULL,
    unit_json TEXT NOT NULL,                   -- the whole `OrgUnit`
    origin    TEXT NOT NULL CHECK (origin IN ('builtin', 'server'))
) STRICT;

-- The routing rules file (TOML) as the server last sent it; no row = the built-in rules.
CREATE TABLE routing_rules (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    rules_toml TEXT NOT NULL,
    received_at INTEGER NOT NULL               -- unix ms UTC
) STRICT;

-- One row per case: the current view as columns (for listing) and as JSON (the `Case`).
CREATE TABLE cases (
    id             BLOB PRIMARY KEY,           -- UUIDv7, 16 bytes
    category       TEXT NOT NULL,
    estate_id      TEXT NOT NULL,
    status         TEXT NOT NULL,
    is_open        INTEGER NOT NULL,
    building       TEXT,
    unit_no        TEXT,
    location_note  TEXT,
    description    TEXT,
    lat            REAL,                       -- WGS-84
    lon            REAL,
    accuracy_m     REAL,
    reported_at    INTEGER NOT NULL,           -- unix ms UTC
    updated_at     INTEGER NOT NULL,
    current_due    INTEGER,                    -- the deadline running now, unix ms UTC
    version        INTEGER NOT NULL,
    case_json      TEXT NOT NULL,              -- server snapshot + local unacknowledged events
    server_json    TEXT,                       -- last snapshot the server sent; NULL = never
    change_counter INTEGER NOT NULL DEFAULT 0  -- local events the server has not answered yet
) STRICT;

-- Every event of every case: the local outbox and what the server sent.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,        -- local insertion order: the outbox is FIFO
    id             BLOB NOT NULL UNIQUE,
    case_id        BLOB NOT NULL,
    kind           TEXT NOT NULL,
    device_time    INTEGER NOT NULL,
    server_time    INTEGER,
    event_json     TEXT NOT NULL,
    origin         TEXT NOT NULL CHECK (origin IN ('local', 'server')),
    sync_state     TEXT NOT NULL
                   CHECK (sync_state IN ('pending', 'in_flight', 'synced', 'rejected')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    reject_code    TEXT,
    reject_message TEXT
) STRICT;
CREATE INDEX events_outbox ON events (seq) WHERE sync_state IN ('pending', 'in_flight');
CREATE INDEX events_by_case ON events (case_id, seq);

-- Photos taken on this device, by content address; files live under the photo folder.
CREATE TABLE photos (
    sha256         TEXT PRIMARY KEY,
    path           TEXT NOT NULL,
    thumbnail_path TEXT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    exif_time      INTEGER,                    -- unix ms UTC, as the camera wrote it
    exif_lat       REAL,
    exif_lon       REAL,
    created_at     INTEGER NOT NULL,
    upload_state   TEXT NOT NULL CHECK (upload_state IN ('pending', 'uploaded')),
    uploaded_bytes INTEGER NOT NULL DEFAULT 0  -- acknowledged by the server: resume from here
) STRICT;
CREATE INDEX photos_pending ON photos (created_at) WHERE upload_state = 'pending';

CREATE TABLE event_photos (
    event_id BLOB NOT NULL,
    sha256   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    PRIMARY KEY (event_id, sha256)
) STRICT, WITHOUT ROWID;

CREATE TABLE sync_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    cursor       TEXT,
    last_push_at INTEGER,
    last_pull_at INTEGER
) STRICT;
INSERT INTO sync_state (id) VALUES (1);
"#,
    },
    Migration {
        version: 2,
        name: "listing indexes",
        // Lists are newest first with keyset pagination on (reported_at, id); one index per
        // filter keeps "50 of 100 000" an index range scan. Duplicate detection looks up open
        // cases of one category in a latitude band.
        sql: r#"
CREATE INDEX cases_by_time     ON cases (reported_at DESC, id DESC);
CREATE INDEX cases_by_status   ON cases (status, reported_at DESC, id DESC);
CREATE INDEX cases_by_category ON cases (category, reported_at DESC, id DESC);
CREATE INDEX cases_by_estate   ON cases (estate_id, reported_at DESC, id DESC);
CREATE INDEX cases_open_due    ON cases (current_due) WHERE is_open = 1;
CREATE INDEX cases_open_nearby ON cases (category, lat) WHERE is_open = 1;
"#,
    },
    Migration {
        version: 3,
        name: "text search",
        // Trigram FTS5 finds Chinese substrings of 3+ characters without a word segmenter;
        // shorter queries fall back to LIKE. External content: the text lives once, in `cases`.
        sql: r#"
CREATE VIRTUAL TABLE cases_fts USING fts5 (
    description, location_note, building,
    content = 'cases', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO cases_fts (rowid, description, location_note, building)
    SELECT rowid, description, location_note, building FROM cases;
CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
    INSERT INTO cases_fts (rowid, description, location_note, building)
    VALUES (new.rowid, new.description, new.location_note, new.building);
END;
CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, description, location_note, building)
    VALUES ('delete', old.rowid, old.description, old.location_note, old.building);
END;
CREATE TRIGGER cases_fts_update AFTER UPDATE OF description, location_note, building ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, description, location_note, building)
    VALUES ('delete', old.rowid, old.description, old.location_note, old.building);
    INSERT INTO cases_fts (rowid, description, location_note, building)
    VALUES (new.rowid, new.description, new.location_note, new.building);
END;
"#,
    },
    Migration {
        version: 4,
        name: "text in the time index",
        // A 1- or 2-character search (too short for trigrams) is a LIKE over the newest cases
        // first. With the three text columns in the time index the walk reads index pages only;
        // the wide case rows (JSON snapshots) are read just for the page of matches returned.
        sql: r#"
DROP INDEX cases_by_time;
CREATE INDEX cases_by_time_with_text
    ON cases (reported_at DESC, id DESC, building, location_note, description);
"#,
    },
    Migration {
        version: 5,
        name: "refused photos",
        // A photo the server refuses for its bytes (undecodable, too large, hash mismatch) was
        // left `pending` and sent again every run. It gets its own state with the server's
        // verdict, and leaves the upload queue. SQLite cannot change a CHECK constraint, so the
        // table is rebuilt (same columns first, rows copied as they are).
        sql: r#"
CREATE TABLE photos_v5 (
    sha256         TEXT PRIMARY KEY,
    path           TEXT NOT NULL,
    thumbnail_path TEXT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    exif_time      INTEGER,
    exif_lat       REAL,
    exif_lon       REAL,
    created_at     INTEGER NOT NULL,
    upload_state   TEXT NOT NULL CHECK (upload_state IN ('pending', 'uploaded', 'refused')),
    uploaded_bytes INTEGER NOT NULL DEFAULT 0,
    refused_status INTEGER,                    -- the server's HTTP status
    refused_code   TEXT,                       -- the server's code, e.g. PHOTO_UNDECODABLE
    refused_message TEXT,
    refused_at     INTEGER,                    -- unix ms UTC
    CHECK ((upload_state = 'refused') = (refused_code IS NOT NULL))
) STRICT;
INSERT INTO photos_v5 (sha256, path, thumbnail_path, width, height, bytes, exif_time, exif_lat,
                       exif_lon, created_at, upload_state, uploaded_bytes)
    SELECT sha256, path, thumbnail_path, width, height, bytes, exif_time, exif_lat,
           exif_lon, created_at, upload_state, uploaded_bytes
    FROM photos;
DROP TABLE photos;
ALTER TABLE photos_v5 RENAME TO photos;
CREATE INDEX photos_pending ON photos (created_at) WHERE upload_state = 'pending';
CREATE INDEX photos_refused ON photos (created_at) WHERE upload_state = 'refused';
"#,
    },
    Migration {
        version: 6,
        name: "case numbers",
        // The case number (案件编号, e.g. 和平-20261204-0012) the server gives a case when it
        // ingests its REPORT, as the pull delivers it. Its own table: rewriting a case row from
        // a snapshot never loses it, and a case this phone reported has none until its first
        // pull after the push.
        sql: r#"
CREATE TABLE case_numbers (
    case_id BLOB PRIMARY KEY,                  -- cases.id
    number  TEXT NOT NULL
) STRICT;
"#,
    },
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The schema version stored in the file (0 for a new file).
pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Refuses a file written by a newer schema. Reads only.
pub(crate) fn check_not_newer(conn: &Connection) -> Result<i64> {
    let found = user_version(conn)?;
    if found > LATEST {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    Ok(found)
}

/// Brings the file to [`LATEST`]. Returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64> {
    migrate_to(conn, LATEST)
}

/// Brings the file to `target` (tests stop at intermediate versions).
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Checked again under the write lock: another process may have migrated in between.
    let found = check_not_newer(&tx)?;
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > found && m.version <= target)
    {
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "store: migrating"
        );
        tx.execute_batch(migration.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", migration.version))
            .map_err(|source| Error::Migration {
                version: migration.version,
                name: migration.name,
                source,
            })?;
    }
    tx.commit()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn names(conn: &Connection, kind: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = ?1 ORDER BY name")
            .unwrap();
        stmt.query_map([kind], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.name);
        }
    }

    #[test]
    fn migration_1_creates_the_tables_and_the_sync_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_to(&mut conn, 1).unwrap(), 0);
        assert_eq!(user_version(&conn).unwrap(), 1);
        let tables = names(&conn, "table");
        for table in [
            "cases",
            "estates",
            "event_photos",
            "events",
            "org_units",
            "photos",
            "routing_rules",
            "sync_state",
        ] {
            assert!(
                tables.contains(&table.to_string()),
                "{table} missing: {tables:?}"
            );
        }
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM sync_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        // The outbox refuses states it does not know.
        let bad = conn.execute(
            "INSERT INTO events (id, case_id, kind, device_time, event_json, origin, sync_state)
             VALUES (x'01', x'02', 'REPORT', 0, '{}', 'local', 'lost')",
            [],
        );
        assert!(bad.is_err());
    }

    fn insert_case_row(conn: &Connection, id: u8, description: &str) {
        conn.execute(
            "INSERT INTO cases (id, category, estate_id, status, is_open, description,
                                reported_at, updated_at, version, case_json)
             VALUES (?1, 'GARBAGE', 'changchunli', 'REPORTED', 1, ?2, ?3, ?3, 1, '{}')",
            rusqlite::params![vec![id; 16], description, i64::from(id)],
        )
        .unwrap();
    }

    #[test]
    fn migration_2_adds_listing_indexes_and_keeps_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        insert_case_row(&conn, 1, "楼道堆放杂物");
        assert_eq!(migrate_to(&mut conn, 2).unwrap(), 1);
        assert_eq!(user_version(&conn).unwrap(), 2);
        let indexes = names(&conn, "index");
        for index in [
            "cases_by_status",
            "cases_by_category",
            "cases_by_estate",
            "cases_open_due",
        ] {
            assert!(indexes.contains(&index.to_string()), "{index} missing");
        }
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM cases WHERE status = 'REPORTED'
                 ORDER BY reported_at DESC, id DESC LIMIT 50",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("cases_by_status"), "{plan}");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn migration_3_indexes_existing_and_new_text() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 2).unwrap();
        insert_case_row(&conn, 1, "三号楼楼道堆放杂物");
        assert_eq!(migrate_to(&mut conn, 3).unwrap(), 2);
        insert_case_row(&conn, 2, "小广告贴满单元门");
        let hits = |q: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM cases_fts WHERE cases_fts MATCH ?1",
                [q],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(hits("\"堆放杂\""), 1, "row from before the migration");
        assert_eq!(hits("\"小广告\""), 1, "row inserted after");
        conn.execute(
            "UPDATE cases SET description = '已清理' WHERE id = ?1",
            [vec![1u8; 16]],
        )
        .unwrap();
        assert_eq!(hits("\"堆放杂\""), 0, "update trigger drops old text");
        conn.execute("DELETE FROM cases WHERE id = ?1", [vec![2u8; 16]])
            .unwrap();
        assert_eq!(hits("\"小广告\""), 0, "delete trigger drops text");
    }

    #[test]
    fn migration_4_moves_short_text_search_onto_the_time_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 3).unwrap();
        insert_case_row(&conn, 1, "东门车棚旁堆物");
        assert_eq!(migrate_to(&mut conn, 4).unwrap(), 3);
        let indexes = names(&conn, "index");
        assert!(
            !indexes.contains(&"cases_by_time".to_string()),
            "{indexes:?}"
        );
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT rowid FROM cases WHERE description LIKE '%东门%'
                 ORDER BY reported_at DESC, id DESC LIMIT 50",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("COVERING INDEX cases_by_time_with_text"),
            "{plan}"
        );
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM cases WHERE description LIKE '%东门%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "row from before the migration");
    }

    #[test]
    fn migration_5_adds_the_refused_photo_state_and_keeps_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 4).unwrap();
        let insert = |sha: &str, state: &str, uploaded: i64| {
            conn.execute(
                "INSERT INTO photos (sha256, path, thumbnail_path, width, height, bytes,
                                     created_at, upload_state, uploaded_bytes)
                 VALUES (?1, '/p', '/t', 320, 240, 1000, 1, ?2, ?3)",
                rusqlite::params![sha, state, uploaded],
            )
        };
        insert("aa", "pending", 200).unwrap();
        insert("bb", "uploaded", 1000).unwrap();
        assert!(
            insert("cc", "refused", 0).is_err(),
            "no refused state before 5"
        );

        assert_eq!(migrate_to(&mut conn, 5).unwrap(), 4);

        let rows: Vec<(String, String, i64)> = conn
            .prepare("SELECT sha256, upload_state, uploaded_bytes FROM photos ORDER BY sha256")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("aa".to_owned(), "pending".to_owned(), 200),
                ("bb".to_owned(), "uploaded".to_owned(), 1000)
            ]
        );
        conn.execute(
            "UPDATE photos SET upload_state = 'refused', refused_status = 422,
                    refused_code = 'PHOTO_UNDECODABLE', refused_message = 'm', refused_at = 2
             WHERE sha256 = 'aa'",
            [],
        )
        .unwrap();
        // A refused photo always carries the server's code, and only a refused one does.
        assert!(
            conn.execute(
                "UPDATE photos SET upload_state = 'refused' WHERE sha256 = 'bb'",
                []
            )
            .is_err()
        );
        assert!(
            conn.execute(
                "UPDATE photos SET refused_code = 'X' WHERE sha256 = 'bb'",
                []
            )
            .is_err()
        );
        let indexes = names(&conn, "index");
        for index in ["photos_pending", "photos_refused"] {
            assert!(indexes.contains(&index.to_owned()), "{indexes:?}");
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), LATEST);
        assert_eq!(user_version(&conn).unwrap(), LATEST);
    }

    #[test]
    fn newer_schema_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, Error::SchemaTooNew { found, supported } if found == LATEST + 1 && supported == LATEST),
            "{err}"
        );
        assert_eq!(user_version(&conn).unwrap(), LATEST + 1);
        assert!(names(&conn, "table").is_empty());
    }

    #[test]
    fn failed_migration_rolls_back_whole() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        // A table in the way of migration 3 makes it fail; 2 must not stay half-applied.
        conn.execute_batch("CREATE TABLE cases_fts (x)").unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, Error::Migration { version: 3, .. }), "{err}");
        assert_eq!(user_version(&conn).unwrap(), 1);
        assert!(!names(&conn, "index").contains(&"cases_by_status".to_string()));
    }
}
