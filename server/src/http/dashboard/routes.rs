//! The dashboard's routes, merged into the server's router by one line in `app::router`, and the
//! two local assets (no CDN: the CSP allows only this origin).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::session::SessionStore;
use super::{case, estates, kpi, login, map, meeting, queue, slip};
use crate::http::app::AppState;

/// Form fields besides the photo in an action form.
const ACTION_FORM_OVERHEAD: usize = 64 * 1024;

const CSS: &str = include_str!("../../../assets/app.css");
const JS: &str = include_str!("../../../assets/app.js");
const MAP_JS: &str = include_str!("../../../assets/map.js");
/// Leaflet 1.9.4, vendored by `scripts/vendor-leaflet.sh` (BSD-2-Clause, LICENSE beside it).
const LEAFLET_JS: &str = include_str!("../../../assets/vendor/leaflet/leaflet.js");
const LEAFLET_CSS: &str = include_str!("../../../assets/vendor/leaflet/leaflet.css");
const LEAFLET_IMAGES: [(&str, &[u8]); 5] = [
    (
        "layers.png",
        include_bytes!("../../../assets/vendor/leaflet/images/layers.png"),
    ),
    (
        "layers-2x.png",
        include_bytes!("../../../assets/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "marker-icon.png",
        include_bytes!("../../../assets/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "marker-icon-2x.png",
        include_bytes!("../../../assets/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "marker-shadow.png",
        include_bytes!("../../../assets/vendor/leaflet/images/marker-shadow.png"),
    ),
];

/// All `/dashboard/...` routes over the server's state; the server merges them with
/// `.merge(crate::http::dashboard::router(&state))`. Browser sessions live in the router's
/// extension.
pub fn router(state: &AppState) -> Router<AppState> {
    let photo_limit = usize::try_from(state.config.limits.photo_bytes).unwrap_or(usize::MAX);
    Router::new()
        // The server's root is where a person lands first: send them to the dashboard (the
        // dashboard itself asks for sign-in, so the redirect reveals nothing).
        .route("/", get(root))
        .route("/dashboard", get(home))
        .route("/dashboard/", get(home))
        .route("/dashboard/assets/app.css", get(asset_css))
        .route("/dashboard/assets/app.js", get(asset_js))
        .route(
            "/dashboard/assets/map.js",
            get(|| async { asset(MAP_JS, JS_TYPE) }),
        )
        .route(
            "/dashboard/assets/vendor/leaflet/leaflet.js",
            get(|| async { asset(LEAFLET_JS, JS_TYPE) }),
        )
        .route(
            "/dashboard/assets/vendor/leaflet/leaflet.css",
            get(|| async { asset(LEAFLET_CSS, CSS_TYPE) }),
        )
        .route(
            "/dashboard/assets/vendor/leaflet/images/{name}",
            get(leaflet_image),
        )
        .route(
            "/dashboard/login",
            get(login::login_form).post(login::login),
        )
        // Signing out is a POST with the CSRF token; a GET (a typed or followed link) only goes
        // back to the dashboard, so a link elsewhere cannot sign anyone out.
        .route("/dashboard/logout", get(home).post(login::logout))
        .route("/dashboard/cases", get(queue::queue_page))
        .route("/dashboard/cases.csv", get(queue::queue_csv))
        .route("/dashboard/cases.xlsx", get(queue::queue_xlsx))
        .route("/dashboard/cases/{id}", get(case::case_page))
        .route("/dashboard/cases/{id}/slip", get(slip::slip_page))
        .route(
            "/dashboard/cases/{id}/actions",
            post(case::case_action).layer(DefaultBodyLimit::max(
                photo_limit.saturating_add(ACTION_FORM_OVERHEAD),
            )),
        )
        .route("/dashboard/photos/{sha256}", get(case::photo))
        .route("/dashboard/photos/{sha256}/thumb", get(case::photo_thumb))
        .route("/dashboard/map", get(map::map_page))
        .route("/dashboard/kpi", get(kpi::kpi_page))
        .route("/dashboard/kpi.csv", get(kpi::kpi_csv))
        .route("/dashboard/kpi.xlsx", get(kpi::kpi_xlsx))
        .route("/dashboard/meeting", get(meeting::meeting_page))
        .route("/dashboard/meeting/minutes", post(meeting::record_minutes))
        .route(
            "/dashboard/estates",
            get(estates::estates_page).post(estates::create_estate),
        )
        .route("/dashboard/estates/{id}", post(estates::update_estate))
        .route(
            "/dashboard/estates/{id}/buildings",
            post(estates::import_buildings)
                .layer(DefaultBodyLimit::max(estates::BUILDINGS_FILE_LIMIT)),
        )
        .layer(Extension(Arc::new(SessionStore::new(
            state.config.auth.sessions_per_user,
        ))))
}

async fn root() -> Redirect {
    Redirect::to("/dashboard/")
}

async fn home() -> Redirect {
    Redirect::to("/dashboard/cases")
}

const CSS_TYPE: &str = "text/css; charset=utf-8";
const JS_TYPE: &str = "text/javascript; charset=utf-8";

async fn asset_css() -> Response {
    asset(CSS, CSS_TYPE)
}

async fn asset_js() -> Response {
    asset(JS, JS_TYPE)
}

async fn leaflet_image(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match LEAFLET_IMAGES.iter().find(|(n, _)| *n == name) {
        Some((_, bytes)) => asset(*bytes, "image/png"),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}
