//! Quarterly statistics in the digital-city-management habit (按期结案率, 结案率, 返工率, 退回率,
//! 平均处置时长), computed from the event log, per unit, street, district, community or estate.
//!
//! Definitions (the unit of account is an *assignment*: one DISPATCH of a case to a unit, running
//! until that unit returns it, the case is cancelled, or the case is closed by verification):
//! - handle deadline of an assignment: dispatch time + the category's `handle_days`. Rework does
//!   not move it (the fresh rework window on the case is for the overdue display only), so rework
//!   counts against the unit.
//! - 应结案 (`due`) in quarter Q: assignments neither returned nor cancelled whose settle time
//!   falls in Q, where settle time = the earlier of closing and the handle deadline. So a case closed
//!   early counts in the quarter it closed, one still open (or closed late) counts in the quarter its
//!   deadline fell; every assignment counts in exactly one quarter.
//! - 结案 (`closed`): those due assignments that are closed (VERIFY) by the end of the log.
//! - 按期结案 (`closed_on_time`): closed, and the last HANDLE before closing was at or before the
//!   handle deadline (slow verification is not the unit's fault).
//! - `on_time_rate` = closed_on_time / due; `closure_rate` = closed / due (each rate's formula is
//!   its [`KpiDef`]: the page prints it and [`compute`] divides by it, so they cannot differ).
//! - `dispatched`, `handled`, `returned`, `reopened`: DISPATCH, HANDLE, RETURN, REOPEN events whose
//!   time falls in Q, each charged to the unit holding the case; `return_rate` = returned /
//!   dispatched, `rework_rate` = reopened / handled.
//! - `avg_handle_hours`: mean of (last HANDLE − DISPATCH) over the closed due assignments.
//!
//! Times are event [`effective_time`](crate::workflow::Event::effective_time)s: on the server every
//! stored event carries its server time, so no figure depends on a phone's clock; quarters are
//! calendar quarters in Asia/Shanghai. Rates are `None` when their denominator is zero.
//! Cases closed after on-site dissuasion never reach a unit and are not in these figures.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::estate::Estate;
use crate::routing::UnitDirectory;
use crate::time::SHANGHAI;
use crate::workflow::{Action, Case, Event, add_days};

/// A calendar quarter in Asia/Shanghai, e.g. 2026Q2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quarter {
    pub year: i32,
    /// 1–4.
    pub quarter: u8,
}

/// A quarter string that is not `YYYYQn`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("季度 “{0}” 无效：应写成 2026Q2 这样的 年份Q1–Q4")]
pub struct QuarterParseError(pub String);

impl QuarterParseError {
    pub fn code(&self) -> &'static str {
        "INVALID_QUARTER"
    }
}

impl Quarter {
    /// The quarter containing `at` on Beijing's calendar.
    pub fn of(at: DateTime<Utc>) -> Quarter {
        // At the very end of chrono's range Beijing time cannot be represented: use UTC's
        // calendar there rather than panic (`time::to_local`).
        let (year, month0) = match crate::time::to_local(at) {
            Some(local) => (local.year(), local.month0()),
            None => (at.year(), at.month0()),
        };
        // month0 is 0..=11, so the quarter is 1..=4 and fits u8.
        let quarter = u8::try_from(month0 / 3 + 1).unwrap_or(4);
        Quarter { year, quarter }
    }

    fn local_start(year: i32, quarter: u8) -> DateTime<Utc> {
        let month = u32::from(quarter.clamp(1, 4)) * 3 - 2;
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            // Asia/Shanghai has had no DST since 1991, so local midnight is unambiguous.
            .and_then(|dt| SHANGHAI.from_local_datetime(&dt).single())
            .map(|dt| dt.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// First instant of the quarter (Beijing midnight), as UTC.
    pub fn start(self) -> DateTime<Utc> {
        Quarter::local_start(self.year, self.quarter)
    }

    /// First instant after the quarter.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Quarter {
        if self.quarter >= 4 {
            Quarter {
                year: self.year.saturating_add(1),
                quarter: 1,
            }
        } else {
            Quarter {
                year: self.year,
                quarter: self.quarter + 1,
            }
        }
    }

    pub fn contains(self, at: DateTime<Utc>) -> bool {
        self.start() <= at && at < self.end()
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.quarter)
    }
}

impl std::str::FromStr for Quarter {
    type Err = QuarterParseError;

