//! The case queue page: filters from the query string (search, "我的待办"), a chosen sort
//! (deadline by default), counts per status, and the table/CSV/XLSX views of the same rows.
//! Reads through the user's [`ScopedReader`], so a filter only ever narrows what the user may see.

use std::collections::{BTreeMap, HashMap};

use crate::http::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use maud::{Markup, html};
use serde::Deserialize;
use xuncha_core::estate::Estate;
use xuncha_core::org::OrgUnit;
use xuncha_core::time::format_local;
use xuncha_core::{Case, CaseStatus, Category, Role};

use super::case_columns::{ExportContext, case_table};
use super::error::{BadInput, WebError};
use super::export::{Table, csv_download, xlsx_download};
use super::layout::{
    case_label, head_row, html_response, options, overdue_flag, page, status_badge, unit_options,
};
use super::reader::ScopedReader;
use crate::model::routing::RoutedUnit;
use crate::storage::{
    AwaitingUnit, CaseCursor, CaseQuery, CaseRow, CaseScope, CaseSort, UserRecord,
};

/// Cases per queue page.
const QUEUE_PAGE: usize = 200;

/// Characters of a description shown in a queue row (about one table line in Chinese).
const DESCRIPTION_CHARS: usize = 30;

/// The sorts the queue offers: query-string code, label, storage sort. The first is the default.
const SORTS: [(&str, &str, CaseSort); 4] = [
    ("", "期限最近在前", CaseSort::DueSoonest),
    ("newest", "最新上报在前", CaseSort::Newest),
    ("oldest", "最早上报在前", CaseSort::Oldest),
    ("status", "按状态（流程顺序）", CaseSort::Status),
];

const TITLE: &str = "案件队列";
const PATH: &str = "/dashboard/cases";

pub async fn queue_page(
    reader: ScopedReader,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let estates = reader.estates();
    let units = reader.catalog().units();
    let names = Names::new(&estates, units);
    let now = Utc::now();
    let own_district = reader.own_district();
    let form = filter_form(&filter, &estates, units, own_district.as_deref());
    let frame = reader.web().frame();
    let mut query = match user_query(&reader, &filter, &estates, now) {
        Ok(query) => query,
        Err(e) => {
            let body = html! {
                (form)
                (BadInput::Filter(e).problem().render())
            };
            let html = page(TITLE, PATH, Some(&frame), body);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, html_response(html)).into_response());
        }
    };
    query.limit = QUEUE_PAGE;
    let page_rows = reader.page(query).await?;
    let counts = page_rows
        .counts
        .iter()
        .filter_map(|(code, n)| Some((CaseStatus::from_code(code)?, *n as usize)))
        .collect();
    let qs = filter.query_string();
    let items: Vec<QueueItem<'_>> = page_rows
        .rows
        .iter()
        .map(|r| QueueItem {
            case: &r.case,
            number: r.number.as_deref(),
            // Only before the first dispatch: after a return the routed owner is often the unit
            // that just said "not ours".
            routed_owner: r
                .dispatched_units
                .is_empty()
                .then(|| r.routed())
                .flatten()
                .map(|routed| routed.owner),
        })
        .collect();
    let body = html! {
        (form)
        (active_search(&filter))
        (counts_bar(&counts, page_rows.total() as usize, &filter))
        p.exports {
            "导出当前列表："
            a href={ "/dashboard/cases.csv?" (qs) } id="export-csv" { "CSV" }
            a href={ "/dashboard/cases.xlsx?" (qs) } id="export-xlsx" { "Excel (XLSX)" }
        }
        (queue_table(&items, &names, now))
        @if let Some(next) = &page_rows.next {
            p.pager {
                a id="next-page" href={ "/dashboard/cases?" (filter.query_string_after(&next.encode())) } { "下一页" }
            }
        }
    };
    Ok(html_response(page(TITLE, PATH, Some(&frame), body)))
}

/// The whole filtered list (every page) as an export table.
async fn export_table(reader: &ScopedReader, filter: &QueueFilter) -> Result<Table, WebError> {
    let estates = reader.estates();
    let names = Names::new(&estates, reader.catalog().units());
    let now = Utc::now();
    let mut query = user_query(reader, filter, &estates, now).map_err(BadInput::Filter)?;
    // An export is the whole list, whatever page the screen was on.
    query.after = None;
    let rows = reader.all(query).await?;
    Ok(queue_export(&rows, &names, now))
}

pub async fn queue_csv(
    reader: ScopedReader,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let table = export_table(&reader, &filter).await?;
    Ok(csv_download(&table, "案件清单"))
}

pub async fn queue_xlsx(
    reader: ScopedReader,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let table = export_table(&reader, &filter).await?;
    xlsx_download(table, "案件清单").await
}

