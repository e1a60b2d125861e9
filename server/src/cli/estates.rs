//! `estates import FILE.geojson`: a FeatureCollection whose features' properties are
//! [`Estate`] fields (`id` may also be the feature's own `id`) and whose geometry is the boundary
//! (Polygon or MultiPolygon, WGS-84 `[lon, lat]`). Every problem is reported with the feature's
//! index; one bad feature stops the whole import.

use std::collections::HashSet;

use serde_json::Value;
use xuncha_core::Estate;
use xuncha_core::estate::ManagementMode;

use super::CliError;
use crate::policy::audit::AuditDraft;
use crate::policy::catalog::Catalog;
use crate::storage::Storage;

/// Checks the rings of a GeoJSON geometry object and names the first bad position.
pub fn check_geometry(geometry: &Value) -> Result<(), String> {
    let kind = geometry
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let coordinates = geometry
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or("geometry has no coordinates array")?;
    let polygons: Vec<&Value> = match kind {
        "Polygon" => vec![geometry.get("coordinates").ok_or("no coordinates")?],
        "MultiPolygon" => coordinates.iter().collect(),
        other => {
            return Err(format!(
                "geometry type {other:?} is not Polygon or MultiPolygon"
            ));
        }
    };
    if polygons.is_empty() {
        return Err("MultiPolygon has no polygons".to_owned());
    }
    for (p, polygon) in polygons.iter().enumerate() {
        let rings = polygon
            .as_array()
            .ok_or(format!("polygon {p} is not an array of rings"))?;
        if rings.is_empty() {
            return Err(format!("polygon {p} has no rings"));
        }
        for (r, ring) in rings.iter().enumerate() {
            let at = |what: String| format!("polygon {p} ring {r}: {what}");
            let positions = ring
                .as_array()
                .ok_or_else(|| at("not an array of positions".to_owned()))?;
            if positions.len() < 4 {
                return Err(at(format!(
                    "{} positions; a ring needs at least 4",
                    positions.len()
                )));
            }
            let mut parsed = Vec::with_capacity(positions.len());
            for (i, position) in positions.iter().enumerate() {
                let numbers: Option<Vec<f64>> = position
                    .as_array()
                    .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                    .unwrap_or(None);
                let [lon, lat] = numbers
                    .as_deref()
                    .and_then(|n| <[f64; 2]>::try_from(n).ok())
                    .ok_or_else(|| {
                        at(format!("position {i} is {position}, expected [lon, lat]"))
                    })?;
                if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                    return Err(at(format!("position {i}: longitude {lon} out of range")));
                }
                if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                    return Err(at(format!(
                        "position {i}: latitude {lat} out of range (positions are [lon, lat])"
                    )));
                }
                parsed.push([lon, lat]);
            }
            if parsed.first() != parsed.last() {
                return Err(at(
                    "not closed: the last position must repeat the first".to_owned()
                ));
            }
        }
    }
    Ok(())
}

fn check_estate(estate: &Estate, catalog: &Catalog) -> Vec<String> {
    let mut problems = Vec::new();
    for (field, value) in [
        ("id", &estate.id),
        ("name", &estate.name),
        ("district", &estate.district),
        ("street", &estate.street),
        ("community", &estate.community),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{field} is empty"));
        }
    }
    if estate.management_mode == ManagementMode::Company && estate.company_unit.is_none() {
        problems.push("management_mode COMPANY needs company_unit".to_owned());
    }
    for (field, unit) in [
        ("company_unit", &estate.company_unit),
        ("owner_unit", &estate.owner_unit),
        ("elevator_maintainer", &estate.elevator_maintainer),
    ] {
        if let Some(unit) = unit
            && catalog.unit(unit).is_none()
        {
            problems.push(format!("{field} {unit:?} is not in the unit directory"));
        }
    }
    if let (Some(entered), Some(exited)) = (estate.entered_at, estate.exited_at)
        && exited < entered
    {
        problems.push("exited_at is before entered_at".to_owned());
    }
    if estate.exited_at.is_some()
        && estate
            .exit_reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        problems.push("exited_at needs exit_reason (policy 二(四))".to_owned());
    }
    problems
}

fn parse_feature(feature: &Value, catalog: &Catalog) -> Result<Estate, Vec<String>> {
    if feature.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(vec!["type is not \"Feature\"".to_owned()]);
    }
    let geometry = feature
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or(vec!["geometry is missing".to_owned()])?;
    check_geometry(geometry).map_err(|e| vec![format!("geometry: {e}")])?;
    let mut fields = match feature.get("properties") {
        Some(Value::Object(map)) => map.clone(),
        _ => return Err(vec!["properties is not an object".to_owned()]),
    };
    if !fields.contains_key("id")
        && let Some(id) = feature.get("id")
    {
        let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
        fields.insert("id".to_owned(), Value::String(id));
    }
    if fields.contains_key("boundary") {
        return Err(vec![
            "properties must not hold boundary; it is the feature's geometry".to_owned(),
        ]);
    }
    fields.insert("boundary".to_owned(), geometry.clone());
    let estate: Estate = serde_json::from_value(Value::Object(fields))
        .map_err(|e| vec![format!("properties: {e}")])?;
    let problems = check_estate(&estate, catalog);
    if problems.is_empty() {
        Ok(estate)
    } else {
        Err(problems)
    }
}