    fn from_str(s: &str) -> Result<Quarter, QuarterParseError> {
        let bad = || QuarterParseError(s.to_owned());
        let (year, quarter) = s.trim().split_once(['Q', 'q']).ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let quarter: u8 = quarter.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&quarter) || !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Quarter { year, quarter })
    }
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KpiGroup {
    /// The unit the case was dispatched to.
    Unit,
    /// The estate's street office area (key `区/街道`).
    Street,
    District,
    /// The estate's community (key `区/街道/社区`).
    Community,
    Estate,
}

/// One line of the quarterly table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRow {
    /// Unit id, `区`, `区/街道`, `区/街道/社区` or estate id.
    pub key: String,
    /// What people read: unit name (after [`label_units`]), street, district, community or estate name.
    pub label: String,
    /// 应结案数.
    pub due: u32,
    /// 按期结案数.
    pub closed_on_time: u32,
    /// 结案数 (of the due ones).
    pub closed: u32,
    pub reopened: u32,
    pub returned: u32,
    pub dispatched: u32,
    #[serde(default)]
    pub handled: u32,
    pub on_time_rate: Option<f64>,
    pub closure_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub return_rate: Option<f64>,
    pub avg_handle_hours: Option<f64>,
}

#[derive(Default)]
struct Tally {
    label: String,
    due: u32,
    closed_on_time: u32,
    closed: u32,
    reopened: u32,
    returned: u32,
    dispatched: u32,
    handled: u32,
    handle_hours: Vec<f64>,
}

fn ratio(num: u32, den: u32) -> Option<f64> {
    (den > 0).then(|| f64::from(num) / f64::from(den))
}

/// One dispatch of a case to a unit, followed to its end.
struct Assignment {
    unit: String,
    dispatched_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    last_handled_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    /// Returned or cancelled: never due.
    dropped: bool,
}

/// Counts events by kind for the unit holding the case, and builds its assignments.
struct CaseFold<'a> {
    case: &'a Case,
    assignments: Vec<Assignment>,
    /// (unit, kind, time) for the event counters.
    unit_events: Vec<(String, Counter, DateTime<Utc>)>,
}

#[derive(Clone, Copy)]
enum Counter {
    Dispatched,
    Handled,
    Returned,
    Reopened,
}

fn fold_case<'a>(case: &'a Case, events: &[&Event]) -> CaseFold<'a> {
    let handle_days = case.category.info().handle_days;
    let mut fold = CaseFold {
        case,
        assignments: Vec::new(),
        unit_events: Vec::new(),
    };
    let mut current: Option<usize> = None;
    for event in events {
        let at = event.effective_time();
        let holder = current
            .and_then(|i| fold.assignments.get(i))
            .map(|a| a.unit.clone());
        match &event.action {
            Action::Dispatch { unit_id } => {
                fold.assignments.push(Assignment {
                    unit: unit_id.clone(),
                    dispatched_at: at,
                    deadline: add_days(at, handle_days),
                    last_handled_at: None,
                    closed_at: None,
                    dropped: false,
                });
                current = Some(fold.assignments.len() - 1);
                fold.unit_events
                    .push((unit_id.clone(), Counter::Dispatched, at));
            }
            Action::Handle => {
                if let Some(a) = current.and_then(|i| fold.assignments.get_mut(i)) {
                    a.last_handled_at = Some(at);
                    fold.unit_events
                        .push((a.unit.clone(), Counter::Handled, at));
                }
            }
            Action::Return { .. } => {
                if let Some(a) = current.take().and_then(|i| fold.assignments.get_mut(i)) {
                    a.dropped = true;
                }
                if let Some(unit) = holder {
                    fold.unit_events.push((unit, Counter::Returned, at));
                }
            }
            Action::Reopen { .. } => {
                if let Some(unit) = holder {
                    fold.unit_events.push((unit, Counter::Reopened, at));
                }
            }
            Action::Verify => {
                if let Some(a) = current.take().and_then(|i| fold.assignments.get_mut(i)) {
                    a.closed_at = Some(at);
                }
            }
            Action::Cancel { .. } => {
                if let Some(a) = current.take().and_then(|i| fold.assignments.get_mut(i)) {
                    a.dropped = true;
                }
            }
            _ => {}
        }
    }
    fold
}

fn tally(tallies: &mut BTreeMap<String, Tally>, key: String, label: String) -> &mut Tally {
    let t = tallies.entry(key).or_default();
    if t.label.is_empty() {
        t.label = label;
    }
    t
}