/// The storage query of the page and its exports: the filter inside the user's scope, with
/// "我的待办" read against the signed-in user's unit.
fn user_query(
    reader: &ScopedReader,
    filter: &QueueFilter,
    estates: &[Estate],
    now: DateTime<Utc>,
) -> Result<CaseQuery, FilterError> {
    let mut query = filter.to_query(reader.scope(), estates, now)?;
    if filter.mine() {
        query.awaiting = Some(awaiting_for(reader.user()));
    }
    Ok(query)
}

/// What "我的待办" means for a user: what waits for their unit to accept or handle it, and for a
/// street office also what waits for its dispatch (`Case::waiting_for`).
pub fn awaiting_for(user: &UserRecord) -> AwaitingUnit {
    AwaitingUnit {
        unit: user.unit_id.clone(),
        dispatch: user.role == Role::StreetOffice,
    }
}

/// Query-string filters. Empty strings mean "any" (that is what an untouched `<select>` sends).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct QueueFilter {
    pub status: String,
    pub category: String,
    pub estate: String,
    pub community: String,
    pub unit: String,
    /// `1` = only overdue, `0` = only on time, empty = all.
    pub overdue: String,
    /// Reported on or after this Beijing date (YYYY-MM-DD).
    pub from: String,
    /// Reported on or before this Beijing date (YYYY-MM-DD).
    pub to: String,
    /// `open` (default) shows open cases only; `all` includes closed and cancelled.
    pub scope: String,
    /// Words in the description, location note, building or case number.
    pub q: String,
    /// A code of [`SORTS`]; empty = running deadline soonest first.
    pub sort: String,
    /// `1` = only the cases waiting for the signed-in user's unit ("我的待办").
    pub mine: String,
    /// Where the previous page ended (`CaseCursor::encode`); empty for the first page.
    pub after: String,
}

/// The filter is wrong (an unknown code, a malformed date): said plainly on the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("未知的案件状态代码 {0}")]
    UnknownStatus(String),
    #[error("未知的问题类别代码 {0}")]
    UnknownCategory(String),
    #[error("日期格式应为 YYYY-MM-DD：{0}")]
    BadDate(String),
    #[error("翻页位置无效：{0}")]
    BadCursor(String),
    #[error("未知的排序方式 {0}")]
    UnknownSort(String),
}

impl FilterError {
    pub fn code(&self) -> &'static str {
        match self {
            FilterError::UnknownStatus(_) => "UNKNOWN_STATUS",
            FilterError::UnknownCategory(_) => "UNKNOWN_CATEGORY",
            FilterError::BadDate(_) => "BAD_DATE",
            FilterError::BadCursor(_) => "BAD_CURSOR",
            FilterError::UnknownSort(_) => "UNKNOWN_SORT",
        }
    }
}

/// The deadline the case runs against now (the core's `Case::current_due`).
pub fn current_deadline(case: &Case) -> Option<DateTime<Utc>> {
    case.current_due()
}

/// Past its current deadline (the core's `Case::is_overdue`).
pub fn is_overdue(case: &Case, now: DateTime<Utc>) -> bool {
    case.is_overdue(now)
}

fn parse_day(text: &str) -> Result<Option<NaiveDate>, FilterError> {
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| FilterError::BadDate(text.to_string()))
}

/// First instant of a Beijing calendar day, as UTC.
fn day_start(day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    // Asia/Shanghai has had no DST since 1991: local midnight is unambiguous.
    Shanghai
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
}

impl QueueFilter {
    /// Checks the codes and dates once, before filtering.
    pub fn validate(&self) -> Result<(), FilterError> {
        self.to_query(CaseScope::All, &[], Utc::now()).map(|_| ())
    }

    /// "我的待办" is on.
    pub fn mine(&self) -> bool {
        self.mine == "1"
    }

    fn case_sort(&self) -> Result<CaseSort, FilterError> {
        SORTS
            .iter()
            .find(|(code, _, _)| *code == self.sort)
            .map(|(_, _, sort)| *sort)
            .ok_or_else(|| FilterError::UnknownSort(self.sort.clone()))
    }

    fn include_closed(&self) -> bool {
        self.scope == "all" || !self.status.is_empty()
    }

