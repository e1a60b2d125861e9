//! Places an Open311 request in its estate: the managed estate whose boundary contains the point
//! (the core's `Geometry::contains`, the same test the phones run).

use chrono::{DateTime, Utc};
use xuncha_core::Estate;

use crate::policy::catalog::Catalog;

/// An estate is managed from its entry until it exits long-term management (policy 二(四)).
pub fn is_managed(estate: &Estate, now: DateTime<Utc>) -> bool {
    estate.entered_at.is_none_or(|t| t <= now) && estate.exited_at.is_none_or(|t| t > now)
}

/// The managed estate containing the WGS-84 point. Demo boundaries never overlap; should imported
/// ones overlap, the smallest id wins so the answer does not depend on map order.
pub fn locate(catalog: &Catalog, lat: f64, lon: f64, now: DateTime<Utc>) -> Option<&Estate> {
    catalog
        .estates()
        .values()
        .filter(|estate| is_managed(estate, now) && estate.boundary.contains(lat, lon))
        .min_by(|a, b| a.id.cmp(&b.id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn demo_points_land_in_their_estates_and_exited_estates_are_skipped() {
        let mut estates: std::collections::HashMap<_, _> = xuncha_core::demo::estates()
            .unwrap()
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let catalog = Catalog::new(estates.clone(), Vec::new(), None);
        let now = Utc::now();
        for (lat, lon, id) in [
            (39.1135, 117.1930, "changchunli"),
            (39.0980, 117.2120, "pingshandao"),
            (39.1050, 117.1680, "heyuanbeili"),
        ] {
            assert_eq!(locate(&catalog, lat, lon, now).unwrap().id, id);
        }
        assert!(locate(&catalog, 39.2, 117.0, now).is_none());
        let estate = estates.get_mut("changchunli").unwrap();
        estate.exited_at = Some(now - chrono::Duration::days(1));
        estate.exit_reason = Some("撤销".to_owned());
        let catalog = Catalog::new(estates, Vec::new(), None);
        assert!(
            locate(&catalog, 39.1135, 117.1930, now).is_none(),
            "an exited estate is not managed"
        );
    }
}