fn area_key(group: KpiGroup, case: &Case, estates: &HashMap<&str, &Estate>) -> (String, String) {
    let Some(e) = estates.get(case.estate_id.as_str()) else {
        return (
            format!("?{}", case.estate_id),
            format!("未知旧楼区 {}", case.estate_id),
        );
    };
    match group {
        KpiGroup::District => (e.district.clone(), e.district.clone()),
        KpiGroup::Street => (format!("{}/{}", e.district, e.street), e.street.clone()),
        KpiGroup::Community => (
            format!("{}/{}/{}", e.district, e.street, e.community),
            e.community.clone(),
        ),
        KpiGroup::Estate | KpiGroup::Unit => (e.id.clone(), e.name.clone()),
    }
}

/// The quarter's figures, one row per group with any activity, sorted by key. Events of cases not
/// in `cases` are ignored; events are ordered by effective time (input order breaks ties).
pub fn compute(
    cases: &[Case],
    events: &[Event],
    estates: &[Estate],
    period: Quarter,
    group: KpiGroup,
) -> Vec<KpiRow> {
    let estates: HashMap<&str, &Estate> = estates.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut by_case: HashMap<Uuid, Vec<&Event>> = HashMap::new();
    for event in events {
        by_case.entry(event.case_id).or_default().push(event);
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for case in cases {
        let Some(case_events) = by_case.get_mut(&case.id) else {
            continue;
        };
        case_events.sort_by_key(|e| e.effective_time());
        let fold = fold_case(case, case_events);
        let key_for = |unit: &str| match group {
            KpiGroup::Unit => (unit.to_owned(), unit.to_owned()),
            _ => area_key(group, fold.case, &estates),
        };
        for (unit, counter, at) in &fold.unit_events {
            if !period.contains(*at) {
                continue;
            }
            let (key, label) = key_for(unit);
            let t = tally(&mut tallies, key, label);
            match counter {
                Counter::Dispatched => t.dispatched += 1,
                Counter::Handled => t.handled += 1,
                Counter::Returned => t.returned += 1,
                Counter::Reopened => t.reopened += 1,
            }
        }
        for a in fold.assignments.iter().filter(|a| !a.dropped) {
            let settle = a.closed_at.map_or(a.deadline, |c| c.min(a.deadline));
            if !period.contains(settle) {
                continue;
            }
            let (key, label) = key_for(&a.unit);
            let t = tally(&mut tallies, key, label);
            t.due += 1;
            if a.closed_at.is_some() {
                t.closed += 1;
                let handled = a.last_handled_at.unwrap_or(a.dispatched_at);
                if handled <= a.deadline {
                    t.closed_on_time += 1;
                }
                let hours = (handled - a.dispatched_at).num_seconds() as f64 / 3600.0;
                t.handle_hours.push(hours);
            }
        }
    }
    tallies
        .into_iter()
        .map(|(key, t)| {
            KpiRow {
                key,
                label: t.label,
                due: t.due,
                closed_on_time: t.closed_on_time,
                closed: t.closed,
                reopened: t.reopened,
                returned: t.returned,
                dispatched: t.dispatched,
                handled: t.handled,
                on_time_rate: None,
                closure_rate: None,
                rework_rate: None,
                return_rate: None,
                avg_handle_hours: (!t.handle_hours.is_empty())
                    .then(|| t.handle_hours.iter().sum::<f64>() / t.handle_hours.len() as f64),
            }
            .with_rates()
        })
        .collect()
}

/// One figure of the quarterly table. [`KPI_COLUMNS`] lists them in the table's order; each one's
/// [`KpiDef`] (name, formula, hover text) is written once here and used by the page, its charts
/// and its exports, and the rates are computed from their definitions' numerator and denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kpi {
    Due,
    ClosedOnTime,
    Closed,
    Dispatched,
    Handled,
    Returned,
    Reopened,
    OnTimeRate,
    ClosureRate,
    ReworkRate,
    ReturnRate,
    AvgHandleHours,
}

/// What kind of figure a [`Kpi`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiKind {
    /// A count of assignments or events.
    Count,
    /// `numerator / denominator`, both counts; `None` when the denominator is zero.
    Rate { numerator: Kpi, denominator: Kpi },
    /// A mean duration in hours.
    Hours,
}

