//! The SQLite schema of the device store, as an ordered list of migrations.

pub(crate) mod migrations;