    /// The storage query for this filter inside `scope`, in the chosen sort (by default the
    /// running deadline, soonest first, none last). "我的待办" needs the user: see `user_query`. `estates` are the caller's visible estates (for the community filter).
    pub fn to_query(
        &self,
        scope: CaseScope,
        estates: &[Estate],
        now: DateTime<Utc>,
    ) -> Result<CaseQuery, FilterError> {
        let mut query = CaseQuery::new(scope, now);
        query.sort = self.case_sort()?;
        if !self.status.is_empty() {
            let status = CaseStatus::from_code(&self.status)
                .ok_or_else(|| FilterError::UnknownStatus(self.status.clone()))?;
            query.statuses = vec![status];
        }
        if !self.category.is_empty() {
            let category = Category::from_code(&self.category)
                .ok_or_else(|| FilterError::UnknownCategory(self.category.clone()))?;
            query.categories = vec![category];
        }
        if !self.include_closed() {
            query.open = Some(true);
        }
        if !self.community.is_empty() {
            query.estate_ids = Some(
                estates
                    .iter()
                    .filter(|e| e.community == self.community)
                    .filter(|e| self.estate.is_empty() || e.id == self.estate)
                    .map(|e| e.id.clone())
                    .collect(),
            );
        } else if !self.estate.is_empty() {
            query.estate_ids = Some(vec![self.estate.clone()]);
        }
        if !self.unit.is_empty() {
            query.assigned_unit = Some(self.unit.clone());
        }
        query.overdue = match self.overdue.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        };
        query.reported_from = parse_day(&self.from)?.map(day_start);
        query.reported_to = parse_day(&self.to)?
            .and_then(|day| day.checked_add_days(Days::new(1)))
            .map(|next| day_start(next) - TimeDelta::microseconds(1));
        let text = self.q.trim();
        if !text.is_empty() {
            query.text = Some(text.to_owned());
        }
        if !self.after.is_empty() {
            query.after = Some(
                CaseCursor::decode(&self.after)
                    .ok_or_else(|| FilterError::BadCursor(self.after.clone()))?,
            );
        }
        Ok(query)
    }

    /// The filter over cases in memory (the storage query's own in-memory form), in the
    /// query's order.
    pub fn apply<'a>(
        &self,
        cases: &'a [Case],
        estates: &HashMap<&str, &Estate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<&'a Case>, FilterError> {
        let estates: Vec<Estate> = estates.values().map(|e| (*e).clone()).collect();
        let query = self.to_query(CaseScope::All, &estates, now)?;
        let mut out: Vec<&Case> = cases.iter().filter(|c| query.matches_case(c)).collect();
        out.sort_by_key(|c| (query.sort_key(c), c.id));
        Ok(out)
    }

    /// The non-empty filter fields (without the page position).
    fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("status", &self.status),
            ("category", &self.category),
            ("estate", &self.estate),
            ("community", &self.community),
            ("unit", &self.unit),
            ("overdue", &self.overdue),
            ("from", &self.from),
            ("to", &self.to),
            ("scope", &self.scope),
            ("q", &self.q),
            ("sort", &self.sort),
            ("mine", &self.mine),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
    }

    /// The same filter as a query string (for export links).
    pub fn query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs())
            .finish()
    }

    /// The filter's query string continued after `cursor` (the next page's link).
    pub fn query_string_after(&self, cursor: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs())
            .append_pair("after", cursor)
            .finish()
    }
}

/// Number of cases per status among `cases`, in lifecycle order.
pub fn counts_per_status(cases: &[&Case]) -> BTreeMap<CaseStatus, usize> {
    let mut counts = BTreeMap::new();
    for case in cases {
        *counts.entry(case.status).or_insert(0) += 1;
    }
    counts
}

/// Names to show for estates and units; unknown ids fall back to the id.
pub struct Names<'a> {
    pub estates: HashMap<&'a str, &'a Estate>,
    pub units: HashMap<&'a str, &'a OrgUnit>,
}

impl<'a> Names<'a> {
    pub fn new(estates: &'a [Estate], units: &'a [OrgUnit]) -> Names<'a> {
        Names {
            estates: estates.iter().map(|e| (e.id.as_str(), e)).collect(),
            units: units.iter().map(|u| (u.id.as_str(), u)).collect(),
        }
    }

    pub fn estate<'b>(&self, id: &'b str) -> &'b str
    where
        'a: 'b,
    {
        self.estates.get(id).map_or(id, |e| e.name.as_str())
    }

    pub fn unit<'b>(&self, id: &'b str) -> &'b str
    where
        'a: 'b,
    {
        self.units.get(id).map_or(id, |u| u.name.as_str())
    }
}

