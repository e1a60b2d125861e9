//! The one place the server calls the shared domain core: the workflow (`apply`), routing
//! (`route`) and the demo data loaders. Everything else in the server goes through these functions,
//! so the integration with `xuncha_core::{workflow, routing, demo}` is a change to this file alone.
//!
//! INTEGRATION POINT (domain helper, branch `domain`): until `xuncha_core::workflow::apply`,
//! `xuncha_core::routing::route` and `xuncha_core::demo` land on main, the bodies below are an
//! interim, minimal lifecycle written against CONTRACT.md. After `git merge main` they become thin
//! calls to the core and the interim code is deleted.

use std::collections::HashMap;

use chrono::Duration;
use serde::Serialize;
use xuncha_core::estate::{Estate, EstateId};
use xuncha_core::workflow::{Action, Case, CaseStatus, Event, PhotoKind};
use xuncha_core::{OrgUnit, Role, UnitType};

/// Estates, the unit directory and the routing rules as the server currently holds them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub estates: HashMap<EstateId, Estate>,
    pub units: Vec<OrgUnit>,
    /// The routing rules file (TOML) in force, if one was loaded.
    pub routing_rules: Option<String>,
}

impl Catalog {
    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.units.iter().find(|u| u.id == id)
    }
}

/// Why the workflow refused an event; `code` is the core's stable `WorkflowError::code()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Validates `event` against the case as it stands and returns the case after it.
pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, Refusal> {
    interim::apply(case, event)
}

/// Where the case goes, as stored with the case at ingest (JSON of the core's `RoutingDecision`).
pub fn route(catalog: &Catalog, case: &Case, estate: &Estate) -> serde_json::Value {
    interim::route(catalog, case, estate)
}

/// Demo estates and unit directory (three Tianjin areas).
pub fn demo_catalog() -> Result<Catalog, Refusal> {
    interim::demo_catalog()
}

mod interim {
    use super::*;

    pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, Refusal> {
        let at = event.effective_time();
        let role = event.actor.role;
        let Some(case) = case else {
            let Action::Report {
                category,
                estate_id,
                building,
                unit_no,
                location_note,
                description,
            } = &event.action
            else {
                return Err(Refusal::new("UNKNOWN_CASE", "the case does not exist"));
            };
            if matches!(role, Role::Department) {
                return Err(Refusal::new(
                    "ROLE_NOT_ALLOWED",
                    "departments do not report",
                ));
            }
            return Ok(Case {
                id: event.case_id,
                category: *category,
                estate_id: estate_id.clone(),
                building: building.clone(),
                unit_no: unit_no.clone(),
                location_note: location_note.clone(),
                description: description.clone(),
                location: event.gps.clone(),
                status: CaseStatus::Reported,
                reported_by: event.actor.clone(),
                reported_at: at,
                assigned_unit: None,
                escalated_at: None,
                dispatched_at: None,
                accepted_at: None,
                handled_at: None,
                closed_at: None,
                resolved_on_site_at: None,
                cancelled_at: None,
                dispatch_due: at + Duration::hours(i64::from(category.info().dispatch_hours)),
                handle_due: None,
                rework_count: 0,
                return_count: 0,
                photos: event.photos.clone(),
                last_reason: None,
                version: 1,
                updated_at: at,
            });
        };
        if case.id != event.case_id {
            return Err(Refusal::new("CASE_MISMATCH", "event is for another case"));
        }
        use CaseStatus as S;
        use Role as R;
        let (from, roles, to): (&[S], &[R], S) = match &event.action {
            Action::Report { .. } => return Err(Refusal::new("CASE_EXISTS", "already reported")),
            Action::Dissuade => (
                &[S::Reported],
                &[R::Inspector, R::CompanyStaff, R::Committee],
                S::ResolvedOnSite,
            ),
            Action::Escalate => (&[S::Reported], &[R::Committee], S::Escalated),
            Action::Dispatch { .. } => (
                &[S::Reported, S::Escalated, S::Returned],
                &[R::StreetOffice],
                S::Dispatched,
            ),
            Action::Accept => (&[S::Dispatched, S::Reopened], &[R::Department], S::Accepted),
            Action::Return { .. } => (&[S::Dispatched], &[R::Department], S::Returned),
            Action::Handle => (&[S::Accepted], &[R::Department], S::Handled),
            Action::Verify => (
                &[S::Handled, S::ResolvedOnSite],
                &[R::Inspector, R::Committee],
                S::Closed,
            ),
            Action::Reopen { .. } => (&[S::Handled], &[R::Inspector, R::Committee], S::Reopened),
            Action::Cancel { .. } => (&S::ALL, &[R::Committee, R::StreetOffice], S::Cancelled),
            Action::Comment => (&S::ALL, &R::ALL, case.status),
        };
        if !roles.contains(&role) {
            return Err(Refusal::new(
                "ROLE_NOT_ALLOWED",
                format!("role {} may not do this", role.code()),
            ));
        }
        if !from.contains(&case.status) || (!case.status.is_open() && to != case.status) {
            return Err(Refusal::new(
                "INVALID_STATE",
                format!("not allowed while the case is {}", case.status.code()),
            ));
        }
        let assignee_only = matches!(
            event.action,
            Action::Accept | Action::Return { .. } | Action::Handle
        );
        if assignee_only && case.assigned_unit.as_deref() != Some(event.actor.unit_id.as_str()) {
            return Err(Refusal::new(
                "NOT_ASSIGNEE",
                "the case is assigned to another unit",
            ));
        }
        if matches!(event.action, Action::Handle)
            && !event.photos.iter().any(|p| p.kind == PhotoKind::After)
        {
            return Err(Refusal::new(
                "MISSING_EVIDENCE",
                "handling needs an after-photo",
            ));
        }
        let mut next = case.clone();
        next.status = to;
        match &event.action {
            Action::Escalate => next.escalated_at = Some(at),
            Action::Dispatch { unit_id } => {
                next.assigned_unit = Some(unit_id.clone());
                next.dispatched_at = Some(at);
                next.handle_due =
                    Some(at + Duration::days(i64::from(case.category.info().handle_days)));
            }
            Action::Accept => next.accepted_at = Some(at),
            Action::Return { reason } => {
                next.assigned_unit = None;
                next.return_count += 1;
                next.last_reason = Some(reason.clone());
            }
            Action::Handle => next.handled_at = Some(at),
            Action::Verify => next.closed_at = Some(at),
            Action::Reopen { reason } => {
                next.rework_count += 1;
                next.last_reason = Some(reason.clone());
            }
            Action::Cancel { reason } => next.last_reason = Some(reason.clone()),
            _ => {}
        }
        next.photos.extend(event.photos.iter().cloned());
        next.version += 1;
        next.updated_at = at;
        Ok(next)
    }

