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
    }
}

pub fn case(n: u128, status: CaseStatus, category: Category, estate_id: &str, reported: DateTime<Utc>) -> Case {
    Case {
        id: Uuid::from_u128(n),
        category,
        estate_id: estate_id.into(),
        building: Some("3号楼".into()),
        unit_no: None,
        location_note: None,
        description: None,
        location: None,
        status,
        reported_by: Actor {
            user_id: "u-inspector".into(),
            role: Role::Inspector,
            unit_id: "heping.nanyingmen.changchunli".into(),
        },
        reported_at: reported,
        assigned_unit: None,
        escalated_at: None,
        dispatched_at: None,
        accepted_at: None,
        handled_at: None,
        closed_at: None,
        dispatch_due: reported + Duration::hours(24),
        handle_due: None,
        rework_count: 0,
        return_count: 0,
        photos: vec![],
        last_reason: None,
        version: 1,
        updated_at: reported,
    }
}
