//! Server-rendered HTML: escaping and the page frame. Every dynamic string goes through [`esc`];
//! pages are built with `format!`/`push_str` on top of it, so there is no template engine to learn.

use std::fmt::Write as _;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass through).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The navigation entries; `admin_only` ones are shown to the civil-affairs admin only.
pub const NAV: [(&str, &str, bool); 5] = [
    ("/dashboard/cases", "案件队列", false),
    ("/dashboard/map", "地图", false),
    ("/dashboard/kpi", "考核评价", false),
    ("/dashboard/meeting", "联席会议", false),
    ("/dashboard/estates", "小区管理", true),
];

/// Who is signed in, as the page frame shows it.
pub struct FrameUser<'a> {
    pub display_name: &'a str,
    pub role_zh: &'a str,
    pub unit_name: &'a str,
    pub is_admin: bool,
    pub csrf_token: &'a str,
}

/// A whole HTML document: header with navigation (when signed in), then `body` (already HTML).
pub fn page(title: &str, active: &str, user: Option<&FrameUser<'_>>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · 巡查 老旧小区长效管理</title>\
         <link rel=\"stylesheet\" href=\"/dashboard/assets/app.css\">\
         <script src=\"/dashboard/assets/app.js\" defer></script></head><body>",
        esc(title)
    );
    out.push_str("<header class=\"top\"><span class=\"brand\">巡查 · 旧楼区长效管理</span>");
    if let Some(user) = user {
        out.push_str("<nav>");
        for (href, label, admin_only) in NAV {
            if admin_only && !user.is_admin {
                continue;
            }
            let class = if href == active {
                " class=\"active\""
            } else {
                ""
            };
            let _ = write!(out, "<a href=\"{href}\"{class}>{label}</a>");
        }
        out.push_str("</nav>");
        let _ = write!(
            out,
            "<span class=\"who\">{} · {} · {}</span>\
             <form method=\"post\" action=\"/dashboard/logout\" class=\"inline\">{}\
             <button type=\"submit\" class=\"link\">退出</button></form>",
            esc(user.display_name),
            esc(user.role_zh),
            esc(user.unit_name),
            csrf_field(user.csrf_token)
        );
    }
    out.push_str("</header><main>");
    let _ = write!(out, "<h1>{}</h1>", esc(title));
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// The hidden CSRF field every POST form carries.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// `<option>` list; `selected` is compared with each value.
pub fn options<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &str) -> String {
    let mut out = String::new();
    for (value, label) in items {
        let sel = if value == selected { " selected" } else { "" };
        let _ = write!(
            out,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(label)
        );
    }
    out
}

/// A short message box (errors from the workflow, confirmations).
pub fn notice(kind: NoticeKind, text: &str) -> String {
    let class = match kind {
        NoticeKind::Error => "notice error",
        NoticeKind::Info => "notice info",
    };
    format!("<p class=\"{class}\" role=\"status\">{}</p>", esc(text))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Error,
    Info,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn esc_neutralises_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("长春里"), "长春里");
    }

    #[test]
    fn url_encode_encodes_utf8_and_reserved() {
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
        assert_eq!(url_encode("长"), "%E9%95%BF");
    }

    #[test]
    fn page_hides_admin_nav_from_others_and_escapes_user() {
        let user = FrameUser {
            display_name: "<b>王</b>",
            role_zh: "街道办事处",
            unit_name: "南营门街道办事处",
            is_admin: false,
            csrf_token: "tok",
        };
        let html = page("案件队列", "/dashboard/cases", Some(&user), "<p>x</p>");
        assert!(html.contains("&lt;b&gt;王&lt;/b&gt;"));
        assert!(!html.contains("/dashboard/estates"));
        assert!(html.contains("class=\"active\">案件队列"));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
    }
}
