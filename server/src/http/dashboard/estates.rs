//! Estates admin for the civil-affairs admin (民政): estates entering long-term management
//! (policy 二(二)) and leaving it (二(四)) with dates and reasons, management mode (二(三)) and the
//! managing company (六(一)). Saved through `Storage::save_catalog`, which audits the change and
//! bumps the estate's sequence number so phones pull it.

use axum::extract::State;

use crate::http::extract::{Form, Multipart, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use maud::{Markup, html};
use serde::Deserialize;
use xuncha_core::buildings::{FootprintError, apply_footprints, parse_buildings};
use xuncha_core::estate::{Estate, LampOwner, ManagementMode};
use xuncha_core::geo::Geometry;
use xuncha_core::{OrgUnit, Role, UnitType};

use super::error::{BadInput, Forbidden, Missing, WebError};
use super::layout::{NoticeKind, csrf_field, head_row, html_response, notice, options, page};
use super::problem::Problem;
use super::reader::ScopedReader;
use super::web::WebUser;
use crate::http::app::AppState;
use crate::policy::audit::AuditDraft;

pub const MODES: [(ManagementMode, &str, &str); 3] = [
    (ManagementMode::Company, "COMPANY", "社会化服务公司"),
    (ManagementMode::OwnerSelf, "OWNER_SELF", "产权人自行管理"),
    (
        ManagementMode::ResidentSelf,
        "RESIDENT_SELF",
        "居委会牵头居民自治",
    ),
];

fn mode_code(mode: ManagementMode) -> &'static str {
    MODES
        .iter()
        .find(|(m, _, _)| *m == mode)
        .map_or("", |(_, c, _)| c)
}

fn mode_name(mode: ManagementMode) -> &'static str {
    MODES
        .iter()
        .find(|(m, _, _)| *m == mode)
        .map_or("", |(_, _, n)| n)
}

/// The edit form as posted. Dates are Beijing calendar days.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EstateForm {
    pub csrf: String,
    pub management_mode: String,
    pub company_unit: String,
    pub entered_on: String,
    pub exited_on: String,
    pub exit_reason: String,
    /// Only for a new estate.
    pub id: String,
    pub name: String,
    pub district: String,
    pub street: String,
    pub community: String,
    pub lamp_owner: String,
    /// GeoJSON geometry (Polygon or MultiPolygon), only for a new estate.
    pub boundary: String,
}

/// What is wrong with an estate form, in the admin's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EstateFormError {
    #[error("未知的管理模式 {0}")]
    UnknownMode(String),
    #[error("社会化服务公司管理模式须选择管理服务企业")]
    CompanyRequired,
    #[error("所选单位 {0} 不是管理服务企业")]
    NotACompany(String),
    #[error("日期格式应为 YYYY-MM-DD：{0}")]
    BadDate(String),
    #[error("退出长效管理须填写退出原因（二(四)）")]
    ExitReasonRequired,
    #[error("退出日期不能早于纳入日期")]
    ExitBeforeEntry,
    #[error("缺少必填字段：{0}")]
    Missing(&'static str),
    #[error("小区编号只能包含小写字母、数字、下划线和连字符：{0}")]
    BadId(String),
    #[error("小区编号 {0} 已存在")]
    Exists(String),
    #[error("边界须为 GeoJSON Polygon 或 MultiPolygon（WGS-84 [经度, 纬度]）：{0}")]
    BadBoundary(String),
}

impl EstateFormError {
    pub fn code(&self) -> &'static str {
        match self {
            EstateFormError::UnknownMode(_) => "UNKNOWN_MODE",
            EstateFormError::CompanyRequired => "COMPANY_REQUIRED",
            EstateFormError::NotACompany(_) => "NOT_A_COMPANY",
            EstateFormError::BadDate(_) => "BAD_DATE",
            EstateFormError::ExitReasonRequired => "EXIT_REASON_REQUIRED",
            EstateFormError::ExitBeforeEntry => "EXIT_BEFORE_ENTRY",
            EstateFormError::Missing(_) => "MISSING_FIELD",
            EstateFormError::BadId(_) => "BAD_ESTATE_ID",
            EstateFormError::Exists(_) => "ESTATE_EXISTS",
            EstateFormError::BadBoundary(_) => "BAD_BOUNDARY",
        }
    }
}

