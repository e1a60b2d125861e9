//! The shared test harness (`test-support/`, crate `xuncha-test-support`) under the name these
//! tests use: the server on port 0, the backends, real phones and the answer-losing proxy; plus
//! the real server binary, which only this crate builds.
// Each test binary uses a part of the harness.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

pub use xuncha_test_support::phone::*;
pub use xuncha_test_support::*;

/// Path of the real server binary built from `server/src/main.rs` (see tests/Cargo.toml).
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xuncha-server-e2e"))
}
