//! Building footprints (楼栋轮廓) of an estate and their import from a GeoJSON FeatureCollection
//! (issue 13): one Polygon feature per building, labelled by its `name` (e.g. `3号楼`) or
//! `number` (`3` → `3号楼`). Every problem names the file and the feature (1-based, as the
//! admin counts), e.g. `buildings.geojson 第3个要素：不是多边形`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::geo::Geometry;

/// One building's outline with its label, WGS-84 `[lon, lat]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildingFootprint {
    /// The building's label as cases carry it, e.g. `3号楼`.
    pub label: String,
    /// A GeoJSON Polygon.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub outline: Geometry,
}

impl BuildingFootprint {
    /// Where the label and the building's case marker go: the mean of the outline's vertices
    /// (the closing vertex counted once), as `(lat, lon)`.
    pub fn centre(&self) -> Option<(f64, f64)> {
        outline_centre(&self.outline)
    }
}

/// The mean of a geometry's first outer ring's vertices (a closed ring's repeated vertex counted
/// once), as `(lat, lon)`: where a label goes.
pub fn outline_centre(geometry: &Geometry) -> Option<(f64, f64)> {
    let ring = match geometry {
        Geometry::Polygon(rings) => rings.first()?,
        Geometry::MultiPolygon(polygons) => polygons.first()?.first()?,
    };
    let open = match ring.split_last() {
        Some((last, rest)) if Some(last) == rest.first() => rest,
        _ => ring.as_slice(),
    };
    if open.is_empty() {
        return None;
    }
    let n = open.len() as f64;
    let lat = open.iter().map(|p| p[1]).sum::<f64>() / n;
    let lon = open.iter().map(|p| p[0]).sum::<f64>() / n;
    Some((lat, lon))
}

/// What is wrong with a buildings file; `Display` is the admin's Chinese text with the file
/// name and the 1-based feature index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FootprintError {
    #[error("{file}：不是有效的 JSON（{detail}）")]
    NotJson { file: String, detail: String },
    #[error("{file}：不是 GeoJSON FeatureCollection")]
    NotCollection { file: String },
    #[error("{file}：没有任何要素")]
    Empty { file: String },
    #[error("{file} 第{index}个要素：{problem}")]
    Feature {
        file: String,
        /// 1-based.
        index: usize,
        problem: FeatureProblem,
    },
}

impl FootprintError {
    /// Machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            FootprintError::NotJson { .. } => "BUILDINGS_NOT_JSON",
            FootprintError::NotCollection { .. } => "BUILDINGS_NOT_COLLECTION",
            FootprintError::Empty { .. } => "BUILDINGS_EMPTY",
            FootprintError::Feature { problem, .. } => problem.code(),
        }
    }
}

/// What is wrong with one feature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureProblem {
    #[error("不是 GeoJSON Feature")]
    NotFeature,
    #[error("不是多边形")]
    NotPolygon,
    #[error("坐标应为 [经度, 纬度] 数组：{0}")]
    BadPosition(String),
    #[error("多边形未闭合（最后一个点须与第一个点相同）")]
    NotClosed,
    #[error("多边形至少需要 4 个点（含闭合点）")]
    TooFewPoints,
    #[error("缺少楼栋名称（properties 的 name 或 number）")]
    NoLabel,
    #[error("楼栋名称 {0} 重复")]
    DuplicateLabel(String),
    #[error("{0} 不在小区边界内")]
    OutsideEstate(String),
}

impl FeatureProblem {
    pub fn code(&self) -> &'static str {
        match self {
            FeatureProblem::NotFeature => "BUILDING_NOT_FEATURE",
            FeatureProblem::NotPolygon => "BUILDING_NOT_POLYGON",
            FeatureProblem::BadPosition(_) => "BUILDING_BAD_POSITION",
            FeatureProblem::NotClosed => "BUILDING_NOT_CLOSED",
            FeatureProblem::TooFewPoints => "BUILDING_TOO_FEW_POINTS",
            FeatureProblem::NoLabel => "BUILDING_NO_LABEL",
            FeatureProblem::DuplicateLabel(_) => "BUILDING_DUPLICATE_LABEL",
            FeatureProblem::OutsideEstate(_) => "BUILDING_OUTSIDE_ESTATE",
        }
    }
}

/// The label of a feature: `properties.name`, else `properties.number` (`3` or `"3"` → `3号楼`;
/// a number that already says 号楼/栋/座 is kept).
fn feature_label(feature: &Value) -> Option<String> {
    let props = feature.get("properties")?;
    if let Some(name) = props.get("name").and_then(Value::as_str) {
        let name = name.trim();
        if !name.is_empty() {
            return Some(name.to_owned());
        }
    }
    let number = match props.get("number")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if number.is_empty() {
        None
    } else if number.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("{number}号楼"))
    } else {
        Some(number)
    }
}

