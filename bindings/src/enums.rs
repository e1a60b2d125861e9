//! The domain's fieldless enums, exposed as they are. `#[uniffi::remote]` re-states each enum so
//! uniffi can generate its converter without the core depending on uniffi; a variant added in the
//! core and not here fails to compile (the generated `match` is exhaustive).

pub use xuncha_core::catalog::{Category, CategoryGroup};
pub use xuncha_core::estate::{LampOwner, ManagementMode};
pub use xuncha_core::org::{Role, UnitType};
pub use xuncha_core::workflow::{ActionKind, CaseStatus, PhotoKind};

/// What kind of problem a case is about (codes of the catalog, e.g. `GROUND_LOCK`).
#[uniffi::remote(Enum)]
pub enum Category {
    IllegalStructure,
    SmallAds,
    PoultryPigeons,
    CommonAreaClutter,
    EnclosedPublicSpace,
    GroundLock,
    DisorderlyParking,
    AbandonedVehicle,
    FireLaneBlocked,
    Garbage,
    Greenery,
    StreetLight,
    StairwellLighting,
    Elevator,
    FireEquipment,
    GasFacility,
    HeatingFacility,
    OldWiring,
    TelecomCables,
    Mailbox,
    FitnessEquipment,
    BuildingSafety,
    GateWallIntercom,
    Walkway,
    FacilityDamage,
    ServiceComplaint,
}

/// Behaviour (dissuasion may fix it), a facility fault, or a complaint about service.
#[uniffi::remote(Enum)]
pub enum CategoryGroup {
    Behaviour,
    Facility,
    Service,
}

/// Kind of organisation responsible for something.
#[uniffi::remote(Enum)]
pub enum UnitType {
    CivilAffairs,
    Finance,
    Housing,
    CityManagement,
    MarketRegulation,
    Sports,
    Telecom,
    Postal,
    FireRescue,
    Gas,
    Heating,
    StateGrid,
    PublicSecurity,
    StreetOffice,
    ResidentsCommittee,
    ManagementCompany,
    PropertyOwner,
    DistrictMaintenance,
}

/// The role a person acts in.
#[uniffi::remote(Enum)]
pub enum Role {
    Inspector,
    CompanyStaff,
    Committee,
    StreetOffice,
    Department,
    Admin,
}

/// Where a case stands.
#[uniffi::remote(Enum)]
pub enum CaseStatus {
    Reported,
    ResolvedOnSite,
    Escalated,
    Dispatched,
    Accepted,
    Handled,
    Closed,
    Reopened,
    Returned,
    Cancelled,
}

/// The kind of an action, for permission checks and UI buttons.
#[uniffi::remote(Enum)]
pub enum ActionKind {
    Report,
    Dissuade,
    Escalate,
    Dispatch,
    Accept,
    Return,
    Handle,
    Verify,
    Reopen,
    Cancel,
    Comment,
    Minutes,
}

/// What a photo shows in the case's story.
#[uniffi::remote(Enum)]
pub enum PhotoKind {
    Before,
    After,
    Verification,
}

/// How an estate is managed (policy 二(三)).
#[uniffi::remote(Enum)]
pub enum ManagementMode {
    Company,
    OwnerSelf,
    ResidentSelf,
}

/// Who owns an estate's street lamps.
#[uniffi::remote(Enum)]
pub enum LampOwner {
    City,
    StateGrid,
}
