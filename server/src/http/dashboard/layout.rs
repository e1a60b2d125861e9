//! The page frame and the small pieces every page shares: header with navigation, flash notices,
//! the CSRF field, `<select>` options, table heads and status badges. Built with maud, which
//! escapes every value it is given; only `Markup` (already built by maud) passes through as HTML.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use xuncha_core::{CaseStatus, OrgUnit, Role};

use super::map::status_colour;

/// The navigation entries; `admin_only` ones are shown to the civil-affairs admin only.
pub const NAV: [(&str, &str, bool); 5] = [
    ("/dashboard/cases", "案件队列", false),
    ("/dashboard/map", "地图", false),
    ("/dashboard/kpi", "考核评价", false),
    ("/dashboard/meeting", "联席会议", false),
    ("/dashboard/estates", "小区管理", true),
];

/// The Content-Security-Policy of every page: local assets only, no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// The product name, the same in every page's `<title>` and header (the policy's term is 旧楼区).
pub const PRODUCT_NAME: &str = "巡查 · 旧楼区长效管理";

/// Who is signed in, as the page frame shows it.
pub struct FrameUser<'a> {
    pub display_name: &'a str,
    /// `None` when the unit already says it (a street office's account in a street office).
    pub role_zh: Option<&'a str>,
    pub unit_name: &'a str,
    pub is_admin: bool,
    pub csrf_token: &'a str,
}

