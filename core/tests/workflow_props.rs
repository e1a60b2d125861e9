//! Property tests for the case workflow: random event sequences never reach a state the workflow
//! forbids, each role fires only its own transitions, and `allowed_actions` agrees with `apply`.
//! Accept, return and handle belong to members of the assigned unit whatever its type; every
//! time and deadline comes from the server's stamp, never from the device's clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;
use xuncha_core::catalog::Category;
use xuncha_core::geo::GpsFix;
use xuncha_core::org::Role;
use xuncha_core::workflow::{
    Action, ActionKind, Actor, Case, CaseStatus, Event, PhotoKind, PhotoRef, allowed_actions,
    apply, require_received,
};

use CaseStatus as St;

/// The lifecycle of DESIGN.md written out independently of the implementation:
/// (from, action, role) -> to. `None` for `from` is "no case yet".
fn spec_transition(
    from: Option<CaseStatus>,
    action: ActionKind,
    role: Role,
    category: Category,
) -> Option<CaseStatus> {
    use ActionKind as A;
    let dissuade_first = category.info().dissuade_first;
    let open = |s: CaseStatus| !matches!(s, St::Closed | St::Cancelled);
    match (from, action, role) {
        (None, A::Report, Role::Inspector | Role::CompanyStaff | Role::Committee) => {
            Some(St::Reported)
        }
        (
            Some(St::Reported),
            A::Dissuade,
            Role::Inspector | Role::CompanyStaff | Role::Committee,
        ) if dissuade_first => Some(St::ResolvedOnSite),
        (Some(St::Reported), A::Escalate, Role::Committee) => Some(St::Escalated),
        (Some(St::Reported), A::Dispatch, Role::StreetOffice) if !dissuade_first => {
            Some(St::Dispatched)
        }
        (Some(St::Escalated | St::Returned), A::Dispatch, Role::StreetOffice) => {
            Some(St::Dispatched)
        }
        // Members of the assigned unit, whatever the unit's type; never the evaluator (admin).
        (Some(St::Dispatched), A::Accept, r) if r != Role::Admin => Some(St::Accepted),
        (Some(St::Dispatched | St::Accepted), A::Return, r) if r != Role::Admin => {
            Some(St::Returned)
        }
        (Some(St::Accepted | St::Reopened), A::Handle, r) if r != Role::Admin => Some(St::Handled),
        (Some(St::Handled | St::ResolvedOnSite), A::Verify, Role::Inspector | Role::Committee) => {
            Some(St::Closed)
        }
        (Some(St::Handled), A::Reopen, Role::Inspector | Role::Committee | Role::StreetOffice) => {
            Some(St::Reopened)
        }
        (Some(s), A::Cancel, Role::Committee | Role::StreetOffice) if open(s) => {
            Some(St::Cancelled)
        }
        (Some(s), A::Comment, _) => Some(s),
        (Some(s), A::Minutes, Role::StreetOffice) => Some(s),
        _ => None,
    }
}

/// Resolves a guided step to a concrete (kind, role, unit) someone may fire now.
fn resolve_step(step: &Step, case: Option<&Case>) -> Step {
    let Some(index) = &step.guide else {
        return step.clone();
    };
    let mut moves = Vec::new();
    for role in Role::ALL {
        for (unit, unit_id) in UNITS.iter().enumerate() {
            let actor = Actor {
                user_id: "g".into(),
                role,
                unit_id: (*unit_id).into(),
            };
            for kind in allowed_actions(case, &actor) {
                moves.push((kind, role, unit));
            }
        }
    }
    if moves.is_empty() {
        return step.clone();
    }
    let (kind, role, unit) = moves[index.index(moves.len())];
    Step {
        kind,
        role,
        unit,
        ..step.clone()
    }
}

/// A department, a company, the street office and the committee: every kind of unit a case
/// can be dispatched to, so membership (not role) is what the properties exercise.
const UNITS: [&str; 4] = [
    "hexi.city_management",
    "company.a",
    "hexi.youyilu.street_office",
    "hexi.youyilu.pingshandao.committee",
];
const CASE_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

