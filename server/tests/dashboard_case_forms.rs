//! Working a case in the dashboard without stumbling (issue 13), over real HTTP on SQLite and
//! PostgreSQL: a refused action answers the case page with what was typed still in its form and a
//! plain Chinese error beside it (the code behind 技术细节); a non-JPEG photo is said in Chinese;
//! the unit lists are the routing's and the clerk's district's; the dispatch slip prints the case;
//! the queue sorts by status and shows photo thumbnails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use uuid::Uuid;

use common::{
    Backend, FilePart, TestServer, both_backends, dashboard_cookie, event, jpeg, multipart_form,
    outcome, report,
};
use xuncha_server::http::dashboard::case::ACTION_TEXT_MAX_CHARS;
use xuncha_server::http::dashboard::meeting::MAX_MINUTES_CHARS;

both_backends!(
    refused_actions_keep_what_was_typed,
    refused_minutes_keep_what_was_typed,
    a_photo_that_is_not_jpeg_is_said_in_chinese_and_keeps_the_form,
    errors_read_as_chinese_with_the_code_behind_a_toggle,
    unit_lists_follow_routing_and_the_clerks_district,
    the_dispatch_slip_prints_the_case_for_those_who_may_see_it,
    the_queue_sorts_by_status_and_shows_thumbnails,
);

fn web_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(t: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    common::dashboard_page(&t.base, cookie, path).await
}

