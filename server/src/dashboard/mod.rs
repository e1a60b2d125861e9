//! The street-office dashboard: server-rendered pages in Chinese for street offices, departments
//! and the civil-affairs admin (issue 6). Everything it shows or changes goes through the same
//! authorization and ingest code as the sync API; this module only renders and collects forms.

pub mod chart;
pub mod estates;
pub mod export;
pub mod html;
pub mod kpi_interim;
pub mod kpi_page;
pub mod kpi_view;
pub mod map;
pub mod meeting;
pub mod pages;
pub mod queue;
pub mod routes;
pub mod session;
pub mod web;

#[cfg(test)]
pub(crate) mod fixtures;

pub use routes::router;

use xuncha_core::workflow::{Action, ActionKind, Event, PhotoKind, PhotoRef};
use xuncha_core::{Actor, Case};

/// What can be done to an existing case (REPORT creates one), in lifecycle order.
pub const CASE_ACTIONS: [ActionKind; 10] = [
    ActionKind::Dissuade,
    ActionKind::Escalate,
    ActionKind::Dispatch,
    ActionKind::Accept,
    ActionKind::Return,
    ActionKind::Handle,
    ActionKind::Verify,
    ActionKind::Reopen,
    ActionKind::Cancel,
    ActionKind::Comment,
];

/// Wire code of an action kind (its serde name), used in form values and element ids.
pub fn action_code(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Report => "REPORT",
        ActionKind::Dissuade => "DISSUADE",
        ActionKind::Escalate => "ESCALATE",
        ActionKind::Dispatch => "DISPATCH",
        ActionKind::Accept => "ACCEPT",
        ActionKind::Return => "RETURN",
        ActionKind::Handle => "HANDLE",
        ActionKind::Verify => "VERIFY",
        ActionKind::Reopen => "REOPEN",
        ActionKind::Cancel => "CANCEL",
        ActionKind::Comment => "COMMENT",
    }
}

/// Chinese button label of an action kind.
pub fn action_name_zh(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Report => "上报",
        ActionKind::Dissuade => "现场劝阻",
        ActionKind::Escalate => "上报街道",
        ActionKind::Dispatch => "派遣",
        ActionKind::Accept => "受理",
        ActionKind::Return => "退回",
        ActionKind::Handle => "处置完毕",
        ActionKind::Verify => "核查结案",
        ActionKind::Reopen => "返工",
        ActionKind::Cancel => "作废",
        ActionKind::Comment => "备注",
    }
}

/// The actions `actor` may take on `case` now, decided by the shared workflow alone: each
/// candidate is tried against `domain::apply` with well-formed placeholder evidence (a reason, an
/// after-photo address), so the buttons shown are exactly what the workflow would accept.
pub fn allowed_actions(case: &Case, actor: &Actor) -> Vec<ActionKind> {
    let placeholder_photo = PhotoRef {
        sha256: "0".repeat(64),
        kind: PhotoKind::After,
    };
    CASE_ACTIONS
        .into_iter()
        .filter(|kind| {
            let (action, photos) = match kind {
                ActionKind::Dissuade => (Action::Dissuade, vec![]),
                ActionKind::Escalate => (Action::Escalate, vec![]),
                ActionKind::Dispatch => (
                    Action::Dispatch {
                        unit_id: "probe".into(),
                    },
                    vec![],
                ),
                ActionKind::Accept => (Action::Accept, vec![]),
                ActionKind::Return => (
                    Action::Return {
                        reason: "probe".into(),
                    },
                    vec![],
                ),
                ActionKind::Handle => (Action::Handle, vec![placeholder_photo.clone()]),
                ActionKind::Verify => (Action::Verify, vec![]),
                ActionKind::Reopen => (
                    Action::Reopen {
                        reason: "probe".into(),
                    },
                    vec![],
                ),
                ActionKind::Cancel => (
                    Action::Cancel {
                        reason: "probe".into(),
                    },
                    vec![],
                ),
                ActionKind::Comment | ActionKind::Report => (Action::Comment, vec![]),
            };
            let probe = Event {
                id: uuid::Uuid::nil(),
                case_id: case.id,
                action,
                actor: actor.clone(),
                device_time: case.updated_at,
                server_time: Some(case.updated_at),
                gps: None,
                photos,
                note: None,
            };
            crate::domain::apply(Some(case), &probe).is_ok()
        })
        .collect()
}