/// Midnight of a Beijing calendar day, as UTC.
fn day_start(text: &str) -> Result<Option<DateTime<Utc>>, EstateFormError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| EstateFormError::BadDate(text.to_owned()))?;
    let local = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| Shanghai.from_local_datetime(&t).single())
        .ok_or_else(|| EstateFormError::BadDate(text.to_owned()))?;
    Ok(Some(local.with_timezone(&Utc)))
}

fn local_day(at: Option<DateTime<Utc>>) -> String {
    at.map(xuncha_core::time::format_local_date)
        .unwrap_or_default()
}

/// Applies the management fields of the form to an estate (validated as a whole).
pub fn apply_management(
    estate: &mut Estate,
    form: &EstateForm,
    units: &[OrgUnit],
) -> Result<(), EstateFormError> {
    let mode = MODES
        .iter()
        .find(|(_, code, _)| *code == form.management_mode)
        .map(|(m, _, _)| *m)
        .ok_or_else(|| EstateFormError::UnknownMode(form.management_mode.clone()))?;
    let company = form.company_unit.trim();
    let company = if company.is_empty() {
        None
    } else {
        let unit = units
            .iter()
            .find(|u| u.id == company)
            .filter(|u| u.unit_type == UnitType::ManagementCompany)
            .ok_or_else(|| EstateFormError::NotACompany(company.to_owned()))?;
        Some(unit.id.clone())
    };
    if mode == ManagementMode::Company && company.is_none() {
        return Err(EstateFormError::CompanyRequired);
    }
    let entered = day_start(&form.entered_on)?;
    let exited = day_start(&form.exited_on)?;
    let reason = form.exit_reason.trim();
    if exited.is_some() && reason.is_empty() {
        return Err(EstateFormError::ExitReasonRequired);
    }
    if let (Some(e), Some(x)) = (entered, exited)
        && x < e
    {
        return Err(EstateFormError::ExitBeforeEntry);
    }
    estate.management_mode = mode;
    estate.company_unit = company;
    estate.entered_at = entered;
    estate.exited_at = exited;
    estate.exit_reason = exited.map(|_| reason.to_owned());
    Ok(())
}