/// The filter form. Choices come from what the user can see.
pub fn filter_form(
    filter: &QueueFilter,
    estates: &[Estate],
    units: &[OrgUnit],
    own_district: Option<&str>,
) -> Markup {
    let statuses = std::iter::once(("", "全部状态"))
        .chain(CaseStatus::ALL.iter().map(|s| (s.code(), s.name_zh())));
    let categories = std::iter::once(("", "全部类别"))
        .chain(Category::ALL.iter().map(|c| (c.code(), c.info().name_zh)));
    let estate_opts = std::iter::once(("", "全部小区"))
        .chain(estates.iter().map(|e| (e.id.as_str(), e.name.as_str())));
    let mut communities: Vec<&str> = estates.iter().map(|e| e.community.as_str()).collect();
    communities.sort_unstable();
    communities.dedup();
    let community_opts =
        std::iter::once(("", "全部社区")).chain(communities.iter().map(|c| (*c, *c)));
    let units: Vec<&OrgUnit> = units.iter().collect();
    let overdue_opts = [("", "不限超期"), ("1", "仅超期"), ("0", "未超期")];
    let scope_opts = [("", "在办案件"), ("all", "含已结案/作废")];
    let sort_opts = SORTS.iter().map(|(code, label, _)| (*code, *label));
    html! {
        form method="get" action="/dashboard/cases" class="filters" id="filters" {
            label {
                "搜索 "
                input type="search" name="q" id="search" value=(filter.q)
                    placeholder="描述、位置、楼栋或案件编号";
            }
            label {
                input type="checkbox" name="mine" id="mine" value="1" checked[filter.mine()];
                " 我的待办"
            }
            label { "状态 " select name="status" { (options(statuses, &filter.status)) } }
            label { "类别 " select name="category" { (options(categories, &filter.category)) } }
            label { "小区 " select name="estate" { (options(estate_opts, &filter.estate)) } }
            label { "社区 " select name="community" { (options(community_opts, &filter.community)) } }
            label {
                "责任单位 "
                select name="unit" {
                    (options([("", "全部责任单位")], &filter.unit))
                    (unit_options(&units, own_district, &filter.unit))
                }
            }
            label { "超期 " select name="overdue" { (options(overdue_opts, &filter.overdue)) } }
            label {
                "上报日期 " input type="date" name="from" value=(filter.from);
                " 至 " input type="date" name="to" value=(filter.to);
            }
            label { "范围 " select name="scope" { (options(scope_opts, &filter.scope)) } }
            label { "排序 " select name="sort" id="sort" { (options(sort_opts, &filter.sort)) } }
            button type="submit" id="apply-filter" { "筛选" }
            " "
            a href="/dashboard/cases" { "清除" }
        }
    }
}

/// The active search, said above the list, with a link that drops only the search.
pub fn active_search(filter: &QueueFilter) -> Markup {
    let words = filter.q.trim();
    let without = QueueFilter {
        q: String::new(),
        ..filter.clone()
    };
    html! {
        @if !words.is_empty() {
            p.active-search id="active-search" {
                "当前搜索：“" b { (words) } "” "
                a href={ "/dashboard/cases?" (without.query_string()) } { "清除搜索" }
            }
        }
    }
}

/// Status count chips; each links to the queue filtered by that status, keeping the other
/// filters of `filter` (and starting from the first page).
pub fn counts_bar(
    counts: &BTreeMap<CaseStatus, usize>,
    total: usize,
    filter: &QueueFilter,
) -> Markup {
    let link = |status: CaseStatus| {
        QueueFilter {
            status: status.code().to_owned(),
            after: String::new(),
            ..filter.clone()
        }
        .query_string()
    };
    html! {
        ul.counts {
            li { "合计 " b id="count-total" { (total) } }
            @for (status, n) in counts {
                li {
                    a href={ "/dashboard/cases?" (link(*status)) } {
                        (status_badge(*status)) " " b id={ "count-" (status.code()) } { (n) }
                    }
                }
            }
        }
    }
}

/// Whom the case waits for, as a small label under its status (`等待居委会劝阻或上报`).
pub fn waiting_label(case: &Case, names: &Names<'_>) -> Markup {
    html! {
        @if let Some(w) = case.waiting_for() {
            br;
            span.waiting data-waiting=(w.code()) { (w.text_zh(|id| names.unit(id).to_owned())) }
        }
    }
}

/// A queue row: the case and, until its first dispatch, the owner its routing decision names.
pub struct QueueItem<'a> {
    pub case: &'a Case,
    /// The case number (案件编号) the server gave it.
    pub number: Option<&'a str>,
    pub routed_owner: Option<RoutedUnit>,
}

/// The description's first non-blank line, cut to `max` characters (an ellipsis marks a cut).
pub fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let mut chars = line.chars();
    let mut shown: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        shown.push('…');
    }
    shown
}

/// Time left before `due`, or past it, at `now`: under an hour, whole hours under a day, whole
/// days beyond ("剩余3小时", "超期2天"). Beijing time has a fixed offset, so a day is 24 hours.
pub fn countdown(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    // Overdue means strictly past the deadline, as `Case::is_overdue`.
    let (word, span) = if now > due {
        ("超期", now - due)
    } else {
        ("剩余", due - now)
    };
    let hours = span.num_hours();
    if hours < 1 {
        format!("{word}不足1小时")
    } else if hours < 24 {
        format!("{word}{hours}小时")
    } else {
        format!("{word}{}天", span.num_days())
    }
}

