//! `serve --demo`: seeds the demo estates and unit directory (three Tianjin areas, from the domain
//! core's demo data) and one account per role. Idempotent: existing accounts are kept.

use serde::Serialize;
use xuncha_core::{OrgUnit, Role, UnitType};

use crate::app::StartError;
use crate::audit::AuditDraft;
use crate::auth;
use crate::domain;
use crate::storage::{Storage, StorageError, UserRecord};

/// Password of every demo account (printed at start; demo data only).
pub const DEMO_PASSWORD: &str = "xuncha-demo-2026";

#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub unit_id: String,
    pub unit_name: String,
}

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

fn find_unit<'a>(catalog: &'a domain::Catalog, wanted: &Wanted) -> Option<&'a OrgUnit> {
    if wanted.unit_type == UnitType::ManagementCompany {
        let company = catalog.estates.get(wanted.area)?.company_unit.as_deref()?;
        return catalog.unit(company);
    }
    catalog.units.iter().find(|u| {
        u.unit_type == wanted.unit_type
            && (wanted.area.is_empty()
                || u.community.as_deref() == Some(wanted.area)
                || (u.community.is_none() && u.street.as_deref() == Some(wanted.area))
                || (u.street.is_none() && u.district.as_deref() == Some(wanted.area)))
    })
}

pub async fn seed(storage: &dyn Storage) -> Result<Vec<DemoAccount>, StartError> {
    let catalog = domain::demo_catalog().map_err(|e| StartError::Demo(e.message))?;
    let mut estates: Vec<_> = catalog.estates.values().cloned().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    storage
        .save_catalog(
            estates,
            catalog.units.clone(),
            catalog.routing_rules.clone(),
            AuditDraft::new("CATALOG_IMPORTED", "catalog", "demo"),
        )
        .await?;
    let mut accounts = Vec::new();
    for wanted in WANTED {
        let unit = find_unit(&catalog, wanted).ok_or_else(|| {
            StartError::Demo(format!(
                "no {} unit for {} in the demo directory",
                wanted.unit_type, wanted.area
            ))
        })?;
        if storage
            .user_by_username(wanted.username.to_owned())
            .await?
            .is_none()
        {
            let user = UserRecord {
                id: xuncha_core::ids::new_id().to_string(),
                username: wanted.username.to_owned(),
                display_name: wanted.display_name.to_owned(),
                role: wanted.role,
                unit_id: unit.id.clone(),
                password_hash: auth::hash_password(DEMO_PASSWORD.to_owned()).await?,
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
            username: wanted.username.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            role: wanted.role,
            unit_id: unit.id.clone(),
            unit_name: unit.name.clone(),
        });
    }
    Ok(accounts)
}