/// A new estate from the "add" form.
pub fn new_estate(
    form: &EstateForm,
    existing: &[&Estate],
    units: &[OrgUnit],
) -> Result<Estate, EstateFormError> {
    let id = form.id.trim();
    if id.is_empty() {
        return Err(EstateFormError::Missing("小区编号"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(EstateFormError::BadId(id.to_owned()));
    }
    if existing.iter().any(|e| e.id == id) {
        return Err(EstateFormError::Exists(id.to_owned()));
    }
    for (value, name) in [
        (&form.name, "小区名称"),
        (&form.district, "区"),
        (&form.street, "街道"),
        (&form.community, "社区"),
    ] {
        if value.trim().is_empty() {
            return Err(EstateFormError::Missing(name));
        }
    }
    let boundary: Geometry = serde_json::from_str(&form.boundary)
        .map_err(|e| EstateFormError::BadBoundary(e.to_string()))?;
    let rings_ok = match &boundary {
        Geometry::Polygon(rings) => !rings.is_empty() && rings.iter().all(|r| ring_ok(r)),
        Geometry::MultiPolygon(polys) => {
            !polys.is_empty()
                && polys
                    .iter()
                    .all(|p| !p.is_empty() && p.iter().all(|r| ring_ok(r)))
        }
    };
    if !rings_ok {
        return Err(EstateFormError::BadBoundary(
            "每个环至少 4 个点、首尾相同，坐标在天津附近的有效经纬度范围内".into(),
        ));
    }
    let mut estate = Estate {
        id: id.to_owned(),
        name: form.name.trim().to_owned(),
        district: form.district.trim().to_owned(),
        street: form.street.trim().to_owned(),
        community: form.community.trim().to_owned(),
        management_mode: ManagementMode::ResidentSelf,
        company_unit: None,
        owner_unit: None,
        scattered: false,
        // The form's select sends a wire code; anything else keeps the default (city lighting).
        lamp_owner: LampOwner::from_code(&form.lamp_owner).unwrap_or_default(),
        elevator_maintainer: None,
        entered_at: None,
        exited_at: None,
        exit_reason: None,
        boundary,
        buildings: Vec::new(),
        footprints: Vec::new(),
    };
    apply_management(&mut estate, form, units)?;
    Ok(estate)
}

fn ring_ok(ring: &[[f64; 2]]) -> bool {
    ring.len() >= 4
        && ring.first() == ring.last()
        && ring
            .iter()
            .all(|p| (-180.0..=180.0).contains(&p[0]) && (-90.0..=90.0).contains(&p[1]))
}

fn require_admin(web: &WebUser) -> Result<(), WebError> {
    if web.user().role == Role::Admin {
        Ok(())
    } else {
        Err(WebError::Forbidden(Forbidden::EstatesAdminOnly))
    }
}

/// What the empty boundary field shows (a placeholder, not a value: a real-looking default would
/// be saved by accident and overlap an existing estate).
const BOUNDARY_PLACEHOLDER: &str = r#"粘贴 GeoJSON，例如 {"type":"Polygon","coordinates":[[[经度,纬度],[经度,纬度],[经度,纬度],[经度,纬度]]]}（首尾点相同）"#;

/// Largest buildings GeoJSON file the upload accepts.
pub const BUILDINGS_FILE_LIMIT: usize = 2 * 1024 * 1024;

/// The management fields, filled from the estate (its row) or from a refused form (kept as typed).
fn management_fields(
    estate: Option<&Estate>,
    typed: Option<&EstateForm>,
    companies: &[(&str, &str)],
) -> Markup {
    let (mode, company, entered, exited, reason) = match (typed, estate) {
        (Some(f), _) => (
            f.management_mode.clone(),
            f.company_unit.clone(),
            f.entered_on.clone(),
            f.exited_on.clone(),
            f.exit_reason.clone(),
        ),
        (None, Some(e)) => (
            mode_code(e.management_mode).to_owned(),
            e.company_unit.clone().unwrap_or_default(),
            local_day(e.entered_at),
            local_day(e.exited_at),
            e.exit_reason.clone().unwrap_or_default(),
        ),
        (None, None) => (
            "COMPANY".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ),
    };
    let company_opts = std::iter::once(("", "（无）")).chain(companies.iter().copied());
    html! {
        label { "管理模式 " select name="management_mode" { (options(MODES.iter().map(|(_, c, n)| (*c, *n)), &mode)) } }
        " "
        label { "管理服务企业 " select name="company_unit" { (options(company_opts, &company)) } }
        " "
        label { "纳入日期 " input type="date" name="entered_on" value=(entered); }
        " "
        label { "退出日期 " input type="date" name="exited_on" value=(exited); }
        " "
        label { "退出原因 " input name="exit_reason" maxlength="500" value=(reason); }
    }
}

/// One estate's row with its edit form.
fn estate_row(e: &Estate, units: &[OrgUnit], companies: &[(&str, &str)], csrf: &str) -> Markup {
    let company = e
        .company_unit
        .as_deref()
        .map(|id| {
            units
                .iter()
                .find(|u| u.id == id)
                .map_or(id, |u| u.name.as_str())
        })
        .unwrap_or_default();
    html! {
        tr data-estate=(e.id) {
            td { (e.name) br; span.meta { (e.id) } }
            td { (e.district) " " (e.street) " " (e.community) }
            td { (mode_name(e.management_mode)) }
            td { (company) }
            td { (local_day(e.entered_at)) }
            td {
                @if e.exited_at.is_some() {
                    (local_day(e.exited_at)) "（" (e.exit_reason.as_deref().unwrap_or("")) "）"
                } @else {
                    "在管"
                }
            }
            td {
                form method="post" action={ "/dashboard/estates/" (e.id) } class="estate-form" {
                    (csrf_field(csrf))
                    (management_fields(Some(e), None, companies))
                    button type="submit" { "保存" }
                }
            }
            td {
                (e.footprints.len()) " / " (e.buildings.len()) " 栋有轮廓"
                form method="post" action={ "/dashboard/estates/" (e.id) "/buildings" }
                    enctype="multipart/form-data" class="buildings-form" {
                    (csrf_field(csrf))
                    label { "楼栋轮廓 GeoJSON " input type="file" name="file" accept=".geojson,.json,application/geo+json,application/json" required; }
                    " "
                    button type="submit" { "导入楼栋" }
                }
            }
        }
    }
}

/// The form that admits a new estate into long-term management; after a refusal it shows what
/// the admin typed.
fn new_estate_form(companies: &[(&str, &str)], csrf: &str, typed: Option<&EstateForm>) -> Markup {
    let empty = EstateForm::default();
    let f = typed.unwrap_or(&empty);
    let lamp = if f.lamp_owner.is_empty() {
        "CITY"
    } else {
        f.lamp_owner.as_str()
    };
    html! {
        form method="post" action="/dashboard/estates" class="card" id="new-estate" {
            (csrf_field(csrf))
            label { "编号 " input name="id" required pattern="[a-z0-9_-]+" value=(f.id); } " "
            label { "名称 " input name="name" required value=(f.name); } " "
            label { "区 " input name="district" required value=(f.district); } " "
            label { "街道 " input name="street" required value=(f.street); } " "
            label { "社区 " input name="community" required value=(f.community); } " "
            label {
                "路灯产权 "
                select name="lamp_owner" {
                    (options([("CITY", "城市管理部门"), ("STATE_GRID", "国网电力")], lamp))
                }
            }
            br;
            (management_fields(None, typed, companies))
            br;
            label {
                "边界（GeoJSON Polygon，WGS-84）" br;
                textarea name="boundary" rows="3" cols="80" required placeholder=(BOUNDARY_PLACEHOLDER) { (f.boundary) }
            }
            br;
            button type="submit" { "纳入长效管理" }
        }
    }
}

/// The estates page, with a notice above it (saved, or why a form was refused) and the refused
/// new-estate form's values.
fn render(
    web: &WebUser,
    estates: &[&Estate],
    units: &[OrgUnit],
    message: Option<Markup>,
    typed: Option<&EstateForm>,
) -> Markup {
    let companies: Vec<(&str, &str)> = units
        .iter()
        .filter(|u| u.unit_type == UnitType::ManagementCompany)
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    let body = html! {
        @if let Some(message) = message { (message) }
        p.meta { "依据政策二(二)纳入长效管理、二(三)确定管理模式、二(四)退出长效管理。修改即时下发各终端并记入审计日志。" }
        table id="estates" {
            (head_row(&["小区", "区/街道/社区", "管理模式", "管理服务企业", "纳入", "退出（原因）", "修改", "楼栋轮廓"]))
            tbody {
                @for e in estates { (estate_row(e, units, &companies, &web.csrf_token)) }
            }
        }
        p.meta {
            "楼栋轮廓：上传 GeoJSON FeatureCollection，每个要素一个楼栋多边形（WGS-84 [经度, 纬度]），"
            "属性 name（如“3号楼”）或 number（如 3）为楼号；导入替换该小区原有轮廓，并显示在地图上。"
        }
        h2 { "纳入新的小区" }
        (new_estate_form(&companies, &web.csrf_token, typed))
    };
    let frame = web.frame();
    page("小区管理（民政）", "/dashboard/estates", Some(&frame), body)
}

/// Every estate of the catalog, by id (the admin sees all).
fn all_estates(reader: &ScopedReader) -> Vec<&Estate> {
    let mut estates: Vec<&Estate> = reader.catalog().estates().values().collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    estates
}

/// What the page says after a redirect (`?saved=…&estate=…`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SavedNotice {
    pub saved: String,
    pub estate: String,
    pub count: String,
}

/// The success notice for a redirect's query, in the admin's words.
fn saved_text(notice: &SavedNotice, estates: &[&Estate]) -> Option<String> {
    let name = estates
        .iter()
        .find(|e| e.id == notice.estate)
        .map_or(notice.estate.as_str(), |e| e.name.as_str());
    match notice.saved.as_str() {
        "updated" => Some(format!("已保存：{name} 的管理信息已更新。")),
        "admitted" => Some(format!("已保存：{name} 已纳入长效管理。")),
        "buildings" => Some(format!(
            "已保存：{name} 导入 {} 栋楼的轮廓。",
            notice.count.parse::<usize>().unwrap_or_default()
        )),
        _ => None,
    }
}

pub async fn estates_page(
    reader: ScopedReader,
    Query(saved): Query<SavedNotice>,
) -> Result<Response, WebError> {
    require_admin(reader.web())?;
    let estates = all_estates(&reader);
    let text = saved_text(&saved, &estates);
    let html = render(
        reader.web(),
        &estates,
        reader.catalog().units(),
        text.as_deref().map(|t| notice(NoticeKind::Info, t)),
        None,
    );
    Ok(html_response(html))
}

fn saved_redirect(kind: &str, estate_id: &str, count: Option<usize>) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("saved", kind)
        .append_pair("estate", estate_id);
    if let Some(count) = count {
        query.append_pair("count", &count.to_string());
    }
    Redirect::to(&format!("/dashboard/estates?{}", query.finish())).into_response()
}

