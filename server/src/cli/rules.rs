//! `rules check FILE.toml`: the routing rules parsed and validated by the same
//! `RoutingRules::parse` the server and the phones use, so a file that passes here loads there.
//! Given a data folder or database, it also routes every category for every stored estate with
//! the stored unit directory, so a rule naming a unit type no unit serves is caught before use.

use chrono::NaiveDate;
use xuncha_core::catalog::Category;
use xuncha_core::routing::{RoutingRules, UnitDirectory, route};

use crate::policy::catalog::Catalog;

/// The parsed rules and a one-line summary, else `file:line: message [CODE]`.
pub fn check(text: &str, file_name: &str) -> Result<(RoutingRules, String), String> {
    let rules = RoutingRules::parse(text, file_name).map_err(|e| format!("{e} [{}]", e.code()))?;
    let covered = Category::ALL
        .iter()
        .filter(|c| rules.rule(**c).is_some())
        .count();
    let source = rules.source();
    let summary = format!(
        "{covered} categories routed, escalation chain of {} steps; rules version {}, 《{}》 in force {} to {}",
        rules.escalation_chain().len(),
        rules.version(),
        source.title,
        source.effective_from,
        source.effective_until,
    );
    Ok((rules, summary))
}

/// A warning when the rules' source document is past its validity on `today` (Beijing date).
/// Cases still route (the street office must keep working), but people must know.
pub fn expiry_warning(rules: &RoutingRules, today: NaiveDate) -> Option<String> {
    let source = rules.source();
    rules.expired_on(today).then(|| {
        format!(
            "警告 [RULES_EXPIRED]：规则所依据的《{}》已于 {} 到期（原文：“{}”），规则版本 {} 仍在使用；请民政部门核实现行政策并更新规则文件。",
            source.title,
            source.effective_until,
            source.validity,
            rules.version()
        )
    })
}

/// Every (estate, category) the rules cannot route with the stored directory, one line each.
pub fn check_against(rules: &RoutingRules, catalog: &Catalog, file_name: &str) -> Vec<String> {
    let directory = match UnitDirectory::from_units(catalog.units().to_vec()) {
        Ok(directory) => directory,
        Err(e) => return vec![format!("stored unit directory: {e} [{}]", e.code())],
    };
    let mut estates: Vec<_> = catalog.estates().values().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    let mut problems = Vec::new();
    for estate in estates {
        for category in Category::ALL {
            if let Err(e) = route(rules, &directory, category, estate) {
                problems.push(format!(
                    "{file_name}: {category} at estate {} ({}): {e} [{}]",
                    estate.id,
                    estate.name,
                    e.code()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn builtin_rules_pass_and_errors_carry_file_and_line() {
        let (_, summary) = check(RoutingRules::builtin_text(), "routing-rules.toml").unwrap();
        let categories = format!("{} categories", xuncha_core::catalog::Category::ALL.len());
        assert!(summary.starts_with(&categories), "{summary}");
        assert!(
            summary.contains("rules version 2") && summary.contains("2020-08-06 to 2025-08-05"),
            "{summary}"
        );
        let problem = check("version = 1\n\n[[rule]\n", "bad.toml").unwrap_err();
        assert!(problem.starts_with("bad.toml:3: "), "{problem}");
        assert!(problem.ends_with("[MALFORMED_TOML]"), "{problem}");
    }

    #[test]
    fn expired_rules_are_warned_about() {
        let rules = RoutingRules::builtin().unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(expiry_warning(&rules, day(2025, 8, 5)), None);
        let warning = expiry_warning(&rules, day(2025, 8, 6)).unwrap();
        assert!(
            warning.contains("RULES_EXPIRED") && warning.contains("2025-08-05"),
            "{warning}"
        );
    }

    fn demo_catalog() -> Catalog {
        Catalog::new(
            xuncha_core::demo::estates()
                .unwrap()
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect(),
            xuncha_core::demo::units().unwrap().units().to_vec(),
            None,
        )
    }

    #[test]
    fn builtin_rules_route_every_demo_estate_and_gaps_are_named() {
        let rules = RoutingRules::builtin().unwrap();
        let catalog = demo_catalog();
        assert_eq!(
            check_against(&rules, &catalog, "r.toml"),
            Vec::<String>::new()
        );
        let (estates, mut units, routing_rules) = catalog.into_parts();
        units.retain(|u| !(u.unit_type == xuncha_core::UnitType::Gas && u.operator));
        let catalog = Catalog::new(estates, units, routing_rules);
        let problems = check_against(&rules, &catalog, "r.toml");
        assert_eq!(problems.len(), catalog.estates().len(), "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.starts_with("r.toml: GAS_FACILITY at estate ")),
            "{problems:?}"
        );
    }
}