fn csrf_of(html: &str) -> String {
    let needle = "name=\"csrf\" value=\"";
    let at = html.find(needle).unwrap() + needle.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Posts a case action form as the browser does (multipart), returns status and HTML.
async fn post_action(
    t: &TestServer,
    cookie: &str,
    case_id: Uuid,
    fields: &[(&str, &str)],
    photo: Option<FilePart<'_>>,
) -> (u16, String) {
    let (content_type, body) = multipart_form(fields, photo);
    let response = web_client()
        .post(t.url(&format!("/dashboard/cases/{case_id}/actions")))
        .header("cookie", cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The HTML of the form with `id` (empty when absent).
fn form<'a>(html: &'a str, id: &str) -> &'a str {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let rest = &html[start..];
    &rest[..rest.find("</form>").unwrap()]
}

/// What a person reads: the page without its technical-details toggles, tags and scripts.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<details") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</details>").unwrap() + start + "</details>".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    let body = &out[out.find("<main").unwrap_or(0)..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The technical-details toggles of a page, joined.
fn details(html: &str) -> String {
    html.match_indices("<details")
        .map(|(at, _)| {
            let rest = &html[at..];
            rest[..rest.find("</details>").unwrap()].to_owned()
        })
        .collect()
}

/// A GARBAGE case in 长春里 with the inspector's BEFORE photo, escalated by the committee and
/// dispatched by the street office to 和平区城管 (the routed owner).
async fn dispatched_case(t: &TestServer) -> Uuid {
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let case_id = Uuid::now_v7();
    let before = t.upload_photo(&inspector, jpeg(64, 48)).await;
    let mut reported = report(case_id, "changchunli", "GARBAGE");
    reported["photos"] = json!([{ "sha256": before, "kind": "BEFORE" }]);
    let committee = t.enrol("committee.changchunli").await.access_token;
    let street = t.enrol("street.nanyingmen").await.access_token;
    for (token, event) in [
        (&inspector, reported),
        (&committee, event(case_id, json!({ "kind": "ESCALATE" }))),
        (
            &street,
            event(
                case_id,
                json!({ "kind": "DISPATCH", "unit_id": "heping.city_management" }),
            ),
        ),
    ] {
        let pushed = t.push(token, vec![event]).await;
        assert_eq!(outcome(&pushed.results[0]), "APPLIED", "{pushed:?}");
    }
    case_id
}

async fn status_of(t: &TestServer, case_id: Uuid) -> String {
    let admin = t.enrol("admin").await.access_token;
    let (status, detail) = t.get(&admin, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["case"]["status"].as_str().unwrap().to_owned()
}

async fn refused_actions_keep_what_was_typed(backend: Backend) {
    let t = TestServer::start(backend).await;
    let case_id = dispatched_case(&t).await;
    let (_, dept) = dashboard_cookie(&t.base, "dept.heping.city").await;
    let path = format!("/dashboard/cases/{case_id}");
    let (_, page) = get(&t, &dept, &path).await;
    let csrf = csrf_of(&page);

    // RETURN without a reason (blank passes the browser's `required`): REASON_REQUIRED, answered
    // with the case page, the note still typed, the error beside the RETURN form.
    let note = "经查该处<垃圾>属物业清运范围";
    let (status, html) = post_action(
        &t,
        &dept,
        case_id,
        &[
            ("csrf", &csrf),
            ("kind", "RETURN"),
            ("version", ""),
            ("reason", "   "),
            ("note", note),
        ],
        None,
    )
    .await;
    assert_eq!(status, 422, "{html}");
    let returned = form(&html, "action-RETURN");
    assert!(
        returned.contains("经查该处&lt;垃圾&gt;属物业清运范围</textarea>"),
        "{returned}"
    );
    assert!(returned.contains("请填写退回理由"), "{returned}");
    assert!(
        returned.contains("REASON_REQUIRED"),
        "code behind the toggle"
    );
    assert!(!visible(&html).contains("REASON_REQUIRED"), "{html}");
    assert!(
        details(&html).contains("REASON_REQUIRED"),
        "{}",
        details(&html)
    );
    // The other forms stay empty.
    assert!(form(&html, "action-ACCEPT").contains("maxlength=\"2000\"></textarea>"));

    // A note over the limit, sent past the browser's maxlength: kept whole, said plainly.
    let long: String = "长".repeat(ACTION_TEXT_MAX_CHARS + 1);
    let (status, html) = post_action(
        &t,
        &dept,
        case_id,
        &[
            ("csrf", &csrf),
            ("kind", "RETURN"),
            ("version", ""),
            ("reason", "不属本单位职责"),
            ("note", &long),
        ],
        None,
    )
    .await;
    assert_eq!(status, 422, "{html}");
    let returned = form(&html, "action-RETURN");
    assert!(
        returned.contains(&format!("{long}</textarea>")),
        "note kept"
    );
    assert!(
        returned.contains("不属本单位职责</textarea>"),
        "reason kept"
    );
    assert!(
        returned.contains(&format!("备注不能超过 {ACTION_TEXT_MAX_CHARS} 字")),
        "{returned}"
    );
    assert!(!visible(&html).contains("字段 note"), "{}", visible(&html));
    assert_eq!(status_of(&t, case_id).await, "DISPATCHED");

    // A stale form (someone acted meanwhile): 409, the case page, the chosen unit and the note
    // kept in the street office's DISPATCH form after the department returns the case.
    let pushed = t
        .push(
            &t.enrol("dept.heping.city").await.access_token,
            vec![event(
                case_id,
                json!({ "kind": "RETURN", "reason": "不属本单位职责" }),
            )],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (_, page) = get(&t, &office, &path).await;
    let dispatch = form(&page, "action-DISPATCH");
    let other = dispatch
        .match_indices("<option value=\"")
        .map(|(at, m)| dispatch[at + m.len()..].split('"').next().unwrap())
        .find(|id| *id != "heping.city_management")
        .expect("a second dispatch target")
        .to_owned();
    let (status, html) = post_action(
        &t,
        &office,
        case_id,
        &[
            ("csrf", &csrf_of(&page)),
            ("kind", "DISPATCH"),
            ("version", "1"),
            ("unit_id", &other),
            ("note", "请三日内清运"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 409, "{html}");
    let dispatch = form(&html, "action-DISPATCH");
    assert!(
        dispatch.contains(&format!("<option value=\"{other}\" selected>")),
        "{dispatch}"
    );
    assert!(dispatch.contains("请三日内清运</textarea>"), "{dispatch}");
    assert!(dispatch.contains("已被他人更新"), "{dispatch}");
    assert_eq!(status_of(&t, case_id).await, "RETURNED");
}

async fn a_photo_that_is_not_jpeg_is_said_in_chinese_and_keeps_the_form(backend: Backend) {
    let t = TestServer::start(backend).await;
    let case_id = dispatched_case(&t).await;
    let dept_token = t.enrol("dept.heping.city").await.access_token;
    let pushed = t
        .push(
            &dept_token,
            vec![event(case_id, json!({ "kind": "ACCEPT" }))],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let (_, dept) = dashboard_cookie(&t.base, "dept.heping.city").await;
    let (_, page) = get(&t, &dept, &format!("/dashboard/cases/{case_id}")).await;
    let csrf = csrf_of(&page);
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    for (file, content_type, bytes) in [
        ("after.png", "image/png", png),
        ("notes.txt", "text/plain", "现场已清理".as_bytes()),
    ] {
        let (status, html) = post_action(
            &t,
            &dept,
            case_id,
            &[
                ("csrf", &csrf),
                ("kind", "HANDLE"),
                ("version", ""),
                ("note", "已清运，共两车"),
            ],
            Some((file, content_type, bytes)),
        )
        .await;
        assert_eq!(status, 422, "{file}: {html}");
        let handle = form(&html, "action-HANDLE");
        assert!(handle.contains("照片必须是 JPEG 格式"), "{handle}");
        assert!(handle.contains("已清运，共两车</textarea>"), "{handle}");
        let seen = visible(&html);
        assert!(!seen.contains("could not"), "{seen}");
        assert!(!seen.contains("PHOTO_UNDECODABLE"), "{seen}");
        assert!(details(&html).contains("PHOTO_UNDECODABLE"));
    }
    // Without any photo: the workflow's MISSING_EVIDENCE, in words.
    let (status, html) = post_action(
        &t,
        &dept,
        case_id,
        &[
            ("csrf", &csrf),
            ("kind", "HANDLE"),
            ("version", ""),
            ("note", "已清运"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 422, "{html}");
    let handle = form(&html, "action-HANDLE");
    assert!(handle.contains("请上传至少一张处置后照片"), "{handle}");
    assert!(!visible(&html).contains("kind = AFTER"));
    assert_eq!(status_of(&t, case_id).await, "ACCEPTED");
}

async fn errors_read_as_chinese_with_the_code_behind_a_toggle(backend: Backend) {
    let t = TestServer::start(backend).await;
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    // The queue's unknown sort: 422 UNKNOWN_SORT, said in words, the code behind the toggle.
    let (status, html) = get(&t, &office, "/dashboard/cases?sort=bogus").await;
    assert_eq!(status, 422);
    assert!(visible(&html).contains("未知的排序方式"), "{html}");
    assert!(!visible(&html).contains("UNKNOWN_SORT"), "{html}");
    assert!(details(&html).contains("UNKNOWN_SORT"));
    assert!(html.contains("<summary>技术细节</summary>"));
    // The error page (a case that does not exist).
    let (status, html) = get(&t, &office, &format!("/dashboard/cases/{}", Uuid::now_v7())).await;
    assert_eq!(status, 404);
    assert!(visible(&html).contains("未找到"), "{html}");
    assert!(!visible(&html).contains("NOT_FOUND"), "{html}");
    assert!(details(&html).contains("NOT_FOUND"));
    // The dashboard's VERIFY refusal (a hand-made post) is a form refusal too: the case page.
    let case_id = dispatched_case(&t).await;
    let (_, page) = get(&t, &office, &format!("/dashboard/cases/{case_id}")).await;
    let (status, html) = post_action(
        &t,
        &office,
        case_id,
        &[("csrf", &csrf_of(&page)), ("kind", "VERIFY"), ("note", "x")],
        None,
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("id=\"actions\""), "the case page: {html}");
    assert!(details(&html).contains("VERIFY_ON_SITE_ONLY"));
    assert!(!visible(&html).contains("VERIFY_ON_SITE_ONLY"));
    // The sign-in page's refusal of a stale form: words on screen, the code behind the toggle.
    let response = web_client()
        .post(t.url("/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=street.nanyingmen&password=x&csrf=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(visible(&html).contains("登录表单已过期"), "{html}");
    assert!(!visible(&html).contains("CSRF_FAILED"), "{html}");
    assert!(details(&html).contains("CSRF_FAILED"));
}

async fn unit_lists_follow_routing_and_the_clerks_district(backend: Backend) {
    let t = TestServer::start(backend).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let lift = Uuid::now_v7();
    let pushed = t
        .push(&inspector, vec![report(lift, "changchunli", "ELEVATOR")])
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (_, html) = get(&t, &office, &format!("/dashboard/cases/{lift}")).await;
    let dispatch = form(&html, "action-DISPATCH");
    // Only the routing's targets: no other district's unit, the routed owner pre-selected.
    assert!(!dispatch.contains("hexi."), "{dispatch}");
    assert!(!dispatch.contains("nankai."), "{dispatch}");
    assert!(!dispatch.contains("heping.civil_affairs"), "{dispatch}");
    let selected = dispatch
        .split("<option ")
        .filter(|o| o.contains(" selected>"))
        .count();
    assert_eq!(selected, 1, "{dispatch}");
    // The queue's 责任单位 filter: one group per district, the clerk's own first.
    let (_, html) = get(&t, &office, "/dashboard/cases").await;
    let start = html.find("name=\"unit\"").unwrap();
    let select = &html[start..start + html[start..].find("</select>").unwrap()];
    let groups: Vec<&str> = select
        .match_indices("<optgroup label=\"")
        .map(|(at, m)| select[at + m.len()..].split('"').next().unwrap())
        .collect();
    assert_eq!(groups.first(), Some(&"和平区"), "{select}");
    assert!(groups.contains(&"河西区"), "{groups:?}");
    let heping = select.find("<optgroup label=\"和平区\"").unwrap();
    let hexi = select.find("<optgroup label=\"河西区\"").unwrap();
    assert!(select[heping..hexi].contains("heping.city_management"));
    assert!(!select[heping..hexi].contains("hexi."));
}

async fn the_dispatch_slip_prints_the_case_for_those_who_may_see_it(backend: Backend) {
    let t = TestServer::start(backend).await;
    let case_id = dispatched_case(&t).await;
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (_, page) = get(&t, &office, &format!("/dashboard/cases/{case_id}")).await;
    let slip_path = format!("/dashboard/cases/{case_id}/slip");
    assert!(page.contains(&format!("href=\"{slip_path}\"")), "{page}");
    assert!(page.contains("打印派遣单"));
    let (status, slip) = get(&t, &office, &slip_path).await;
    assert_eq!(status, 200, "{slip}");
    for expected in [
        "派遣单",
        "GARBAGE",
        "长春里",
        "3号楼",
        "和平区城市管理委员会",
        "签收人",
        "日期",
        "派遣期限",
        "处置期限",
        "GCJ-02",
        "WGS-84",
        "/dashboard/photos/",
        "data-print",
    ] {
        assert!(slip.contains(expected), "{expected}: {slip}");
    }
    // The legal basis of the routing decision, as the case page quotes it.
    let basis_at = page.find("id=\"routing-basis\"").unwrap();
    let quote = page[basis_at..].split('>').nth(1).unwrap();
    let quote = &quote[..quote.find('<').unwrap()];
    assert!(!quote.is_empty() && slip.contains(quote), "{quote}");
    // The case title is the case page's.
    let title = |html: &str| {
        let at = html.find("<h1>").unwrap() + 4;
        html[at..html[at..].find("</h1>").unwrap() + at].to_owned()
    };
    assert!(title(&slip).contains(&title(&page)), "{}", title(&slip));
    // Same visibility as the case page: another street's office is refused.
    let (_, outsider) = dashboard_cookie(&t.base, "inspector.pingshandao").await;
    let (status, _) = get(&t, &outsider, &slip_path).await;
    let (page_status, _) = get(&t, &outsider, &format!("/dashboard/cases/{case_id}")).await;
    assert_eq!(status, page_status);
    assert!(status == 403 || status == 404, "{status}");
}

async fn the_queue_sorts_by_status_and_shows_thumbnails(backend: Backend) {
    let t = TestServer::start(backend).await;
    let with_photo = dispatched_case(&t).await;
    let inspector = t.enrol("inspector.changchunli").await.access_token;
    let bare = Uuid::now_v7();
    let pushed = t
        .push(&inspector, vec![report(bare, "changchunli", "ELEVATOR")])
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;

    let (status, html) = get(&t, &office, "/dashboard/cases?sort=status").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<option value=\"status\" selected>"),
        "{html}"
    );
    // Lifecycle order: REPORTED before DISPATCHED.
    let reported = html.find(&format!("data-case=\"{bare}\"")).unwrap();
    let dispatched = html.find(&format!("data-case=\"{with_photo}\"")).unwrap();
    assert!(reported < dispatched);
    let (status, _) = get(&t, &office, "/dashboard/cases?sort=bogus").await;
    assert_eq!(status, 422);

    // A thumbnail for the case with a photo: lazy, sized, served as a JPEG to who may see it.
    let row = &html[dispatched..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = row.find("<img").expect("a thumbnail");
    let img = &row[at..at + row[at..].find('>').unwrap()];
    assert!(img.contains("loading=\"lazy\""), "{img}");
    assert!(
        img.contains("width=\"") && img.contains("height=\""),
        "{img}"
    );
    let src = img
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(src.ends_with("/thumb"), "{src}");
    let response = web_client()
        .get(t.url(src))
        .header("cookie", &office)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"\xff\xd8", "a JPEG");
    let row_bare = &html[reported..];
    let row_bare = &row_bare[..row_bare.find("</tr>").unwrap()];
    assert!(!row_bare.contains("<img"), "{row_bare}");
    // Another street's office may not read it.
    let (_, outsider) = dashboard_cookie(&t.base, "inspector.pingshandao").await;
    let response = web_client()
        .get(t.url(src))
        .header("cookie", &outsider)
        .send()
        .await
        .unwrap();
    assert!(matches!(response.status().as_u16(), 403 | 404));
}

async fn refused_minutes_keep_what_was_typed(backend: Backend) {
    let t = TestServer::start(backend).await;
    let case_id = dispatched_case(&t).await;
    // Returned: on the joint meeting's agenda.
    let dept = t.enrol("dept.heping.city").await.access_token;
    let pushed = t
        .push(
            &dept,
            vec![event(
                case_id,
                json!({ "kind": "RETURN", "reason": "不属本单位职责" }),
            )],
        )
        .await;
    assert_eq!(outcome(&pushed.results[0]), "APPLIED");
    let (_, office) = dashboard_cookie(&t.base, "street.nanyingmen").await;
    let (_, page) = get(&t, &office, "/dashboard/meeting").await;
    let form_id = format!("minutes-{case_id}");
    assert!(page.contains(&form_id), "{page}");
    let long = "议".repeat(MAX_MINUTES_CHARS + 1);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf_of(&page))
        .append_pair("case_id", &case_id.to_string())
        .append_pair("unit_id", "heping.housing")
        .append_pair("text", &long)
        .finish();
    let response = web_client()
        .post(t.url("/dashboard/meeting/minutes"))
        .header("cookie", &office)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    let minutes = form(&html, &form_id);
    assert!(minutes.contains(&format!("{long}</textarea>")), "text kept");
    assert!(
        minutes.contains("<option value=\"heping.housing\" selected>"),
        "{minutes}"
    );
    assert!(minutes.contains("纪要内容不能为空"), "{minutes}");
    assert!(!visible(&html).contains("MINUTES_TEXT"));
    // The member units: the clerk's district first.
    let group = minutes.find("<optgroup label=\"").unwrap();
    assert!(
        minutes[group..].starts_with("<optgroup label=\"和平区\""),
        "{minutes}"
    );
}