async fn save(
    state: &AppState,
    web: &WebUser,
    estate: Estate,
    action: &str,
) -> Result<(), WebError> {
    let audit = AuditDraft::new(action, "estate", estate.id.clone())
        .by(&web.user().id, web.user().role, Some(web.device_id()))
        .detail(serde_json::json!({
            "management_mode": estate.management_mode, "company_unit": estate.company_unit,
            "entered_at": estate.entered_at, "exited_at": estate.exited_at, "exit_reason": estate.exit_reason,
        }));
    state
        .storage
        .save_catalog(vec![estate], Vec::new(), None, audit)
        .await?;
    Ok(state.reload_catalog().await?)
}

/// The page again with why the form was refused; a refused new estate keeps what was typed.
/// The page again with why nothing was saved: a Chinese sentence, the code behind 技术细节.
fn refused(reader: &ScopedReader, problem: Problem, typed: Option<&EstateForm>) -> Response {
    let problem = Problem {
        text: format!("未保存：{}", problem.text),
        ..problem
    };
    let html = render(
        reader.web(),
        &all_estates(reader),
        reader.catalog().units(),
        Some(problem.render()),
        typed,
    );
    (StatusCode::UNPROCESSABLE_ENTITY, html_response(html)).into_response()
}

fn form_error(reader: &ScopedReader, e: &EstateFormError, typed: Option<&EstateForm>) -> Response {
    refused(reader, Problem::new(e.to_string(), e.code(), ""), typed)
}