#[derive(Debug, Clone)]
struct Step {
    kind: ActionKind,
    role: Role,
    unit: usize,
    photo: Option<PhotoKind>,
    gps: bool,
    reason: bool,
    minutes: i64,
    /// How far the device's clock is off the server's (either way): it must not matter.
    skew_minutes: i64,
    /// Whether the receiver holds the photo the event cites (uploaded before the push).
    received: bool,
    /// Pick among the moves `allowed_actions` offers someone (else the raw kind/role/unit above),
    /// so sequences get deep into the lifecycle instead of bouncing off REPORTED.
    guide: Option<prop::sample::Index>,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    (
        prop::sample::select(ActionKind::ALL.to_vec()),
        prop::sample::select(Role::ALL.to_vec()),
        0..UNITS.len(),
        prop::option::weighted(
            0.8,
            prop::sample::select(vec![
                PhotoKind::Before,
                PhotoKind::After,
                PhotoKind::After,
                PhotoKind::Verification,
            ]),
        ),
        any::<bool>(),
        prop::bool::weighted(0.8),
        0i64..10_000,
        (
            prop::option::weighted(0.7, any::<prop::sample::Index>()),
            -500_000i64..500_000,
            prop::bool::weighted(0.85),
        ),
    )
        .prop_map(
            |(kind, role, unit, photo, gps, reason, minutes, (guide, skew_minutes, received))| {
                Step {
                    received,
                    kind,
                    role,
                    unit,
                    photo,
                    gps,
                    reason,
                    minutes,
                    skew_minutes,
                    guide,
                }
            },
        )
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
}

fn event_for(step: &Step, category: Category, n: usize, at: DateTime<Utc>) -> Event {
    let reason = if step.reason {
        "不属于本单位职责".to_owned()
    } else {
        "  ".to_owned()
    };
    let action = match step.kind {
        ActionKind::Report => Action::Report {
            category,
            estate_id: "pingshandao".into(),
            building: Some("3号楼".into()),
            unit_no: None,
            location_note: None,
            description: None,
        },
        ActionKind::Dissuade => Action::Dissuade,
        ActionKind::Escalate => Action::Escalate,
        ActionKind::Dispatch => Action::Dispatch {
            unit_id: UNITS[step.unit].into(),
        },
        ActionKind::Accept => Action::Accept,
        ActionKind::Return => Action::Return { reason },
        ActionKind::Handle => Action::Handle,
        ActionKind::Verify => Action::Verify,
        ActionKind::Reopen => Action::Reopen { reason },
        ActionKind::Cancel => Action::Cancel { reason },
        ActionKind::Comment => Action::Comment,
        ActionKind::Minutes => Action::Minutes {
            unit_id: UNITS[step.unit].into(),
            text: "三日内处置".into(),
        },
    };
    Event {
        id: Uuid::from_u128(n as u128 + 1),
        case_id: CASE_ID,
        action,
        actor: Actor {
            user_id: format!("u{n}"),
            role: step.role,
            unit_id: UNITS[step.unit].into(),
        },
        // The server's stamp is `at`; the phone's clock is anywhere around it.
        device_time: at + TimeDelta::minutes(step.skew_minutes),
        server_time: Some(at),
        gps: step.gps.then_some(GpsFix {
            lat: 39.098,
            lon: 117.212,
            accuracy_m: Some(8.0),
            provider: None,
        }),
        photos: step
            .photo
            .map(|kind| {
                vec![PhotoRef {
                    sha256: format!("{:064x}", n + 7),
                    kind,
                }]
            })
            .unwrap_or_default(),
        note: None,
    }
}

