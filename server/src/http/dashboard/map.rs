//! The map page (issue 13): estates with their building footprints and the open cases, drawn
//! by the vendored Leaflet (`/dashboard/assets/vendor/leaflet/`, see `scripts/vendor-leaflet.sh`)
//! from the data this module puts in the page (`#map[data-map]`, read by `assets/map.js`).
//! Cases are grouped per building: one marker with a count at the building's footprint, listing
//! its cases; cases without a building are single markers.
//!
//! The base map is off unless the deployment configures one (`[map]` in the config:
//! 天地图 or an XYZ template); without it the page references no other host. Data is WGS-84;
//! for GCJ-02 tiles (高德) every coordinate is shifted with `geo::wgs84_to_gcj02` before it goes
//! into the page, 天地图 (CGCS2000 ≈ WGS-84) gets it unchanged.
//!
//! Without JavaScript (and in print) the inline SVG below stays: a local equirectangular
//! projection scaled by cos(latitude), exact enough at estate scale.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header;
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use serde::Serialize;
use uuid::Uuid;
use xuncha_core::buildings::outline_centre;
use xuncha_core::estate::Estate;
use xuncha_core::geo::{Geometry, wgs84_to_gcj02};
use xuncha_core::{Case, CaseStatus};

use super::error::WebError;
use super::layout::{CONTENT_SECURITY_POLICY, html_response, page};
use super::reader::ScopedReader;
use crate::config::{MapConfig, TileDatum, TileLayer};
use crate::http::app::AppState;

/// The map page: the user's estates, their buildings and their open cases.
pub async fn map_page(
    State(state): State<AppState>,
    reader: ScopedReader,
) -> Result<Response, WebError> {
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
    let data = map_data(&estates, &open, now, &state.config.map);
    let unplaced = open.len() - data.placed;
    let mut statuses: Vec<CaseStatus> = open.iter().map(|c| c.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let json = serde_json::to_string(&data).unwrap_or_default();
    let datum_note = match (data.tiles.is_empty(), data.datum) {
        (true, _) => "未配置底图，仅显示本系统矢量数据；坐标 WGS-84。",
        (false, "gcj02") => "底图为 GCJ-02 坐标系，数据已由 WGS-84 转换。",
        (false, _) => "底图坐标系 WGS-84/CGCS2000。",
    };
    let body = html! {
        p.meta {
            (estates.len()) " 个小区，" (open.len()) " 个在办案件（" (unplaced)
            " 个无定位且无楼栋轮廓，未标注）。同一楼栋的案件合并为一个带数字的标记，点击查看。" (datum_note)
        }
        link rel="stylesheet" href="/dashboard/assets/vendor/leaflet/leaflet.css";
        div #map .leaflet-map data-map=(json) aria-label="小区与案件地图" {}
        div.map-fallback { (render_map(&estates, &markers, 960.0, 600.0)) }
        (legend(&statuses))
        script src="/dashboard/assets/vendor/leaflet/leaflet.js" defer {}
        script src="/dashboard/assets/map.js" defer {}
    };
    let frame = reader.web().frame();
    let mut resp = html_response(page("小区与案件地图", "/dashboard/map", Some(&frame), body));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&data.tiles)) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    Ok(resp)
}

/// The page's CSP: the common one, with the tile hosts allowed as image sources (a `{s}` label
/// becomes `*`).
pub fn content_security_policy(tiles: &[TileLayer]) -> String {
    let mut hosts: Vec<String> = Vec::new();
    for tile in tiles {
        let Some((scheme, rest)) = tile.url.split_once("://") else {
            continue;
        };
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host
            .split('.')
            .map(|label| if label.contains("{s}") { "*" } else { label })
            .collect::<Vec<_>>()
            .join(".");
        let source = format!("{scheme}://{host}");
        if !hosts.contains(&source) {
            hosts.push(source);
        }
    }
    if hosts.is_empty() {
        return CONTENT_SECURITY_POLICY.to_owned();
    }
    CONTENT_SECURITY_POLICY.replacen(
        "img-src 'self' data:",
        &format!("img-src 'self' data: {}", hosts.join(" ")),
        1,
    )
}

/// What `assets/map.js` draws, positions `[lat, lng]` in the tiles' datum.
#[derive(Debug, Serialize)]
pub struct MapData {
    pub tiles: Vec<TileLayer>,
    pub datum: &'static str,
    pub estates: Vec<MapEstate>,
    pub groups: Vec<MapGroup>,
    /// Cases on the map (the rest have neither a location nor a building footprint).
    #[serde(skip)]
    pub placed: usize,
}

#[derive(Debug, Serialize)]
pub struct MapEstate {
    pub id: String,
    pub name: String,
    pub exited: bool,
    pub rings: Vec<Vec<[f64; 2]>>,
    pub buildings: Vec<MapBuilding>,
}

#[derive(Debug, Serialize)]
pub struct MapBuilding {
    pub label: String,
    pub rings: Vec<Vec<[f64; 2]>>,
}

/// One marker: a building's cases, or one case without a building.
#[derive(Debug, Serialize)]
pub struct MapGroup {
    pub lat: f64,
    pub lng: f64,
    /// `长春里 3号楼`, or the case's category for a single case.
    pub title: String,
    pub building: Option<String>,
    pub overdue: usize,
    pub colour: &'static str,
    pub cases: Vec<MapCase>,
}

#[derive(Debug, Serialize)]
pub struct MapCase {
    pub href: String,
    pub text: String,
    pub overdue: bool,
}