pub async fn update_estate(
    State(state): State<AppState>,
    reader: ScopedReader,
    Path(id): Path<String>,
    Form(form): Form<EstateForm>,
) -> Result<Response, WebError> {
    let web = reader.web();
    web.check_csrf(&form.csrf)?;
    require_admin(web)?;
    let catalog = reader.catalog();
    let mut estate = catalog
        .estates()
        .get(&id)
        .cloned()
        .ok_or_else(|| WebError::NotFound(Missing::Estate(id.clone())))?;
    if let Err(e) = apply_management(&mut estate, &form, catalog.units()) {
        let problem = Problem::new(format!("{}：{e}", estate.name), e.code(), "");
        return Ok(refused(&reader, problem, None));
    }
    let id = estate.id.clone();
    save(&state, web, estate, "ESTATE_UPDATED").await?;
    Ok(saved_redirect("updated", &id, None))
}

pub async fn create_estate(
    State(state): State<AppState>,
    reader: ScopedReader,
    Form(form): Form<EstateForm>,
) -> Result<Response, WebError> {
    let web = reader.web();
    web.check_csrf(&form.csrf)?;
    require_admin(web)?;
    let catalog = reader.catalog();
    let existing: Vec<&Estate> = catalog.estates().values().collect();
    let estate = match new_estate(&form, &existing, catalog.units()) {
        Ok(estate) => estate,
        Err(e) => return Ok(form_error(&reader, &e, Some(&form))),
    };
    let id = estate.id.clone();
    save(&state, web, estate, "ESTATE_ADMITTED").await?;
    Ok(saved_redirect("admitted", &id, None))
}