/// All estates of the collection, or every problem found, each prefixed with its feature index.
pub fn parse_feature_collection(text: &str, catalog: &Catalog) -> Result<Vec<Estate>, Vec<String>> {
    let root: Value = serde_json::from_str(text).map_err(|e| vec![format!("not JSON: {e}")])?;
    if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(vec![
            "the file is not a GeoJSON FeatureCollection".to_owned(),
        ]);
    }
    let features = root
        .get("features")
        .and_then(Value::as_array)
        .ok_or(vec!["features is not an array".to_owned()])?;
    if features.is_empty() {
        return Err(vec!["the collection has no features".to_owned()]);
    }
    let mut estates = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (index, feature) in features.iter().enumerate() {
        let label = feature
            .pointer("/properties/id")
            .or_else(|| feature.get("id"))
            .and_then(Value::as_str)
            .map_or_else(
                || format!("feature {index}"),
                |id| format!("feature {index} ({id})"),
            );
        match parse_feature(feature, catalog) {
            Ok(estate) if !seen.insert(estate.id.clone()) => {
                problems.push(format!(
                    "{label}: id {:?} appears twice in the file",
                    estate.id
                ));
            }
            Ok(estate) => estates.push(estate),
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{label}: {p}"))),
        }
    }
    if problems.is_empty() {
        Ok(estates)
    } else {
        Err(problems)
    }
}

/// Upserts the estates in one transaction with one audit entry.
pub async fn import(
    storage: &dyn Storage,
    estates: Vec<Estate>,
    source: &str,
) -> Result<(), CliError> {
    let ids: Vec<&str> = estates.iter().map(|e| e.id.as_str()).collect();
    let audit = AuditDraft::new("ESTATES_IMPORTED", "catalog", source).detail(serde_json::json!({
        "count": estates.len(), "ids": ids, "source": "cli",
    }));
    storage
        .save_catalog(estates, Vec::new(), None, audit)
        .await?;
    Ok(())
}

/// `estates buildings import`: replaces `estate_id`'s footprints with the file's (one audit entry,
/// `ESTATE_BUILDINGS_IMPORTED`), or with `dry_run` only checks it. Returns the line to print.
pub async fn import_buildings(
    storage: &dyn Storage,
    estate_id: &str,
    file: &str,
    text: &str,
    dry_run: bool,
) -> Result<String, CliError> {
    let catalog = storage.load_catalog().await?;
    let mut estate = catalog
        .estates()
        .get(estate_id)
        .cloned()
        .ok_or_else(|| CliError::UnknownEstate(estate_id.to_owned()))?;
    let footprints = xuncha_core::buildings::parse_buildings(file, text, &estate.boundary)?;
    let labels: Vec<String> = footprints.iter().map(|f| f.label.clone()).collect();
    if dry_run {
        return Ok(format!(
            "{file}: {} building(s) valid for {estate_id}: {} (dry run, nothing saved)",
            labels.len(),
            labels.join(", ")
        ));
    }
    xuncha_core::buildings::apply_footprints(&mut estate, footprints);
    let audit = AuditDraft::new("ESTATE_BUILDINGS_IMPORTED", "estate", estate_id).detail(
        serde_json::json!({ "file": file, "count": labels.len(), "labels": labels, "source": "cli" }),
    );
    storage
        .save_catalog(vec![estate], Vec::new(), None, audit)
        .await?;
    Ok(format!(
        "imported {} building footprint(s) into {estate_id}: {}",
        labels.len(),
        labels.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn catalog() -> Catalog {
        let company = xuncha_core::OrgUnit {
            id: "company.a".to_owned(),
            name: "甲物业".to_owned(),
            unit_type: xuncha_core::UnitType::ManagementCompany,
            district: Some("和平区".to_owned()),
            street: None,
            community: None,
            operator: false,
        };
        Catalog::new(Default::default(), vec![company], None)
    }

    fn feature(id: &str, ring: Value) -> Value {
        serde_json::json!({"type": "Feature", "properties": {
            "id": id, "name": "甲小区", "district": "和平区", "street": "南营门街道", "community": "长春里社区",
            "management_mode": "COMPANY", "company_unit": "company.a"},
          "geometry": {"type": "Polygon", "coordinates": [ring]}})
    }

    #[test]
    fn good_features_import_and_bad_ones_are_named_by_index() {
        let good = serde_json::json!([
            [117.19, 39.11],
            [117.2, 39.11],
            [117.2, 39.12],
            [117.19, 39.11]
        ]);
        let open = serde_json::json!([
            [117.19, 39.11],
            [117.2, 39.11],
            [117.2, 39.12],
            [117.19, 39.12]
        ]);
        let swapped = serde_json::json!([
            [39.11, 117.19],
            [39.11, 117.2],
            [39.12, 117.2],
            [39.11, 117.19]
        ]);
        let ok = serde_json::json!({"type": "FeatureCollection", "features": [feature("a", good.clone())]});
        let estates = parse_feature_collection(&ok.to_string(), &catalog()).unwrap();
        assert_eq!(estates[0].id, "a");

        let bad = serde_json::json!({"type": "FeatureCollection", "features": [
            feature("a", good.clone()), feature("b", open), feature("c", swapped), feature("a", good)]});
        let problems = parse_feature_collection(&bad.to_string(), &catalog()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("feature 1 (b): geometry: polygon 0 ring 0: not closed"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("feature 2 (c): geometry:")
                && problems[1].contains("latitude 117.19"),
            "{problems:?}"
        );
        assert!(
            problems[2].contains("feature 3 (a)") && problems[2].contains("twice"),
            "{problems:?}"
        );
    }
}
