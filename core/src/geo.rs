//! Geometry on the WGS-84 ellipsoid: GPS fixes, GeoJSON boundaries, GCJ-02 for Chinese map SDKs.
//! Coordinates are stored WGS-84; GCJ-02 is only ever produced for display.

use serde::{Deserialize, Serialize};

/// A position fix from the phone, WGS-84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpsFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy in metres (68 % radius), as the phone reports it.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    /// `gps`, `network`, `fused`, …
    #[serde(default)]
    pub provider: Option<String>,
}

/// A GeoJSON geometry of the kinds estate boundaries use. Positions are `[lon, lat]`, WGS-84;
/// the first ring of a polygon is its outline, later rings are holes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "coordinates")]
pub enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}