/// `POST /dashboard/estates/{id}/buildings`: a GeoJSON FeatureCollection of building polygons
/// (multipart field `file`) replaces the estate's footprints; audited as
/// `ESTATE_BUILDINGS_IMPORTED`. A bad file changes nothing and the page names the file and the
/// feature.
pub async fn import_buildings(
    State(state): State<AppState>,
    reader: ScopedReader,
    Path(id): Path<String>,
    Multipart(mut multipart): Multipart,
) -> Result<Response, WebError> {
    let (mut csrf, mut file_name, mut text) = (String::new(), String::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(BadInput::Form)? {
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.map_err(BadInput::Form)?,
            "file" => {
                file_name = field.file_name().unwrap_or("").to_owned();
                let bytes = field.bytes().await.map_err(BadInput::Form)?;
                text = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            _ => {}
        }
    }
    let web = reader.web();
    web.check_csrf(&csrf)?;
    require_admin(web)?;
    let mut estate = reader
        .catalog()
        .estates()
        .get(&id)
        .cloned()
        .ok_or_else(|| WebError::NotFound(Missing::Estate(id.clone())))?;
    let file_name = if file_name.trim().is_empty() {
        "上传文件".to_owned()
    } else {
        file_name
    };
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(refused(
            &reader,
            Problem::new(
                format!("{}：请选择楼栋轮廓文件", estate.name),
                "BUILDINGS_FILE_REQUIRED",
                "",
            ),
            None,
        ));
    };
    let footprints = match parse_buildings(&file_name, &text, &estate.boundary) {
        Ok(f) => f,
        Err(e) => return Ok(buildings_refused(&reader, &estate, &e)),
    };
    let count = footprints.len();
    let labels: Vec<String> = footprints.iter().map(|f| f.label.clone()).collect();
    apply_footprints(&mut estate, footprints);
    let audit = AuditDraft::new("ESTATE_BUILDINGS_IMPORTED", "estate", estate.id.clone())
        .by(&web.user().id, web.user().role, Some(web.device_id()))
        .detail(serde_json::json!({ "file": file_name, "count": count, "labels": labels, "source": "dashboard" }));
    state
        .storage
        .save_catalog(vec![estate], Vec::new(), None, audit)
        .await?;
    state.reload_catalog().await?;
    Ok(saved_redirect("buildings", &id, Some(count)))
}

