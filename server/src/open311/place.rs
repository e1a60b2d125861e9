//! Places an Open311 request in its estate: the managed estate whose boundary contains the point.

use chrono::{DateTime, Utc};
use xuncha_core::Estate;
use xuncha_core::geo::Geometry;

use crate::domain::Catalog;

/// An estate is managed from its entry until it exits long-term management (policy 二(四)).
pub fn is_managed(estate: &Estate, now: DateTime<Utc>) -> bool {
    estate.entered_at.is_none_or(|t| t <= now) && estate.exited_at.is_none_or(|t| t > now)
}

/// The managed estate containing the WGS-84 point. Demo boundaries never overlap; should imported
/// ones overlap, the smallest id wins so the answer does not depend on map order.
pub fn locate(catalog: &Catalog, lat: f64, lon: f64, now: DateTime<Utc>) -> Option<&Estate> {
    catalog
        .estates
        .values()
        .filter(|estate| is_managed(estate, now) && geometry_contains(&estate.boundary, lat, lon))
        .min_by(|a, b| a.id.cmp(&b.id))
}

/// Even-odd test over a GeoJSON Polygon / MultiPolygon: inside the outline and outside every hole.
pub fn geometry_contains(geometry: &Geometry, lat: f64, lon: f64) -> bool {
    match geometry {
        Geometry::Polygon(rings) => polygon_contains(rings, lat, lon),
        Geometry::MultiPolygon(polygons) => polygons
            .iter()
            .any(|rings| polygon_contains(rings, lat, lon)),
    }
}

fn polygon_contains(rings: &[Vec<[f64; 2]>], lat: f64, lon: f64) -> bool {
    let mut rings = rings.iter();
    match rings.next() {
        Some(outline) if ring_contains(outline, lat, lon) => {
            !rings.any(|hole| ring_contains(hole, lat, lon))
        }
        _ => false,
    }
}

fn ring_contains(ring: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let mut previous = match ring.last() {
        Some(p) => *p,
        None => return false,
    };
    for &[x, y] in ring {
        let [px, py] = previous;
        if (y > lat) != (py > lat) && lon < (px - x) * (lat - y) / (py - y) + x {
            inside = !inside;
        }
        previous = [x, y];
    }
    inside
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn square(west: f64, south: f64, east: f64, north: f64) -> Vec<[f64; 2]> {
        vec![
            [west, south],
            [east, south],
            [east, north],
            [west, north],
            [west, south],
        ]
    }

    #[test]
    fn holes_and_multipolygons() {
        let with_hole = Geometry::Polygon(vec![
            square(0.0, 0.0, 10.0, 10.0),
            square(4.0, 4.0, 6.0, 6.0),
        ]);
        assert!(geometry_contains(&with_hole, 2.0, 2.0));
        assert!(!geometry_contains(&with_hole, 5.0, 5.0));
        assert!(!geometry_contains(&with_hole, 11.0, 5.0));
        let two = Geometry::MultiPolygon(vec![
            vec![square(0.0, 0.0, 1.0, 1.0)],
            vec![square(5.0, 5.0, 6.0, 6.0)],
        ]);
        assert!(geometry_contains(&two, 5.5, 5.5));
        assert!(!geometry_contains(&two, 3.0, 3.0));
        assert!(!geometry_contains(&Geometry::Polygon(vec![]), 0.0, 0.0));
    }
}
