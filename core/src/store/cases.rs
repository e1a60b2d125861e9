//! Case rows: the current view as columns (for listing) and JSON, the server's last snapshot,
//! and the change counter. Listing is keyset-paginated, newest report first.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::Category;
use crate::estate::EstateId;
use crate::store::error::{Error, Result};
use crate::store::{Store, StoreError, id_from_blob, to_ms};
use crate::workflow::{Case, CaseStatus};

/// Which cases to list. Empty lists mean "any"; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFilter {
    #[serde(default)]
    pub statuses: Vec<CaseStatus>,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub estate_ids: Vec<EstateId>,
    /// Only open cases whose running deadline passed before this instant (usually "now").
    #[serde(default)]
    pub overdue_at: Option<DateTime<Utc>>,
    /// Text to find in the description, location note or building.
    #[serde(default)]
    pub text: Option<String>,
}

/// Where the next page starts: opaque to callers, round-tripped as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageToken(pub String);

impl PageToken {
    fn new(reported_at_ms: i64, id: Uuid) -> PageToken {
        PageToken(format!("{reported_at_ms}_{}", id.simple()))
    }

    fn parse(&self) -> Result<(i64, Uuid)> {
        let bad = || {
            Error::InvalidInput(format!(
                "page token `{}` is not one this store made",
                self.0
            ))
        };
        let (ms, id) = self.0.split_once('_').ok_or_else(bad)?;
        let ms = ms.parse::<i64>().map_err(|_| bad())?;
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok((ms, id))
    }
}

/// One listed case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseListItem {
    pub case: Case,
    /// Local events the server has not answered yet (0 = in sync).
    pub unsynced_changes: u32,
}

/// A page of cases, newest report first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasePage {
    pub items: Vec<CaseListItem>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<PageToken>,
}

/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;

/// FTS5 trigram needs three characters; shorter text is matched with LIKE.
const MIN_FTS_CHARS: usize = 3;

impl Store {
    /// Lists cases matching `filter`, newest report first, `limit` per page (1..=500).
    pub fn list_cases(
        &self,
        filter: &CaseFilter,
        limit: u32,
        after: Option<&PageToken>,
    ) -> Result<CasePage, StoreError> {
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(StoreError::InvalidInput {
                message: format!("page size {limit} outside 1..={MAX_PAGE_SIZE}"),
            });
        }
        let after = after.map(PageToken::parse).transpose()?;
        Ok(self.read(|conn| list(conn, filter, limit, after))?)
    }

    /// The current view of one case, or `None`.
    pub fn case(&self, id: Uuid) -> Result<Option<Case>, StoreError> {
        Ok(self.read(|conn| load_view(conn, id))?)
    }

    /// The case number (案件编号) the server gave the case, once a pull has delivered it.
    pub fn case_number(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT number FROM case_numbers WHERE case_id = ?1",
                    [id.as_bytes().as_slice()],
                    |r| r.get(0),
                )
                .optional()?)
        })?)
    }
}

fn list(
    conn: &Connection,
    filter: &CaseFilter,
    limit: u32,
    after: Option<(i64, Uuid)>,
) -> Result<CasePage> {
    // Two steps: pick the page's row ids from the indexes (and the FTS table) alone, then read
    // only those wide rows. Sorting a thousand FTS matches with their JSON, or reading every
    // row a LIKE walks past, is what made text search slow on 100 000 cases.
    let mut sql = String::from("SELECT rowid FROM cases WHERE 1");
    let mut args: Vec<Value> = Vec::new();
    push_in(
        &mut sql,
        &mut args,
        "status",
        filter.statuses.iter().map(|s| s.code()),
    );
    push_in(
        &mut sql,
        &mut args,
        "category",
        filter.categories.iter().map(|c| c.code()),
    );
    push_in(
        &mut sql,
        &mut args,
        "estate_id",
        filter.estate_ids.iter().map(String::as_str),
    );
    if let Some(at) = filter.overdue_at {
        args.push(Value::Integer(to_ms(at)));
        sql.push_str(&format!(
            " AND is_open = 1 AND current_due < ?{}",
            args.len()
        ));
    }
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if text.chars().count() >= MIN_FTS_CHARS {
            // A quoted FTS5 string: the whole text as one phrase, quotes doubled.
            args.push(Value::Text(format!("\"{}\"", text.replace('"', "\"\""))));
            sql.push_str(&format!(
                " AND rowid IN (SELECT rowid FROM cases_fts WHERE cases_fts MATCH ?{})",
                args.len()
            ));
        } else {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            args.push(Value::Text(format!("%{escaped}%")));
            let n = args.len();
            sql.push_str(&format!(
                " AND (description LIKE ?{n} ESCAPE '\\' OR location_note LIKE ?{n} ESCAPE '\\' \
                 OR building LIKE ?{n} ESCAPE '\\')"
            ));
        }
    }
    if let Some((ms, id)) = after {
        args.push(Value::Integer(ms));
        args.push(Value::Blob(id.as_bytes().to_vec()));
        let n = args.len();
        sql.push_str(&format!(" AND (reported_at, id) < (?{}, ?{n})", n - 1));
    }
    args.push(Value::Integer(i64::from(limit) + 1));
    let sql = format!(
        "SELECT case_json, change_counter, reported_at, id FROM cases WHERE rowid IN \
         ({sql} ORDER BY reported_at DESC, id DESC LIMIT ?{}) ORDER BY reported_at DESC, id DESC",
        args.len()
    );

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut items = Vec::new();
    let mut last_key = None;
    while let Some(row) = rows.next()? {
        if items.len() == limit as usize {
            let next = last_key.map(|(ms, id)| PageToken::new(ms, id));
            return Ok(CasePage { items, next });
        }
        let json: String = row.get(0)?;
        let counter: i64 = row.get(1)?;
        last_key = Some((
            row.get::<_, i64>(2)?,
            id_from_blob("cases.id", &row.get::<_, Vec<u8>>(3)?)?,
        ));
        items.push(CaseListItem {
            case: serde_json::from_str(&json)?,
            unsynced_changes: u32::try_from(counter).unwrap_or(0),
        });
    }
    Ok(CasePage { items, next: None })
}