fn buildings_refused(reader: &ScopedReader, estate: &Estate, e: &FootprintError) -> Response {
    refused(
        reader,
        Problem::new(format!("{} 楼栋轮廓：{e}", estate.name), e.code(), ""),
        None,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::http::dashboard::fixtures::estate;

    fn units() -> Vec<OrgUnit> {
        vec![
            OrgUnit {
                id: "company.a".into(),
                name: "甲物业".into(),
                unit_type: UnitType::ManagementCompany,
                district: None,
                street: None,
                community: None,
                operator: false,
            },
            OrgUnit {
                id: "street".into(),
                name: "街道".into(),
                unit_type: UnitType::StreetOffice,
                district: None,
                street: None,
                community: None,
                operator: false,
            },
        ]
    }

    fn form(mode: &str, company: &str, entered: &str, exited: &str, reason: &str) -> EstateForm {
        EstateForm {
            management_mode: mode.into(),
            company_unit: company.into(),
            entered_on: entered.into(),
            exited_on: exited.into(),
            exit_reason: reason.into(),
            ..Default::default()
        }
    }

    #[test]
    fn exit_needs_a_reason_and_a_later_date() {
        let mut e = estate("x", "c");
        let err = apply_management(
            &mut e,
            &form("COMPANY", "company.a", "2021-01-01", "2026-06-30", ""),
            &units(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "EXIT_REASON_REQUIRED");
        let err = apply_management(
            &mut e,
            &form("COMPANY", "company.a", "2021-01-01", "2020-06-30", "拆迁"),
            &units(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "EXIT_BEFORE_ENTRY");
        apply_management(
            &mut e,
            &form(
                "COMPANY",
                "company.a",
                "2021-01-01",
                "2026-06-30",
                " 纳入棚改拆迁 ",
            ),
            &units(),
        )
        .unwrap();
        assert_eq!(e.exit_reason.as_deref(), Some("纳入棚改拆迁"));
        // Beijing midnight = 16:00 UTC the day before.
        assert_eq!(
            e.entered_at.unwrap().to_rfc3339(),
            "2020-12-31T16:00:00+00:00"
        );
        assert_eq!(local_day(e.exited_at), "2026-06-30");
    }

    #[test]
    fn company_mode_needs_a_real_company() {
        let mut e = estate("x", "c");
        assert_eq!(
            apply_management(&mut e, &form("COMPANY", "", "", "", ""), &units())
                .unwrap_err()
                .code(),
            "COMPANY_REQUIRED"
        );
        assert_eq!(
            apply_management(&mut e, &form("COMPANY", "street", "", "", ""), &units())
                .unwrap_err()
                .code(),
            "NOT_A_COMPANY"
        );
        assert_eq!(
            apply_management(&mut e, &form("BOGUS", "", "", "", ""), &units())
                .unwrap_err()
                .code(),
            "UNKNOWN_MODE"
        );
        apply_management(
            &mut e,
            &form("RESIDENT_SELF", "", "2022-03-01", "", "ignored"),
            &units(),
        )
        .unwrap();
        assert_eq!(e.management_mode, ManagementMode::ResidentSelf);
        assert_eq!(e.exit_reason, None);
    }

    #[test]
    fn new_estate_checks_id_boundary_and_duplicates() {
        let existing = estate("old", "c");
        let mut f = form("RESIDENT_SELF", "", "2026-01-01", "", "");
        f.id = "new_one".into();
        f.name = "新小区".into();
        f.district = "和平区".into();
        f.street = "南营门街道".into();
        f.community = "长春里社区".into();
        f.boundary = r#"{"type":"Polygon","coordinates":[[[117.19,39.11],[117.2,39.11],[117.2,39.12],[117.19,39.11]]]}"#.into();
        let e = new_estate(&f, &[&existing], &units()).unwrap();
        assert_eq!(e.id, "new_one");
        let mut dup = f.clone();
        dup.id = "old".into();
        assert_eq!(
            new_estate(&dup, &[&existing], &units()).unwrap_err().code(),
            "ESTATE_EXISTS"
        );
        let mut bad = f.clone();
        bad.id = "Bad Id".into();
        assert_eq!(
            new_estate(&bad, &[&existing], &units()).unwrap_err().code(),
            "BAD_ESTATE_ID"
        );
        let mut open_ring = f.clone();
        open_ring.boundary =
            r#"{"type":"Polygon","coordinates":[[[117.19,39.11],[117.2,39.11],[117.2,39.12]]]}"#
                .into();
        assert_eq!(
            new_estate(&open_ring, &[&existing], &units())
                .unwrap_err()
                .code(),
            "BAD_BOUNDARY"
        );
        let mut junk = f;
        junk.boundary = "not json".into();
        assert_eq!(
            new_estate(&junk, &[&existing], &units())
                .unwrap_err()
                .code(),
            "BAD_BOUNDARY"
        );
    }
}
