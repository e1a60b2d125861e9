//! Typed refusals. Decisions are taken on these enums, never on their text: the stable machine
//! code (`code()`, part of the wire protocol) is derived from the variant, and the HTTP status of
//! each is set once, in `http::error`'s table.

use xuncha_core::demo::DemoDataError;
use xuncha_core::routing::{RoutingError, RulesError};
use xuncha_core::workflow::WorkflowError;

/// Why ingest refused an event: the shared workflow's own answer, or a server check made around
/// it (object access, catalog lookups, evidence place).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error("no estate {0}")]
    UnknownEstate(String),
    #[error("estate {0} is outside this user's area")]
    EstateForbidden(String),
    #[error("the case is outside this user's area")]
    CaseForbidden,
    #[error("no unit {0}")]
    UnknownUnit(String),
    #[error(
        "不能派往 {unit_id}：该单位不负责旧楼区 {estate_id} 的此类案件（可派往：{}）",
        .allowed.join(", ")
    )]
    DispatchTargetNotAllowed {
        unit_id: String,
        estate_id: String,
        allowed: Vec<String>,
    },
    #[error(
        "现场核查的定位 ({lat:.5}, {lon:.5}) 不在{estate_name}范围内，也不在案件位置 {max_m:.0} 米以内：请到现场核查"
    )]
    VerifyLocationOutside {
        lat: f64,
        lon: f64,
        estate_name: String,
        max_m: f64,
    },
}

pub const ESTATE_FORBIDDEN: &str = "ESTATE_FORBIDDEN";
pub const CASE_FORBIDDEN: &str = "CASE_FORBIDDEN";
/// Refusal code of a VERIFY whose GPS is neither inside the estate nor near the case.
pub const VERIFY_LOCATION_OUTSIDE: &str = "VERIFY_LOCATION_OUTSIDE";
/// The workflow's code for an action the actor's role may not take.
const ROLE_NOT_ALLOWED: &str = "ROLE_NOT_ALLOWED";

impl Refusal {
    /// Stable machine code, part of the wire protocol.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Workflow(e) => e.code(),
            Refusal::UnknownEstate(_) => "UNKNOWN_ESTATE",
            Refusal::EstateForbidden(_) => ESTATE_FORBIDDEN,
            Refusal::CaseForbidden => CASE_FORBIDDEN,
            Refusal::UnknownUnit(_) => "UNKNOWN_UNIT",
            Refusal::DispatchTargetNotAllowed { .. } => "DISPATCH_TARGET_NOT_ALLOWED",
            Refusal::VerifyLocationOutside { .. } => VERIFY_LOCATION_OUTSIDE,
        }
    }

    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::EstateForbidden(_) | Refusal::CaseForbidden => RefusalKind::AccessDenied,
            Refusal::Workflow(WorkflowError::RoleNotAllowed { .. }) => RefusalKind::RoleNotAllowed,
            Refusal::Workflow(WorkflowError::PhotoNotReceived { .. }) => RefusalKind::NotYet,
            _ => RefusalKind::Invalid,
        }
    }
}

/// What a refusal means to its caller: audited as an access denial, answered 403, or judged
/// again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The object lies outside the actor's area (audited as `ACCESS_DENIED`).
    AccessDenied,
    /// The actor's role may not take this action.
    RoleNotAllowed,
    /// A cited photo has not arrived: not stored as the event's final answer.
    NotYet,
    /// Anything else the event got wrong.
    Invalid,
}

impl RefusalKind {
    /// The kind of a refusal known only by its code: an `EventOutcome::Rejected` and a stored
    /// rejection keep the code alone. Agrees with [`Refusal::kind`] (tested).
    pub fn of_code(code: &str) -> RefusalKind {
        match code {
            ESTATE_FORBIDDEN | CASE_FORBIDDEN => RefusalKind::AccessDenied,
            ROLE_NOT_ALLOWED => RefusalKind::RoleNotAllowed,
            xuncha_core::workflow::PHOTO_NOT_RECEIVED => RefusalKind::NotYet,
            _ => RefusalKind::Invalid,
        }
    }

    /// Refused because of who is asking (HTTP 403), not because of what was sent.
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            RefusalKind::AccessDenied | RefusalKind::RoleNotAllowed
        )
    }
}

/// Why a catalog's routing data or the demo data cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    DemoData(#[from] DemoDataError),
}

impl CatalogError {
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::Rules(e) => e.code(),
            CatalogError::DemoData(e) => e.code(),
        }
    }
}

/// Why a category cannot be routed for an estate, or the catalog's router did not load. Stored
/// with the case as `{"error": {"code", "message"}}` (capture is never lost).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl RouteError {
    pub fn code(&self) -> &'static str {
        match self {
            RouteError::Routing(e) => e.code(),
            RouteError::Catalog(e) => e.code(),
        }
    }

    /// The stored form: `{"error": {"code", "message"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_by_code_agrees_with_kind_by_variant() {
        let role = WorkflowError::RoleNotAllowed {
            role: "inspector",
            role_zh: "巡查员",
            action: "DISPATCH",
            action_zh: "派遣",
            allowed: "street_office".to_owned(),
        };
        let photo = WorkflowError::PhotoNotReceived {
            short: "abc".to_owned(),
        };
        let refusals = [
            Refusal::Workflow(role),
            Refusal::Workflow(photo),
            Refusal::UnknownEstate("e".to_owned()),
            Refusal::EstateForbidden("e".to_owned()),
            Refusal::CaseForbidden,
            Refusal::UnknownUnit("u".to_owned()),
            Refusal::DispatchTargetNotAllowed {
                unit_id: "u".to_owned(),
                estate_id: "e".to_owned(),
                allowed: vec!["a".to_owned(), "b".to_owned()],
            },
            Refusal::VerifyLocationOutside {
                lat: 39.1,
                lon: 117.2,
                estate_name: "某小区".to_owned(),
                max_m: 150.0,
            },
        ];
        for refusal in refusals {
            assert_eq!(
                RefusalKind::of_code(refusal.code()),
                refusal.kind(),
                "{}",
                refusal.code()
            );
        }
    }
}