fn push_in<'a>(
    sql: &mut String,
    args: &mut Vec<Value>,
    column: &str,
    values: impl Iterator<Item = &'a str>,
) {
    let start = args.len();
    args.extend(values.map(|v| Value::Text(v.to_owned())));
    if args.len() == start {
        return;
    }
    let placeholders: Vec<String> = (start + 1..=args.len()).map(|i| format!("?{i}")).collect();
    sql.push_str(&format!(" AND {column} IN ({})", placeholders.join(", ")));
}

/// The current view of a case.
pub(crate) fn load_view(conn: &Connection, id: Uuid) -> Result<Option<Case>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT case_json FROM cases WHERE id = ?1",
            [id.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(Error::from))
        .transpose()
}

/// The last snapshot the server confirmed (outer `None`: no such case; inner: never synced).
pub(crate) fn load_server_snapshot(conn: &Connection, id: Uuid) -> Result<Option<Option<Case>>> {
    let json: Option<Option<String>> = conn
        .query_row(
            "SELECT server_json FROM cases WHERE id = ?1",
            [id.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|inner| {
        inner
            .map(|j| serde_json::from_str(&j).map_err(Error::from))
            .transpose()
    })
    .transpose()
}

/// Writes the current view of a case (insert or update); leaves the server snapshot and the
/// change counter alone.
pub(crate) fn write_view(conn: &Connection, case: &Case) -> Result<()> {
    let json = serde_json::to_string(case)?;
    let location = case.location.as_ref();
    conn.prepare_cached(
        "INSERT INTO cases (id, category, estate_id, status, is_open, building, unit_no,
                            location_note, description, lat, lon, accuracy_m, reported_at,
                            updated_at, current_due, version, case_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET
            category = excluded.category, estate_id = excluded.estate_id,
            status = excluded.status, is_open = excluded.is_open, building = excluded.building,
            unit_no = excluded.unit_no, location_note = excluded.location_note,
            description = excluded.description, lat = excluded.lat, lon = excluded.lon,
            accuracy_m = excluded.accuracy_m, reported_at = excluded.reported_at,
            updated_at = excluded.updated_at, current_due = excluded.current_due,
            version = excluded.version, case_json = excluded.case_json",
    )?
    .execute(params![
        case.id.as_bytes().as_slice(),
        case.category.code(),
        case.estate_id,
        case.status.code(),
        case.status.is_open(),
        case.building,
        case.unit_no,
        case.location_note,
        case.description,
        location.map(|l| l.lat),
        location.map(|l| l.lon),
        location.and_then(|l| l.accuracy_m),
        to_ms(case.reported_at),
        to_ms(case.updated_at),
        running_deadline(case).map(to_ms),
        case.version,
        json,
    ])?;
    Ok(())
}

/// Records the server's snapshot of a case (the base local events are folded onto).
pub(crate) fn write_server_snapshot(conn: &Connection, case: &Case) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET server_json = ?2 WHERE id = ?1")?
        .execute(params![
            case.id.as_bytes().as_slice(),
            serde_json::to_string(case)?
        ])?;
    Ok(())
}

/// Adds `delta` to the case's count of unanswered local events (never below zero).
pub(crate) fn bump_change_counter(conn: &Connection, case_id: Uuid, delta: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE cases SET change_counter = max(0, change_counter + ?2) WHERE id = ?1",
    )?
    .execute(params![case_id.as_bytes().as_slice(), delta])?;
    Ok(())
}

/// Open cases of `category` whose location lies in a latitude/longitude box: the candidates a
/// precise distance check then filters.
pub(crate) fn open_cases_in_box(
    conn: &Connection,
    category: Category,
    (lat_min, lat_max): (f64, f64),
    (lon_min, lon_max): (f64, f64),
) -> Result<Vec<Case>> {
    let mut stmt = conn.prepare_cached(
        "SELECT case_json FROM cases
         WHERE is_open = 1 AND category = ?1 AND lat BETWEEN ?2 AND ?3 AND lon BETWEEN ?4 AND ?5",
    )?;
    let rows = stmt.query_map(
        params![category.code(), lat_min, lat_max, lon_min, lon_max],
        |r| r.get::<_, String>(0),
    )?;
    rows.map(|json| Ok(serde_json::from_str(&json?)?)).collect()
}

fn running_deadline(case: &Case) -> Option<DateTime<Utc>> {
    case.current_due()
}