/// The definition of one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiDef {
    /// The column header and chart title (`结案率`).
    pub name: &'static str,
    pub kind: KpiKind,
    /// What the figure counts or means, for a hover explanation.
    pub meaning: &'static str,
}

/// The table's figures, in order.
pub const KPI_COLUMNS: [Kpi; 12] = [
    Kpi::Due,
    Kpi::ClosedOnTime,
    Kpi::Closed,
    Kpi::Dispatched,
    Kpi::Handled,
    Kpi::Returned,
    Kpi::Reopened,
    Kpi::OnTimeRate,
    Kpi::ClosureRate,
    Kpi::ReworkRate,
    Kpi::ReturnRate,
    Kpi::AvgHandleHours,
];

/// The rates, in the table's order.
pub const KPI_RATES: [Kpi; 4] = [
    Kpi::OnTimeRate,
    Kpi::ClosureRate,
    Kpi::ReworkRate,
    Kpi::ReturnRate,
];

impl Kpi {
    pub const fn def(self) -> KpiDef {
        use KpiKind::{Count, Hours, Rate};
        let (name, kind, meaning) = match self {
            Kpi::Due => (
                "应结",
                Count,
                "本季度应当结案的派遣：未被退回、未撤销，结案时间与处置时限中较早者落在本季度",
            ),
            Kpi::ClosedOnTime => (
                "按期结案",
                Count,
                "应结中已结案、且结案前最后一次处置不晚于处置时限（派遣时间 + 类别处置天数）的",
            ),
            Kpi::Closed => ("结案", Count, "应结中已核查结案的"),
            Kpi::Dispatched => ("派遣", Count, "本季度派遣给该单位的次数"),
            Kpi::Handled => (
                "处置",
                Count,
                "本季度该单位提交处置结果的次数（含返工后再处置）",
            ),
            Kpi::Returned => ("退回", Count, "本季度该单位退回派遣的次数"),
            Kpi::Reopened => ("返工", Count, "本季度核查不合格、退回该单位返工的次数"),
            Kpi::OnTimeRate => (
                "按期结案率",
                Rate {
                    numerator: Kpi::ClosedOnTime,
                    denominator: Kpi::Due,
                },
                "应结的派遣中按期结案的比例",
            ),
            Kpi::ClosureRate => (
                "结案率",
                Rate {
                    numerator: Kpi::Closed,
                    denominator: Kpi::Due,
                },
                "应结的派遣中已结案的比例",
            ),
            Kpi::ReworkRate => (
                "返工率",
                Rate {
                    numerator: Kpi::Reopened,
                    denominator: Kpi::Handled,
                },
                "提交的处置结果中被退回返工的比例",
            ),
            Kpi::ReturnRate => (
                "退回率",
                Rate {
                    numerator: Kpi::Returned,
                    denominator: Kpi::Dispatched,
                },
                "派遣中被责任单位退回的比例",
            ),
            Kpi::AvgHandleHours => (
                "平均处置时长",
                Hours,
                "已结案的应结派遣从派遣到最后一次处置的平均小时数",
            ),
        };
        KpiDef {
            name,
            kind,
            meaning,
        }
    }

    pub const fn name(self) -> &'static str {
        self.def().name
    }

    /// `结案率 = 结案 / 应结` for a rate, `None` for other figures.
    pub fn formula(self) -> Option<String> {
        match self.def().kind {
            KpiKind::Rate {
                numerator,
                denominator,
            } => Some(format!(
                "{} = {} / {}",
                self.name(),
                numerator.name(),
                denominator.name()
            )),
            KpiKind::Count | KpiKind::Hours => None,
        }
    }

    /// The hover explanation: the formula (for a rate) and what the figure means, with the
    /// meanings of a rate's numerator and denominator.
    pub fn explanation(self) -> String {
        let def = self.def();
        match def.kind {
            KpiKind::Rate {
                numerator,
                denominator,
            } => format!(
                "{}：{}。分子{}：{}；分母{}：{}。分母为 0 时显示“—”。",
                self.formula().unwrap_or_default(),
                def.meaning,
                numerator.name(),
                numerator.def().meaning,
                denominator.name(),
                denominator.def().meaning
            ),
            KpiKind::Count | KpiKind::Hours => format!("{}：{}。", def.name, def.meaning),
        }
    }

    /// The rate of `row` computed from this figure's definition (`None` for a count, or when the
    /// denominator is zero).
    fn rate_of(self, row: &KpiRow) -> Option<f64> {
        match self.def().kind {
            KpiKind::Rate {
                numerator,
                denominator,
            } => ratio(row.count(numerator)?, row.count(denominator)?),
            KpiKind::Count | KpiKind::Hours => None,
        }
    }
}

