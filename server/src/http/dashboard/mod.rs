//! The street-office dashboard: server-rendered pages in Chinese for street offices, departments
//! and the civil-affairs admin (issue 6). Everything it shows or changes goes through the same
//! authorization and ingest code as the sync API; this module only renders and collects forms.
//!
//! One module per page, each with its handlers and its view: [`login`], [`queue`], [`case`],
//! [`map`], [`meeting`], [`kpi`], [`estates`], [`slip`] (the printable dispatch slip). Shared
//! pieces: [`problem`] (errors as a Chinese sentence with 技术细节), [`layout`] (page frame and small
//! components, maud), [`chart`] (SVG bar charts), [`export`] (CSV/XLSX), [`reader`] (the
//! [`reader::ScopedReader`] every page reads through), [`web`] (the signed-in user and the
//! write path), [`session`] (browser sessions and cookies), [`error`] (typed page errors),
//! [`routes`] (the router).

pub mod case;
pub mod case_columns;
pub mod chart;
pub mod error;
pub mod estates;
pub mod export;
pub mod kpi;
pub mod layout;
pub mod login;
pub mod map;
pub mod meeting;
pub mod problem;
pub mod queue;
pub mod reader;
pub mod routes;
pub mod session;
pub mod slip;
pub mod web;

#[cfg(test)]
pub(crate) mod fixtures;

pub use routes::router;

use xuncha_core::workflow::ActionKind;
use xuncha_core::{Actor, Case};

/// The buttons a user gets on a case: exactly `workflow::allowed_actions` (the same table the
/// server enforces at ingest), minus REPORT, which creates cases and belongs to the phone.
pub fn allowed_actions(case: &Case, actor: &Actor) -> Vec<ActionKind> {
    xuncha_core::workflow::allowed_actions(Some(case), actor)
        .into_iter()
        .filter(|kind| *kind != ActionKind::Report)
        .collect()
}
