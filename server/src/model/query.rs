//! The case query's plain parts: what a search asks for ([`CaseQuery`] in its [`CaseScope`]),
//! a page of answers ([`CasePage`]) and the columns of `cases` derived from a case body
//! ([`IndexColumns`]). The SQL that runs a query is `storage::case_query`'s.
//!
//! Visibility comes in as a [`CaseScope`] built by the access rules from the same rule as
//! `can_see_case`; this module never decides who sees what.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use xuncha_core::workflow::WaitingFor;
use xuncha_core::{Case, CaseStatus, Category};

use super::CaseRow;
use super::routing::RoutedCase;

/// The sort key of a case with no running deadline: after every real deadline.
pub const NO_DUE: i64 = i64::MAX;

/// Which cases a caller may see, as the query needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseScope {
    All,
    /// Cases of these estates (inspector, committee, company staff, street office).
    Estates(Vec<String>),
    /// Cases this unit is involved in (department): ever dispatched to it, or naming it as the
    /// supervisor or a co-responsible unit in their routing decision ([`CaseRow::involved_units`]).
    InvolvesUnit(String),
}

impl CaseScope {
    /// Whether the scope admits a stored row (the in-memory form of the SQL filter).
    pub fn admits(&self, row: &CaseRow) -> bool {
        match self {
            CaseScope::All => true,
            CaseScope::Estates(ids) => ids.contains(&row.case.estate_id),
            CaseScope::InvolvesUnit(unit) => row.involved_units().contains(unit),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    #[default]
    Newest,
    Oldest,
    /// Running deadline soonest first; cases with none last.
    DueSoonest,
    /// By status in lifecycle order (`CaseStatus::ALL`: reported first, closed last), then by id
    /// (UUIDv7: the earlier report first).
    Status,
}

impl CaseSort {
    /// A status's place in the lifecycle: its index in `CaseStatus::ALL`.
    pub fn status_rank(status: CaseStatus) -> i64 {
        CaseStatus::ALL
            .iter()
            .position(|s| *s == status)
            .map_or(i64::MAX, |i| i as i64)
    }
}

/// "我的待办": the cases waiting for one unit to act, as [`Case::waiting_for`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingUnit {
    /// Cases waiting for this unit to accept or handle them.
    pub unit: String,
    /// Also the cases waiting for a street office's dispatch (the caller is a street office;
    /// its scope already limits them to its street).
    pub dispatch: bool,
}

impl AwaitingUnit {
    /// The in-memory form of the SQL filter.
    pub fn admits(&self, case: &Case) -> bool {
        match case.waiting_for() {
            Some(WaitingFor::StreetOfficeDispatch) => self.dispatch,
            Some(
                WaitingFor::AssignedUnitAccept { unit_id }
                | WaitingFor::AssignedUnitHandle { unit_id },
            ) => unit_id == self.unit,
            Some(WaitingFor::CommitteeDissuadeOrEscalate | WaitingFor::OnSiteVerification)
            | None => false,
        }
    }
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
    /// Only the cases waiting for this unit ("我的待办").
    pub awaiting: Option<AwaitingUnit>,
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
            awaiting: None,
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
        self.scope.admits(row) && self.matches_filters(&row.case, row.number.as_deref())
    }

    /// The in-memory form of the filters, without the scope (and without the case number).
    pub fn matches_case(&self, case: &Case) -> bool {
        self.matches_filters(case, None)
    }

    /// The filters; the text matches the search columns or a part of the case number.
    fn matches_filters(&self, case: &Case, number: Option<&str>) -> bool {
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
            && self.awaiting.as_ref().is_none_or(|a| a.admits(case))
            && self.open.is_none_or(|open| open == case.status.is_open())
            && self
                .overdue
                .is_none_or(|overdue| overdue == case.is_overdue(self.now))
            && self.reported_from.is_none_or(|t| case.reported_at >= t)
            && self.reported_to.is_none_or(|t| case.reported_at <= t)
            && self.updated_from.is_none_or(|t| case.updated_at >= t)
            && self.search_words().is_none_or(|t| {
                let t = t.to_lowercase();
                columns.search_text.contains(&t)
                    || number.is_some_and(|n| n.to_lowercase().contains(&t))
            })
    }

    /// The text filter, trimmed; blank means none.
    pub fn search_words(&self) -> Option<&str> {
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
            CaseSort::Status => CaseSort::status_rank(case.status),
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
        let mut units: Vec<String> = dispatched_units.to_vec();
        let routed = routing.and_then(RoutedCase::from_stored);
        for unit in routed.iter().flat_map(RoutedCase::involved_units) {
            if !units.iter().any(|u| u == unit) {
                units.push(unit.to_owned());
            }
        }
        units
    }
}