/// The formulas of every rate, as the page prints them (`按期结案率 = 按期结案 / 应结；…`).
pub fn formula_note() -> String {
    KPI_RATES
        .iter()
        .filter_map(|k| k.formula())
        .collect::<Vec<_>>()
        .join("；")
}

impl KpiRow {
    /// A count figure of the row; `None` for a rate or the handling time.
    pub fn count(&self, kpi: Kpi) -> Option<u32> {
        match kpi {
            Kpi::Due => Some(self.due),
            Kpi::ClosedOnTime => Some(self.closed_on_time),
            Kpi::Closed => Some(self.closed),
            Kpi::Dispatched => Some(self.dispatched),
            Kpi::Handled => Some(self.handled),
            Kpi::Returned => Some(self.returned),
            Kpi::Reopened => Some(self.reopened),
            _ => None,
        }
    }

    /// Any figure of the row as a number (`None`: a rate with a zero denominator, or no
    /// handling time).
    pub fn value(&self, kpi: Kpi) -> Option<f64> {
        match kpi {
            Kpi::OnTimeRate => self.on_time_rate,
            Kpi::ClosureRate => self.closure_rate,
            Kpi::ReworkRate => self.rework_rate,
            Kpi::ReturnRate => self.return_rate,
            Kpi::AvgHandleHours => self.avg_handle_hours,
            count => self.count(count).map(f64::from),
        }
    }

    /// A rate's numerator and denominator (`(1, 3)` for 33.3 %), `None` for other figures.
    pub fn fraction(&self, kpi: Kpi) -> Option<(u32, u32)> {
        match kpi.def().kind {
            KpiKind::Rate {
                numerator,
                denominator,
            } => Some((self.count(numerator)?, self.count(denominator)?)),
            KpiKind::Count | KpiKind::Hours => None,
        }
    }

    /// Fills the rates from their definitions.
    fn with_rates(mut self) -> KpiRow {
        self.on_time_rate = Kpi::OnTimeRate.rate_of(&self);
        self.closure_rate = Kpi::ClosureRate.rate_of(&self);
        self.rework_rate = Kpi::ReworkRate.rate_of(&self);
        self.return_rate = Kpi::ReturnRate.rate_of(&self);
        self
    }
}

