//! INTEGRATION POINT (domain helper): the quarterly figures until `xuncha_core::kpi::compute`
//! lands on main; then [`compute`] becomes a call to it and this body is deleted (the page, the
//! charts and the exports only see [`KpiLine`]).
//!
//! Attribution follows the events: a DISPATCH counts for the unit it names, RETURN / HANDLE /
//! REOPEN / VERIFY for the unit holding the case at that moment. A case is "due" in the quarter
//! when its handling deadline falls in it; it is "closed on time" when it was handled by that
//! deadline and verified (closed) in the quarter or later.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use xuncha_core::Case;
use xuncha_core::estate::Estate;
use xuncha_core::workflow::{Action, Event};

use super::kpi_view::{KpiLine, QuarterArg};

/// What the rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Unit,
    Community,
    Estate,
}

/// [start, end) of a Beijing-calendar quarter, in UTC.
pub fn quarter_bounds(q: QuarterArg) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start_month = u32::from(q.quarter.clamp(1, 4) - 1) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(q.year, start_month, 1)?;
    let next = q.next();
    let end = NaiveDate::from_ymd_opt(next.year, u32::from(next.quarter - 1) * 3 + 1, 1)?;
    let at = |d: NaiveDate| {
        Shanghai
            .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((at(start)?, at(end)?))
}

#[derive(Default)]
struct Tally {
    due: u32,
    closed_on_time: u32,
    closed: u32,
    dispatched: u32,
    returned: u32,
    reopened: u32,
    handle_hours: Vec<f64>,
}

fn rate(n: u32, d: u32) -> Option<f64> {
    (d > 0).then(|| f64::from(n) / f64::from(d))
}

