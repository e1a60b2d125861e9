//! Per-object authorization: who may see which estate and case (issue 4 item 2).
//!
//! - inspector, committee: the estates of their community, and those estates' cases;
//! - company_staff: the estates their company manages, and those estates' cases;
//! - street_office: the estates of their street, and those estates' cases;
//! - department: cases dispatched to their unit (now or before) or naming it as supervisor or
//!   co-responsible in their routing decision; estates of their district;
//! - admin: everything.

use xuncha_core::{Actor, Estate, Role};

use crate::model::{CaseRow, CaseScope, UserRecord};
use crate::policy::catalog::Catalog;

/// Who is asking, as the rules need it: a role and a unit. Built from a signed-in user or from
/// an event's actor (ingest), so no caller fakes a user record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer<'a> {
    pub role: Role,
    pub unit_id: &'a str,
}

impl<'a> From<&'a UserRecord> for Viewer<'a> {
    fn from(user: &'a UserRecord) -> Viewer<'a> {
        Viewer {
            role: user.role,
            unit_id: &user.unit_id,
        }
    }
}

impl<'a> From<&'a Actor> for Viewer<'a> {
    fn from(actor: &'a Actor) -> Viewer<'a> {
        Viewer {
            role: actor.role,
            unit_id: &actor.unit_id,
        }
    }
}

/// The user's unit must say which area it serves; a unit missing from the directory sees nothing.
/// The rule itself is the core's ([`xuncha_core::estate::serves_estate`]), which the phone's
/// capture applies too.
pub fn can_see_estate<'a>(
    viewer: impl Into<Viewer<'a>>,
    catalog: &Catalog,
    estate: &Estate,
) -> bool {
    let viewer = viewer.into();
    xuncha_core::estate::serves_estate(
        viewer.role,
        viewer.unit_id,
        catalog.unit(viewer.unit_id),
        estate,
    )
}

pub fn can_see_case<'a>(viewer: impl Into<Viewer<'a>>, catalog: &Catalog, row: &CaseRow) -> bool {
    let viewer = viewer.into();
    match viewer.role {
        Role::Admin => true,
        Role::Department => row.involved_units().iter().any(|u| u == viewer.unit_id),
        _ => catalog
            .estates()
            .get(&row.case.estate_id)
            .is_some_and(|estate| can_see_estate(viewer, catalog, estate)),
    }
}

/// The one photo-visibility rule (API and dashboard): the admin sees every photo, an uploader
/// their own, everyone else a photo that a case they may see cites. `uploaded_by_user` and
/// `citing_cases` are the storage's answers for this photo and user.
pub fn can_see_photo<'a>(
    viewer: impl Into<Viewer<'a>>,
    catalog: &Catalog,
    uploaded_by_user: bool,
    citing_cases: &[CaseRow],
) -> bool {
    let viewer = viewer.into();
    viewer.role == Role::Admin
        || uploaded_by_user
        || citing_cases
            .iter()
            .any(|row| can_see_case(viewer, catalog, row))
}

/// The cases [`can_see_case`] admits, as a storage query scope: the same arms, with the estate
/// rule ([`can_see_estate`]) evaluated once per estate instead of once per case. A test checks
/// that both agree on a mixed data set.
pub fn case_scope<'a>(viewer: impl Into<Viewer<'a>>, catalog: &Catalog) -> CaseScope {
    let viewer = viewer.into();
    match viewer.role {
        Role::Admin => CaseScope::All,
        Role::Department => CaseScope::InvolvesUnit(viewer.unit_id.to_owned()),
        _ => {
            let mut ids: Vec<String> = catalog
                .estates()
                .values()
                .filter(|estate| can_see_estate(viewer, catalog, estate))
                .map(|estate| estate.id.clone())
                .collect();
            ids.sort();
            CaseScope::Estates(ids)
        }
    }
}