    pub fn route(catalog: &Catalog, case: &Case, estate: &Estate) -> serde_json::Value {
        let street_office = catalog.units.iter().find(|u| {
            u.unit_type == UnitType::StreetOffice && u.street.as_deref() == Some(&estate.street)
        });
        serde_json::json!({
            "category": case.category,
            "owner": street_office,
            "first_on_site": [],
            "escalation_chain": [],
            "co_responsible": [],
            "legal_basis": case.category.info().policy_sections.join(", "),
        })
    }

    pub fn demo_catalog() -> Result<Catalog, Refusal> {
        let estates: Vec<Estate> = serde_json::from_str(DEMO_ESTATES)
            .map_err(|e| Refusal::new("DEMO_DATA", e.to_string()))?;
        let units: Vec<OrgUnit> = serde_json::from_str(DEMO_UNITS)
            .map_err(|e| Refusal::new("DEMO_DATA", e.to_string()))?;
        Ok(Catalog {
            estates: estates.into_iter().map(|e| (e.id.clone(), e)).collect(),
            units,
            routing_rules: None,
        })
    }

    const DEMO_UNITS: &str = r#"[
      {"id":"heping.nanyingmen","name":"南营门街道办事处","unit_type":"STREET_OFFICE","district":"和平区","street":"南营门街道"},
      {"id":"heping.nanyingmen.changchunli","name":"长春里社区居委会","unit_type":"RESIDENTS_COMMITTEE","district":"和平区","street":"南营门街道","community":"长春里社区"},
      {"id":"heping.city_management","name":"和平区城市管理委员会","unit_type":"CITY_MANAGEMENT","district":"和平区"},
      {"id":"company.heping_wuye","name":"和平物业管理服务公司","unit_type":"MANAGEMENT_COMPANY","district":"和平区"},
      {"id":"hexi.youyilu","name":"友谊路街道办事处","unit_type":"STREET_OFFICE","district":"河西区","street":"友谊路街道"},
      {"id":"hexi.youyilu.pingshandao","name":"平山道社区居委会","unit_type":"RESIDENTS_COMMITTEE","district":"河西区","street":"友谊路街道","community":"平山道社区"},
      {"id":"hexi.city_management","name":"河西区城市管理委员会","unit_type":"CITY_MANAGEMENT","district":"河西区"},
      {"id":"company.hexi_wuye","name":"河西物业管理服务公司","unit_type":"MANAGEMENT_COMPANY","district":"河西区"},
      {"id":"nankai.xuefu","name":"学府街道办事处","unit_type":"STREET_OFFICE","district":"南开区","street":"学府街道"},
      {"id":"nankai.xuefu.heyuan","name":"鹤园社区居委会","unit_type":"RESIDENTS_COMMITTEE","district":"南开区","street":"学府街道","community":"鹤园社区"},
      {"id":"civil_affairs","name":"天津市民政局","unit_type":"CIVIL_AFFAIRS"}
    ]"#;

    const DEMO_ESTATES: &str = r#"[
      {"id":"changchunli","name":"长春里","district":"和平区","street":"南营门街道","community":"长春里社区",
       "management_mode":"COMPANY","company_unit":"company.heping_wuye","lamp_owner":"CITY",
       "boundary":{"type":"Polygon","coordinates":[[[117.1920,39.1128],[117.1940,39.1128],[117.1940,39.1142],[117.1920,39.1142],[117.1920,39.1128]]]}},
      {"id":"pingshandao","name":"平山道小区","district":"河西区","street":"友谊路街道","community":"平山道社区",
       "management_mode":"COMPANY","company_unit":"company.hexi_wuye","lamp_owner":"STATE_GRID",
       "boundary":{"type":"Polygon","coordinates":[[[117.2110,39.0973],[117.2130,39.0973],[117.2130,39.0987],[117.2110,39.0987],[117.2110,39.0973]]]}},
      {"id":"heyuanbeili","name":"鹤园北里","district":"南开区","street":"学府街道","community":"鹤园社区",
       "management_mode":"RESIDENT_SELF","lamp_owner":"CITY",
       "boundary":{"type":"Polygon","coordinates":[[[117.1670,39.1043],[117.1690,39.1043],[117.1690,39.1057],[117.1670,39.1057],[117.1670,39.1043]]]}}
    ]"#;
}
