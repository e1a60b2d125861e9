//! Xuncha sync server as a library: the binary (`main.rs`), the tests and later extensions
//! (Open311, CLI, dashboard) all build on [`app::Server`] and [`app::router`].
//!
//! Module map:
//! - [`config`]: defaults → TOML file → env (wins); limits.
//! - [`model`]: plain records (users, devices, stored cases and their routing decision, change
//!   pages, photo records, the case query) shared by every layer.
//! - [`storage`]: the [`storage::Storage`] trait, its operations and statements written once
//!   ([`storage::ops`], [`storage::sql`], [`storage::row`]), the thin [`storage::sqlite`] and
//!   [`storage::postgres`] backends, migrations per backend in `storage/migrations/`.
//! - [`ingest`]: push decisions shared by both backends (idempotency, authorization, workflow,
//!   routing, sequence numbers, audit entries).
//! - [`access`]: per-object authorization rules.
//! - [`auth`]: passwords, tokens, the per-request session extractor, rate limits.
//! - [`credentials`]: refresh-token rotation and reuse, sign-in lockout (shared by both backends);
//!   [`throttle`]: bounded argon2 work, per-address and global limits; [`serve`]: the connection
//!   loop with its timeouts and connection cap.
//! - [`audit`]: the hash-chained audit log and its verifier.
//! - [`domain`]: the single integration point with `xuncha_core`'s workflow, routing and demo data.
//! - [`photo_store`]: content-addressed photo files and re-encoding under limits.
//! - [`api`]: HTTP handlers; [`openapi`]: the OpenAPI document; [`error`]: `{code, message}` errors.
//! - [`dashboard`]: the street-office web dashboard (server-rendered pages under `/dashboard`).
//! - [`demo`]: `serve --demo` seeding; [`app`]: state, router, start/shutdown.

pub mod access;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod dashboard;
pub mod demo;
pub mod domain;
pub mod error;
pub mod model;
pub mod ingest;
pub mod open311;
pub mod openapi;
pub mod photo_store;
pub mod serve;
pub mod storage;
pub mod throttle;

pub use app::{RunningServer, Server};
pub use config::Config;
