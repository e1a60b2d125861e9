//! The dashboard's routes, merged into the server's router by one line in `app::router`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::session::SessionStore;
use super::{estates, kpi_page, pages};
use crate::http::app::AppState;

/// Form fields besides the photo in an action form.
const ACTION_FORM_OVERHEAD: usize = 64 * 1024;

/// All `/dashboard/...` routes over the server's state; the server merges them with
/// `.merge(crate::dashboard::router(&state))`. Browser sessions live in the router's extension.
pub fn router(state: &AppState) -> Router<AppState> {
    let photo_limit = usize::try_from(state.config.limits.photo_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/dashboard", get(pages::home))
        .route("/dashboard/", get(pages::home))
        .route("/dashboard/assets/app.css", get(pages::asset_css))
        .route("/dashboard/assets/app.js", get(pages::asset_js))
        .route(
            "/dashboard/login",
            get(pages::login_form).post(pages::login),
        )
        .route("/dashboard/logout", post(pages::logout))
        .route("/dashboard/cases", get(pages::queue_page))
        .route("/dashboard/cases.csv", get(pages::queue_csv))
        .route("/dashboard/cases.xlsx", get(pages::queue_xlsx))
        .route("/dashboard/cases/{id}", get(pages::case_page))
        .route(
            "/dashboard/cases/{id}/actions",
            post(pages::case_action).layer(DefaultBodyLimit::max(
                photo_limit.saturating_add(ACTION_FORM_OVERHEAD),
            )),
        )
        .route("/dashboard/photos/{sha256}", get(pages::photo))
        .route("/dashboard/map", get(pages::map_page))
        .route("/dashboard/kpi", get(kpi_page::kpi_page))
        .route("/dashboard/kpi.csv", get(kpi_page::kpi_csv))
        .route("/dashboard/kpi.xlsx", get(kpi_page::kpi_xlsx))
        .route("/dashboard/meeting", get(pages::meeting_page))
        .route("/dashboard/meeting/minutes", post(pages::record_minutes))
        .route(
            "/dashboard/estates",
            get(estates::estates_page).post(estates::create_estate),
        )
        .route("/dashboard/estates/{id}", post(estates::update_estate))
        .layer(Extension(Arc::new(SessionStore::new(
            state.config.auth.sessions_per_user,
        ))))
}
