//! Organisations and roles: unit types from DESIGN.md, concrete units from the unit directory, and
//! the roles people act in.

use serde::{Deserialize, Serialize};

wire_enum! {
    /// Kind of organisation responsible for something. Codes are stable API.
    pub enum UnitType {
        CivilAffairs = "CIVIL_AFFAIRS",
        Finance = "FINANCE",
        Housing = "HOUSING",
        CityManagement = "CITY_MANAGEMENT",
        MarketRegulation = "MARKET_REGULATION",
        Sports = "SPORTS",
        Telecom = "TELECOM",
        Postal = "POSTAL",
        FireRescue = "FIRE_RESCUE",
        Gas = "GAS",
        Heating = "HEATING",
        StateGrid = "STATE_GRID",
        PublicSecurity = "PUBLIC_SECURITY",
        StreetOffice = "STREET_OFFICE",
        ResidentsCommittee = "RESIDENTS_COMMITTEE",
        ManagementCompany = "MANAGEMENT_COMPANY",
        PropertyOwner = "PROPERTY_OWNER",
        DistrictMaintenance = "DISTRICT_MAINTENANCE",
    }
}

impl UnitType {
    /// Chinese name of the unit type, for UI.
    pub fn name_zh(self) -> &'static str {
        match self {
            UnitType::CivilAffairs => "民政部门",
            UnitType::Finance => "财政部门",
            UnitType::Housing => "住房城乡建设部门",
            UnitType::CityManagement => "城市管理部门",
            UnitType::MarketRegulation => "市场监管部门",
            UnitType::Sports => "体育部门",
            UnitType::Telecom => "通信管理部门",
            UnitType::Postal => "邮政管理部门",
            UnitType::FireRescue => "消防救援机构",
            UnitType::Gas => "燃气管理部门",
            UnitType::Heating => "供热管理部门",
            UnitType::StateGrid => "国网电力公司",
            UnitType::PublicSecurity => "公安机关",
            UnitType::StreetOffice => "街道办事处",
            UnitType::ResidentsCommittee => "社区居委会",
            UnitType::ManagementCompany => "管理服务企业",
            UnitType::PropertyOwner => "产权单位",
            UnitType::DistrictMaintenance => "区级维修单位",
        }
    }
}

impl std::fmt::Display for UnitType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Id of a concrete unit in the unit directory, e.g. `hexi.city_management`.
pub type UnitId = String;

/// One concrete organisation: 河西区城市管理委员会, 南营门街道办事处, 长春里社区居委会, a company …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnit {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: UnitId,
    pub name: String,
    pub unit_type: UnitType,
    /// District (区) the unit serves, e.g. `河西区`. `None` for city-wide units.
    #[serde(default)]
    pub district: Option<String>,
    /// Street (街道) the unit serves, for street-level units.
    #[serde(default)]
    pub street: Option<String>,
    /// Community (社区) for residents' committees.
    #[serde(default)]
    pub community: Option<String>,
    /// An enterprise that does the work in a field a department of the same type supervises
    /// (a gas or heating operator, a 基础电信企业, 三(一)7 and 三(一)10). Routing resolves a unit
    /// type to the department and `<TYPE>_OPERATOR` to the operator.
    #[serde(default, skip_serializing_if = "is_false")]
    pub operator: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

wire_enum! {
    /// The role a person acts in. One user has one role, bound to one org unit.
    pub enum Role {
        /// 社区居委会巡查员: patrols, reports, dissuades, verifies fixes.
        Inspector = "inspector",
        /// 管理服务企业员工: reports, handles what is the company's.
        CompanyStaff = "company_staff",
        /// 社区居委会: reviews, escalates, cancels.
        Committee = "committee",
        /// 街道办事处: dispatches, tracks, closes, cancels.
        StreetOffice = "street_office",
        /// A department or unit a case is dispatched to: accepts, returns, handles.
        Department = "department",
        /// 民政部门 admin: estates, routing rules, evaluation.
        Admin = "admin",
    }
}

impl Role {
    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Inspector => "巡查员",
            Role::CompanyStaff => "管理服务企业",
            Role::Committee => "社区居委会",
            Role::StreetOffice => "街道办事处",
            Role::Department => "责任单位",
            Role::Admin => "民政管理员",
        }
    }
}
