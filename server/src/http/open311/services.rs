//! `GET services.{json,xml}` and `GET services/{service_code}.{json,xml}`: the case catalog as
//! Open311 services. The service_code is the category's wire code (e.g. `GROUND_LOCK`).

use crate::http::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use xuncha_core::catalog::{Category, CategoryGroup, CategoryInfo};

use super::error::Open311Error;
use super::format::{Document, Format, Record, Value};

fn group_name(group: CategoryGroup) -> &'static str {
    match group {
        CategoryGroup::Behaviour => "不文明行为",
        CategoryGroup::Facility => "设施设备",
        CategoryGroup::Service => "管理服务",
    }
}

/// What a resident reads before choosing the service: what it covers, the policy sections it
/// rests on, and the deadlines the street office and the responsible unit are held to.
fn description(info: &CategoryInfo) -> String {
    let first = if info.dissuade_first {
        "先由管理服务企业或社区居委会现场劝阻，劝阻无效的上报街道办事处派遣。"
    } else {
        "直接由街道办事处派遣责任单位处置。"
    };
    format!(
        "{}（{}）。依据《关于进一步加强本市旧楼区提升改造后长效管理的意见》{}。{}派遣时限{}小时，处置时限{}天。",
        info.name_zh,
        info.name_en,
        info.policy_sections.join("、"),
        first,
        info.dispatch_hours,
        info.handle_days
    )
}

fn service_record(info: &CategoryInfo) -> Record {
    let mut keywords = vec![info.name_en.to_owned()];
    keywords.extend(info.policy_sections.iter().map(|s| (*s).to_owned()));
    Record::new("service")
        .field("service_code", info.code())
        .field("service_name", info.name_zh)
        .field("description", description(info))
        // No extra form fields: the estate comes from the coordinates, building and unit are free text.
        .field("metadata", Value::Bool(false))
        .field("type", "realtime")
        .field("keywords", keywords.join(", "))
        .field("group", group_name(info.group))
}

pub fn services_document() -> Document {
    Document::List {
        root: "services",
        records: Category::ALL
            .iter()
            .map(|c| service_record(c.info()))
            .collect(),
    }
}

pub fn definition_document(service_code: &str) -> Result<Document, Open311Error> {
    let category = Category::from_code(service_code)
        .ok_or_else(|| Open311Error::UnknownService(service_code.to_owned()))?;
    Ok(Document::Single(
        Record::new("service_definition")
            .field("service_code", category.code())
            .field("attributes", Value::List(Vec::new())),
    ))
}

pub async fn list_json() -> Response {
    services_document().respond(Format::Json, StatusCode::OK)
}

pub async fn list_xml() -> Response {
    services_document().respond(Format::Xml, StatusCode::OK)
}

pub async fn definition(Path(file): Path<String>) -> Response {
    let (code, format) = match Format::split(&file) {
        Ok(split) => split,
        Err(e) => return e.respond(Format::Json),
    };
    match definition_document(code) {
        Ok(document) => document.respond(format, StatusCode::OK),
        Err(e) => e.respond(format),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_category_is_a_service() {
        let json = services_document().to_json();
        let services = json.as_array().unwrap();
        assert_eq!(services.len(), Category::ALL.len());
        let lock = services
            .iter()
            .find(|s| s["service_code"] == "GROUND_LOCK")
            .unwrap();
        assert_eq!(lock["service_name"], "私自设置地锁");
        assert_eq!(lock["metadata"], false);
        assert_eq!(lock["type"], "realtime");
        assert!(lock["description"].as_str().unwrap().contains("三(三)3"));
        assert_eq!(lock["group"], "不文明行为");
    }

    #[test]
    fn definitions_exist_only_for_catalog_codes() {
        let json = definition_document("ELEVATOR").unwrap().to_json();
        assert_eq!(json["service_code"], "ELEVATOR");
        assert_eq!(json["attributes"], serde_json::json!([]));
        let err = definition_document("POTHOLE").unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(err.code(), "UNKNOWN_SERVICE_CODE");
    }
}
