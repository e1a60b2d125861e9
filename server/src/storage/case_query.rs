//! The case query behind the dashboard and Open311 searches: filters, sort and keyset paging over
//! the indexed columns of `cases` (migration 0002), written once as SQL for both backends.
//!
//! The query's plain types live in [`crate::model::query`] (re-exported here).

use std::collections::BTreeMap;

use uuid::Uuid;
use xuncha_core::{CaseStatus, Category};

pub use super::sql::SqlValue;
use crate::model::CaseRow;
pub use crate::model::query::*;

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
    if let Some(awaiting) = &query.awaiting {
        terms.push(awaiting_term(awaiting, sql));
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
        // The text, or a part of the case number (e.g. `0012`, `和平-20261204`).
        let pattern = sql.bind(SqlValue::Text(escape_like(text)));
        let number = sql.bind(SqlValue::Text(escape_like(text)));
        terms.push(format!(
            "(search_text LIKE {pattern} ESCAPE '\\' OR number LIKE {number} ESCAPE '\\')"
        ));
    }
    if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", terms.join(" AND "))
    }
}

/// The SQL form of [`AwaitingUnit::admits`] (`Case::waiting_for`): a unit owes the accept or
/// the handling of what is dispatched to it; a street office owes the dispatch of escalated and
/// returned cases and of reported ones that skip the committee's dissuasion.
fn awaiting_term(awaiting: &AwaitingUnit, sql: &mut Sql) -> String {
    let held = [
        CaseStatus::Dispatched,
        CaseStatus::Accepted,
        CaseStatus::Reopened,
    ];
    let held = sql.bind_list(held.iter().map(|s| s.code().to_owned()));
    let unit = sql.bind(SqlValue::Text(awaiting.unit.clone()));
    let mut alternatives = vec![format!("(status IN {held} AND assigned_unit = {unit})")];
    if awaiting.dispatch {
        let handed = [CaseStatus::Escalated, CaseStatus::Returned];
        let handed = sql.bind_list(handed.iter().map(|s| s.code().to_owned()));
        let reported = sql.bind(SqlValue::Text(CaseStatus::Reported.code().to_owned()));
        let direct = sql.bind_list(
            Category::ALL
                .iter()
                .filter(|c| !c.info().dissuade_first)
                .map(|c| c.code().to_owned()),
        );
        alternatives.push(format!("status IN {handed}"));
        alternatives.push(format!("(status = {reported} AND category IN {direct})"));
    }
    format!("({})", alternatives.join(" OR "))
}

/// The sort key as SQL: an integer column, or for the status sort the lifecycle rank of the
/// status (`CaseSort::status_rank`, the in-memory form), as BIGINT on both engines.
fn sort_column(sort: CaseSort) -> String {
    match sort {
        CaseSort::Newest | CaseSort::Oldest => "reported_at_us".to_owned(),
        CaseSort::DueSoonest => "due_us".to_owned(),
        CaseSort::Status => {
            let arms: String = CaseStatus::ALL
                .iter()
                .map(|s| format!(" WHEN '{}' THEN {}", s.code(), CaseSort::status_rank(*s)))
                .collect();
            format!(
                "(CAST(CASE status{arms} ELSE {} END AS BIGINT))",
                CaseStatus::ALL.len()
            )
        }
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
    use chrono::Utc;
    use xuncha_core::CaseStatus;

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
