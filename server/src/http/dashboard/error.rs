//! How a dashboard request can end other than with its page: typed causes, each rendered as a
//! Chinese error page with its status, a plain sentence and, behind 技术细节, its stable code and
//! detail ([`super::problem::Problem`]; sign-in redirects instead).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::export::ExportError;
use super::layout::{html_response, page};
use super::problem::Problem;
use super::queue::FilterError;
use crate::http::error::ApiError;
use crate::storage::StorageError;
use xuncha_core::workflow::ActionKind;

/// Errors a dashboard page can end in.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("请先登录")]
    SignIn,
    #[error("表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")]
    Csrf,
    #[error("无权查看或操作：{0}")]
    Forbidden(Forbidden),
    #[error("未找到：{0}")]
    NotFound(Missing),
    #[error("{0}")]
    BadInput(BadInput),
    #[error("服务器内部错误：{0}")]
    Internal(Internal),
}

/// What the user may not see or do.
#[derive(Debug, thiserror::Error)]
pub enum Forbidden {
    #[error("案件 {0} 不在您的管辖或派遣范围内")]
    CaseOutOfScope(String),
    #[error("联席会议纪要由街道办事处记录")]
    MinutesStreetOfficeOnly,
    #[error("小区管理仅限民政部门管理员")]
    EstatesAdminOnly,
    /// A refusal of the shared API code (`ApiError::ObjectForbidden`).
    #[error("{what} {id}")]
    Object { what: &'static str, id: String },
}

/// What was not found.
#[derive(Debug, thiserror::Error)]
pub enum Missing {
    #[error("案件 {0}")]
    Case(String),
    #[error("照片 {0}")]
    Photo(String),
    #[error("小区 {0}")]
    Estate(String),
    /// From the shared API code (`ApiError::NotFound`).
    #[error("{what} {id}")]
    Object { what: &'static str, id: String },
}

/// A form or query the dashboard cannot act on, said in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    #[error("{0}（{code}）", code = .0.code())]
    Filter(FilterError),
    #[error("季度格式应为 2026Q4：{0}")]
    Quarter(String),
    #[error("未知的统计口径 {0}")]
    KpiGroup(String),
    #[error("表单无法读取：{0}")]
    Form(#[from] axum::extract::multipart::MultipartError),
    #[error("照片超过 {0} 字节上限")]
    PhotoTooLarge(u64),
    #[error("字段 {field} 过长（上限 {max} 字）")]
    FieldTooLong { field: String, max: usize },
    #[error("未知操作 {0}")]
    UnknownAction(String),
    #[error("核查结案须在现场用手机拍照并定位后提交，网页端不能核查 (VERIFY_ON_SITE_ONLY)")]
    VerifyOnSite,
    #[error("联席会议纪要在联席会议页面记录（须选择成员单位）")]
    MinutesOnMeetingPage,
    #[error("纪要内容不能为空，且不超过 {0} 字")]
    MinutesText(usize),
    #[error("未知的成员单位 {0}")]
    UnknownUnit(String),
    #[error("纪要未记录：{0}")]
    MinutesRefused(Refusal),
    /// A photo the shared photo code refused (not JPEG, too many pixels, …).
    #[error("{0}")]
    Photo(ApiError),
}

impl BadInput {
    /// The stable code of this input error.
    pub fn code(&self) -> String {
        match self {
            BadInput::Filter(e) => e.code().to_owned(),
            BadInput::Quarter(_) => "BAD_QUARTER".to_owned(),
            BadInput::KpiGroup(_) => "UNKNOWN_KPI_GROUP".to_owned(),
            BadInput::Form(_) => "BAD_FORM".to_owned(),
            BadInput::PhotoTooLarge(_) => "PHOTO_TOO_LARGE".to_owned(),
            BadInput::FieldTooLong { .. } => "FIELD_TOO_LONG".to_owned(),
            BadInput::UnknownAction(_) => "UNKNOWN_ACTION".to_owned(),
            BadInput::VerifyOnSite => "VERIFY_ON_SITE_ONLY".to_owned(),
            BadInput::MinutesOnMeetingPage => "MINUTES_ON_MEETING_PAGE".to_owned(),
            BadInput::MinutesText(_) => "MINUTES_TEXT".to_owned(),
            BadInput::UnknownUnit(_) => "UNKNOWN_UNIT".to_owned(),
            BadInput::MinutesRefused(r) => r.code.clone(),
            BadInput::Photo(e) => e.code().to_owned(),
        }
    }

