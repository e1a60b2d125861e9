//! HTTP: application state and routers ([`app`]), the connection loop ([`serve`]), the one
//! error table ([`error`]), the sync API ([`api`]), Open311 ([`open311`]), the street-office
//! dashboard ([`dashboard`]), the generated OpenAPI document ([`openapi`]), the request extractors
//! ([`extract`]: typed rejections), the session extractor and rate limits ([`auth`], [`throttle`]).

pub mod api;
pub mod app;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod open311;
pub mod openapi;
pub mod serve;
pub mod throttle;
