//! Where a case goes: routing rules (data, `domain/data/routing-rules.toml`) plus a unit directory
//! (data, `domain/data/demo/units.toml` for the demo) resolve a category at an estate to concrete units.
//!
//! The rules file names unit *types* per category; the directory turns a type plus the estate's
//! district / street / community into one concrete unit (the most specific match wins). Management
//! mode substitutes who stands where the company would (二(三)): the estate's company (possibly a
//! nearby company for a scattered estate, 六(一)), the property owner, or the residents' committee.
//!
//! - [`rules`]: the rules file (`RoutingRules`), its validation and the file:line errors;
//! - [`directory`]: the unit directory (`UnitDirectory`);
//! - [`route`](mod@route): `route` and `dispatch_targets`.
//!
//! Every public item is re-exported here, so callers write `routing::route`, `routing::RoutingRules`.

mod directory;
mod route;
mod rules;

pub use directory::UnitDirectory;
pub use route::{RoutingDecision, RoutingError, dispatch_targets, route};
pub use rules::{
    CategoryRule, ELEVATOR_MAINTAINER, OPERATORS, POLICY_TITLE, RULES_VERSION, RoutingRules,
    RuleOverride, RulesError, RulesErrorKind, SourceDocument, UnitRef, zh_date,
};

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