/// Rows sorted by label; only keys with something to count appear.
pub fn compute(
    cases: &[Case],
    events: &[Event],
    estates: &[Estate],
    quarter: QuarterArg,
    group: GroupBy,
) -> Vec<KpiLine> {
    let Some((start, end)) = quarter_bounds(quarter) else {
        return Vec::new();
    };
    let in_q = |t: DateTime<Utc>| t >= start && t < end;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for case in cases {
        let estate = estates.iter().find(|e| e.id == case.estate_id);
        let area_key = match group {
            GroupBy::Community => {
                Some(estate.map_or_else(|| case.estate_id.clone(), |e| e.community.clone()))
            }
            GroupBy::Estate => {
                Some(estate.map_or_else(|| case.estate_id.clone(), |e| e.name.clone()))
            }
            GroupBy::Unit => None,
        };
        let key_for = |unit: Option<&String>| -> Option<String> {
            area_key.clone().or_else(|| unit.cloned())
        };
        let mut case_events: Vec<&Event> = events.iter().filter(|e| e.case_id == case.id).collect();
        case_events.sort_by_key(|e| e.effective_time());
        let handle_days = i64::from(case.category.info().handle_days);
        let mut assigned: Option<String> = None;
        let mut dispatched_at: Option<DateTime<Utc>> = None;
        let mut handled_on_time: Option<bool> = None;
        // (unit key, handling deadline) of the dispatch in force; a RETURN withdraws it.
        let mut pending_due: Option<(Option<String>, DateTime<Utc>)> = None;
        for event in case_events {
            let t = event.effective_time();
            match &event.action {
                Action::Dispatch { unit_id } => {
                    assigned = Some(unit_id.clone());
                    dispatched_at = Some(t);
                    handled_on_time = None;
                    pending_due =
                        Some((key_for(assigned.as_ref()), t + Duration::days(handle_days)));
                    if in_q(t)
                        && let Some(k) = key_for(assigned.as_ref())
                    {
                        tallies.entry(k).or_default().dispatched += 1;
                    }
                }
                Action::Return { .. } => {
                    if in_q(t)
                        && let Some(k) = key_for(assigned.as_ref())
                    {
                        tallies.entry(k).or_default().returned += 1;
                    }
                    assigned = None;
                    dispatched_at = None;
                    pending_due = None;
                }
                Action::Handle => {
                    if let Some(from) = dispatched_at {
                        let due = from + Duration::days(handle_days);
                        handled_on_time = Some(t <= due);
                        if in_q(t)
                            && let Some(k) = key_for(assigned.as_ref())
                        {
                            let hours = (t - from).num_seconds() as f64 / 3600.0;
                            tallies.entry(k).or_default().handle_hours.push(hours);
                        }
                    }
                }
                Action::Reopen { .. } => {
                    if in_q(t)
                        && let Some(k) = key_for(assigned.as_ref())
                    {
                        tallies.entry(k).or_default().reopened += 1;
                    }
                    handled_on_time = None;
                }
                Action::Verify => {
                    if in_q(t)
                        && let Some(k) = key_for(assigned.as_ref())
                    {
                        let tally = tallies.entry(k).or_default();
                        tally.closed += 1;
                        if handled_on_time == Some(true) {
                            tally.closed_on_time += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some((Some(k), due)) = pending_due
            && in_q(due)
        {
            tallies.entry(k).or_default().due += 1;
        }
    }
    tallies
        .into_iter()
        .map(|(label, t)| KpiLine {
            label,
            due: t.due,
            closed_on_time: t.closed_on_time,
            closed: t.closed,
            dispatched: t.dispatched,
            returned: t.returned,
            reopened: t.reopened,
            on_time_rate: rate(t.closed_on_time, t.due),
            closure_rate: rate(t.closed, t.dispatched),
            rework_rate: rate(t.reopened, t.closed),
            return_rate: rate(t.returned, t.dispatched),
            avg_handle_hours: (!t.handle_hours.is_empty())
                .then(|| t.handle_hours.iter().sum::<f64>() / t.handle_hours.len() as f64),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dashboard::fixtures::{at, case, estate};
    use uuid::Uuid;
    use xuncha_core::{Actor, CaseStatus, Category, Role};

    fn ev(n: u128, case: u128, action: Action, t: DateTime<Utc>, unit: &str) -> Event {
        Event {
            id: Uuid::from_u128(n),
            case_id: Uuid::from_u128(case),
            action,
            actor: Actor {
                user_id: "u".into(),
                role: Role::Department,
                unit_id: unit.into(),
            },
            device_time: t,
            server_time: Some(t),
            gps: None,
            photos: vec![],
            note: None,
        }
    }

    #[test]
    fn quarter_bounds_follow_beijing_midnight() {
        let (s, e) = quarter_bounds(QuarterArg {
            year: 2026,
            quarter: 4,
        })
        .unwrap();
        assert_eq!(s.to_rfc3339(), "2026-09-30T16:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2026-12-31T16:00:00+00:00");
    }

    #[test]
    fn dispatch_return_redispatch_handle_verify_counts_per_unit() {
        // STREET_LIGHT: 3 handling days.
        let c = case(1, CaseStatus::Closed, Category::StreetLight, "e", at(1, 0));
        let events = vec![
            ev(
                1,
                1,
                Action::Dispatch {
                    unit_id: "a".into(),
                },
                at(1, 1),
                "s",
            ),
            ev(
                2,
                1,
                Action::Return {
                    reason: "不是我们的".into(),
                },
                at(1, 5),
                "a",
            ),
            ev(
                3,
                1,
                Action::Dispatch {
                    unit_id: "b".into(),
                },
                at(2, 0),
                "s",
            ),
            ev(4, 1, Action::Handle, at(3, 0), "b"),
            ev(
                5,
                1,
                Action::Reopen {
                    reason: "没修好".into(),
                },
                at(3, 6),
                "i",
            ),
            ev(6, 1, Action::Handle, at(4, 0), "b"),
            ev(7, 1, Action::Verify, at(4, 2), "i"),
        ];
        let lines = compute(
            &[c],
            &events,
            &[estate("e", "长春里社区")],
            QuarterArg {
                year: 2026,
                quarter: 4,
            },
            GroupBy::Unit,
        );
        let a = lines.iter().find(|l| l.label == "a").unwrap();
        assert_eq!((a.dispatched, a.returned, a.closed, a.due), (1, 1, 0, 0));
        assert_eq!(a.return_rate, Some(1.0));
        let b = lines.iter().find(|l| l.label == "b").unwrap();
        assert_eq!(
            (b.dispatched, b.closed, b.closed_on_time, b.reopened, b.due),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(b.rework_rate, Some(1.0));
        assert_eq!(b.avg_handle_hours, Some(36.0));
        let by_community = compute(
            &[case(
                1,
                CaseStatus::Closed,
                Category::StreetLight,
                "e",
                at(1, 0),
            )],
            &events,
            &[estate("e", "长春里社区")],
            QuarterArg {
                year: 2026,
                quarter: 4,
            },
            GroupBy::Community,
        );
        assert_eq!(by_community.len(), 1);
        assert_eq!(by_community[0].label, "长春里社区");
        assert_eq!(by_community[0].dispatched, 2);
        let other_quarter = compute(
            &[],
            &events,
            &[],
            QuarterArg {
                year: 2026,
                quarter: 3,
            },
            GroupBy::Unit,
        );
        assert!(other_quarter.is_empty());
    }
}
