//! The printable dispatch slip (派遣单) of one case: what the responsible unit signs for on paper —
//! case, category with its policy sections, the routing decision's legal basis, estate, building,
//! location (WGS-84 as stored, GCJ-02 as Chinese maps show it), photos, reported time, deadlines,
//! responsible unit — and a signature line. One A4 page; the print stylesheet hides the header
//! and every form. Read through the [`ScopedReader`], so the case page's visibility rule applies.

use axum::response::Response;
use maud::{Markup, html};
use xuncha_core::geo::wgs84_to_gcj02;
use xuncha_core::time::format_local;
use xuncha_core::workflow::PhotoKind;

use super::case::{
    case_number, case_title, dispatch_due_text, estate_text, handle_due_text, lines, place_text,
    unit_list,
};
use super::error::WebError;
use super::layout::{html_response, page};
use super::reader::ScopedReader;
use crate::http::extract::Path;
use crate::policy::catalog::Catalog;
use crate::storage::CaseRow;

pub async fn slip_page(reader: ScopedReader, Path(id): Path<String>) -> Result<Response, WebError> {
    let (row, _) = reader.case(&id).await?;
    let title = format!("派遣单 · {}", case_title(&row));
    let frame = reader.web().frame();
    let body = render_slip(&row, reader.catalog());
    Ok(html_response(page(
        &title,
        "/dashboard/cases",
        Some(&frame),
        body,
    )))
}

/// The slip's body.
pub fn render_slip(row: &CaseRow, catalog: &Catalog) -> Markup {
    let case = &row.case;
    let info = case.category.info();
    let routed = row.routed();
    let unit_name = |id: &str| {
        catalog
            .unit(id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    };
    let responsible = match (&case.assigned_unit, &routed) {
        (Some(unit), _) => unit_name(unit),
        (None, Some(r)) => format!("{}（拟派，尚未派遣）", r.owner.name),
        (None, None) => "—".to_owned(),
    };
    html! {
        p.no-print {
            a href={ "/dashboard/cases/" (case.id) } { "返回案件" }
            " "
            button type="button" data-print="1" { "打印" }
        }
        section.slip id="slip" {
            table.slip-facts {
                tbody {
                    tr {
                        th { "案件编号" }
                        td colspan="3" { b { (case_number(row)) } " " span.meta { "（系统标识 " (case.id) "）" } }
                    }
                    tr {
                        th { "问题类别" } td { (info.name_zh) "（" (info.code()) "）" }
                        th { "政策条款" } td { (info.policy_sections.join("、")) }
                    }
                    tr { th { "小区" } td colspan="3" { (estate_text(catalog, case)) } }
                    tr {
                        th { "楼栋/位置" } td { (place_text(case)) }
                        th { "上报时间" }
                        td {
                            (format_local(case.reported_at))
                            br;
                            span.meta { (unit_name(&case.reported_by.unit_id)) }
                        }
                    }
                    tr {
                        th { "坐标" }
                        td colspan="3" {
                            @if let Some(g) = &case.location {
                                @let (glat, glon) = wgs84_to_gcj02(g.lat, g.lon);
                                "WGS-84：" (format!("{:.6}N {:.6}E", g.lat, g.lon))
                                "；GCJ-02：" (format!("{:.6}N {:.6}E", glat, glon))
                                @if let Some(a) = g.accuracy_m { (format!("（精度 ±{a:.0} 米）")) }
                            } @else {
                                "未记录定位（WGS-84 / GCJ-02 均无）"
                            }
                        }
                    }
                    tr { th { "问题描述" } td colspan="3" { (case.description.as_deref().unwrap_or("—")) } }
                    tr {
                        th { "派遣期限" } td { (dispatch_due_text(case)) }
                        th { "处置期限" } td { (handle_due_text(case)) }
                    }
                    tr {
                        th { "责任单位" } td { (responsible) }
                        th { "监管单位" }
                        td { (routed.as_ref().and_then(|r| r.supervisor.as_ref()).map_or("—", |u| u.name.as_str())) }
                    }
                    tr {
                        th { "协同单位" }
                        td colspan="3" { (routed.as_ref().map_or_else(|| "—".to_owned(), |r| unit_list(&r.co_responsible))) }
                    }
                    tr {
                        th { "法律依据" }
                        td colspan="3" {
                            @match &routed {
                                Some(r) if !r.legal_basis.is_empty() => { (lines(&r.legal_basis)) }
                                _ => { "—" }
                            }

                        }
                    }
                }
            }
            @if !case.photos.is_empty() {
                div.slip-photos {
                    @for p in &case.photos {
                        figure {
                            img src={ "/dashboard/photos/" (p.sha256) } alt={ "照片 " (p.sha256.get(..8).unwrap_or_default()) };
                            figcaption { (photo_kind_zh(p.kind)) }
                        }
                    }
                }
            }
            div.signature {
                p { "派遣单位（盖章）：" span.blank {} }
                p { "签收人：" span.blank {} "　日期：" span.blank.short {} }
                p { "处置结果：" span.blank.wide {} }
            }
        }
    }
}

fn photo_kind_zh(kind: PhotoKind) -> &'static str {
    match kind {
        PhotoKind::Before => "处置前",
        PhotoKind::After => "处置后",
        PhotoKind::Verification => "核查",
    }
}