/// The queue table.
pub fn queue_table(items: &[QueueItem<'_>], names: &Names<'_>, now: DateTime<Utc>) -> Markup {
    if items.is_empty() {
        return html! { p.empty { "没有符合条件的案件。" } };
    }
    html! {
        table.queue id="queue" {
            (head_row(&["照片", "案件编号", "上报时间", "类别", "描述", "小区", "位置", "状态", "责任单位", "期限"]))
            tbody { @for item in items { (queue_row(item, names, now)) } }
        }
    }
}

/// The responsible unit: the assigned one, or before any dispatch the owner routing names.
fn unit_cell(item: &QueueItem<'_>, names: &Names<'_>) -> Markup {
    let case = item.case;
    html! {
        @if let Some(unit) = case.assigned_unit.as_deref() {
            (names.unit(unit))
        } @else if let Some(owner) = item.routed_owner.as_ref().filter(|_| case.status.is_open()) {
            span.routed-owner title="按派单规则应由该单位处理，尚未派遣" {
                "拟派："
                (names.units.get(owner.id.as_str()).map_or(owner.name.as_str(), |u| u.name.as_str()))
            }
        }
    }
}

/// Edge of a queue row's thumbnail box in CSS pixels (the image is cropped to fill it).
const THUMB_BOX: (u32, u32) = (64, 48);

/// A small picture of the case (its first BEFORE photo, else its first photo), lazily loaded
/// from the stored thumbnail; nothing when the case has no photo.
pub fn thumbnail(case: &Case) -> Markup {
    let photo = case
        .photos
        .iter()
        .find(|p| p.kind == xuncha_core::workflow::PhotoKind::Before)
        .or_else(|| case.photos.first());
    html! {
        @if let Some(p) = photo {
            a href={ "/dashboard/cases/" (case.id) } {
                img.thumb src={ "/dashboard/photos/" (p.sha256) "/thumb" } loading="lazy"
                    width=(THUMB_BOX.0) height=(THUMB_BOX.1) alt="现场照片";
            }
        }
    }
}

fn queue_row(item: &QueueItem<'_>, names: &Names<'_>, now: DateTime<Utc>) -> Markup {
    let case = item.case;
    let overdue = is_overdue(case, now);
    let description = case.description.as_deref().unwrap_or_default();
    let place = [case.building.as_deref(), case.unit_no.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    html! {
        tr data-case=(case.id) class=[overdue.then_some("overdue")] {
            td.thumb { (thumbnail(case)) }
            td.case-number { a href={ "/dashboard/cases/" (case.id) } { (case_label(item.number, case.id)) } }
            td { a href={ "/dashboard/cases/" (case.id) } { (format_local(case.reported_at)) } }
            td { (case.category.info().name_zh) }
            td.description title=(first_line(description, usize::MAX)) {
                (first_line(description, DESCRIPTION_CHARS))
            }
            td { (names.estate(&case.estate_id)) }
            td { (place) }
            td { (status_badge(case.status)) (waiting_label(case, names)) }
            td { (unit_cell(item, names)) }
            td {
                @if let Some(due) = current_deadline(case) {
                    (format_local(due))
                    (overdue_flag(overdue))
                    br;
                    span.countdown { (countdown(due, now)) }
                }
            }
        }
    }
}

/// The queue as an export table (same rows and order as on screen), with the columns every case
/// export shares ([`super::case_columns::CASE_COLUMNS`]).
pub fn queue_export(rows: &[CaseRow], names: &Names<'_>, now: DateTime<Utc>) -> Table {
    case_table("案件清单", rows, &ExportContext { names, now })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::http::dashboard::export::Cell;
    use crate::http::dashboard::fixtures::{at, case, estate};
    use chrono::Duration;

    fn sample() -> (Vec<Case>, Vec<Estate>) {
        let estates = vec![
            estate("changchunli", "长春里社区"),
            estate("other", "别的社区"),
        ];
        let mut dispatched = case(
            2,
            CaseStatus::Dispatched,
            Category::StreetLight,
            "changchunli",
            at(1, 2),
        );
        dispatched.assigned_unit = Some("heping.city_management".into());
        dispatched.handle_due = Some(at(10, 0));
        let cases = vec![
            // A fault the street office dispatches directly: its dispatch deadline runs from the
            // report (a dissuasion-first case would wait for the committee, with no deadline).
            case(
                1,
                CaseStatus::Reported,
                Category::Elevator,
                "changchunli",
                at(20, 2),
            ),
            dispatched,
            case(
                3,
                CaseStatus::Closed,
                Category::StreetLight,
                "other",
                at(5, 2),
            ),
            case(
                4,
                CaseStatus::Escalated,
                Category::Garbage,
                "other",
                at(26, 1),
            ),
        ];
        (cases, estates)
    }

    fn ids(cases: &[&Case]) -> Vec<u128> {
        cases.iter().map(|c| c.id.as_u128()).collect()
    }

    #[test]
    fn default_shows_open_cases_soonest_deadline_first() {
        let (cases, estates) = sample();
        let names = Names::new(&estates, &[]);
        let now = at(27, 0);
        let out = QueueFilter::default()
            .apply(&cases, &names.estates, now)
            .unwrap();
        // Deadlines: case 2 on the 10th, case 1 on the 21st, case 4 on the 27th at 01:00.
        assert_eq!(ids(&out), vec![2, 1, 4]);
        let counts = counts_per_status(&out);
        assert_eq!(counts.get(&CaseStatus::Dispatched), Some(&1));
        assert_eq!(counts.get(&CaseStatus::Closed), None);
    }

    #[test]
    fn each_filter_narrows() {
        let (cases, estates) = sample();
        let names = Names::new(&estates, &[]);
        let now = at(21, 12);
        let run = |f: QueueFilter| ids(&f.apply(&cases, &names.estates, now).unwrap());
        assert_eq!(
            run(QueueFilter {
                status: "CLOSED".into(),
                ..Default::default()
            }),
            vec![3]
        );
        assert_eq!(
            run(QueueFilter {
                category: "STREET_LIGHT".into(),
                scope: "all".into(),
                ..Default::default()
            }),
            vec![2, 3]
        );
        assert_eq!(
            run(QueueFilter {
                estate: "other".into(),
                ..Default::default()
            }),
            vec![4]
        );
        assert_eq!(
            run(QueueFilter {
                community: "长春里社区".into(),
                ..Default::default()
            }),
            vec![2, 1]
        );
        assert_eq!(
            run(QueueFilter {
                unit: "heping.city_management".into(),
                ..Default::default()
            }),
            vec![2]
        );
        assert_eq!(
            run(QueueFilter {
                overdue: "1".into(),
                ..Default::default()
            }),
            vec![2, 1]
        );
        assert_eq!(
            run(QueueFilter {
                overdue: "0".into(),
                ..Default::default()
            }),
            vec![4]
        );
        // 26th 01:00 UTC is the 26th 09:00 in Beijing.
        assert_eq!(
            run(QueueFilter {
                from: "2026-11-20".into(),
                to: "2026-11-26".into(),
                ..Default::default()
            }),
            vec![1, 4]
        );
    }

    #[test]
    fn bad_filters_are_named() {
        let (cases, estates) = sample();
        let names = Names::new(&estates, &[]);
        let bad = QueueFilter {
            status: "NOPE".into(),
            ..Default::default()
        };
        assert_eq!(
            bad.apply(&cases, &names.estates, at(1, 0))
                .unwrap_err()
                .code(),
            "UNKNOWN_STATUS"
        );
        let bad = QueueFilter {
            from: "2026/11/01".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().code(), "BAD_DATE");
        let bad = QueueFilter {
            category: "X".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().code(), "UNKNOWN_CATEGORY");
    }

    #[test]
    fn table_marks_overdue_and_export_matches_rows() {
        let (cases, estates) = sample();
        let names = Names::new(&estates, &[]);
        let now = at(27, 0);
        let rows = QueueFilter::default()
            .apply(&cases, &names.estates, now)
            .unwrap();
        let items: Vec<QueueItem<'_>> = rows
            .iter()
            .map(|c| QueueItem {
                case: c,
                number: Some("和平-20261127-0001"),
                routed_owner: None,
            })
            .collect();
        let html = queue_table(&items, &names, now).into_string();
        assert_eq!(html.matches("class=\"overdue\"").count(), 2);
        assert!(html.contains("changchunli小区"));
        let case_rows: Vec<CaseRow> = rows
            .iter()
            .map(|c| CaseRow {
                case: (*c).clone(),
                routing: None,
                dispatched_units: vec![],
                seq: 0,
                number: Some("和平-20261127-0001".into()),
            })
            .collect();
        let table = queue_export(&case_rows, &names, now);
        assert_eq!(table.rows.len(), 3);
        let cell = |header: &str| {
            let col = table.headers.iter().position(|h| h == header).unwrap();
            table.rows[0][col].clone()
        };
        assert_eq!(cell("状态代码"), Cell::Text("DISPATCHED".into()));
        assert_eq!(cell("是否超期"), Cell::Text("是".into()));
        assert_eq!(html.matches("和平-20261127-0001").count(), 3, "{html}");
        assert_eq!(table.headers[0], "案件编号");
        assert_eq!(cell("案件编号"), Cell::Text("和平-20261127-0001".into()));
        let _ = Duration::zero();
    }

    #[test]
    fn query_string_round_trips_non_empty_fields() {
        let f = QueueFilter {
            status: "DISPATCHED".into(),
            community: "长春里社区".into(),
            ..Default::default()
        };
        assert_eq!(
            f.query_string(),
            "status=DISPATCHED&community=%E9%95%BF%E6%98%A5%E9%87%8C%E7%A4%BE%E5%8C%BA"
        );
    }

    /// Replaces the old hand-written `url_encode` test: reserved characters and UTF-8 in a
    /// search box survive the link (form encoding writes a space as `+`).
    #[test]
    fn query_string_encodes_utf8_and_reserved() {
        let f = QueueFilter {
            q: "a b&c=长".into(),
            ..Default::default()
        };
        assert_eq!(f.query_string(), "q=a+b%26c%3D%E9%95%BF");
        assert_eq!(
            f.query_string_after("x/y"),
            "q=a+b%26c%3D%E9%95%BF&after=x%2Fy"
        );
    }

    #[test]
    fn filter_becomes_a_scoped_storage_query() {
        let (_, estates) = sample();
        let now = at(28, 0);
        let scope = CaseScope::Estates(vec!["changchunli".into(), "other".into()]);
        let f = QueueFilter {
            community: "长春里社区".into(),
            from: "2026-11-02".into(),
            to: "2026-11-02".into(),
            overdue: "1".into(),
            q: " 楼道 ".into(),
            ..Default::default()
        };
        let query = f.to_query(scope.clone(), &estates, now).unwrap();
        assert_eq!(query.scope, scope, "filters narrow, never widen");
        assert_eq!(query.estate_ids, Some(vec!["changchunli".to_owned()]));
        assert_eq!(query.open, Some(true));
        assert_eq!(query.overdue, Some(true));
        assert_eq!(query.text.as_deref(), Some("楼道"));
        assert_eq!(query.sort, CaseSort::DueSoonest);
        // Beijing 2026-11-02 00:00 .. 23:59:59.999999 = UTC 11-01 16:00 .. 11-02 15:59:59.999999.
        assert_eq!(
            query.reported_from.unwrap().to_rfc3339(),
            "2026-11-01T16:00:00+00:00"
        );
        assert_eq!(
            query.reported_to.unwrap().to_rfc3339(),
            "2026-11-02T15:59:59.999999+00:00"
        );
        // An estate outside the chosen community matches nothing.
        let mismatch = QueueFilter {
            community: "长春里社区".into(),
            estate: "other".into(),
            ..Default::default()
        };
        let query = mismatch.to_query(scope.clone(), &estates, now).unwrap();
        assert_eq!(query.estate_ids, Some(Vec::new()));
        let bad = QueueFilter {
            after: "garbage".into(),
            ..Default::default()
        };
        assert_eq!(
            bad.to_query(scope, &estates, now).unwrap_err().code(),
            "BAD_CURSOR"
        );
    }
    #[test]
    fn countdown_says_hours_under_a_day_and_days_beyond() {
        let due = at(10, 12);
        let cases = [
            (due - Duration::minutes(59), "剩余不足1小时"),
            (due, "剩余不足1小时"),
            (due - Duration::hours(1), "剩余1小时"),
            (due - Duration::hours(3), "剩余3小时"),
            (due - Duration::minutes(23 * 60 + 59), "剩余23小时"),
            (due - Duration::hours(24), "剩余1天"),
            (due - Duration::hours(2 * 24 + 23), "剩余2天"),
            (due + Duration::seconds(1), "超期不足1小时"),
            (due + Duration::hours(5), "超期5小时"),
            (due + Duration::hours(47), "超期1天"),
            (due + Duration::hours(48), "超期2天"),
        ];
        for (now, want) in cases {
            assert_eq!(countdown(due, now), want, "now {now}");
        }
    }

    #[test]
    fn first_line_skips_blank_lines_and_cuts_long_text() {
        assert_eq!(first_line("\n  楼道堆物  \n第二行", 30), "楼道堆物");
        assert_eq!(first_line("", 30), "");
        assert_eq!(first_line("一二三四五", 5), "一二三四五");
        assert_eq!(first_line("一二三四五六", 5), "一二三四五…");
    }

    #[test]
    fn rows_show_description_routed_owner_countdown_and_waiting() {
        let (mut cases, estates) = sample();
        cases[0].description = Some("电梯困人<script>\n详细情况".into());
        // A dissuasion-first case just reported waits for the committee and has no deadline.
        let lock = case(
            5,
            CaseStatus::Reported,
            Category::GroundLock,
            "changchunli",
            at(26, 0),
        );
        let names = Names::new(&estates, &[]);
        let now = at(21, 7);
        let owner = RoutedUnit {
            id: "heping.maintenance".into(),
            name: "和平区维修单位".into(),
        };
        let items = [
            QueueItem {
                case: &cases[0],
                number: None,
                routed_owner: Some(owner.clone()),
            },
            QueueItem {
                case: &cases[1],
                number: None,
                routed_owner: Some(owner),
            },
            QueueItem {
                case: &lock,
                number: None,
                routed_owner: None,
            },
        ];
        let html = queue_table(&items, &names, now).into_string();
        assert!(html.contains("电梯困人&lt;script&gt;"), "escaped: {html}");
        assert!(!html.contains("详细情况"), "first line only");
        // Case 1: reported the 20th 02:00, dispatch due a day later, 5 hours ago.
        assert!(html.contains("超期5小时"), "{html}");
        // Before dispatch the routed owner shows; once dispatched, the assigned unit.
        assert_eq!(html.matches("拟派：和平区维修单位").count(), 1, "{html}");
        assert!(html.contains("heping.city_management"));
        // Case 2: handling due the 10th 00:00, eleven days ago.
        assert!(html.contains("超期11天"), "{html}");
        assert!(html.contains("等待居委会劝阻或上报"));
    }

    #[test]
    fn sort_choice_becomes_the_storage_sort_and_survives_links() {
        let now = at(1, 0);
        let sorted = |code: &str| {
            QueueFilter {
                sort: code.into(),
                ..Default::default()
            }
            .to_query(CaseScope::All, &[], now)
            .map(|q| q.sort)
        };
        assert_eq!(sorted(""), Ok(CaseSort::DueSoonest));
        assert_eq!(sorted("newest"), Ok(CaseSort::Newest));
        assert_eq!(sorted("oldest"), Ok(CaseSort::Oldest));
        assert_eq!(sorted("status"), Ok(CaseSort::Status));
        assert_eq!(
            sorted("priority").unwrap_err(),
            FilterError::UnknownSort("priority".into())
        );
        let f = QueueFilter {
            q: "楼道".into(),
            sort: "oldest".into(),
            mine: "1".into(),
            ..Default::default()
        };
        assert!(f.mine());
        assert_eq!(
            f.query_string_after("c"),
            "q=%E6%A5%BC%E9%81%93&sort=oldest&mine=1&after=c"
        );
        // A status chip keeps the other filters and starts from the first page.
        let mut counts = BTreeMap::new();
        counts.insert(CaseStatus::Escalated, 2);
        let paged = QueueFilter {
            after: "c".into(),
            ..f.clone()
        };
        let bar = counts_bar(&counts, 2, &paged).into_string();
        assert!(
            bar.contains("/dashboard/cases?status=ESCALATED&amp;q=%E6%A5%BC%E9%81%93&amp;sort=oldest&amp;mine=1\""),
            "{bar}"
        );
        let form = filter_form(&f, &[], &[], None).into_string();
        assert!(form.contains("name=\"q\""), "{form}");
        assert!(form.contains("value=\"楼道\""), "{form}");
        assert!(form.contains("<option value=\"oldest\" selected"), "{form}");
        assert!(
            form.contains("name=\"mine\" id=\"mine\" value=\"1\" checked"),
            "{form}"
        );
        let shown = active_search(&f).into_string();
        assert!(shown.contains("楼道"), "{shown}");
        assert!(
            shown.contains("/dashboard/cases?sort=oldest&amp;mine=1\""),
            "{shown}"
        );
        assert_eq!(active_search(&QueueFilter::default()).into_string(), "");
    }

    #[test]
    fn my_work_is_the_users_unit_and_dispatch_for_a_street_office() {
        let (mut cases, _) = sample();
        let mut query = CaseQuery::new(CaseScope::All, at(1, 0));
        query.awaiting = Some(AwaitingUnit {
            unit: "heping.city_management".into(),
            dispatch: false,
        });
        let hits = |q: &CaseQuery, cases: &[Case]| {
            cases
                .iter()
                .filter(|c| q.matches_case(c))
                .map(|c| c.id.as_u128())
                .collect::<Vec<_>>()
        };
        assert_eq!(hits(&query, &cases), vec![2]);
        query.awaiting = Some(AwaitingUnit {
            unit: "heping.nanyingmen.street_office".into(),
            dispatch: true,
        });
        // The elevator fault waits for dispatch, and so does the escalated garbage case.
        cases.push(case(
            5,
            CaseStatus::Reported,
            Category::GroundLock,
            "changchunli",
            at(26, 0),
        ));
        assert_eq!(hits(&query, &cases), vec![1, 4]);
    }
}