/// The rings of a Polygon geometry object, checked: positions `[lon, lat]` in range, each ring
/// closed with at least 4 positions.
fn polygon_rings(geometry: &Value) -> Result<Vec<Vec<[f64; 2]>>, FeatureProblem> {
    if geometry.get("type").and_then(Value::as_str) != Some("Polygon") {
        return Err(FeatureProblem::NotPolygon);
    }
    let rings = geometry
        .get("coordinates")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or(FeatureProblem::NotPolygon)?;
    let mut parsed_rings = Vec::with_capacity(rings.len());
    for ring in rings {
        let positions = ring.as_array().ok_or(FeatureProblem::NotPolygon)?;
        let mut parsed = Vec::with_capacity(positions.len());
        for position in positions {
            let pair = position
                .as_array()
                .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .and_then(|n| <[f64; 2]>::try_from(n.as_slice()).ok())
                .filter(|[lon, lat]| (-180.0..=180.0).contains(lon) && (-90.0..=90.0).contains(lat))
                .ok_or_else(|| FeatureProblem::BadPosition(position.to_string()))?;
            parsed.push(pair);
        }
        if parsed.len() < 4 {
            return Err(FeatureProblem::TooFewPoints);
        }
        if parsed.first() != parsed.last() {
            return Err(FeatureProblem::NotClosed);
        }
        parsed_rings.push(parsed);
    }
    Ok(parsed_rings)
}

/// Whether a footprint lies within or overlaps the estate boundary: one of its vertices or its
/// centre inside the boundary, or one boundary vertex inside the footprint.
fn overlaps(boundary: &Geometry, outline: &Geometry) -> bool {
    let vertices = |g: &Geometry| -> Vec<[f64; 2]> {
        match g {
            Geometry::Polygon(rings) => rings.iter().flatten().copied().collect(),
            Geometry::MultiPolygon(ps) => ps.iter().flatten().flatten().copied().collect(),
        }
    };
    vertices(outline)
        .iter()
        .any(|p| boundary.contains(p[1], p[0]))
        || outline_centre(outline).is_some_and(|(lat, lon)| boundary.contains(lat, lon))
        || vertices(boundary)
            .iter()
            .any(|p| outline.contains(p[1], p[0]))
}

/// Parses a buildings file for the estate with `boundary`. `file` names the file in errors.
/// The first problem stops the import (the admin fixes the file and uploads it again).
pub fn parse_buildings(
    file: &str,
    text: &str,
    boundary: &Geometry,
) -> Result<Vec<BuildingFootprint>, FootprintError> {
    let root: Value = serde_json::from_str(text).map_err(|e| FootprintError::NotJson {
        file: file.to_owned(),
        detail: e.to_string(),
    })?;
    if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(FootprintError::NotCollection {
            file: file.to_owned(),
        });
    }
    let features = root
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| FootprintError::NotCollection {
            file: file.to_owned(),
        })?;
    if features.is_empty() {
        return Err(FootprintError::Empty {
            file: file.to_owned(),
        });
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(features.len());
    for (i, feature) in features.iter().enumerate() {
        let fail = |problem| FootprintError::Feature {
            file: file.to_owned(),
            index: i + 1,
            problem,
        };
        if feature.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(fail(FeatureProblem::NotFeature));
        }
        let geometry = feature.get("geometry").unwrap_or(&Value::Null);
        let outline = Geometry::Polygon(polygon_rings(geometry).map_err(fail)?);
        let label = feature_label(feature).ok_or_else(|| fail(FeatureProblem::NoLabel))?;
        if !seen.insert(label.clone()) {
            return Err(fail(FeatureProblem::DuplicateLabel(label)));
        }
        if !overlaps(boundary, &outline) {
            return Err(fail(FeatureProblem::OutsideEstate(label)));
        }
        out.push(BuildingFootprint { label, outline });
    }
    Ok(out)
}

/// The estate's building list after importing `footprints`: the existing labels in their order,
/// then the new ones.
pub fn merged_labels(existing: &[String], footprints: &[BuildingFootprint]) -> Vec<String> {
    let mut labels = existing.to_vec();
    for f in footprints {
        if !labels.contains(&f.label) {
            labels.push(f.label.clone());
        }
    }
    labels
}

/// Replaces the estate's footprints with an imported set and adds their labels to its building
/// list (existing labels stay: cases may cite them).
pub fn apply_footprints(estate: &mut crate::estate::Estate, footprints: Vec<BuildingFootprint>) {
    estate.buildings = merged_labels(&estate.buildings, &footprints);
    estate.footprints = footprints;
}

