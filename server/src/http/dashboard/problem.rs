//! How the dashboard says something went wrong: one plain Chinese sentence on screen, the machine
//! code and the technical detail (the refusal's own message, a field name, a library's words)
//! behind a 技术细节 toggle. Used by the error page, the case page's refused forms, the queue's
//! filter errors and the routing card's RULES_EXPIRED notice.

use maud::{Markup, html};
use xuncha_core::workflow::ActionKind;

use super::error::Refusal;

/// A problem as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What the person reads: Chinese, no codes, no field names.
    pub text: String,
    /// The stable machine code (`REASON_REQUIRED`, `NOT_FOUND`, …).
    pub code: String,
    /// Anything technical (a refusal's full message); may be empty.
    pub detail: String,
}

impl Problem {
    pub fn new(
        text: impl Into<String>,
        code: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            text: text.into(),
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// A refusal of ingest (the workflow's or the server's checks) for an action of `kind`: the
    /// sentence by its code (never by its text), the wire message as the detail.
    pub fn of_refusal(refusal: &Refusal, kind: ActionKind) -> Problem {
        Problem::new(
            refusal_text(&refusal.code, kind),
            refusal.code.clone(),
            refusal.message.clone(),
        )
    }

    /// The error box: the sentence, then the toggle with code and detail.
    pub fn render(&self) -> Markup {
        html! {
            div.notice.error.problem role="alert" data-code=(self.code) {
                p.problem-text { (self.text) }
                (technical_details(&self.code, &self.detail))
            }
        }
    }
}

/// The 技术细节 toggle: the code and, when there is one, the detail.
pub fn technical_details(code: &str, detail: &str) -> Markup {
    html! {
        details.tech {
            summary { "技术细节" }
            p.meta { "错误代码 " code { (code) } }
            @if !detail.is_empty() { p.meta { (detail) } }
        }
    }
}

/// The plain sentence for a refusal code; unknown codes get a general one.
fn refusal_text(code: &str, kind: ActionKind) -> String {
    let text = match code {
        "REASON_REQUIRED" => match kind {
            ActionKind::Return => "请填写退回理由后再提交。",
            ActionKind::Reopen => "请填写返工理由后再提交。",
            ActionKind::Cancel => "请填写作废理由后再提交。",
            _ => "请填写理由后再提交。",
        },
        "MISSING_EVIDENCE" => match kind {
            ActionKind::Handle => "请上传至少一张处置后照片（JPEG）后再提交。",
            _ => "缺少必需的照片证据，请补充后再提交。",
        },
        "INVALID_STATE" => "案件当前状态不允许该操作，请刷新页面查看最新状态。",
        "ROLE_NOT_ALLOWED" => "您的角色不能执行该操作。",
        "NOT_ASSIGNEE" => "只有被派遣的单位才能执行该操作。",
        "DISSUASION_FIRST" => {
            "该类案件须先由社区居委会现场劝阻，劝阻无效上报后街道办事处才能派遣。"
        }
        "DISSUASION_NOT_APPLICABLE" => "该类案件不经现场劝阻，由街道办事处直接派遣。",
        "DISPATCH_TARGET_NOT_ALLOWED" => {
            "所选单位不负责该小区的此类案件，请从列表中选择可派往的单位。"
        }
        "UNKNOWN_UNIT" => "所选单位不存在，请从列表中重新选择。",
        "INVALID_INPUT" => "填写的内容无效，请检查后重试。",
        "PHOTO_NOT_RECEIVED" => "照片尚未保存到服务器，请重新选择照片后提交。",
        "CASE_FORBIDDEN" | "ESTATE_FORBIDDEN" => "该案件不在您的管辖或派遣范围内。",
        "VERIFY_LOCATION_OUTSIDE" => "现场核查的定位不在小区范围内，请到现场核查。",
        "DEVICE_TIME_IN_FUTURE" | "DEVICE_TIME_BEFORE_REPORT" | "DEVICE_TIME_BEFORE_POLICY" => {
            "时间校验未通过，请稍后重试。"
        }
        _ => "操作未被接受，请检查填写的内容后重试。",
    };
    format!("“{}”未执行：{text}", kind.name_zh())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_a_sentence_and_keeps_its_code_behind_the_toggle() {
        let refusal = Refusal {
            code: "MISSING_EVIDENCE".into(),
            message: "HANDLE 需要证据：至少一张处置后照片 (kind = AFTER)".into(),
        };
        let html = Problem::of_refusal(&refusal, ActionKind::Handle)
            .render()
            .into_string();
        let (shown, toggle) = html.split_at(html.find("<details").unwrap());
        let text = &shown[shown.find("<p class=\"problem-text\">").unwrap()..];
        assert_eq!(
            text,
            "<p class=\"problem-text\">“处置完毕”未执行：请上传至少一张处置后照片（JPEG）后再提交。</p>"
        );
        assert!(toggle.contains("<summary>技术细节</summary>"), "{toggle}");
        assert!(toggle.contains("MISSING_EVIDENCE") && toggle.contains("kind = AFTER"));
    }
}
