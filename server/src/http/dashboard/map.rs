//! Vector map of estates and case markers, drawn as inline SVG from our own data: no tile server
//! is reachable on government networks. Positions stay WGS-84 (GCJ-02 only matters on top of
//! Chinese basemaps, and there is none here); a local equirectangular projection scaled by
//! cos(latitude) is exact enough at estate scale (a few kilometres).

use std::fmt::Write as _;

use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use uuid::Uuid;
use xuncha_core::estate::Estate;
use xuncha_core::geo::Geometry;
use xuncha_core::{Case, CaseStatus};

use super::error::WebError;
use super::layout::{html_response, page};
use super::reader::ScopedReader;

/// The map page: the user's estates and their open cases.
pub async fn map_page(reader: ScopedReader) -> Result<Response, WebError> {
    let mut query = reader.query();
    query.open = Some(true);
    let rows = reader.all(query).await?;
    let estates = reader.estates();
    let now = Utc::now();
    let open: Vec<&Case> = rows
        .iter()
        .map(|r| &r.case)
        .filter(|c| c.status.is_open())
        .collect();
    let markers: Vec<Marker> = open
        .iter()
        .filter_map(|c| {
            let g = c.location.as_ref()?;
            Some(Marker {
                case_id: c.id,
                lat: g.lat,
                lon: g.lon,
                status: c.status,
                overdue: c.is_overdue(now),
                label: c.category.info().name_zh.to_owned(),
            })
        })
        .collect();
    let unlocated = open.len() - markers.len();
    let mut statuses: Vec<CaseStatus> = open.iter().map(|c| c.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let body = html! {
        p.meta {
            (estates.len()) " 个小区，" (open.len()) " 个在办案件（" (unlocated)
            " 个无定位未标注）。地图由本系统矢量数据绘制，坐标 WGS-84。"
        }
        (render_map(&estates, &markers, 960.0, 600.0))
        (legend(&statuses))
    };
    let frame = reader.web().frame();
    Ok(html_response(page(
        "小区与案件地图",
        "/dashboard/map",
        Some(&frame),
        body,
    )))
}

/// One case on the map.
pub struct Marker {
    pub case_id: Uuid,
    pub lat: f64,
    pub lon: f64,
    pub status: CaseStatus,
    pub overdue: bool,
    /// Tooltip text (category, estate …).
    pub label: String,
}

/// Fill colour for a case status; the legend and the queue badges use the same table.
pub fn status_colour(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Reported => "#1f77b4",
        CaseStatus::Escalated => "#9467bd",
        CaseStatus::Dispatched => "#ff7f0e",
        CaseStatus::Accepted => "#e6b800",
        CaseStatus::Handled => "#17becf",
        CaseStatus::Reopened => "#8c564b",
        CaseStatus::Returned => "#e377c2",
        CaseStatus::ResolvedOnSite | CaseStatus::Closed => "#2ca02c",
        CaseStatus::Cancelled => "#7f7f7f",
    }
}

/// Outer rings of a boundary, `[lon, lat]`.
fn outer_rings(geometry: &Geometry) -> Vec<&[[f64; 2]]> {
    match geometry {
        Geometry::Polygon(rings) => rings.first().map(|r| r.as_slice()).into_iter().collect(),
        Geometry::MultiPolygon(polygons) => polygons
            .iter()
            .filter_map(|rings| rings.first().map(|r| r.as_slice()))
            .collect(),
    }
}

/// All rings (outlines and holes), for drawing with the even-odd rule.
fn all_rings(geometry: &Geometry) -> Vec<&[[f64; 2]]> {
    match geometry {
        Geometry::Polygon(rings) => rings.iter().map(|r| r.as_slice()).collect(),
        Geometry::MultiPolygon(polygons) => polygons
            .iter()
            .flat_map(|rings| rings.iter().map(|r| r.as_slice()))
            .collect(),
    }
}

/// Maps WGS-84 onto the SVG canvas, fitted to a bounding box with a margin.
struct Projection {
    min_lon: f64,
    max_lat: f64,
    cos_lat: f64,
    scale: f64,
    offset_x: f64,
    offset_y: f64,
}

