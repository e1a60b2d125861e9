//! The case query behind the dashboard and Open311 searches: filters, sort and keyset paging over
//! the indexed columns of `cases` (migration 0002), written once as SQL for both backends.
//!
//! Visibility comes in as a [`CaseScope`] built by [`crate::policy::access::case_scope`] from the same
//! rule as [`crate::policy::access::can_see_case`]; this module never decides who sees what.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use xuncha_core::{Case, CaseStatus, Category};

use super::CaseRow;

/// The sort key of a case with no running deadline: after every real deadline.
pub const NO_DUE: i64 = i64::MAX;

pub use crate::model::CaseScope;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    #[default]
    Newest,
    Oldest,
    /// Running deadline soonest first; cases with none last.
    DueSoonest,
}

/// Where the previous page ended: its last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseCursor {
    pub key: i64,
    pub id: String,
}

impl CaseCursor {
    /// `key.id`, safe in a URL.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.key, self.id)
    }

    pub fn decode(text: &str) -> Option<CaseCursor> {
        let (key, id) = text.split_once('.')?;
        let id = Uuid::parse_str(id).ok()?;
        Some(CaseCursor {
            key: key.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// A case search. Empty lists mean "any"; every filter narrows the scope, none widens it.
#[derive(Debug, Clone)]
pub struct CaseQuery {
    pub scope: CaseScope,
    pub ids: Vec<Uuid>,
    pub statuses: Vec<CaseStatus>,
    pub categories: Vec<Category>,
    /// Only these estates (inside the scope).
    pub estate_ids: Option<Vec<String>>,
    /// Currently dispatched to this unit.
    pub assigned_unit: Option<String>,
    /// `Some(true)` open only, `Some(false)` closed or cancelled only.
    pub open: Option<bool>,
    /// `Some(true)` only cases past their running deadline at [`CaseQuery::now`], `Some(false)`
    /// only those not past it.
    pub overdue: Option<bool>,
    pub now: DateTime<Utc>,
    /// Reported at or after.
    pub reported_from: Option<DateTime<Utc>>,
    /// Reported at or before.
    pub reported_to: Option<DateTime<Utc>>,
    /// Changed at or after (a KPI quarter skips cases settled before it began).
    pub updated_from: Option<DateTime<Utc>>,
    /// Substring of the description, location note, building or id (case-insensitive).
    pub text: Option<String>,
    pub sort: CaseSort,
    pub after: Option<CaseCursor>,
    pub limit: usize,
}

impl CaseQuery {
    pub fn new(scope: CaseScope, now: DateTime<Utc>) -> CaseQuery {
        CaseQuery {
            scope,
            ids: Vec::new(),
            statuses: Vec::new(),
            categories: Vec::new(),
            estate_ids: None,
            assigned_unit: None,
            open: None,
            overdue: None,
            now,
            reported_from: None,
            reported_to: None,
            updated_from: None,
            text: None,
            sort: CaseSort::Newest,
            after: None,
            limit: 100,
        }
    }

    /// The in-memory form of the whole query (tests compare it with the SQL).
    pub fn matches(&self, row: &CaseRow) -> bool {
        self.scope.admits(row) && self.matches_case(&row.case)
    }

    /// The in-memory form of the filters, without the scope.
    pub fn matches_case(&self, case: &Case) -> bool {
        let columns = IndexColumns::of(case);
        (self.ids.is_empty() || self.ids.contains(&case.id))
            && (self.statuses.is_empty() || self.statuses.contains(&case.status))
            && (self.categories.is_empty() || self.categories.contains(&case.category))
            && self
                .estate_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&case.estate_id))
            && self
                .assigned_unit
                .as_ref()
                .is_none_or(|u| case.assigned_unit.as_ref() == Some(u))
            && self.open.is_none_or(|open| open == case.status.is_open())
            && self
                .overdue
                .is_none_or(|overdue| overdue == case.is_overdue(self.now))
            && self.reported_from.is_none_or(|t| case.reported_at >= t)
            && self.reported_to.is_none_or(|t| case.reported_at <= t)
            && self.updated_from.is_none_or(|t| case.updated_at >= t)
            && self
                .search_words()
                .is_none_or(|t| columns.search_text.contains(&t.to_lowercase()))
    }

    /// The text filter, trimmed; blank means none.
    fn search_words(&self) -> Option<&str> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The sort key of a row under this query's sort.
    pub fn sort_key(&self, case: &Case) -> i64 {
        let columns = IndexColumns::of(case);
        match self.sort {
            CaseSort::Newest | CaseSort::Oldest => columns.reported_at_us,
            CaseSort::DueSoonest => columns.due_us,
        }
    }
}

/// One page of a [`CaseQuery`] plus the counts of everything it matches.
#[derive(Debug, Clone, Default)]
pub struct CasePage {
    pub rows: Vec<CaseRow>,
    /// Set when more rows follow: pass it back as [`CaseQuery::after`].
    pub next: Option<CaseCursor>,
    /// Matching cases per status code (all pages).
    pub counts: BTreeMap<String, u64>,
}

impl CasePage {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The columns of `cases` derived from the case body, written at ingest and by the migration
/// backfill (the one definition of both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexColumns {
    pub category: &'static str,
    pub is_open: bool,
    pub reported_at_us: i64,
    pub updated_at_us: i64,
    /// The running deadline ([`Case::current_due`]), [`NO_DUE`] when nothing is due.
    pub due_us: i64,
    pub assigned_unit: Option<String>,
    /// Lower-case description, location note, building and id, for substring search.
    pub search_text: String,
}

impl IndexColumns {
    pub fn of(case: &Case) -> IndexColumns {
        let search_text = [
            case.description.as_deref(),
            case.location_note.as_deref(),
            case.building.as_deref(),
            Some(&case.id.to_string()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
        IndexColumns {
            category: case.category.code(),
            is_open: case.status.is_open(),
            reported_at_us: case.reported_at.timestamp_micros(),
            updated_at_us: case.updated_at.timestamp_micros(),
            due_us: case.current_due().map_or(NO_DUE, |d| d.timestamp_micros()),
            assigned_unit: case.assigned_unit.clone(),
            search_text,
        }
    }
}

impl IndexColumns {
    /// The units a case is indexed under in `case_units`: every unit it was dispatched to, then
    /// the supervisor and the co-responsible units its routing decision names (they see the case
    /// and may comment; 三(一)5, 三(一)9 …). The routing decision is fixed when the case is
    /// reported, so the set only grows.
    pub fn units_of(
        dispatched_units: &[String],
        routing: Option<&serde_json::Value>,
    ) -> Vec<String> {
        crate::model::involved_units(dispatched_units, routing)
    }
}

/// A bound parameter of the generated SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// SQL text with `$n` placeholders numbered in order of appearance (valid in both backends:
/// SQLite numbers `$name` parameters by first appearance) and their values.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl Sql {
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn bind_list(&mut self, values: impl IntoIterator<Item = String>) -> String {
        let marks: Vec<String> = values
            .into_iter()
            .map(|v| self.bind(SqlValue::Text(v)))
            .collect();
        if marks.is_empty() {
            // `IN ()` is not SQL; an empty list matches nothing.
            "(NULL)".to_owned()
        } else {
            format!("({})", marks.join(", "))
        }
    }
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// `WHERE …` for the filters (not the cursor): shared by the page and the counts.
fn where_clause(query: &CaseQuery, sql: &mut Sql) -> String {
    let mut terms: Vec<String> = Vec::new();
    match &query.scope {
        CaseScope::All => {}
        CaseScope::Estates(ids) => {
            let list = sql.bind_list(ids.iter().cloned());
            terms.push(format!("estate_id IN {list}"));
        }
        CaseScope::InvolvesUnit(unit) => {
            let unit = sql.bind(SqlValue::Text(unit.clone()));
            terms.push(format!(
                "id IN (SELECT case_id FROM case_units WHERE unit_id = {unit})"
            ));
        }
    }
    if !query.ids.is_empty() {
        let list = sql.bind_list(query.ids.iter().map(Uuid::to_string));
        terms.push(format!("id IN {list}"));
    }
    if !query.statuses.is_empty() {
        let list = sql.bind_list(query.statuses.iter().map(|s| s.code().to_owned()));
        terms.push(format!("status IN {list}"));
    }
    if !query.categories.is_empty() {
        let list = sql.bind_list(query.categories.iter().map(|c| c.code().to_owned()));
        terms.push(format!("category IN {list}"));
    }
    if let Some(ids) = &query.estate_ids {
        let list = sql.bind_list(ids.iter().cloned());
        terms.push(format!("estate_id IN {list}"));
    }
    if let Some(unit) = &query.assigned_unit {
        let unit = sql.bind(SqlValue::Text(unit.clone()));
        terms.push(format!("assigned_unit = {unit}"));
    }
    if let Some(open) = query.open {
        let open = sql.bind(SqlValue::Bool(open));
        terms.push(format!("is_open = {open}"));
    }
    if let Some(overdue) = query.overdue {
        // `now > due` is overdue (the core's `is_overdue`); NO_DUE is never passed.
        let now = sql.bind(SqlValue::Int(query.now.timestamp_micros()));
        terms.push(if overdue {
            format!("due_us < {now}")
        } else {
            format!("due_us >= {now}")
        });
    }
    if let Some(from) = query.reported_from {
        let from = sql.bind(SqlValue::Int(from.timestamp_micros()));
        terms.push(format!("reported_at_us >= {from}"));
    }
    if let Some(to) = query.reported_to {
        let to = sql.bind(SqlValue::Int(to.timestamp_micros()));
        terms.push(format!("reported_at_us <= {to}"));
    }
    if let Some(from) = query.updated_from {
        let from = sql.bind(SqlValue::Int(from.timestamp_micros()));
        terms.push(format!("updated_at_us >= {from}"));
    }
    if let Some(text) = query.search_words() {
        let pattern = sql.bind(SqlValue::Text(escape_like(text)));
        terms.push(format!("search_text LIKE {pattern} ESCAPE '\\'"));
    }
    if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", terms.join(" AND "))
    }
}

fn sort_column(sort: CaseSort) -> &'static str {
    match sort {
        CaseSort::Newest | CaseSort::Oldest => "reported_at_us",
        CaseSort::DueSoonest => "due_us",
    }
}

/// The page query: `columns` first, then the sort key; fetches one row more than the limit so
/// the caller knows whether another page follows.
pub fn page_sql(query: &CaseQuery, columns: &str) -> Sql {
    let mut sql = Sql::default();
    let mut filter = where_clause(query, &mut sql);
    let key = sort_column(query.sort);
    let descending = query.sort == CaseSort::Newest;
    if let Some(after) = &query.after {
        let k1 = sql.bind(SqlValue::Int(after.key));
        let k2 = sql.bind(SqlValue::Int(after.key));
        let id = sql.bind(SqlValue::Text(after.id.clone()));
        let cmp = if descending { "<" } else { ">" };
        let term = format!("({key} {cmp} {k1} OR ({key} = {k2} AND id {cmp} {id}))");
        filter = if filter.is_empty() {
            format!(" WHERE {term}")
        } else {
            format!("{filter} AND {term}")
        };
    }
    let direction = if descending { "DESC" } else { "ASC" };
    let limit = sql.bind(SqlValue::Int(
        i64::try_from(query.limit).unwrap_or(i64::MAX - 1) + 1,
    ));
    sql.text = format!(
        "SELECT {columns}, {key} FROM cases{filter} ORDER BY {key} {direction}, id {direction} LIMIT {limit}"
    );
    sql
}

/// Per-status counts of everything the filters match (no cursor, no limit).
pub fn counts_sql(query: &CaseQuery) -> Sql {
    let mut sql = Sql::default();
    let filter = where_clause(query, &mut sql);
    sql.text = format!("SELECT status, COUNT(*) FROM cases{filter} GROUP BY status");
    sql
}

/// Cuts the extra row off a fetched page and sets the cursor for the next one.
pub fn finish_page(
    mut fetched: Vec<(CaseRow, i64)>,
    limit: usize,
    counts: BTreeMap<String, u64>,
) -> CasePage {
    let has_more = fetched.len() > limit;
    fetched.truncate(limit);
    let next = has_more
        .then(|| fetched.last())
        .flatten()
        .map(|(row, key)| CaseCursor {
            key: *key,
            id: row.case.id.to_string(),
        });
    CasePage {
        rows: fetched.into_iter().map(|(row, _)| row).collect(),
        next,
        counts,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let cursor = CaseCursor {
            key: -5,
            id: Uuid::now_v7().to_string(),
        };
        assert_eq!(CaseCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(CaseCursor::decode("12.not-a-uuid"), None);
        assert_eq!(
            CaseCursor::decode("x.00000000-0000-0000-0000-000000000000"),
            None
        );
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(escape_like("50%_A"), "%50\\%\\_a%");
    }

    #[test]
    fn placeholders_are_numbered_in_order_and_empty_lists_match_nothing() {
        let mut query = CaseQuery::new(CaseScope::Estates(vec![]), Utc::now());
        query.statuses = vec![CaseStatus::Reported];
        let sql = page_sql(&query, "id");
        assert!(sql.text.contains("estate_id IN (NULL)"), "{}", sql.text);
        assert!(sql.text.contains("status IN ($1)"), "{}", sql.text);
        assert!(sql.text.ends_with("LIMIT $2"), "{}", sql.text);
        assert_eq!(sql.params.len(), 2);
    }
}
