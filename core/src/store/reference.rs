//! Reference data cached from the server: estates (with boundaries), the unit directory and the
//! routing rules. A new store is seeded with the built-in demo data (origin `builtin`); the
//! first pull that carries estates or units replaces the built-in rows.

use rusqlite::{Connection, params};

use crate::estate::Estate;
use crate::org::OrgUnit;
use crate::protocol::PullResponse;
use crate::routing::{RoutingRules, UnitDirectory};
use crate::store::error::{Error, Result};
use crate::store::{Store, StoreError, now, to_ms};

/// File name shown in errors for rules that came from the server.
const SERVER_RULES_NAME: &str = "routing-rules.toml (server)";

impl Store {
    /// Every cached estate, by name.
    pub fn estates(&self) -> Result<Vec<Estate>, StoreError> {
        Ok(self.read(load_estates)?)
    }

    /// One cached estate.
    pub fn estate(&self, id: &str) -> Result<Option<Estate>, StoreError> {
        Ok(self.read(|conn| load_estate(conn, id))?)
    }

    /// The cached unit directory.
    pub fn unit_directory(&self) -> Result<UnitDirectory, StoreError> {
        let units = self.read(load_units)?;
        UnitDirectory::from_units(units).map_err(|e| StoreError::Routing {
            code: e.code(),
            message: e.to_string(),
        })
    }

    /// The routing rules the server last sent, or the built-in ones before any.
    pub fn routing_rules(&self) -> Result<RoutingRules, StoreError> {
        let cached: Option<String> = self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT rules_toml FROM routing_rules WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .ok())
        })?;
        let rules = match cached {
            Some(text) => RoutingRules::parse(&text, SERVER_RULES_NAME),
            None => RoutingRules::builtin(),
        };
        rules.map_err(|e| StoreError::Routing {
            code: e.code(),
            message: e.to_string(),
        })
    }
}

pub(crate) fn load_estates(conn: &Connection) -> Result<Vec<Estate>> {
    let mut stmt = conn.prepare_cached("SELECT estate_json FROM estates ORDER BY name, id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|json| Ok(serde_json::from_str(&json?)?)).collect()
}

pub(crate) fn load_estate(conn: &Connection, id: &str) -> Result<Option<Estate>> {
    let mut stmt = conn.prepare_cached("SELECT estate_json FROM estates WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(serde_json::from_str(&row.get::<_, String>(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) fn load_unit(conn: &Connection, id: &str) -> Result<Option<OrgUnit>> {
    let mut stmt = conn.prepare_cached("SELECT unit_json FROM org_units WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(serde_json::from_str(&row.get::<_, String>(0)?)?)),
        None => Ok(None),
    }
}

fn load_units(conn: &Connection) -> Result<Vec<OrgUnit>> {
    let mut stmt = conn.prepare_cached("SELECT unit_json FROM org_units ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|json| Ok(serde_json::from_str(&json?)?)).collect()
}

fn upsert_estate(conn: &Connection, estate: &Estate, origin: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO estates (id, name, boundary_geojson, estate_json, origin)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
            boundary_geojson = excluded.boundary_geojson, estate_json = excluded.estate_json,
            origin = excluded.origin",
    )?
    .execute(params![
        estate.id,
        estate.name,
        serde_json::to_string(&estate.boundary)?,
        serde_json::to_string(estate)?,
        origin
    ])?;
    Ok(())
}

fn upsert_unit(conn: &Connection, unit: &OrgUnit, origin: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO org_units (id, unit_type, unit_json, origin) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET unit_type = excluded.unit_type,
            unit_json = excluded.unit_json, origin = excluded.origin",
    )?
    .execute(params![
        unit.id,
        unit.unit_type.code(),
        serde_json::to_string(unit)?,
        origin
    ])?;
    Ok(())
}

/// Seeds an empty store with the built-in demo estates and unit directory.
pub(crate) fn seed_builtin(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let estates: i64 = tx.query_row("SELECT count(*) FROM estates", [], |r| r.get(0))?;
    if estates == 0 {
        let demo = crate::demo::estates()
            .map_err(|e| Error::InvalidInput(format!("built-in demo estates: {e}")))?;
        for estate in &demo {
            upsert_estate(&tx, estate, "builtin")?;
        }
    }
    let units: i64 = tx.query_row("SELECT count(*) FROM org_units", [], |r| r.get(0))?;
    if units == 0 {
        let demo = crate::demo::units()
            .map_err(|e| Error::InvalidInput(format!("built-in demo units: {e}")))?;
        for unit in demo.units() {
            upsert_unit(&tx, unit, "builtin")?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Stores the reference data of one pull page. Server rows replace built-in ones; rules that
/// do not parse are logged and ignored (the previous rules keep routing).
pub(crate) fn store_pulled(conn: &Connection, pull: &PullResponse) -> Result<()> {
    if !pull.estates.is_empty() {
        conn.execute("DELETE FROM estates WHERE origin = 'builtin'", [])?;
        for estate in &pull.estates {
            upsert_estate(conn, estate, "server")?;
        }
    }
    if !pull.units.is_empty() {
        conn.execute("DELETE FROM org_units WHERE origin = 'builtin'", [])?;
        for unit in &pull.units {
            upsert_unit(conn, unit, "server")?;
        }
    }
    if let Some(text) = &pull.routing_rules {
        match RoutingRules::parse(text, SERVER_RULES_NAME) {
            Ok(_) => {
                conn.execute(
                    "INSERT INTO routing_rules (id, rules_toml, received_at) VALUES (1, ?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET rules_toml = excluded.rules_toml,
                        received_at = excluded.received_at",
                    params![text, to_ms(now())],
                )?;
            }
            Err(error) => {
                tracing::warn!(%error, "store: server sent routing rules that do not parse; kept the previous ones");
            }
        }
    }
    Ok(())
}
