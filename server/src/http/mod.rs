//! The HTTP layer: routers and handlers over the storage and policy layers.

pub mod dashboard;
