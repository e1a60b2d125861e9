//! Xuncha (巡查) pure domain: what a case is, where it goes and what may happen to it.
//!
//! No module here does I/O (no SQLite, no network, no image decoding, no files) and none reads the
//! clock: callers pass `now`. Cargo enforces it: this crate depends on no runtime, database,
//! network or image crate. The phone (through `xuncha-core`) and the server run these modules
//! unchanged, so the phone refuses exactly what the server would.
//!
//! [`catalog`] (categories and deadlines), [`org`] (units and roles), [`estate`], [`geo`]
//! (geometry), [`policy`] (the policy texts and the quote check), [`routing`] (rules file, unit
//! directory, `route`), [`workflow`] (the case state machine), [`kpi`], [`protocol`] (sync wire
//! types), [`time`] (Beijing time formatting), [`demo`] (the demo estates and units).

#[macro_use]
mod wire_enum;

pub mod buildings;
pub mod catalog;
pub mod demo;
pub mod estate;
pub mod geo;
pub mod kpi;
pub mod org;
pub mod policy;
pub mod protocol;
pub mod routing;
pub mod time;
pub mod workflow;

pub use catalog::{Category, CategoryGroup};
pub use estate::{Estate, LampOwner, ManagementMode};
pub use org::{OrgUnit, Role, UnitId, UnitType};
pub use workflow::{Action, ActionKind, Actor, Case, CaseStatus, Event};