/// Invariants every reachable case satisfies.
fn check_invariants(case: &Case, applied: &[Event]) {
    use St::*;
    let holding = matches!(case.status, Dispatched | Accepted | Handled | Reopened);
    let unassigned = matches!(
        case.status,
        Reported | Escalated | Returned | ResolvedOnSite
    );
    assert!(
        !holding || case.assigned_unit.is_some(),
        "{:?} without a unit",
        case.status
    );
    assert!(
        !unassigned || case.assigned_unit.is_none(),
        "{:?} with a unit",
        case.status
    );
    assert_eq!(case.closed_at.is_some(), case.status == Closed);
    assert_eq!(case.cancelled_at.is_some(), case.status == Cancelled);
    assert_eq!(case.version as usize, applied.len());
    let count = |k: ActionKind| applied.iter().filter(|e| e.action.kind() == k).count() as u32;
    assert_eq!(case.rework_count, count(ActionKind::Reopen));
    assert_eq!(case.return_count, count(ActionKind::Return));
    if matches!(case.status, Dispatched | Accepted | Reopened) {
        assert!(case.handle_due.is_some());
        assert_eq!(case.current_due(), case.handle_due);
    }
    // The event that moved the case last (comments and minutes do not move it).
    let mover = applied
        .iter()
        .rev()
        .find(|e| !matches!(e.action.kind(), ActionKind::Comment | ActionKind::Minutes));
    // Deadlines run from the server time of the event that handed the case to whoever must act.
    let server = |e: &Event| e.server_time.unwrap();
    let hours = TimeDelta::hours(i64::from(case.category.info().dispatch_hours));
    let days = TimeDelta::days(i64::from(case.category.info().handle_days));
    let handed = |kinds: &[ActionKind]| {
        applied
            .iter()
            .rev()
            .find(|e| kinds.contains(&e.action.kind()))
            .map(server)
    };
    match case.status {
        Reported if case.category.info().dissuade_first => {
            assert_eq!(
                case.current_due(),
                None,
                "nobody may dispatch before ESCALATE"
            )
        }
        Reported | Escalated | Returned => {
            let from = handed(&[ActionKind::Report, ActionKind::Escalate, ActionKind::Return]);
            assert_eq!(case.current_due(), from.map(|t| t + hours));
        }
        Dispatched | Accepted | Reopened => {
            let from = handed(&[ActionKind::Dispatch, ActionKind::Reopen]);
            assert_eq!(case.current_due(), from.map(|t| t + days));
        }
        _ => {}
    }
    assert_eq!(case.reported_at, server(&applied[0]));
    assert_eq!(case.updated_at, server(applied.last().unwrap()));
    if case.status == Handled {
        let last = mover.unwrap();
        assert!(last.photos.iter().any(|p| p.kind == PhotoKind::After));
    }
    if case.status == Closed {
        let last = mover.unwrap();
        assert!(last.gps.is_some() && !last.photos.is_empty());
    }
    if !case.status.is_open() {
        assert!(case.current_due().is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_follow_the_lifecycle(
        category in prop::sample::select(Category::ALL.to_vec()),
        steps in prop::collection::vec(step_strategy(), 1..40),
        first_report in any::<bool>(),
    ) {
        let mut case: Option<Case> = None;
        let mut applied: Vec<Event> = Vec::new();
        let mut at = start();
        let mut steps = steps;
        if first_report {
            steps.insert(0, Step { kind: ActionKind::Report, role: Role::Inspector, unit: 0,
                photo: Some(PhotoKind::Before), gps: true, reason: true, minutes: 0, skew_minutes: 0,
                received: true, guide: None });
        }
        for (n, step) in steps.iter().enumerate() {
            let step = &resolve_step(step, case.as_ref());
            at += TimeDelta::minutes(step.minutes);
            let event = event_for(step, category, n, at);
            let before = case.as_ref().map(|c| c.status);
            let permitted = allowed_actions(case.as_ref(), &event.actor).contains(&step.kind);
            // As the server judges: the workflow, then the evidence it holds for the actor.
            let judged = apply(case.as_ref(), &event)
                .and_then(|next| require_received(&event, |_| step.received).map(|()| next));
            match judged {
                Ok(next) => {
                    prop_assert!(event.photos.is_empty() || step.received,
                        "applied an event citing a photo nobody uploaded");
                    let expected = spec_transition(before, step.kind, step.role, category);
                    prop_assert_eq!(Some(next.status), expected,
                        "{:?} fired {:?} from {:?}", step.role, step.kind, before);
                    prop_assert!(permitted, "apply accepted what allowed_actions refuses");
                    if matches!(step.kind, ActionKind::Accept | ActionKind::Return | ActionKind::Handle) {
                        prop_assert_eq!(case.as_ref().and_then(|c| c.assigned_unit.as_deref()),
                            Some(event.actor.unit_id.as_str()));
                    }
                    prop_assert_eq!(next.updated_at, at);
                    applied.push(event);
                    check_invariants(&next, &applied);
                    case = Some(next);
                }
                Err(err) => {
                    // Refused events leave nothing behind, and say why with a known code.
                    prop_assert!(["ROLE_NOT_ALLOWED", "INVALID_STATE", "MISSING_EVIDENCE",
                        "REASON_REQUIRED", "NOT_ASSIGNEE", "CASE_EXISTS", "UNKNOWN_CASE",
                        "DISSUASION_NOT_APPLICABLE", "DISSUASION_FIRST", "PHOTO_NOT_RECEIVED"].contains(&err.code()),
                        "unexpected code {}", err.code());
                    if err.code() == "ROLE_NOT_ALLOWED" {
                        prop_assert!(!permitted);
                    }
                    let spec = spec_transition(before, step.kind, step.role, category);
                    let needs_more = matches!(err.code(), "MISSING_EVIDENCE" | "REASON_REQUIRED" | "NOT_ASSIGNEE" | "PHOTO_NOT_RECEIVED");
                    if err.code() == "PHOTO_NOT_RECEIVED" {
                        prop_assert!(!step.received && !event.photos.is_empty());
                    }
                    prop_assert!(spec.is_none() || needs_more,
                        "{:?} {:?} from {:?} refused with {}", step.role, step.kind, before, err);
                }
            }
        }
    }

    #[test]
    fn every_role_fires_only_its_own_actions(
        category in prop::sample::select(Category::ALL.to_vec()),
        status in prop::sample::select(CaseStatus::ALL.to_vec()),
        role in prop::sample::select(Role::ALL.to_vec()),
        assigned_to_actor in any::<bool>(),
    ) {
        let report = Event {
            id: Uuid::from_u128(1),
            case_id: CASE_ID,
            action: Action::Report { category, estate_id: "changchunli".into(), building: None,
                unit_no: None, location_note: None, description: None },
            actor: Actor { user_id: "i".into(), role: Role::Inspector, unit_id: "changchunli.committee".into() },
            device_time: start(), server_time: None, gps: None, photos: vec![], note: None,
        };
        let mut case = apply(None, &report).unwrap();
        case.status = status;
        case.assigned_unit = Some("hexi.city_management".into());
        let actor = Actor {
            user_id: "x".into(),
            role,
            unit_id: if assigned_to_actor { "hexi.city_management".into() } else { "other".into() },
        };
        for kind in allowed_actions(Some(&case), &actor) {
            let spec = spec_transition(Some(status), kind, role, category);
            prop_assert!(spec.is_some(), "{:?} may {:?} from {:?}", role, kind, status);
            if matches!(kind, ActionKind::Accept | ActionKind::Return | ActionKind::Handle) {
                prop_assert!(assigned_to_actor);
            }
        }
        for kind in ActionKind::ALL {
            let spec = spec_transition(Some(status), kind, role, category);
            let needs_assignment = matches!(kind, ActionKind::Accept | ActionKind::Return | ActionKind::Handle);
            if spec.is_some() && kind != ActionKind::Report && (assigned_to_actor || !needs_assignment) {
                prop_assert!(allowed_actions(Some(&case), &actor).contains(&kind),
                    "{:?} should be able to {:?} from {:?}", role, kind, status);
            }
        }
    }
}

/// The property test is only as good as the states it reaches: with guided steps, a few hundred
/// deterministic sequences must visit every status.
#[test]
fn guided_sequences_reach_every_status() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop::sample::select(Category::ALL.to_vec()),
        prop::collection::vec(step_strategy(), 20..40),
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let (category, steps) = strategy.new_tree(&mut runner).unwrap().current();
        let mut case: Option<Case> = None;
        let mut at = start();
        for (n, step) in steps.iter().enumerate() {
            let step = resolve_step(step, case.as_ref());
            at += TimeDelta::minutes(step.minutes);
            if let Ok(next) = apply(case.as_ref(), &event_for(&step, category, n, at)) {
                seen.insert(next.status);
                case = Some(next);
            }
        }
    }
    assert_eq!(seen.len(), CaseStatus::ALL.len(), "reached only {seen:?}");
}