    /// A plain sentence, the code and the detail (the message with its technical words).
    pub fn problem(&self) -> Problem {
        let text = match self {
            BadInput::Filter(e) => format!("{e}。"),
            BadInput::Quarter(_) => "季度格式应为“年份 + Q + 季度”，例如 2026Q4。".to_owned(),
            BadInput::KpiGroup(_) => "未知的统计口径，请从列表中选择。".to_owned(),
            BadInput::Form(_) => "表单无法读取，请刷新页面后重试。".to_owned(),
            BadInput::PhotoTooLarge(limit) => format!(
                "照片文件过大（不超过 {} MB），请选择较小的照片。",
                limit.div_ceil(1024 * 1024)
            ),
            BadInput::FieldTooLong { field, max } => match field.as_str() {
                "note" => format!("备注不能超过 {max} 字。"),
                "reason" => format!("理由不能超过 {max} 字。"),
                _ => format!("填写的内容不能超过 {max} 字。"),
            },
            BadInput::UnknownAction(_) => "未知的操作，请刷新页面后重试。".to_owned(),
            BadInput::VerifyOnSite => {
                "核查结案须在现场用手机拍照并定位后提交，网页端不能核查。".to_owned()
            }
            BadInput::MinutesOnMeetingPage => {
                "联席会议纪要请在联席会议页面记录（须选择成员单位）。".to_owned()
            }
            BadInput::MinutesText(max) => format!("纪要内容不能为空，且不超过 {max} 字。"),
            BadInput::UnknownUnit(_) => "所选单位不存在，请重新选择。".to_owned(),
            BadInput::MinutesRefused(r) => {
                return Problem::of_refusal(r, ActionKind::Minutes);
            }
            BadInput::Photo(ApiError::PhotoUndecodable(_)) => {
                "照片必须是 JPEG 格式（手机或相机拍摄的 .jpg 照片），请重新选择。".to_owned()
            }
            BadInput::Photo(ApiError::PhotoTooManyPixels { .. }) => {
                "照片像素过多，请缩小后重新选择。".to_owned()
            }
            BadInput::Photo(e) => format!("{}，请重新选择照片。", e.summary_zh()),
        };
        Problem::new(text, self.code(), self.to_string())
    }
}

/// The workflow or authorization refused an event sent through ingest: its wire code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}（{code}）")]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// A failure that is not the user's doing.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    #[error("存储失败（{code}）", code = .0.code())]
    Storage(StorageError),
    #[error("dashboard session store missing")]
    SessionStoreMissing,
    #[error("ingest returned no result")]
    NoIngestResult,
    #[error("export task failed")]
    ExportTask,
    #[error("thumbnail task failed")]
    ThumbTask,
    #[error("{0}（{code}）", code = .0.code())]
    Export(ExportError),
    #[error("照片文件无法读取：{0}")]
    PhotoFile(std::io::Error),
    #[error("{0}")]
    Api(ApiError),
}

impl WebError {
    pub fn code(&self) -> &'static str {
        match self {
            WebError::SignIn => "SIGN_IN_REQUIRED",
            WebError::Csrf => "CSRF_FAILED",
            WebError::Forbidden(_) => "OBJECT_FORBIDDEN",
            WebError::NotFound(_) => "NOT_FOUND",
            WebError::BadInput(_) => "BAD_INPUT",
            WebError::Internal(_) => "INTERNAL",
        }
    }

    /// The error as a person reads it: a plain Chinese sentence, with the code and the
    /// technical detail kept for the 技术细节 toggle.
    pub fn problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            WebError::BadInput(bad) => return bad.problem(),
            WebError::SignIn => return Problem::new("请先登录。", self.code(), ""),
            _ => {}
        }
        let text = match self {
            WebError::Csrf => "表单已过期，请刷新页面后重试。".to_owned(),
            WebError::Forbidden(Forbidden::CaseOutOfScope(_)) => {
                "该案件不在您的管辖或派遣范围内。".to_owned()
            }
            WebError::Forbidden(Forbidden::MinutesStreetOfficeOnly) => {
                "联席会议纪要由街道办事处记录。".to_owned()
            }
            WebError::Forbidden(Forbidden::EstatesAdminOnly) => {
                "小区管理仅限民政部门管理员。".to_owned()
            }
            WebError::Forbidden(Forbidden::Object { .. }) => "无权查看或操作该内容。".to_owned(),
            WebError::NotFound(missing) => format!(
                "未找到{}。",
                match missing {
                    Missing::Case(_) => "该案件",
                    Missing::Photo(_) => "该照片",
                    Missing::Estate(_) => "该小区",
                    Missing::Object { .. } => "所请求的内容",
                }
            ),
            _ => "服务器内部错误，请稍后重试；多次出现请联系系统管理员。".to_owned(),
        };
        Problem::new(text, self.code(), detail)
    }

    /// The HTTP status the error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::SignIn => StatusCode::SEE_OTHER,
            WebError::Csrf | WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The dashboard's reading of the shared code's errors, by variant and by the error table's
/// typed questions (`ApiError::is_photo_input`), never by message text.
pub fn from_api(e: ApiError) -> WebError {
    match e {
        ApiError::NotFound { what, id } => WebError::NotFound(Missing::Object { what, id }),
        ApiError::ObjectForbidden { what, id } => {
            WebError::Forbidden(Forbidden::Object { what, id })
        }
        ApiError::Storage(inner) => inner.into(),
        photo if photo.is_photo_input() => WebError::BadInput(BadInput::Photo(photo)),
        other => WebError::Internal(Internal::Api(other)),
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> WebError {
        from_api(e)
    }
}

impl From<StorageError> for WebError {
    fn from(e: StorageError) -> WebError {
        tracing::error!(code = e.code(), error = %e, "dashboard storage failure");
        WebError::Internal(Internal::Storage(e))
    }
}

impl From<BadInput> for WebError {
    fn from(e: BadInput) -> WebError {
        WebError::BadInput(e)
    }
}

impl From<Internal> for WebError {
    fn from(e: Internal) -> WebError {
        WebError::Internal(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if matches!(self, WebError::SignIn) {
            return Redirect::to("/dashboard/login").into_response();
        }
        let body = html! {
            (self.problem().render())
            p { a href="/dashboard/cases" { "返回案件队列" } }
        };
        (self.status(), html_response(page("出错了", "", None, body))).into_response()
    }
}