/// A whole HTML document: header with navigation (when signed in), the title, then `body`.
pub fn page(title: &str, active: &str, user: Option<&FrameUser<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (PRODUCT_NAME) }
                link rel="stylesheet" href="/dashboard/assets/app.css";
                script src="/dashboard/assets/app.js" defer {}
            }
            body {
                header.top {
                    span.brand { (PRODUCT_NAME) }
                    @if let Some(user) = user {
                        (nav(user, active))
                        span.who { (who_line(user)) }
                        form method="post" action="/dashboard/logout" class="inline" {
                            (csrf_field(user.csrf_token))
                            button type="submit" class="link" { "退出" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The header's "who is signed in": the unit once, the person's name when the account has one of
/// its own, the role when the unit does not already say it.
fn who_line(user: &FrameUser<'_>) -> Markup {
    let name = user.display_name.trim();
    // Office accounts are often named after their unit ("南营门街道办事处" in
    // "和平区南营门街道办事处"); repeating it says nothing.
    let person = (!name.is_empty() && !user.unit_name.contains(name)).then_some(name);
    html! {
        @if let Some(person) = person { (person) " · " }
        (user.unit_name)
        @if let Some(role) = user.role_zh { " · " (role) }
    }
}

/// Whether a role names something the unit's name does not: an inspector or the civil-affairs
/// admin is a person's job inside a unit; the other roles are the unit's own kind.
pub fn role_adds_to_unit(role: Role) -> bool {
    match role {
        Role::Inspector | Role::Admin => true,
        Role::CompanyStaff | Role::Committee | Role::StreetOffice | Role::Department => false,
    }
}

fn nav(user: &FrameUser<'_>, active: &str) -> Markup {
    html! {
        nav {
            @for (href, label, admin_only) in NAV {
                @if !admin_only || user.is_admin {
                    a href=(href) class=[(href == active).then_some("active")] { (label) }
                }
            }
        }
    }
}

/// The hidden CSRF field every POST form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// `<option>` list; `selected` is compared with each value.
pub fn options<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &str) -> Markup {
    html! {
        @for (value, label) in items {
            option value=(value) selected[value == selected] { (label) }
        }
    }
}

/// Units as `<option>`s in one `<optgroup>` per district: `own_district` first, the other
/// districts by name, city-wide units (no district) last; by name inside a group. A clerk finds
/// their own district's units at the top instead of in a flat list of every district's.
pub fn unit_options(units: &[&OrgUnit], own_district: Option<&str>, selected: &str) -> Markup {
    const CITY_WIDE: &str = "市级单位";
    let mut groups: std::collections::BTreeMap<(u8, &str), Vec<&OrgUnit>> = Default::default();
    for &unit in units {
        let key = match unit.district.as_deref() {
            Some(d) if Some(d) == own_district => (0, d),
            Some(d) => (1, d),
            None => (2, CITY_WIDE),
        };
        groups.entry(key).or_default().push(unit);
    }
    for members in groups.values_mut() {
        members.sort_by(|a, b| a.name.cmp(&b.name));
    }
    html! {
        @for ((_, label), members) in &groups {
            optgroup label=(label) {
                (options(members.iter().map(|u| (u.id.as_str(), u.name.as_str())), selected))
            }
        }
    }
}

/// A table's head row.
pub fn head_row(headers: &[&str]) -> Markup {
    html! { thead { tr { @for h in headers { th { (h) } } } } }
}

/// How a case is named on every page: its case number (案件编号, given by the server at ingest),
/// or, for a row read without one, the first 8 characters of its id.
pub fn case_label(number: Option<&str>, case_id: uuid::Uuid) -> String {
    number.map_or_else(
        || case_id.simple().to_string()[..8].to_owned(),
        str::to_owned,
    )
}

/// Status badge with the map's colour.
pub fn status_badge(status: CaseStatus) -> Markup {
    html! {
        span.badge data-status=(status.code()) style={ "background:" (status_colour(status)) } {
            (status.name_zh())
        }
    }
}

/// The red "overdue" flag after a deadline or status.
pub fn overdue_flag(overdue: bool) -> Markup {
    html! { @if overdue { " " span.overdue-flag { "已超期" } } }
}

/// A short message box (errors from the workflow, confirmations).
pub fn notice(kind: NoticeKind, text: &str) -> Markup {
    let class = match kind {
        NoticeKind::Error => "notice error",
        NoticeKind::Info => "notice info",
    };
    html! { p class=(class) role="status" { (text) } }
}

/// A flash message shown above a page's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Error,
    Info,
}

/// An HTML response with the security headers every dashboard page carries.
pub fn html_response(markup: Markup) -> Response {
    let mut resp = markup.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn page_hides_admin_nav_from_others_and_escapes_user() {
        let user = FrameUser {
            display_name: "<b>王</b>",
            role_zh: None,
            unit_name: "南营门街道办事处",
            is_admin: false,
            csrf_token: "tok",
        };
        let html = page(
            "案件队列",
            "/dashboard/cases",
            Some(&user),
            html! { p { "x" } },
        )
        .into_string();
        assert!(html.contains("&lt;b&gt;王&lt;/b&gt;"));
        assert!(!html.contains("/dashboard/estates"));
        assert!(html.contains("class=\"active\">案件队列"));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
    }

    fn frame_user<'a>(display_name: &'a str, role_zh: Option<&'a str>) -> FrameUser<'a> {
        FrameUser {
            display_name,
            role_zh,
            unit_name: "和平区南营门街道办事处",
            is_admin: false,
            csrf_token: "tok",
        }
    }

    fn who(html: &str) -> &str {
        let start = html.find("<span class=\"who\">").unwrap();
        let rest = &html[start..];
        &rest[..rest.find("</span>").unwrap()]
    }

    #[test]
    fn header_names_the_unit_once_and_the_product_everywhere() {
        let html = page(
            "案件队列",
            "/dashboard/cases",
            Some(&frame_user("南营门街道办事处", None)),
            html! {},
        )
        .into_string();
        assert_eq!(who(&html), "<span class=\"who\">和平区南营门街道办事处");
        assert_eq!(html.matches("南营门街道办事处").count(), 1, "{html}");
        assert!(html.contains("<title>案件队列 · 巡查 · 旧楼区长效管理</title>"));
        assert!(html.contains("<span class=\"brand\">巡查 · 旧楼区长效管理</span>"));
        assert!(!html.contains("老旧小区"));
    }

    #[test]
    fn header_shows_a_person_and_a_role_that_add_information() {
        let html = page(
            "案件队列",
            "/dashboard/cases",
            Some(&frame_user("王芳", Some("巡查员"))),
            html! {},
        )
        .into_string();
        assert_eq!(
            who(&html),
            "<span class=\"who\">王芳 · 和平区南营门街道办事处 · 巡查员"
        );
        assert!(role_adds_to_unit(Role::Inspector));
        assert!(!role_adds_to_unit(Role::StreetOffice));
    }

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let html = options([("\"x\"", "<script>alert('x') & y</script>")], "").into_string();
        assert_eq!(
            html,
            "<option value=\"&quot;x&quot;\">&lt;script&gt;alert('x') &amp; y&lt;/script&gt;</option>"
        );
    }
}
