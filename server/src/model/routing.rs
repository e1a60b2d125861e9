//! The routing decision stored with a case, as readers use it. Ingest stores the core's
//! `RoutingDecision` as JSON (or `{"error": …}` when the rules could not route); cases routed
//! before the rules carried a version have no version or dates. This type reads all of them, so
//! no reader looks fields up by key.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A unit a routing decision names (the stored `OrgUnit` carries more; readers need these).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoutedUnit {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// A case's routing decision: who does the work, who supervises, who shares the duty, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutedCase {
    /// The unit responsible for fixing it (preselected when dispatching).
    pub owner: RoutedUnit,
    #[serde(default)]
    pub supervisor: Option<RoutedUnit>,
    #[serde(default)]
    pub co_responsible: Vec<RoutedUnit>,
    #[serde(default)]
    pub first_on_site: Vec<RoutedUnit>,
    #[serde(default)]
    pub escalation_chain: Vec<RoutedUnit>,
    /// Chinese text, one quote per line.
    #[serde(default)]
    pub legal_basis: String,
    /// `None` for cases routed before the rules carried a version.
    #[serde(default)]
    pub rules_version: Option<u32>,
    #[serde(default)]
    pub rules_effective_from: Option<NaiveDate>,
    #[serde(default)]
    pub rules_effective_until: Option<NaiveDate>,
}

impl RoutedCase {
    /// Reads a stored decision; `None` for a routing failure (`{"error": …}`) or anything else
    /// that names no owner.
    pub fn from_stored(stored: &serde_json::Value) -> Option<RoutedCase> {
        serde_json::from_value(stored.clone()).ok()
    }

    /// The supervisor and the co-responsible units: they see the case and may comment.
    pub fn involved_units(&self) -> impl Iterator<Item = &str> {
        self.supervisor
            .iter()
            .chain(&self.co_responsible)
            .map(|unit| unit.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn reads_decisions_old_and_new_and_skips_failures() {
        let new = serde_json::json!({
            "category": "ELEVATOR",
            "owner": {"id": "u1", "name": "维保单位", "type": "COMPANY"},
            "supervisor": {"id": "u2", "name": "市场监管"},
            "co_responsible": [{"id": "u3", "name": "物业"}],
            "legal_basis": "依据",
            "rules_version": 2,
            "rules_effective_from": "2020-08-06",
            "rules_effective_until": "2025-08-05"
        });
        let routed = RoutedCase::from_stored(&new).unwrap();
        assert_eq!(routed.owner.name, "维保单位");
        assert_eq!(routed.involved_units().collect::<Vec<_>>(), ["u2", "u3"]);
        assert_eq!(
            routed.rules_effective_until,
            NaiveDate::from_ymd_opt(2025, 8, 5)
        );
        let old = serde_json::json!({"owner": {"id": "u1", "name": "街道"}, "legal_basis": "x"});
        assert_eq!(RoutedCase::from_stored(&old).unwrap().rules_version, None);
        assert_eq!(
            RoutedCase::from_stored(&serde_json::json!({"error": {"code": "X"}})),
            None
        );
    }
}
