//! Demo data for 和平区 / 河西区 / 南开区: the unit directory and three estates with boundaries.
//! Embedded in the build so tests, the server's `--demo` mode and the phone samples share one copy.

use crate::estate::Estate;
use crate::routing::{RulesError, UnitDirectory};

const ESTATES_JSON: &str = include_str!("../data/demo/estates.json");

/// The demo estates file could not be read (only possible if the embedded file was edited badly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("domain/data/demo/estates.json:{line}:{column}: {message}")]
pub struct DemoDataError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl DemoDataError {
    pub fn code(&self) -> &'static str {
        "BAD_DEMO_DATA"
    }
}

/// The demo unit directory (`domain/data/demo/units.toml`).
pub fn units() -> Result<UnitDirectory, RulesError> {
    UnitDirectory::builtin_demo()
}

/// The demo estates (`domain/data/demo/estates.json`): 长春里 (`changchunli`), 平山道小区
/// (`pingshandao`), 鹤园北里 (`heyuanbeili`).
pub fn estates() -> Result<Vec<Estate>, DemoDataError> {
    serde_json::from_str(ESTATES_JSON).map_err(|e| DemoDataError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// The raw demo estates JSON, for seeding a server database.
pub fn estates_json() -> &'static str {
    ESTATES_JSON
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::estate::{LampOwner, ManagementMode};
    use crate::org::UnitType;

    #[test]
    fn demo_estates_reference_known_units_of_the_right_type() {
        let dir = units().unwrap();
        let estates = estates().unwrap();
        assert_eq!(estates.len(), 3);
        for e in &estates {
            if let Some(id) = &e.company_unit {
                assert_eq!(
                    dir.get(id).unwrap().unit_type,
                    UnitType::ManagementCompany,
                    "{id}"
                );
            }
            if let Some(id) = &e.owner_unit {
                assert_eq!(
                    dir.get(id).unwrap().unit_type,
                    UnitType::PropertyOwner,
                    "{id}"
                );
            }
            if let Some(id) = &e.elevator_maintainer {
                assert!(dir.get(id).is_some(), "{id}");
            }
            assert_eq!(
                e.company_unit.is_some(),
                e.management_mode == ManagementMode::Company
            );
        }
        let by_id = |id: &str| estates.iter().find(|e| e.id == id).unwrap();
        assert_eq!(by_id("changchunli").lamp_owner, LampOwner::City);
        assert_eq!(by_id("pingshandao").lamp_owner, LampOwner::StateGrid);
        assert_eq!(
            by_id("heyuanbeili").management_mode,
            ManagementMode::ResidentSelf
        );
        assert_eq!(by_id("pingshandao").district, "河西区");
    }

    #[test]
    fn every_district_has_a_unit_of_every_type() {
        let dir = units().unwrap();
        for e in estates().unwrap() {
            for t in UnitType::ALL {
                assert!(
                    dir.resolve(t, &e).is_some()
                        || (t == UnitType::ManagementCompany && e.company_unit.is_none()),
                    "{} has no {}",
                    e.id,
                    t.code()
                );
            }
        }
    }
}
