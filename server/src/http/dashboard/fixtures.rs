//! Cases and estates for the dashboard's unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;
use xuncha_core::estate::{Estate, LampOwner, ManagementMode};
use xuncha_core::geo::Geometry;
use xuncha_core::{Actor, Case, CaseStatus, Category, Role};

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

pub fn estate(id: &str, community: &str) -> Estate {
    Estate {
        id: id.into(),
        name: format!("{id}小区"),
        district: "和平区".into(),
        street: "南营门街道".into(),
        community: community.into(),
        management_mode: ManagementMode::Company,
        company_unit: None,
        owner_unit: None,
        scattered: false,
        lamp_owner: LampOwner::City,
        elevator_maintainer: None,
        entered_at: None,
        exited_at: None,
        exit_reason: None,
        boundary: Geometry::Polygon(vec![vec![
            [117.192, 39.112],
            [117.194, 39.112],
            [117.194, 39.114],
            [117.192, 39.112],
        ]]),
        buildings: vec![],
        footprints: Vec::new(),
    }
}

/// Built from JSON so that optional fields the core adds later keep their defaults.
pub fn case(
    n: u128,
    status: CaseStatus,
    category: Category,
    estate_id: &str,
    reported: DateTime<Utc>,
) -> Case {
    let reporter = Actor {
        user_id: "u-inspector".into(),
        role: Role::Inspector,
        unit_id: "heping.nanyingmen.changchunli".into(),
    };
    serde_json::from_value(serde_json::json!({
        "id": Uuid::from_u128(n),
        "category": category,
        "estate_id": estate_id,
        "building": "3号楼",
        "status": status,
        "reported_by": reporter,
        "reported_at": reported,
        "dispatch_due": reported + Duration::hours(24),
        "rework_count": 0,
        "return_count": 0,
        "version": 1,
        "updated_at": reported,
    }))
    .unwrap()
}
