//! The live catalog and the one place the server calls the shared domain core: the workflow (`apply`), routing
//! (`route`) and the demo data loaders, so the phone and the server decide with the same code.

use std::collections::HashMap;
use std::sync::OnceLock;

use xuncha_core::OrgUnit;
use xuncha_core::estate::{Estate, EstateId};
use xuncha_core::routing::{RoutingRules, UnitDirectory};
use xuncha_core::workflow::{Case, Event};

use crate::policy::refusal::{CatalogError, Refusal, RouteError};

/// Estates, the unit directory and the routing rules as the server currently holds them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub estates: HashMap<EstateId, Estate>,
    pub units: Vec<OrgUnit>,
    /// The routing rules file (TOML) in force, if one was loaded.
    pub routing_rules: Option<String>,
    /// The rules and directory above, parsed on first use.
    pub router_cache: RouterCache,
}

impl Catalog {
    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The parsed routing rules and unit directory, parsed once per catalog version: the server
    /// shares one `Arc<Catalog>` until the catalog changes, and a changed catalog is a new value.
    pub fn router(&self) -> &Result<Router, CatalogError> {
        self.router_cache.0.get_or_init(|| Router::new(self))
    }
}

/// A catalog's parsed router. Cloning a catalog drops it (the clone may be edited before use),
/// so a cached router always belongs to the fields of the catalog holding it.
#[derive(Default)]
pub struct RouterCache(OnceLock<Result<Router, CatalogError>>);

impl Clone for RouterCache {
    fn clone(&self) -> RouterCache {
        RouterCache::default()
    }
}

impl std::fmt::Debug for RouterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.get().is_some() {
            "parsed"
        } else {
            "not parsed"
        };
        f.debug_tuple("RouterCache").field(&state).finish()
    }
}

/// Validates `event` against the case as it stands and returns the case after it.
pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, Refusal> {
    Ok(xuncha_core::workflow::apply(case, event)?)
}

/// The parsed routing rules and unit directory of a catalog (see [`Catalog::router`]).
pub struct Router {
    rules: RoutingRules,
    directory: UnitDirectory,
}

impl Router {
    pub fn new(catalog: &Catalog) -> Result<Router, CatalogError> {
        let rules = match &catalog.routing_rules {
            Some(text) => RoutingRules::parse(text, "routing-rules.toml"),
            None => RoutingRules::builtin(),
        }?;
        let directory = UnitDirectory::from_units(catalog.units.clone())?;
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
    Ok(Catalog {
        estates: estates.into_iter().map(|e| (e.id.clone(), e)).collect(),
        units: directory.units().to_vec(),
        routing_rules: Some(RoutingRules::builtin_text().to_owned()),
        router_cache: RouterCache::default(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn router_is_parsed_once_per_catalog_and_not_carried_into_clones() {
        let catalog = demo_catalog().unwrap();
        let first: *const Result<Router, CatalogError> = catalog.router();
        let second: *const Result<Router, CatalogError> = catalog.router();
        assert!(
            std::ptr::eq(first, second),
            "the second call reuses the parsed router"
        );
        assert!(
            catalog.router().is_ok(),
            "{:?}",
            catalog.router().as_ref().err()
        );

        // A clone edited before use must route by its own rules, not the original's.
        let mut edited = catalog.clone();
        edited.routing_rules = Some("this is not [valid toml".to_owned());
        let refusal = edited
            .router()
            .as_ref()
            .err()
            .expect("broken rules are refused");
        assert_eq!(refusal.code(), "MALFORMED_TOML");
        assert!(
            catalog.router().is_ok(),
            "{:?}",
            catalog.router().as_ref().err()
        );
    }
}
