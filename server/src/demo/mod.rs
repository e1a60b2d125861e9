//! `serve --demo`: seeds the demo estates and unit directory (three Tianjin areas, from the domain
//! core's demo data), one account per role, and one account for every unit a demo case can be
//! routed to (`unit.<unit id>`, role by unit type), so any demo case can be walked to its close.
//! Idempotent: existing accounts are kept. [`history`] seeds a quarter of cases on top
//! (`Config::demo_history`), in words from `story.rs` and with photos drawn by `photos.rs`.

pub mod history;
mod photos;
mod story;

use xuncha_core::{OrgUnit, Role, UnitType};

use crate::cli::users::role_for_unit_type;
use crate::http::app::StartError;
use crate::policy::audit::AuditDraft;
use crate::policy::catalog::{Catalog, demo_catalog};
use crate::policy::passwords;
use crate::storage::{Storage, StorageError, UserRecord};

/// Password of every demo account (printed at start; demo data only).
pub const DEMO_PASSWORD: &str = "xuncha-demo-2026";

pub use crate::model::DemoAccount;

struct Wanted {
    username: &'static str,
    display_name: &'static str,
    role: Role,
    unit_type: UnitType,
    /// Community, street or district the unit serves.
    area: &'static str,
}

const WANTED: &[Wanted] = &[
    Wanted {
        username: "inspector.changchunli",
        display_name: "王巡查（长春里）",
        role: Role::Inspector,
        unit_type: UnitType::ResidentsCommittee,
        area: "长春里社区",
    },
    Wanted {
        username: "inspector.pingshandao",
        display_name: "李巡查（平山道）",
        role: Role::Inspector,
        unit_type: UnitType::ResidentsCommittee,
        area: "平山道社区",
    },
    Wanted {
        username: "committee.changchunli",
        display_name: "长春里社区居委会",
        role: Role::Committee,
        unit_type: UnitType::ResidentsCommittee,
        area: "长春里社区",
    },
    Wanted {
        username: "company.changchunli",
        display_name: "长春里物业",
        role: Role::CompanyStaff,
        unit_type: UnitType::ManagementCompany,
        area: "changchunli",
    },
    Wanted {
        username: "street.nanyingmen",
        display_name: "南营门街道办事处",
        role: Role::StreetOffice,
        unit_type: UnitType::StreetOffice,
        area: "南营门街道",
    },
    Wanted {
        username: "dept.heping.city",
        display_name: "和平区城市管理",
        role: Role::Department,
        unit_type: UnitType::CityManagement,
        area: "和平区",
    },
    Wanted {
        username: "admin",
        display_name: "民政局管理员",
        role: Role::Admin,
        unit_type: UnitType::CivilAffairs,
        area: "",
    },
];

fn find_unit<'a>(catalog: &'a Catalog, wanted: &Wanted) -> Option<&'a OrgUnit> {
    if wanted.unit_type == UnitType::ManagementCompany {
        let company = catalog
            .estates()
            .get(wanted.area)?
            .company_unit
            .as_deref()?;
        return catalog.unit(company);
    }
    catalog.units().iter().find(|u| {
        u.unit_type == wanted.unit_type
            && (wanted.area.is_empty()
                || u.community.as_deref() == Some(wanted.area)
                || (u.community.is_none() && u.street.as_deref() == Some(wanted.area))
                || (u.street.is_none() && u.district.as_deref() == Some(wanted.area)))
    })
}

pub async fn seed(storage: &dyn Storage) -> Result<Vec<DemoAccount>, StartError> {
    let catalog = demo_catalog().map_err(|e| StartError::Demo(e.to_string()))?;
    let mut estates: Vec<_> = catalog.estates().values().cloned().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    storage
        .save_catalog(
            estates,
            catalog.units().to_vec(),
            catalog.routing_rules().map(str::to_owned),
            AuditDraft::new("CATALOG_IMPORTED", "catalog", "demo"),
        )
        .await?;
    let wanted = wanted_accounts(&catalog)?;
    // Every demo account has the same password: hash it once (argon2 is deliberately slow).
    let mut password_hash: Option<String> = None;
    let mut accounts = Vec::new();
    for (username, display_name, role, unit) in wanted {
        if storage.user_by_username(username.clone()).await?.is_none() {
            let hash = match &password_hash {
                Some(hash) => hash.clone(),
                None => {
                    let hash = passwords::hash_password(DEMO_PASSWORD.to_owned()).await?;
                    password_hash = Some(hash.clone());
                    hash
                }
            };
            let user = UserRecord {
                id: xuncha_core::ids::new_id().to_string(),
                username: username.clone(),
                display_name,
                role,
                unit_id: unit.id.clone(),
                password_hash: hash,
                disabled: false,
            };
            let audit = AuditDraft::new("USER_CREATED", "user", user.id.clone())
                .detail(serde_json::json!({ "username": user.username, "role": user.role, "unit_id": user.unit_id, "source": "demo" }));
            match storage.create_user(user, audit).await {
                Ok(()) | Err(StorageError::UserExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        accounts.push(DemoAccount {
            username,
            password: DEMO_PASSWORD.to_owned(),
            role,
            unit_id: unit.id,
            unit_name: unit.name,
        });
    }
    Ok(accounts)
}

/// Every demo account: (username, display name, role, unit), the fixed ones first, then one per
/// routable unit that has none in its role.
pub(crate) fn wanted_accounts(
    catalog: &Catalog,
) -> Result<Vec<(String, String, Role, OrgUnit)>, StartError> {
    let mut wanted: Vec<(String, String, Role, OrgUnit)> = Vec::new();
    for w in WANTED {
        let unit = find_unit(catalog, w).ok_or_else(|| {
            StartError::Demo(format!(
                "no {} unit for {} in the demo directory",
                w.unit_type, w.area
            ))
        })?;
        wanted.push((
            w.username.to_owned(),
            w.display_name.to_owned(),
            w.role,
            unit.clone(),
        ));
    }
    for unit in routable_units(catalog) {
        let role = role_for_unit_type(unit.unit_type);
        if !wanted
            .iter()
            .any(|(_, _, r, u)| u.id == unit.id && *r == role)
        {
            wanted.push((format!("unit.{}", unit.id), unit.name.clone(), role, unit));
        }
    }
    Ok(wanted)
}

/// Every unit a demo case can be routed to (the routed owner of every category at every demo
/// estate), plus each demo estate's street office and residents' committee (who escalate,
/// dispatch and verify there), sorted by id.
fn routable_units(catalog: &Catalog) -> Vec<OrgUnit> {
    let mut units: Vec<OrgUnit> = Vec::new();
    let Ok(router) = catalog.router() else {
        return units;
    };
    let mut estates: Vec<&xuncha_core::Estate> = catalog.estates().values().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    for estate in estates {
        for category in xuncha_core::Category::ALL {
            if let Some(owner) = router.owner(category, estate) {
                units.push(owner);
            }
        }
        for unit in catalog.units().iter().filter(|u| {
            (u.unit_type == UnitType::StreetOffice
                && u.street.as_deref() == Some(estate.street.as_str()))
                || (u.unit_type == UnitType::ResidentsCommittee
                    && u.community.as_deref() == Some(estate.community.as_str()))
        }) {
            units.push(unit.clone());
        }
    }
    units.sort_by(|a, b| a.id.cmp(&b.id));
    units.dedup_by(|a, b| a.id == b.id);
    units
}
