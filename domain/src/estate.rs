//! Estates (旧楼区) under long-term management (policy 二).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::buildings::BuildingFootprint;
use crate::geo::Geometry;
use crate::org::UnitId;

/// Stable id of an estate, e.g. `changchunli`.
pub type EstateId = String;

wire_enum! {
    /// How the estate is managed (policy 二(三)).
    pub enum ManagementMode {
        /// 社会化服务公司: a management company serves the estate.
        Company = "COMPANY",
        /// 产权人自行管理: the property owner manages it.
        OwnerSelf = "OWNER_SELF",
        /// 居委会牵头居民自治: residents manage it, led by the residents' committee.
        ResidentSelf = "RESIDENT_SELF",
    }
}

wire_enum! {
    /// Who owns the estate's street lamps: decides STREET_LIGHT routing.
    #[derive(Default)]
    pub enum LampOwner {
        /// City lighting (城市管理部门).
        #[default]
        City = "CITY",
        /// The grid company (国网电力).
        StateGrid = "STATE_GRID",
    }
}

/// An estate and everything routing needs to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estate {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: EstateId,
    pub name: String,
    /// District (区), e.g. `河西区`.
    pub district: String,
    /// Street office area (街道), e.g. `友谊路街道`.
    pub street: String,
    /// Community (社区), e.g. `平山道社区`.
    pub community: String,
    pub management_mode: ManagementMode,
    /// The managing company (for COMPANY mode; may be a nearby company for a scattered estate, 六(一)).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub company_unit: Option<UnitId>,
    /// The property owner unit (for OWNER_SELF mode, and for repairs the owner pays for).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub owner_unit: Option<UnitId>,
    /// A small scattered estate that cannot be enclosed, managed by the company of a nearby
    /// estate (六(一)); routing cites that in the legal basis.
    #[serde(default)]
    pub scattered: bool,
    #[serde(default)]
    pub lamp_owner: LampOwner,
    /// Designated elevator maintainer (三(三)7), if the estate has elevators.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub elevator_maintainer: Option<UnitId>,
    /// When the estate entered long-term management (二(二)).
    #[serde(default)]
    pub entered_at: Option<DateTime<Utc>>,
    /// When it left, and why (二(四)).
    #[serde(default)]
    pub exited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub exit_reason: Option<String>,
    /// Boundary as a GeoJSON geometry (Polygon or MultiPolygon), WGS-84 [lon, lat].
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub boundary: Geometry,
    /// Building labels, e.g. `1号楼`.
    #[serde(default)]
    pub buildings: Vec<String>,
    /// Building outlines with their labels (issue 13), WGS-84. Absent in older data and on older
    /// phones (serde default; an empty list is not sent), so estates without footprints load as
    /// before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprints: Vec<BuildingFootprint>,
}

/// Whether a user of `role` in unit `user_unit_id` (`unit`: that unit as the directory knows it)
/// works in `estate`'s area: the one rule the server's access checks and the phone's capture
/// share (issue 10 item 7), so the phone refuses before storing what the server would refuse.
///
/// - inspector, committee: the estates of their community;
/// - company_staff: the estates their company manages;
/// - street_office: the estates of their street;
/// - department: the estates of their district (a city-wide unit: all);
/// - admin: everything.
///
/// A unit missing from the directory serves no estate.
pub fn serves_estate(
    role: crate::org::Role,
    user_unit_id: &str,
    unit: Option<&crate::org::OrgUnit>,
    estate: &Estate,
) -> bool {
    use crate::org::Role;
    match role {
        Role::Admin => return true,
        Role::CompanyStaff => return estate.company_unit.as_deref() == Some(user_unit_id),
        _ => {}
    }
    let Some(unit) = unit else {
        return false;
    };
    let same_district = unit
        .district
        .as_deref()
        .is_none_or(|d| d == estate.district);
    match role {
        Role::Inspector | Role::Committee => {
            same_district && unit.community.as_deref() == Some(estate.community.as_str())
        }
        Role::StreetOffice => {
            same_district && unit.street.as_deref() == Some(estate.street.as_str())
        }
        Role::Department => same_district,
        Role::Admin | Role::CompanyStaff => true,
    }
}
