//! The street-office dashboard: server-rendered pages in Chinese for street offices, departments
//! and the civil-affairs admin (issue 6). Everything it shows or changes goes through the same
//! authorization and ingest code as the sync API; this module only renders and collects forms.

pub mod chart;
pub mod export;
pub mod html;
pub mod map;
pub mod queue;
pub mod session;
pub mod kpi_view;
pub mod meeting;

#[cfg(test)]
pub(crate) mod fixtures;
