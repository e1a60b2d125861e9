//! The live catalog and the one place the server calls the shared domain core: the workflow (`apply`), routing
//! (`route`) and the demo data loaders, so the phone and the server decide with the same code.

use std::collections::HashMap;
use std::sync::Arc;

use xuncha_core::OrgUnit;
use xuncha_core::estate::{Estate, EstateId};
use xuncha_core::routing::{RoutingRules, UnitDirectory};
use xuncha_core::workflow::{Case, Event};

use crate::policy::refusal::{CatalogError, Refusal, RouteError};

/// Estates, the unit directory and the routing rules as the server currently holds them, with
/// the router parsed from them. The fields are private and the router is built in
/// [`Catalog::new`], so a router always belongs to the data beside it: a changed catalog is a new
/// value (the server swaps one `Arc<Catalog>` for another), never an edited one.
#[derive(Debug, Clone)]
pub struct Catalog {
    estates: HashMap<EstateId, Estate>,
    units: Vec<OrgUnit>,
    routing_rules: Option<String>,
    /// Shared by clones: they hold the same data, so the same router.
    router: Arc<Result<Router, CatalogError>>,
}

impl Default for Catalog {
    /// No estates, no units, the built-in rules.
    fn default() -> Catalog {
        Catalog::new(HashMap::new(), Vec::new(), None)
    }
}

impl Catalog {
    /// Parses `routing_rules` (the built-in rules when `None`) and the unit directory once. A
    /// catalog whose rules or directory do not load is still a catalog: cases are stored and the
    /// decision records why they could not be routed ([`Catalog::router`] holds the error).
    pub fn new(
        estates: HashMap<EstateId, Estate>,
        units: Vec<OrgUnit>,
        routing_rules: Option<String>,
    ) -> Catalog {
        let router = Router::new(&units, routing_rules.as_deref());
        Catalog {
            estates,
            units,
            routing_rules,
            router: Arc::new(router),
        }
    }

    pub fn estates(&self) -> &HashMap<EstateId, Estate> {
        &self.estates
    }

    pub fn estate(&self, id: &str) -> Option<&Estate> {
        self.estates.get(id)
    }

    pub fn units(&self) -> &[OrgUnit] {
        &self.units
    }

    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The routing rules file (TOML) in force, if one was loaded (else the built-in rules apply).
    pub fn routing_rules(&self) -> Option<&str> {
        self.routing_rules.as_deref()
    }

    /// The parsed routing rules and unit directory, or why they do not load.
    pub fn router(&self) -> &Result<Router, CatalogError> {
        &self.router
    }

    /// This catalog's data, to build a changed catalog from (`Catalog::new` again).
    pub fn into_parts(self) -> (HashMap<EstateId, Estate>, Vec<OrgUnit>, Option<String>) {
        (self.estates, self.units, self.routing_rules)
    }
}

/// Validates `event` against the case as it stands and returns the case after it.
pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, Refusal> {
    Ok(xuncha_core::workflow::apply(case, event)?)
}

/// The parsed routing rules and unit directory of a catalog (see [`Catalog::router`]).
#[derive(Debug)]
pub struct Router {
    rules: RoutingRules,
    directory: UnitDirectory,
}

impl Router {
    fn new(units: &[OrgUnit], routing_rules: Option<&str>) -> Result<Router, CatalogError> {
        let rules = match routing_rules {
            Some(text) => RoutingRules::parse(text, "routing-rules.toml"),
            None => RoutingRules::builtin(),
        }?;
        let directory = UnitDirectory::from_units(units.to_vec())?;
        Ok(Router { rules, directory })
    }

    /// The routing decision stored with the case at ingest. A case that cannot be routed is still
    /// stored (capture is never lost); the decision then records why.
    pub fn route(&self, case: &Case, estate: &Estate) -> serde_json::Value {
        match xuncha_core::routing::route(&self.rules, &self.directory, case.category, estate) {
            Ok(decision) => serde_json::to_value(decision).unwrap_or(serde_json::Value::Null),
            Err(e) => RouteError::from(e).to_json(),
        }
    }
}

impl Router {
    /// The concrete unit routing names as owner of `category` at `estate`, if it routes.
    pub fn owner(&self, category: xuncha_core::Category, estate: &Estate) -> Option<OrgUnit> {
        xuncha_core::routing::route(&self.rules, &self.directory, category, estate)
            .ok()
            .map(|d| d.owner)
    }

    /// The units a street office may dispatch `case` to ([`xuncha_core::routing::dispatch_targets`]):
    /// the server refuses any other target, the dashboard offers only these.
    pub fn dispatch_targets(&self, case: &Case, estate: &Estate) -> Vec<OrgUnit> {
        xuncha_core::routing::dispatch_targets(&self.rules, &self.directory, case.category, estate)
    }
}

/// The dispatch targets of `case` under `catalog`, or `None` when they cannot be computed (the
/// estate is not in the catalog, or its routing data does not load).
pub fn dispatch_targets(catalog: &Catalog, case: &Case) -> Option<Vec<OrgUnit>> {
    let estate = catalog.estates.get(&case.estate_id)?;
    let router = catalog.router().as_ref().ok()?;
    Some(router.dispatch_targets(case, estate))
}

/// Demo estates, unit directory and routing rules (three Tianjin areas, `core/data/demo/`).
pub fn demo_catalog() -> Result<Catalog, CatalogError> {
    let directory = xuncha_core::demo::units()?;
    let estates = xuncha_core::demo::estates()?;
    Ok(Catalog::new(
        estates.into_iter().map(|e| (e.id.clone(), e)).collect(),
        directory.units().to_vec(),
        Some(RoutingRules::builtin_text().to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_router_is_built_with_the_catalog_and_a_changed_catalog_gets_its_own() {
        let catalog = demo_catalog().unwrap();
        assert!(
            catalog.router().is_ok(),
            "{:?}",
            catalog.router().as_ref().err()
        );
        let clone = catalog.clone();
        assert!(
            std::ptr::eq(catalog.router(), clone.router()),
            "a clone holds the same data, so it shares the parsed router"
        );

        // A catalog changed from this one's data routes by its own rules, not the original's.
        let (estates, units, _) = catalog.clone().into_parts();
        let edited = Catalog::new(estates, units, Some("this is not [valid toml".to_owned()));
        let refusal = edited
            .router()
            .as_ref()
            .expect_err("broken rules are refused");
        assert_eq!(refusal.code(), "MALFORMED_TOML");
        assert!(
            catalog.router().is_ok(),
            "{:?}",
            catalog.router().as_ref().err()
        );
    }
}