impl Projection {
    fn fit(points: &[(f64, f64)], width: f64, height: f64, margin: f64) -> Option<Projection> {
        let (mut min_lon, mut max_lon) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut min_lat, mut max_lat) = (f64::INFINITY, f64::NEG_INFINITY);
        for &(lat, lon) in points {
            if !lat.is_finite() || !lon.is_finite() {
                continue;
            }
            min_lon = min_lon.min(lon);
            max_lon = max_lon.max(lon);
            min_lat = min_lat.min(lat);
            max_lat = max_lat.max(lat);
        }
        if !min_lon.is_finite() {
            return None;
        }
        let cos_lat = ((min_lat + max_lat) / 2.0).to_radians().cos();
        // A single point still gets a sensible ~200 m window.
        let span_x = ((max_lon - min_lon) * cos_lat).max(0.002);
        let span_y = (max_lat - min_lat).max(0.002);
        let scale = ((width - 2.0 * margin) / span_x).min((height - 2.0 * margin) / span_y);
        // Centre the drawn content (zero-sized for a single point) on the canvas.
        let content_w = (max_lon - min_lon) * cos_lat * scale;
        let content_h = (max_lat - min_lat) * scale;
        Some(Projection {
            min_lon,
            max_lat,
            cos_lat,
            scale,
            offset_x: (width - content_w) / 2.0,
            offset_y: (height - content_h) / 2.0,
        })
    }

    fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            self.offset_x + (lon - self.min_lon) * self.cos_lat * self.scale,
            self.offset_y + (self.max_lat - lat) * self.scale,
        )
    }
}

/// A coordinate on the canvas, to one decimal.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// SVG path data for all rings of a boundary (outlines and holes).
fn path_data(proj: &Projection, boundary: &Geometry) -> String {
    let mut d = String::new();
    for ring in all_rings(boundary) {
        for (i, p) in ring.iter().enumerate() {
            let (x, y) = proj.xy(p[1], p[0]);
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        d.push('Z');
    }
    d
}

/// Where an estate's name goes: the mean of its first outer ring's vertices.
fn label_point(estate: &Estate) -> Option<(f64, f64)> {
    let ring = *outer_rings(&estate.boundary).first()?;
    // A closed ring repeats its first vertex; count it once.
    let open = match ring.split_last() {
        Some((last, rest)) if Some(last) == rest.first() => rest,
        _ => ring,
    };
    let n = open.len().max(1) as f64;
    let lat = open.iter().map(|p| p[1]).sum::<f64>() / n;
    let lon = open.iter().map(|p| p[0]).sum::<f64>() / n;
    Some((lat, lon))
}

/// The SVG map: estate boundaries with names, then markers on top (overdue ones ringed in red),
/// each marker linking to its case. Returns a placeholder text when there is nothing to draw.
pub fn render_map(estates: &[Estate], markers: &[Marker], width: f64, height: f64) -> Markup {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for estate in estates {
        for ring in outer_rings(&estate.boundary) {
            points.extend(ring.iter().map(|p| (p[1], p[0])));
        }
    }
    points.extend(markers.iter().map(|m| (m.lat, m.lon)));
    let Some(proj) = Projection::fit(&points, width, height, 40.0) else {
        return html! { p.empty { "没有可显示的小区或案件。" } };
    };
    html! {
        svg.map xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) role="img" aria-label="小区与案件地图" {
            rect width="100%" height="100%" fill="#f4f1ea" {}
            @for estate in estates {
                path class=(if estate.exited_at.is_some() { "estate exited" } else { "estate" })
                    d=(path_data(&proj, &estate.boundary)) fill-rule="evenodd" {
                    title { (estate.name) " · " (estate.street) " · " (estate.community) }
                }
                @if let Some((lat, lon)) = label_point(estate) {
                    @let (x, y) = proj.xy(lat, lon);
                    text.estate-label x=(px(x)) y=(px(y)) text-anchor="middle" { (estate.name) }
                }
            }
            @for marker in markers { (marker_dot(&proj, marker)) }
        }
    }
}

