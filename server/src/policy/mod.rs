//! Decisions, independent of how data is stored or served: per-object access, push ingest
//! planning, case numbers, the audit chain, credential rules, password and token hashing, the live catalog
//! and its router, and the typed refusals they return. Imports only [`crate::model`],
//! [`crate::config`] (plain data) and `xuncha_core`.

pub mod access;
pub mod audit;
pub mod case_number;
pub mod catalog;
pub mod credentials;
pub mod ingest;
pub mod passwords;
pub mod refusal;