/// `[lat, lng]` of a WGS-84 position in the display datum.
fn shift(datum: TileDatum, lat: f64, lon: f64) -> [f64; 2] {
    match datum {
        TileDatum::Wgs84 => [lat, lon],
        TileDatum::Gcj02 => {
            let (lat, lon) = wgs84_to_gcj02(lat, lon);
            [lat, lon]
        }
    }
}

fn rings_latlng(datum: TileDatum, geometry: &Geometry) -> Vec<Vec<[f64; 2]>> {
    all_rings(geometry)
        .into_iter()
        .map(|ring| ring.iter().map(|p| shift(datum, p[1], p[0])).collect())
        .collect()
}

/// Builds the map's data: estates with footprints, cases grouped per building.
pub fn map_data(
    estates: &[Estate],
    open: &[&Case],
    now: chrono::DateTime<Utc>,
    config: &MapConfig,
) -> MapData {
    let datum = config.datum();
    let map_estates = estates
        .iter()
        .map(|e| MapEstate {
            id: e.id.clone(),
            name: e.name.clone(),
            exited: e.exited_at.is_some(),
            rings: rings_latlng(datum, &e.boundary),
            buildings: e
                .footprints
                .iter()
                .map(|f| MapBuilding {
                    label: f.label.clone(),
                    rings: rings_latlng(datum, &f.outline),
                })
                .collect(),
        })
        .collect();
    // Cases of one building, keyed by (estate, building); the rest one by one.
    let mut by_building: BTreeMap<(&str, &str), Vec<&Case>> = BTreeMap::new();
    let mut singles: Vec<&Case> = Vec::new();
    for case in open {
        match case
            .building
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            Some(b) => by_building
                .entry((case.estate_id.as_str(), b))
                .or_default()
                .push(case),
            None => singles.push(case),
        }
    }
    let map_case = |c: &Case| {
        let overdue = c.is_overdue(now);
        MapCase {
            href: format!("/dashboard/cases/{}", c.id),
            text: format!(
                "{} · {}{}",
                c.category.info().name_zh,
                c.status.name_zh(),
                if overdue { " · 已超期" } else { "" }
            ),
            overdue,
        }
    };
    let colour = |cases: &[&Case]| {
        if cases.iter().any(|c| c.is_overdue(now)) {
            OVERDUE_COLOUR
        } else {
            cases
                .iter()
                .map(|c| c.status)
                .min()
                .map_or("#7f7f7f", status_colour)
        }
    };
    let mut groups = Vec::new();
    let mut placed = 0;
    for ((estate_id, building), cases) in by_building {
        let estate = estates.iter().find(|e| e.id == estate_id);
        let footprint = estate.and_then(|e| e.footprints.iter().find(|f| f.label == building));
        // At the footprint's centre, else at the mean of the located cases.
        let located: Vec<(f64, f64)> = cases
            .iter()
            .filter_map(|c| c.location.as_ref().map(|g| (g.lat, g.lon)))
            .collect();
        let at = footprint.and_then(|f| f.centre()).or_else(|| {
            (!located.is_empty()).then(|| {
                let n = located.len() as f64;
                (
                    located.iter().map(|p| p.0).sum::<f64>() / n,
                    located.iter().map(|p| p.1).sum::<f64>() / n,
                )
            })
        });
        let Some((lat, lon)) = at else { continue };
        placed += cases.len();
        let [lat, lng] = shift(datum, lat, lon);
        groups.push(MapGroup {
            lat,
            lng,
            title: format!(
                "{} {building}",
                estate.map_or(estate_id, |e| e.name.as_str())
            ),
            building: Some(building.to_owned()),
            overdue: cases.iter().filter(|c| c.is_overdue(now)).count(),
            colour: colour(&cases),
            cases: cases.iter().map(|c| map_case(c)).collect(),
        });
    }
    for case in singles {
        let Some(g) = case.location.as_ref() else {
            continue;
        };
        placed += 1;
        let [lat, lng] = shift(datum, g.lat, g.lon);
        groups.push(MapGroup {
            lat,
            lng,
            title: case.category.info().name_zh.to_owned(),
            building: None,
            overdue: usize::from(case.is_overdue(now)),
            colour: colour(&[case]),
            cases: vec![map_case(case)],
        });
    }
    MapData {
        tiles: config.tile_layers(),
        datum: match datum {
            TileDatum::Wgs84 => "wgs84",
            TileDatum::Gcj02 => "gcj02",
        },
        estates: map_estates,
        groups,
        placed,
    }
}

/// Ring colour of overdue markers.
pub const OVERDUE_COLOUR: &str = "#d62728";

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
                @if let Some((lat, lon)) = outline_centre(&estate.boundary) {
                    @let (x, y) = proj.xy(lat, lon);
                    text.estate-label x=(px(x)) y=(px(y)) text-anchor="middle" { (estate.name) }
                }
                @for building in &estate.footprints {
                    path.building d=(path_data(&proj, &building.outline)) { title { (building.label) } }
                    @if let Some((lat, lon)) = building.centre() {
                        @let (x, y) = proj.xy(lat, lon);
                        text.building-label x=(px(x)) y=(px(y)) text-anchor="middle" { (building.label) }
                    }
                }
            }
            @for marker in markers { (marker_dot(&proj, marker)) }
        }
    }
}

fn marker_dot(proj: &Projection, marker: &Marker) -> Markup {
    let (x, y) = proj.xy(marker.lat, marker.lon);
    let (stroke, stroke_width) = if marker.overdue {
        (OVERDUE_COLOUR, "3")
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
