//! `xuncha-ffi`: the uniffi surface of `xuncha-core` for Android (Kotlin), iOS (Swift) and Python.
//!
//! A thin layer in the matrix-rust-sdk style: exported objects hold the core's types in `inner`
//! and forward; records and enums mirror the domain and are converted at the edge; every call
//! returns [`XunchaError`]. No business rule lives here — the phone runs the same catalog,
//! routing and workflow code the server enforces. Photos cross as file paths, never as bytes.
//!
//! Sessions: `enrol` returns a [`DeviceSession`] the app keeps in the platform keystore and hands
//! back to `XunchaClient::resume` at every start; this crate never writes a token to disk.
//!
//! HTTP: the app passes its platform HTTP stack as an [`HttpTransport`] to `XunchaClient::new`;
//! this library links no HTTP or TLS code of its own (the `viaduct` pattern).
//!
//! Threading: synchronous calls run on the caller's thread and may touch SQLite or decode a photo:
//! call them off the UI thread (Kotlin `Dispatchers.IO`, Swift `Task.detached`). Async calls
//! (`suspend` / `async`) run on the tokio runtime.

uniffi::setup_scaffolding!();

mod catalog;
mod client;
mod enums;
mod error;
mod geo;
mod records;
mod session;
mod sync;
mod transport;

pub use catalog::{CategoryInfo, catalog, category_from_code, category_info};
pub use client::XunchaClient;
pub use error::XunchaError;
pub use geo::{distance_m, format_beijing_time, gcj02_to_wgs84, wgs84_to_gcj02};
pub use session::{DeviceSession, RefreshToken, SignOutOutcome, UserInfo};
pub use sync::{SyncListener, SyncPhase, SyncProgress, SyncReport};
pub use transport::{
    HttpBody, HttpHeader, HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError,
};
