//! Xuncha sync server and street-office dashboard.

pub mod dashboard;
