//! Per-object authorization: who may see which estate and case (issue 4 item 2).
//!
//! - inspector, committee: the estates of their community, and those estates' cases;
//! - company_staff: the estates their company manages, and those estates' cases;
//! - street_office: the estates of their street, and those estates' cases;
//! - department: cases dispatched to their unit (now or before) or naming it as supervisor or
//!   co-responsible in their routing decision; estates of their district;
//! - admin: everything.

use xuncha_core::{Estate, Role};

use crate::domain::Catalog;
use crate::storage::case_query::IndexColumns;
use crate::storage::{CaseRow, CaseScope, UserRecord};

/// The user's unit must say which area it serves; a unit missing from the directory sees nothing.
/// The rule itself is the core's ([`xuncha_core::estate::serves_estate`]), which the phone's
/// capture applies too.
pub fn can_see_estate(user: &UserRecord, catalog: &Catalog, estate: &Estate) -> bool {
    xuncha_core::estate::serves_estate(
        user.role,
        &user.unit_id,
        catalog.unit(&user.unit_id),
        estate,
    )
}

pub fn can_see_case(user: &UserRecord, catalog: &Catalog, row: &CaseRow) -> bool {
    match user.role {
        Role::Admin => true,
        Role::Department => IndexColumns::units_of(&row.dispatched_units, row.routing.as_ref())
            .contains(&user.unit_id),
        _ => catalog
            .estates
            .get(&row.case.estate_id)
            .is_some_and(|estate| can_see_estate(user, catalog, estate)),
    }
}

/// The one photo-visibility rule (API and dashboard): the admin sees every photo, an uploader
/// their own, everyone else a photo that a case they may see cites. `uploaded_by_user` and
/// `citing_cases` are the storage's answers for this photo and user.
pub fn can_see_photo(
    user: &UserRecord,
    catalog: &Catalog,
    uploaded_by_user: bool,
    citing_cases: &[CaseRow],
) -> bool {
    user.role == Role::Admin
        || uploaded_by_user
        || citing_cases
            .iter()
            .any(|row| can_see_case(user, catalog, row))
}

/// The cases [`can_see_case`] admits, as a storage query scope: the same arms, with the estate
/// rule ([`can_see_estate`]) evaluated once per estate instead of once per case. A test checks
/// that both agree on a mixed data set.
pub fn case_scope(user: &UserRecord, catalog: &Catalog) -> CaseScope {
    match user.role {
        Role::Admin => CaseScope::All,
        Role::Department => CaseScope::InvolvesUnit(user.unit_id.clone()),
        _ => {
            let mut ids: Vec<String> = catalog
                .estates
                .values()
                .filter(|estate| can_see_estate(user, catalog, estate))
                .map(|estate| estate.id.clone())
                .collect();
            ids.sort();
            CaseScope::Estates(ids)
        }
    }
}