fn marker_dot(proj: &Projection, marker: &Marker) -> Markup {
    let (x, y) = proj.xy(marker.lat, marker.lon);
    let (stroke, stroke_width) = if marker.overdue {
        ("#d62728", "3")
    } else {
        ("#ffffff", "1.5")
    };
    html! {
        a href={ "/dashboard/cases/" (marker.case_id) } {
            circle.marker data-status=(marker.status.code()) cx=(px(x)) cy=(px(y)) r="7"
                fill=(status_colour(marker.status)) stroke=(stroke) stroke-width=(stroke_width) {
                title {
                    (marker.label) " · " (marker.status.name_zh())
                    @if marker.overdue { " · 已超期" }
                }
            }
        }
    }
}

/// The colour legend under the map.
pub fn legend(statuses: &[CaseStatus]) -> Markup {
    html! {
        ul.legend {
            @for status in statuses {
                li { span.dot style={ "background:" (status_colour(*status)) } {} (status.name_zh()) }
            }
            li { span.dot.overdue {} "红圈 = 已超期" }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn square(id: &str, lat: f64, lon: f64) -> Estate {
        let d = 0.001;
        let mut estate = crate::http::dashboard::fixtures::estate(id, "长春里社区");
        estate.boundary = Geometry::Polygon(vec![vec![
            [lon - d, lat - d],
            [lon + d, lat - d],
            [lon + d, lat + d],
            [lon - d, lat + d],
            [lon - d, lat - d],
        ]]);
        estate
    }

    fn numbers_after(svg: &str, key: &str) -> Vec<f64> {
        svg.match_indices(key)
            .filter_map(|(i, _)| {
                let rest = &svg[i + key.len()..];
                rest.split('"').next()?.parse().ok()
            })
            .collect()
    }

    #[test]
    fn markers_land_inside_the_canvas_north_up_east_right() {
        let estates = vec![
            square("a", 39.1135, 117.1930),
            square("b", 39.0980, 117.2120),
        ];
        let markers = vec![
            Marker {
                case_id: Uuid::nil(),
                lat: 39.1135,
                lon: 117.1930,
                status: CaseStatus::Dispatched,
                overdue: true,
                label: "north-west".into(),
            },
            Marker {
                case_id: Uuid::max(),
                lat: 39.0980,
                lon: 117.2120,
                status: CaseStatus::Reported,
                overdue: false,
                label: "south-east".into(),
            },
        ];
        let svg = render_map(&estates, &markers, 800.0, 500.0).into_string();
        let xs = numbers_after(&svg, "cx=\"");
        let ys = numbers_after(&svg, "cy=\"");
        assert_eq!(xs.len(), 2);
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!(
                (0.0..=800.0).contains(&x) && (0.0..=500.0).contains(&y),
                "{x},{y}"
            );
        }
        assert!(xs[0] < xs[1], "west is left");
        assert!(ys[0] < ys[1], "north is up");
        assert!(svg.contains("stroke=\"#d62728\""), "overdue ring");
        assert!(svg.contains("已超期"));
        assert!(svg.contains(&format!("/dashboard/cases/{}", Uuid::max())));
        assert_eq!(svg.matches("<path class=\"estate").count(), 2);
    }

    #[test]
    fn empty_map_says_so() {
        assert!(
            render_map(&[], &[], 800.0, 500.0)
                .into_string()
                .contains("没有可显示")
        );
    }

    #[test]
    fn single_point_is_centred() {
        let markers = vec![Marker {
            case_id: Uuid::nil(),
            lat: 39.1,
            lon: 117.2,
            status: CaseStatus::Reported,
            overdue: false,
            label: String::new(),
        }];
        let svg = render_map(&[], &markers, 800.0, 500.0).into_string();
        assert_eq!(numbers_after(&svg, "cx=\""), vec![400.0]);
        assert_eq!(numbers_after(&svg, "cy=\""), vec![250.0]);
    }
}