/// Axis-aligned rectangle footprint around a centre, `w_m` × `h_m` metres (for demo data and
/// tests).
pub fn rectangle(label: &str, lat: f64, lon: f64, w_m: f64, h_m: f64) -> BuildingFootprint {
    let dlat = h_m / 2.0 / 111_320.0;
    let dlon = w_m / 2.0 / (111_320.0 * lat.to_radians().cos());
    BuildingFootprint {
        label: label.to_owned(),
        outline: Geometry::Polygon(vec![vec![
            [lon - dlon, lat - dlat],
            [lon + dlon, lat - dlat],
            [lon + dlon, lat + dlat],
            [lon - dlon, lat + dlat],
            [lon - dlon, lat - dlat],
        ]]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn boundary() -> Geometry {
        Geometry::Polygon(vec![vec![
            [117.19, 39.11],
            [117.20, 39.11],
            [117.20, 39.12],
            [117.19, 39.12],
            [117.19, 39.11],
        ]])
    }

    fn feature(props: Value, geometry: Value) -> Value {
        serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry})
    }

    fn square(lon: f64, lat: f64) -> Value {
        let d = 0.0002;
        serde_json::json!({"type": "Polygon", "coordinates": [[
            [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
    }

    fn collection(features: Vec<Value>) -> String {
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
    }

    #[test]
    fn good_file_imports_with_labels_from_name_or_number() {
        let text = collection(vec![
            feature(
                serde_json::json!({"name": "1号楼"}),
                square(117.191, 39.111),
            ),
            feature(serde_json::json!({"number": 3}), square(117.195, 39.115)),
            feature(
                serde_json::json!({"number": "5"}),
                square(117.1999, 39.1199),
            ),
        ]);
        let got = parse_buildings("b.geojson", &text, &boundary()).unwrap();
        let labels: Vec<&str> = got.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["1号楼", "3号楼", "5号楼"]);
        assert_eq!(
            merged_labels(&["2号楼".into(), "3号楼".into()], &got),
            ["2号楼", "3号楼", "1号楼", "5号楼"]
        );
    }

    #[test]
    fn bad_features_are_named_by_file_and_index() {
        let ok = || {
            feature(
                serde_json::json!({"name": "1号楼"}),
                square(117.191, 39.111),
            )
        };
        let point = feature(
            serde_json::json!({"name": "2号楼"}),
            serde_json::json!({"type": "Point", "coordinates": [117.191, 39.111]}),
        );
        let err = |features| {
            parse_buildings("buildings.geojson", &collection(features), &boundary()).unwrap_err()
        };
        let e = err(vec![
            ok(),
            feature(
                serde_json::json!({"name": "2号楼"}),
                square(117.192, 39.111),
            ),
            point,
        ]);
        assert_eq!(e.to_string(), "buildings.geojson 第3个要素：不是多边形");
        assert_eq!(e.code(), "BUILDING_NOT_POLYGON");
        let open = serde_json::json!({"type": "Polygon", "coordinates": [[
            [117.191, 39.111], [117.192, 39.111], [117.192, 39.112], [117.191, 39.112]]]});
        let e = err(vec![feature(serde_json::json!({"name": "9号楼"}), open)]);
        assert_eq!(
            e.to_string(),
            "buildings.geojson 第1个要素：多边形未闭合（最后一个点须与第一个点相同）"
        );
        let e = err(vec![ok(), ok()]);
        assert_eq!(
            e.to_string(),
            "buildings.geojson 第2个要素：楼栋名称 1号楼 重复"
        );
        let e = err(vec![feature(
            serde_json::json!({"name": "远楼"}),
            square(117.30, 39.11),
        )]);
        assert_eq!(
            e.to_string(),
            "buildings.geojson 第1个要素：远楼 不在小区边界内"
        );
        let e = err(vec![feature(
            serde_json::json!({}),
            square(117.191, 39.111),
        )]);
        assert_eq!(e.code(), "BUILDING_NO_LABEL");
        let swapped = serde_json::json!({"type": "Polygon", "coordinates": [[
            [39.111, 117.191], [39.112, 117.191], [39.112, 117.192], [39.111, 117.191]]]});
        let e = err(vec![feature(serde_json::json!({"name": "1号楼"}), swapped)]);
        assert_eq!(e.code(), "BUILDING_BAD_POSITION");
        assert_eq!(err(vec![]).code(), "BUILDINGS_EMPTY");
        let e = parse_buildings("x.json", "{", &boundary()).unwrap_err();
        assert!(e.to_string().starts_with("x.json：不是有效的 JSON"), "{e}");
    }

    #[test]
    fn a_footprint_larger_than_the_estate_still_overlaps_it() {
        let big = serde_json::json!({"type": "Polygon", "coordinates": [[
            [117.18, 39.10], [117.21, 39.10], [117.21, 39.13], [117.18, 39.13], [117.18, 39.10]]]});
        let text = collection(vec![feature(serde_json::json!({"name": "大楼"}), big)]);
        assert!(parse_buildings("b", &text, &boundary()).is_ok());
    }

    #[test]
    fn rectangle_is_closed_and_centred() {
        let r = rectangle("1号楼", 39.11, 117.19, 60.0, 12.0);
        let (lat, lon) = r.centre().unwrap();
        assert!((lat - 39.11).abs() < 1e-9 && (lon - 117.19).abs() < 1e-9);
        let Geometry::Polygon(rings) = &r.outline else {
            panic!()
        };
        assert_eq!(rings[0].first(), rings[0].last());
    }
}
