//! Coordinates for map SDKs. Stored and synced positions are WGS-84; Chinese map SDKs (AMap,
//! Tencent) draw in GCJ-02, so the app converts only what it shows.

use xuncha_core::geo;

use crate::records::LatLon;

/// WGS-84 → GCJ-02 (identity outside mainland China, as the core defines it).
#[uniffi::export]
pub fn wgs84_to_gcj02(lat: f64, lon: f64) -> LatLon {
    let (lat, lon) = geo::wgs84_to_gcj02(lat, lon);
    LatLon { lat, lon }
}

/// GCJ-02 → WGS-84, e.g. for a point the user picked on a Chinese map.
#[uniffi::export]
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> LatLon {
    let (lat, lon) = geo::gcj02_to_wgs84(lat, lon);
    LatLon { lat, lon }
}

/// Distance in metres between two WGS-84 points.
#[uniffi::export]
pub fn distance_m(from: LatLon, to: LatLon) -> f64 {
    geo::haversine_m(from.lat, from.lon, to.lat, to.lon)
}

/// Beijing time for display, e.g. `2026-11-27 16:58` (times cross the FFI as UTC instants).
#[uniffi::export]
pub fn format_beijing_time(at: std::time::SystemTime) -> String {
    xuncha_core::time::format_local(at.into())
}
