//! The request extractors handlers use: axum's `Query`, `Path`, `Form` and `Multipart`, whose
//! rejections become [`ApiError::Malformed`] naming the part of the request that was wrong. The
//! error code follows from that type and the rejection's status, never from the rejection's text.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// Which part of a request could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPart {
    Query,
    Path,
    Form,
}

impl RequestPart {
    /// Stable machine code of a malformed part (part of the API).
    pub fn code(self) -> &'static str {
        match self {
            RequestPart::Query => "BAD_QUERY",
            RequestPart::Path => "BAD_PATH",
            RequestPart::Form => "BAD_FORM",
        }
    }
}

/// The query string, deserialised (`axum::extract::Query`).
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

/// The path parameters, deserialised (`axum::extract::Path`).
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

/// An `application/x-www-form-urlencoded` body (or query, for GET), deserialised (`axum::Form`).
#[derive(Debug, Clone)]
pub struct Form<T>(pub T);

/// A `multipart/form-data` body (`axum::extract::Multipart`).
pub struct Multipart(pub axum::extract::Multipart);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) = axum::extract::Query::from_request_parts(parts, state)
            .await
            .map_err(|r: QueryRejection| {
                malformed(RequestPart::Query, r.status(), r.body_text())
            })?;
        Ok(Query(value))
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) = axum::extract::Path::from_request_parts(parts, state)
            .await
            .map_err(|r: PathRejection| malformed(RequestPart::Path, r.status(), r.body_text()))?;
        Ok(Path(value))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Form(value) = axum::Form::from_request(request, state)
            .await
            .map_err(|r: FormRejection| malformed(RequestPart::Form, r.status(), r.body_text()))?;
        Ok(Form(value))
    }
}

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::extract::Multipart::from_request(request, state)
            .await
            .map(Multipart)
            .map_err(|r: MultipartRejection| {
                malformed(RequestPart::Form, r.status(), r.body_text())
            })
    }
}

fn malformed(part: RequestPart, status: axum::http::StatusCode, detail: String) -> ApiError {
    ApiError::Malformed {
        part,
        status,
        detail,
    }
}
