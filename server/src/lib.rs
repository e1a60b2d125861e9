//! Xuncha sync server as a library: the binary (`main.rs`), the tests and later extensions
//! (Open311, CLI, dashboard) all build on [`http::app::Server`] and [`http::app::router`].
//!
//! Layers, one way (`scripts/check-layers.sh` fails on an upward import):
//!
//! ```text
//!   cli/, demo, start, main     entry points (start: open storage, seed demo, serve); may
//!                               import anything
//!   http/                       axum: state and routers, api/, open311/, dashboard, errors → status
//!   storage/                    the Storage trait, SQLite and PostgreSQL backends, photo files
//!   policy/                     decisions: access, ingest planning, audit chain, credentials, catalog
//!   model/                      plain records shared by the layers above
//!   xuncha_core                 the shared domain core (workflow, routing, protocol)
//! ```
//!
//! [`config`] is plain data (defaults → TOML file → env) and may be read by every layer.

pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod model;
pub mod policy;
pub mod start;
pub mod storage;

pub use config::Config;
pub use http::app::{RunningServer, Server};