/// Replaces unit ids with unit names in rows grouped by [`KpiGroup::Unit`].
pub fn label_units(rows: &mut [KpiRow], dir: &UnitDirectory) {
    for row in rows {
        if let Some(unit) = dir.get(&row.key) {
            row.label = unit.name.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::catalog::Category;
    use crate::geo::GpsFix;
    use crate::org::Role;
    use crate::workflow::{Actor, PhotoKind, PhotoRef, apply};

    #[test]
    fn quarter_of_the_last_instant_does_not_panic() {
        let last: DateTime<Utc> = "+262142-12-31T16:00:01Z".parse().unwrap();
        assert_eq!(
            Quarter::of(last),
            Quarter {
                year: 262_142,
                quarter: 4
            }
        );
        assert_eq!(Quarter::of(DateTime::<Utc>::MAX_UTC).quarter, 4);
    }

    fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
    }

    /// Builds one case through `workflow::apply`, so the log is one the workflow accepts.
    struct Story {
        case: Option<Case>,
        events: Vec<Event>,
        id: Uuid,
    }

    impl Story {
        fn new(n: u128, category: Category, estate: &str, when: DateTime<Utc>) -> Story {
            let mut s = Story {
                case: None,
                events: vec![],
                id: Uuid::from_u128(n),
            };
            let report = Action::Report {
                category,
                estate_id: estate.into(),
                building: None,
                unit_no: None,
                location_note: None,
                description: None,
            };
            s.push(report, Role::Inspector, "committee", when);
            s
        }

        fn push(
            &mut self,
            action: Action,
            role: Role,
            unit: &str,
            when: DateTime<Utc>,
        ) -> &mut Story {
            let kind = action.kind();
            let photos = match kind {
                crate::workflow::ActionKind::Handle => vec![PhotoRef {
                    sha256: format!("{:064x}", self.events.len() + 1),
                    kind: PhotoKind::After,
                }],
                crate::workflow::ActionKind::Verify => vec![PhotoRef {
                    sha256: format!("{:064x}", self.events.len() + 100),
                    kind: PhotoKind::Verification,
                }],
                _ => vec![],
            };
            let event = Event {
                id: Uuid::from_u128(self.id.as_u128() * 1000 + self.events.len() as u128),
                case_id: self.id,
                action,
                actor: Actor {
                    user_id: "u".into(),
                    role,
                    unit_id: unit.into(),
                },
                device_time: when,
                server_time: Some(when),
                gps: Some(GpsFix {
                    lat: 39.098,
                    lon: 117.212,
                    accuracy_m: None,
                    provider: None,
                }),
                photos,
                note: None,
            };
            self.case = Some(apply(self.case.as_ref(), &event).unwrap());
            self.events.push(event);
            self
        }

        fn dispatch(&mut self, unit: &str, when: DateTime<Utc>) -> &mut Story {
            self.push(
                Action::Dispatch {
                    unit_id: unit.into(),
                },
                Role::StreetOffice,
                "street",
                when,
            )
        }
        fn accept(&mut self, unit: &str, when: DateTime<Utc>) -> &mut Story {
            self.push(Action::Accept, Role::Department, unit, when)
        }
        fn handle(&mut self, unit: &str, when: DateTime<Utc>) -> &mut Story {
            self.push(Action::Handle, Role::Department, unit, when)
        }
        fn verify(&mut self, when: DateTime<Utc>) -> &mut Story {
            self.push(Action::Verify, Role::Inspector, "committee", when)
        }
    }

    /// The hand-computed log (times UTC; Q2 2026 in Beijing = 03-31T16:00Z .. 06-30T16:00Z):
    /// A stairwell lighting (3 days): dispatched 04-01 02h to maintenance, handled 04-02 02h, closed.
    /// B walkway (15 days): to city management 04-10 00h, returned 06h; to maintenance 08h (due
    ///   04-25 08h), handled 04-20, reopened 04-21, handled again 04-28 08h (late), closed 04-29.
    /// C gas (1 day) at changchunli: dispatched 06-30 12h (Beijing 20h, Q2), due 07-01 12h (Q3), open.
    /// D elevator (2 days): dispatched 03-31 15h (Beijing 23h, Q1), handled 04-01 10h, closed 12h.
    /// E ground lock: escalated, dispatched to the street office 05-01, cancelled 05-02.
    /// F small ads: dissuaded on site and verified: never reaches a unit.
    fn log() -> (Vec<Case>, Vec<Event>) {
        let mut stories = Vec::new();
        let mut a = Story::new(1, Category::StairwellLighting, "pingshandao", at(4, 1, 1));
        a.dispatch("hexi.maintenance", at(4, 1, 2))
            .accept("hexi.maintenance", at(4, 1, 3));
        a.handle("hexi.maintenance", at(4, 2, 2))
            .verify(at(4, 2, 5));
        stories.push(a);
        let mut b = Story::new(2, Category::Walkway, "pingshandao", at(4, 9, 23));
        b.dispatch("hexi.city_management", at(4, 10, 0));
        b.push(
            Action::Return {
                reason: "甬路归区维修单位".into(),
            },
            Role::Department,
            "hexi.city_management",
            at(4, 10, 6),
        );
        b.dispatch("hexi.maintenance", at(4, 10, 8))
            .accept("hexi.maintenance", at(4, 10, 9));
        b.handle("hexi.maintenance", at(4, 20, 8));
        b.push(
            Action::Reopen {
                reason: "仍有坑洼".into(),
            },
            Role::Inspector,
            "committee",
            at(4, 21, 0),
        );
        b.handle("hexi.maintenance", at(4, 28, 8))
            .verify(at(4, 29, 0));
        stories.push(b);
        let mut c = Story::new(3, Category::GasFacility, "changchunli", at(6, 30, 10));
        c.dispatch("tianjin.gas", at(6, 30, 12));
        stories.push(c);
        let mut d = Story::new(4, Category::Elevator, "pingshandao", at(3, 31, 14));
        d.dispatch("hexi.market_regulation", at(3, 31, 15))
            .accept("hexi.market_regulation", at(4, 1, 0));
        d.handle("hexi.market_regulation", at(4, 1, 10))
            .verify(at(4, 1, 12));
        stories.push(d);
        let mut e = Story::new(5, Category::GroundLock, "pingshandao", at(4, 30, 0));
        e.push(Action::Escalate, Role::Committee, "committee", at(4, 30, 2));
        e.dispatch("hexi.youyilu.street_office", at(5, 1, 0));
        e.push(
            Action::Cancel {
                reason: "重复上报".into(),
            },
            Role::StreetOffice,
            "street",
            at(5, 2, 0),
        );
        stories.push(e);
        let mut f = Story::new(6, Category::SmallAds, "pingshandao", at(5, 3, 0));
        f.push(Action::Dissuade, Role::CompanyStaff, "company", at(5, 3, 1))
            .verify(at(5, 3, 2));
        stories.push(f);
        let cases = stories.iter().map(|s| s.case.clone().unwrap()).collect();
        // Shuffle the log's order: compute must sort by time itself.
        let mut events: Vec<Event> = stories.into_iter().flat_map(|s| s.events).collect();
        events.reverse();
        (cases, events)
    }

    const Q2: Quarter = Quarter {
        year: 2026,
        quarter: 2,
    };

    fn row<'a>(rows: &'a [KpiRow], key: &str) -> &'a KpiRow {
        rows.iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no row {key} in {rows:#?}"))
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn per_unit_figures_match_the_hand_computed_log() {
        let (cases, events) = log();
        let estates = crate::demo::estates().unwrap();
        let mut rows = compute(&cases, &events, &estates, Q2, KpiGroup::Unit);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hexi.city_management",
                "hexi.maintenance",
                "hexi.market_regulation",
                "hexi.youyilu.street_office",
                "tianjin.gas"
            ]
        );

        let m = row(&rows, "hexi.maintenance");
        assert_eq!((m.due, m.closed, m.closed_on_time), (2, 2, 1));
        assert_eq!(
            (m.dispatched, m.handled, m.reopened, m.returned),
            (2, 3, 1, 0)
        );
        assert!(close(m.on_time_rate, 0.5) && close(m.closure_rate, 1.0));
        assert!(close(m.rework_rate, 1.0 / 3.0) && close(m.return_rate, 0.0));
        assert!(
            close(m.avg_handle_hours, (24.0 + 432.0) / 2.0),
            "{:?}",
            m.avg_handle_hours
        );

        let cm = row(&rows, "hexi.city_management");
        assert_eq!((cm.dispatched, cm.returned, cm.due), (1, 1, 0));
        assert!(close(cm.return_rate, 1.0));
        assert_eq!(cm.on_time_rate, None, "nothing was due");

        let mr = row(&rows, "hexi.market_regulation");
        assert_eq!(
            (mr.dispatched, mr.handled, mr.due, mr.closed_on_time),
            (0, 1, 1, 1),
            "dispatched in Q1, due in Q2"
        );
        assert!(close(mr.avg_handle_hours, 19.0));
        assert_eq!(mr.return_rate, None);

        let gas = row(&rows, "tianjin.gas");
        assert_eq!((gas.dispatched, gas.due), (1, 0), "deadline falls in Q3");
        let so = row(&rows, "hexi.youyilu.street_office");
        assert_eq!(
            (so.dispatched, so.due),
            (1, 0),
            "cancelled assignments are never due"
        );

        let dir = crate::demo::units().unwrap();
        label_units(&mut rows, &dir);
        assert_eq!(
            row(&rows, "hexi.maintenance").label,
            "河西区旧楼区设施设备维修养护中心"
        );
    }

    #[test]
    fn the_late_gas_case_counts_in_q3_as_due_and_not_closed() {
        let (cases, events) = log();
        let rows = compute(&cases, &events, &[], Q2.next(), KpiGroup::Unit);
        assert_eq!(rows.len(), 1);
        let gas = &rows[0];
        assert_eq!(
            (gas.key.as_str(), gas.due, gas.closed, gas.dispatched),
            ("tianjin.gas", 1, 0, 0)
        );
        assert!(close(gas.on_time_rate, 0.0) && close(gas.closure_rate, 0.0));
    }

    #[test]
    fn per_district_street_and_estate() {
        let (cases, events) = log();
        let estates = crate::demo::estates().unwrap();
        let rows = compute(&cases, &events, &estates, Q2, KpiGroup::District);
        let hexi = row(&rows, "河西区");
        assert_eq!((hexi.due, hexi.closed, hexi.closed_on_time), (3, 3, 2));
        assert_eq!(
            (hexi.dispatched, hexi.returned, hexi.handled, hexi.reopened),
            (4, 1, 4, 1)
        );
        assert!(close(hexi.avg_handle_hours, (24.0 + 432.0 + 19.0) / 3.0));
        assert!(
            close(hexi.on_time_rate, 2.0 / 3.0)
                && close(hexi.return_rate, 0.25)
                && close(hexi.rework_rate, 0.25)
        );
        assert_eq!(row(&rows, "和平区").dispatched, 1);

        let streets = compute(&cases, &events, &estates, Q2, KpiGroup::Street);
        assert_eq!(row(&streets, "河西区/友谊路街道").label, "友谊路街道");
        assert_eq!(row(&streets, "河西区/友谊路街道").due, 3);
        let communities = compute(&cases, &events, &estates, Q2, KpiGroup::Community);
        assert_eq!(
            row(&communities, "河西区/友谊路街道/平山道社区").label,
            "平山道社区"
        );
        let by_estate = compute(&cases, &events, &estates, Q2, KpiGroup::Estate);
        assert_eq!(row(&by_estate, "pingshandao").label, "平山道小区");
        assert_eq!(row(&by_estate, "changchunli").dispatched, 1);

        let unknown = compute(&cases, &events, &[], Q2, KpiGroup::District);
        assert!(
            unknown.iter().all(|r| r.key.starts_with('?')),
            "estates not given are shown as unknown"
        );
    }

    /// Every formula the page prints (`X率 = A / B`), read back from the printed text, holds for
    /// the computed figures of the hand-computed log in every grouping, with the table's names.
    #[test]
    fn the_printed_formulas_are_the_computed_ones() {
        let count = |row: &KpiRow, name: &str| -> u32 {
            match name {
                "应结" => row.due,
                "按期结案" => row.closed_on_time,
                "结案" => row.closed,
                "派遣" => row.dispatched,
                "处置" => row.handled,
                "退回" => row.returned,
                "返工" => row.reopened,
                other => panic!("the formula names an unknown figure {other:?}"),
            }
        };
        let rate = |row: &KpiRow, name: &str| match name {
            "按期结案率" => row.on_time_rate,
            "结案率" => row.closure_rate,
            "返工率" => row.rework_rate,
            "退回率" => row.return_rate,
            other => panic!("the formula names an unknown rate {other:?}"),
        };
        let note = formula_note();
        let formulas: Vec<(&str, &str, &str)> = note
            .split('；')
            .map(|f| {
                let (name, rest) = f.split_once(" = ").unwrap();
                let (num, den) = rest.split_once(" / ").unwrap();
                (name.trim(), num.trim(), den.trim())
            })
            .collect();
        assert_eq!(formulas.len(), 4, "{note}");
        let (cases, events) = log();
        let estates = crate::demo::estates().unwrap();
        for group in [KpiGroup::Unit, KpiGroup::District, KpiGroup::Street] {
            for row in compute(&cases, &events, &estates, Q2, group) {
                for (name, num, den) in &formulas {
                    assert_eq!(
                        rate(&row, name),
                        ratio(count(&row, num), count(&row, den)),
                        "{name} = {num} / {den} in row {}",
                        row.key
                    );
                }
            }
        }
    }

    #[test]
    fn quarters_follow_beijing_calendar() {
        assert_eq!(
            Quarter::of(at(3, 31, 15)),
            Quarter {
                year: 2026,
                quarter: 1
            }
        );
        assert_eq!(
            Quarter::of(at(3, 31, 16)),
            Q2,
            "Beijing midnight on April 1st"
        );
        assert_eq!(Q2.start(), at(3, 31, 16));
        assert_eq!(Q2.end(), at(6, 30, 16));
        assert_eq!(
            Quarter {
                year: 2026,
                quarter: 4
            }
            .next(),
            Quarter {
                year: 2027,
                quarter: 1
            }
        );
        assert_eq!(
            Quarter::of(Utc.with_ymd_and_hms(2026, 12, 31, 16, 30, 0).unwrap()),
            Quarter {
                year: 2027,
                quarter: 1
            }
        );
        assert_eq!("2026Q2".parse::<Quarter>().unwrap(), Q2);
        assert_eq!(Q2.to_string(), "2026Q2");
        for bad in ["2026Q5", "2026", "Q2", "2026Q0", "abcdQ1"] {
            assert_eq!(
                bad.parse::<Quarter>().unwrap_err().code(),
                "INVALID_QUARTER",
                "{bad}"
            );
        }
    }
}
