//! The shared test harness (`test-support/`, crate `xuncha-test-support`) under the name these
//! tests use: the server on port 0, the backends, and the hand-spoken API helpers.
// Each test binary uses a part of the harness.
#![allow(unused_imports)]

pub use xuncha_test_support::api::*;
pub use xuncha_test_support::*;
