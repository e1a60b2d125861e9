//! [`ScopedReader`]: what a dashboard handler reads through. It holds the storage handle and the
//! signed-in user's access scope and offers only queries filtered by [`access::case_scope`],
//! per-object checks by [`access::can_see_case`] (refusals audited like the API's) and
//! [`access::can_see_photo`]. Handlers get no raw storage to read from, so visibility is a
//! matter of types, not of remembering a filter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use uuid::Uuid;
use xuncha_core::Estate;
use xuncha_core::workflow::Event;

use super::error::{Forbidden, Internal, Missing, WebError};
use super::web::WebUser;
use crate::http::app::AppState;
use crate::policy::access;
use crate::policy::catalog::Catalog;
use crate::storage::photo_files;
use crate::storage::{CasePage, CaseQuery, CaseRow, CaseScope, UserRecord};

/// Reads scoped to the signed-in user; extracted per request after [`WebUser`].
pub struct ScopedReader {
    state: AppState,
    web: WebUser,
    catalog: Arc<Catalog>,
    scope: CaseScope,
}

impl FromRequestParts<AppState> for ScopedReader {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let web = WebUser::from_request_parts(parts, state).await?;
        let catalog = state.catalog();
        let scope = access::case_scope(web.user(), &catalog);
        Ok(ScopedReader {
            state: state.clone(),
            web,
            catalog,
            scope,
        })
    }
}

impl ScopedReader {
    /// The signed-in user (frame, CSRF token, actor for writes).
    pub fn web(&self) -> &WebUser {
        &self.web
    }

    pub fn user(&self) -> &UserRecord {
        self.web.user()
    }

    /// The district of the user's unit (none for city-wide units): lists of units show it first.
    pub fn own_district(&self) -> Option<String> {
        self.catalog
            .unit(&self.user().unit_id)
            .and_then(|u| u.district.clone())
    }

    /// The catalog as of this request (units, estates, routing).
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The user's case scope, for building queries (every read below enforces it again).
    pub fn scope(&self) -> CaseScope {
        self.scope.clone()
    }

    /// A query over every case the user may see, to narrow.
    pub fn query(&self) -> CaseQuery {
        CaseQuery::new(self.scope(), Utc::now())
    }

    /// The estates [`access::can_see_estate`] allows, by id.
    pub fn estates(&self) -> Vec<Estate> {
        let mut estates: Vec<Estate> = self
            .catalog
            .estates()
            .values()
            .filter(|e| access::can_see_estate(self.user(), &self.catalog, e))
            .cloned()
            .collect();
        estates.sort_by(|a, b| a.id.cmp(&b.id));
        estates
    }

    /// One page of `query`, inside the user's scope whatever scope the query names.
    pub async fn page(&self, mut query: CaseQuery) -> Result<CasePage, WebError> {
        query.scope = self.scope();
        Ok(self.state.storage.query_cases(query).await?)
    }

    /// Every case matching `query` inside the user's scope (exports, map, KPI).
    pub async fn all(&self, mut query: CaseQuery) -> Result<Vec<CaseRow>, WebError> {
        query.scope = self.scope();
        Ok(crate::storage::query_all(self.state.storage.as_ref(), query).await?)
    }

    /// The events of those `rows` the user may see.
    pub async fn events_of(&self, rows: &[CaseRow]) -> Result<Vec<Event>, WebError> {
        let ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| access::can_see_case(self.user(), &self.catalog, r))
            .map(|r| r.case.id)
            .collect();
        Ok(self.state.storage.events_of_cases(ids).await?)
    }

    /// One case the user may see, with its events; a refusal is audited like the API's.
    pub async fn case(&self, id: &str) -> Result<(CaseRow, Vec<Event>), WebError> {
        let not_found = || WebError::NotFound(Missing::Case(id.to_owned()));
        let case_id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let (row, events) = self
            .state
            .storage
            .case_with_events(case_id)
            .await?
            .ok_or_else(not_found)?;
        if !access::can_see_case(self.user(), &self.catalog, &row) {
            self.state.deny(&self.web.authed, "case", id).await?;
            return Err(WebError::Forbidden(Forbidden::CaseOutOfScope(
                id.to_owned(),
            )));
        }
        Ok((row, events))
    }

    /// A stored photo's bytes, for users [`access::can_see_photo`] admits; to anyone else it
    /// answers like an unknown photo (audited).
    pub async fn photo(&self, sha: &str) -> Result<Vec<u8>, WebError> {
        self.check_photo(sha).await?;
        tokio::fs::read(self.state.photos.final_path(sha))
            .await
            .map_err(|e| WebError::Internal(Internal::PhotoFile(e)))
    }

    /// A stored photo's thumbnail, under the same rule as [`ScopedReader::photo`]; a photo stored
    /// before thumbnails were kept gets its thumbnail made (by the photo pipeline) and kept now.
    pub async fn photo_thumb(&self, sha: &str) -> Result<Vec<u8>, WebError> {
        self.check_photo(sha).await?;
        let store = self.state.photos.clone();
        match tokio::fs::read(store.thumb_path(sha)).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WebError::Internal(Internal::PhotoFile(e))),
        }
        let stored = tokio::fs::read(store.final_path(sha))
            .await
            .map_err(|e| WebError::Internal(Internal::PhotoFile(e)))?;
        let max_pixels = self.state.config.limits.photo_pixels;
        let address = sha.to_owned();
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, photo_files::PhotoFileError> {
            let thumb = photo_files::thumbnail_of(&stored, max_pixels)?;
            store.store_thumb(&address, &thumb)?;
            Ok(thumb)
        })
        .await
        .map_err(|_| WebError::Internal(Internal::ThumbTask))?
        .map_err(|e| crate::http::error::ApiError::from(e).into())
    }

    /// Refuses a photo the user may not read as if it did not exist (audited).
    async fn check_photo(&self, sha: &str) -> Result<(), WebError> {
        let missing = || WebError::NotFound(Missing::Photo(sha.to_owned()));
        if !photo_files::is_sha256_hex(sha) {
            return Err(missing());
        }
        let storage = &self.state.storage;
        storage.photo(sha.to_owned()).await?.ok_or_else(missing)?;
        // The API's reading of the rule: the same storage answers, then access::can_see_photo.
        if !crate::http::api::photos::may_read_photo(&self.state, self.user(), sha).await? {
            self.state.deny(&self.web.authed, "photo", sha).await?;
            return Err(missing());
        }
        Ok(())
    }

    /// Display names of user ids (actors on a timeline); unknown ids show as themselves.
    pub async fn user_names(&self, ids: Vec<String>) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            let name = match self.state.storage.user_by_id(id.clone()).await {
                Ok(Some(user)) => user.display_name,
                _ => id.clone(),
            };
            out.insert(id, name);
        }
        out
    }
}
