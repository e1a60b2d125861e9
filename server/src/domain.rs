//! The one place the server calls the shared domain core: the workflow (`apply`), routing
//! (`route`) and the demo data loaders, so the phone and the server decide with the same code.

use std::collections::HashMap;

use serde::Serialize;
use xuncha_core::OrgUnit;
use xuncha_core::estate::{Estate, EstateId};
use xuncha_core::routing::{RoutingRules, UnitDirectory};
use xuncha_core::workflow::{Case, Event};

/// Estates, the unit directory and the routing rules as the server currently holds them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub estates: HashMap<EstateId, Estate>,
    pub units: Vec<OrgUnit>,
    /// The routing rules file (TOML) in force, if one was loaded.
    pub routing_rules: Option<String>,
}

impl Catalog {
    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.units.iter().find(|u| u.id == id)
    }
}

/// Why the workflow refused an event; `code` is the core's stable `WorkflowError::code()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Validates `event` against the case as it stands and returns the case after it.
pub fn apply(case: Option<&Case>, event: &Event) -> Result<Case, Refusal> {
    xuncha_core::workflow::apply(case, event).map_err(|e| Refusal::new(e.code(), e.to_string()))
}

/// The parsed routing rules and unit directory of a catalog, built once per push batch.
pub struct Router {
    rules: RoutingRules,
    directory: UnitDirectory,
}

impl Router {
    pub fn new(catalog: &Catalog) -> Result<Router, Refusal> {
        let rules = match &catalog.routing_rules {
            Some(text) => RoutingRules::parse(text, "routing-rules.toml"),
            None => RoutingRules::builtin(),
        }
        .map_err(|e| Refusal::new(e.code(), e.to_string()))?;
        let directory = UnitDirectory::from_units(catalog.units.clone())
            .map_err(|e| Refusal::new(e.code(), e.to_string()))?;
        Ok(Router { rules, directory })
    }

    /// The routing decision stored with the case at ingest. A case that cannot be routed is still
    /// stored (capture is never lost); the decision then records why.
    pub fn route(&self, case: &Case, estate: &Estate) -> serde_json::Value {
        match xuncha_core::routing::route(&self.rules, &self.directory, case.category, estate) {
            Ok(decision) => serde_json::to_value(decision).unwrap_or(serde_json::Value::Null),
            Err(e) => {
                serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } })
            }
        }
    }
}

/// Demo estates, unit directory and routing rules (three Tianjin areas, `core/data/demo/`).
pub fn demo_catalog() -> Result<Catalog, Refusal> {
    let directory =
        xuncha_core::demo::units().map_err(|e| Refusal::new(e.code(), e.to_string()))?;
    let estates =
        xuncha_core::demo::estates().map_err(|e| Refusal::new(e.code(), e.to_string()))?;
    Ok(Catalog {
        estates: estates.into_iter().map(|e| (e.id.clone(), e)).collect(),
        units: directory.units().to_vec(),
        routing_rules: Some(RoutingRules::builtin_text().to_owned()),
    })
}
