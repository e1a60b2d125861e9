//! Xuncha (巡查) shared core.
//!
//! The pure domain comes first and does no I/O (no SQLite, no network, no image decoding, no clock
//! reads except where a caller passes `now`): [`catalog`], [`org`], [`estate`], [`routing`],
//! [`workflow`], [`kpi`], [`geo`], [`protocol`], [`ids`], [`time`]. The phone and the server run
//! these modules unchanged, so the phone refuses exactly what the server would.
//!
//! The device side sits behind features: [`photo`] (feature `photo`, also used by the server) and
//! the SQLite store, capture API and sync client (feature `device`).

#[macro_use]
mod wire_enum;

pub mod catalog;
pub mod demo;
pub mod estate;
pub mod geo;
pub mod ids;
pub mod kpi;
pub mod org;
pub mod policy;
pub mod protocol;
pub mod routing;
pub mod time;
pub mod workflow;

#[cfg(feature = "photo")]
pub mod photo;

#[cfg(feature = "device")]
pub mod capture;
#[cfg(feature = "device")]
pub mod store;
#[cfg(feature = "device")]
pub mod sync;

pub use catalog::{Category, CategoryGroup};
pub use estate::{Estate, LampOwner, ManagementMode};
pub use org::{OrgUnit, Role, UnitId, UnitType};
pub use workflow::{Action, ActionKind, Actor, Case, CaseStatus, Event};
