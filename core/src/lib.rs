//! Xuncha (巡查) shared core.
//!
//! The pure domain lives in the `xuncha-domain` crate (no I/O, enforced by its dependencies) and
//! is re-exported here under the same paths: [`catalog`], [`org`], [`estate`], [`routing`],
//! [`workflow`], [`kpi`], [`geo`], [`protocol`], [`policy`], [`time`], [`demo`]. The phone and the
//! server run these modules unchanged, so the phone refuses exactly what the server would.
//!
//! This crate adds [`ids`] (new UUIDv7 ids: a clock and randomness read) and the device side
//! behind features: [`photo`] (feature `photo`, also used by the server) and the SQLite store,
//! capture API and sync client (feature `device`).

pub use xuncha_domain::{
    buildings, catalog, demo, estate, geo, kpi, org, policy, protocol, routing, time, workflow,
};

pub mod ids;

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
