//! Geometry on the WGS-84 ellipsoid: GPS fixes, GeoJSON boundaries, GCJ-02 for Chinese map SDKs.
//! Coordinates are stored WGS-84; GCJ-02 is only ever produced for display.

use serde::{Deserialize, Serialize};

/// A position fix from the phone, WGS-84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Krasovsky 1940 ellipsoid, which GCJ-02's published algorithm uses.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

/// GCJ-02 only offsets points inside this rough box around China; outside it is WGS-84.
fn outside_china(lat: f64, lon: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn offset_lon(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 → GCJ-02 (the offset Chinese map SDKs expect), the standard published algorithm.
/// Returns `(lat, lon)`; points outside China come back unchanged.
pub fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    if !lat.is_finite() || !lon.is_finite() || outside_china(lat, lon) {
        return (lat, lon);
    }
    let d_lat = offset_lat(lon - 105.0, lat - 35.0);
    let d_lon = offset_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat =
        (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (lat + d_lat, lon + d_lon)
}

/// GCJ-02 → WGS-84 by fixed-point iteration on [`wgs84_to_gcj02`] (the offset varies slowly, so
/// a few steps reach well under a millimetre). Returns `(lat, lon)`.
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    if !lat.is_finite() || !lon.is_finite() || outside_china(lat, lon) {
        return (lat, lon);
    }
    let (mut w_lat, mut w_lon) = (lat, lon);
    for _ in 0..30 {
        let (g_lat, g_lon) = wgs84_to_gcj02(w_lat, w_lon);
        let (e_lat, e_lon) = (lat - g_lat, lon - g_lon);
        w_lat += e_lat;
        w_lon += e_lon;
        if e_lat.abs() < 1e-11 && e_lon.abs() < 1e-11 {
            break;
        }
    }
    (w_lat, w_lon)
}

/// Great-circle distance in metres between two WGS-84 points (haversine, mean Earth radius).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let d_lat = p2 - p1;
    let d_lon = (lon2 - lon1).to_radians();
    let a = (d_lat / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().clamp(0.0, 1.0).asin()
}

/// Even-odd ray casting over one ring of `[lon, lat]` positions (closed or not).
fn ring_contains(ring: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let [xi, yi] = ring[i];
        let [xj, yj] = ring[j];
        if (yi > lat) != (yj > lat) {
            let x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi);
            if lon < x_cross {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Inside the outline and outside every hole.
fn polygon_contains(rings: &[Vec<[f64; 2]>], lat: f64, lon: f64) -> bool {
    match rings.split_first() {
        Some((outline, holes)) => {
            ring_contains(outline, lat, lon) && !holes.iter().any(|h| ring_contains(h, lat, lon))
        }
        None => false,
    }
}

impl Geometry {
    /// Whether a WGS-84 point lies inside (holes excluded; any part of a MultiPolygon counts).
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        if !lat.is_finite() || !lon.is_finite() {
            return false;
        }
        match self {
            Geometry::Polygon(rings) => polygon_contains(rings, lat, lon),
            Geometry::MultiPolygon(polygons) => {
                polygons.iter().any(|p| polygon_contains(p, lat, lon))
            }
        }
    }
}

/// Where an on-site verification (核查, DESIGN: "inspector verifies on site, photo + GPS") may
/// stand: inside the estate's boundary, or at most `max_distance_m` metres from the case's
/// reported location. Non-finite coordinates stand nowhere. The server refuses a VERIFY
/// elsewhere (`VERIFY_LOCATION_OUTSIDE`); the phone can warn with the same rule.
pub fn verification_place_ok(
    boundary: &Geometry,
    case_location: Option<&GpsFix>,
    fix: &GpsFix,
    max_distance_m: f64,
) -> bool {
    if !fix.lat.is_finite() || !fix.lon.is_finite() {
        return false;
    }
    boundary.contains(fix.lat, fix.lon)
        || case_location.is_some_and(|at| {
            at.lat.is_finite()
                && at.lon.is_finite()
                && haversine_m(at.lat, at.lon, fix.lat, fix.lon) <= max_distance_m
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Published reference pairs (WGS-84 → GCJ-02), as `(lat, lon, gcj_lat, gcj_lon)`:
    /// - wandergis/coordtransform `test/app.js`: wgs84togcj02(116.404, 39.915)
    ///   = [116.41024449916938, 39.91640428150164] (the same pair is in coordtransform-rs tests
    ///   and hutool's CoordinateUtilTest);
    /// - a geoToolbox pytest: (40.0, 116.0) → (40.001213650174, 116.006141221789);
    /// - a geotool CLI test: (30.6107779, 121.0917077) → (30.608604331756705, 121.09626935575027);
    /// - cuihw/collection PositionUtilTest: (34.829793, 113.647881) → (34.8287280094783, 113.65396374215176).
    const REFERENCE: [(f64, f64, f64, f64); 4] = [
        (39.915, 116.404, 39.91640428150164, 116.41024449916938),
        (40.0, 116.0, 40.001213650174, 116.006141221789),
        (
            30.6107779,
            121.0917077,
            30.608604331756705,
            121.09626935575027,
        ),
        (34.829793, 113.647881, 34.8287280094783, 113.65396374215176),
    ];

    #[test]
    fn gcj02_matches_published_reference_pairs() {
        // The coordtransform pair is matched to the last bit of a double.
        assert_eq!(
            wgs84_to_gcj02(39.915, 116.404),
            (39.91640428150164, 116.41024449916938)
        );
        for (lat, lon, g_lat, g_lon) in REFERENCE {
            let (a, b) = wgs84_to_gcj02(lat, lon);
            // Implementations differ in float details and constants' last digits: agree within 2 cm.
            let off = haversine_m(a, b, g_lat, g_lon);
            assert!(
                off < 0.02,
                "({lat},{lon}) -> ({a},{b}), {off} m from the reference"
            );
            let (w_lat, w_lon) = gcj02_to_wgs84(g_lat, g_lon);
            assert!(
                haversine_m(lat, lon, w_lat, w_lon) < 0.01,
                "inverse of ({g_lat},{g_lon})"
            );
        }
    }

    #[test]
    fn verification_stands_inside_the_estate_or_near_the_case() {
        // A 0.002° square around (39.1135, 117.1930).
        let boundary = Geometry::Polygon(vec![vec![
            [117.192, 39.1125],
            [117.194, 39.1125],
            [117.194, 39.1145],
            [117.192, 39.1145],
        ]]);
        let fix = |lat: f64, lon: f64| GpsFix {
            lat,
            lon,
            accuracy_m: Some(5.0),
            provider: None,
        };
        let case = fix(39.1146, 117.1930);
        // Inside the boundary, whatever the case location.
        assert!(verification_place_ok(
            &boundary,
            None,
            &fix(39.1135, 117.1930),
            100.0
        ));
        // Outside the boundary but 55 m from the case (just north of it).
        assert!(verification_place_ok(
            &boundary,
            Some(&case),
            &fix(39.1151, 117.1930),
            100.0
        ));
        assert!(!verification_place_ok(
            &boundary,
            Some(&case),
            &fix(39.1151, 117.1930),
            50.0
        ));
        // Far from both, (0, 0), and non-finite points stand nowhere.
        assert!(!verification_place_ok(
            &boundary,
            Some(&case),
            &fix(39.1315, 117.1930),
            100.0
        ));
        assert!(!verification_place_ok(
            &boundary,
            Some(&case),
            &fix(0.0, 0.0),
            100.0
        ));
        assert!(!verification_place_ok(
            &boundary,
            Some(&case),
            &fix(f64::NAN, 117.1930),
            f64::INFINITY
        ));
    }

    #[test]
    fn round_trip_under_half_a_metre_across_tianjin() {
        // Tianjin municipality spans roughly 38.55–40.25 N, 116.70–118.05 E.
        let mut worst: f64 = 0.0;
        for i in 0..=40 {
            for j in 0..=40 {
                let lat = 38.55 + 1.70 * f64::from(i) / 40.0;
                let lon = 116.70 + 1.35 * f64::from(j) / 40.0;
                let (g_lat, g_lon) = wgs84_to_gcj02(lat, lon);
                let shift = haversine_m(lat, lon, g_lat, g_lon);
                assert!(
                    (100.0..1000.0).contains(&shift),
                    "GCJ-02 shifts Tianjin by hundreds of metres, got {shift}"
                );
                let (w_lat, w_lon) = gcj02_to_wgs84(g_lat, g_lon);
                worst = worst.max(haversine_m(lat, lon, w_lat, w_lon));
            }
        }
        println!("GCJ-02 round trip over Tianjin: worst {worst:e} m");
        assert!(worst < 0.5, "worst round trip {worst} m");
    }

    #[test]
    fn outside_china_is_unchanged() {
        assert_eq!(wgs84_to_gcj02(51.5, -0.12), (51.5, -0.12));
        assert_eq!(gcj02_to_wgs84(35.68, 139.76), (35.68, 139.76));
        let (lat, _) = wgs84_to_gcj02(f64::NAN, 117.0);
        assert!(lat.is_nan());
    }

    #[test]
    fn haversine_known_distances() {
        assert!(haversine_m(39.1, 117.2, 39.1, 117.2).abs() < 1e-9);
        // One degree of latitude on the mean sphere is 111.195 km.
        assert!((haversine_m(39.0, 117.0, 40.0, 117.0) - 111_195.08).abs() < 1.0);
        // Tianjin Station to Beijing South, about 113 km.
        let d = haversine_m(39.1365, 117.2095, 39.8652, 116.3786);
        assert!((105_000.0..120_000.0).contains(&d), "{d}");
    }

    fn square(lat: f64, lon: f64, half: f64) -> Vec<[f64; 2]> {
        vec![
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
            [lon - half, lat - half],
        ]
    }

    #[test]
    fn polygon_with_hole() {
        let g = Geometry::Polygon(vec![square(39.1, 117.2, 0.01), square(39.1, 117.2, 0.002)]);
        assert!(g.contains(39.105, 117.205), "in the ring");
        assert!(!g.contains(39.1, 117.2), "in the hole");
        assert!(!g.contains(39.2, 117.2), "outside");
        assert!(!g.contains(f64::NAN, 117.2));
        assert!(!Geometry::Polygon(vec![]).contains(39.1, 117.2));
    }

    #[test]
    fn multipolygon_any_part_counts_and_holes_still_exclude() {
        let g = Geometry::MultiPolygon(vec![
            vec![square(39.1, 117.2, 0.01), square(39.1, 117.2, 0.002)],
            vec![square(39.2, 117.3, 0.005)],
        ]);
        assert!(g.contains(39.2, 117.3));
        assert!(g.contains(39.108, 117.2));
        assert!(!g.contains(39.1, 117.2));
        assert!(!g.contains(39.15, 117.25));
        let json = serde_json::to_string(&g).unwrap();
        assert!(
            json.starts_with(r#"{"type":"MultiPolygon","coordinates":[[[["#),
            "{json}"
        );
        // serde_json's default float parser may move the last bit; the shape is what must survive.
        let back: Geometry = serde_json::from_str(&json).unwrap();
        assert!(matches!(&back, Geometry::MultiPolygon(p) if p.len() == 2 && p[0].len() == 2));
        assert!(back.contains(39.2, 117.3) && !back.contains(39.1, 117.2));
    }

    #[test]
    fn demo_estates_contain_their_points_and_do_not_overlap() {
        let estates = crate::demo::estates().unwrap();
        let points = [
            ("changchunli", 39.1135, 117.1930),
            ("pingshandao", 39.0980, 117.2120),
            ("heyuanbeili", 39.1050, 117.1680),
        ];
        for (id, lat, lon) in points {
            for e in &estates {
                assert_eq!(
                    e.boundary.contains(lat, lon),
                    e.id == id,
                    "{id} point vs {}",
                    e.id
                );
            }
        }
        // No vertex of one boundary lies in another (the rings are convex-ish and km apart).
        for a in &estates {
            let Geometry::Polygon(rings) = &a.boundary else {
                panic!("demo boundaries are polygons")
            };
            for b in estates.iter().filter(|b| b.id != a.id) {
                assert!(
                    !rings[0]
                        .iter()
                        .any(|&[lon, lat]| b.boundary.contains(lat, lon)),
                    "{} overlaps {}",
                    a.id,
                    b.id
                );
            }
        }
    }
}
