//! The case catalog and the names of codes, for pickers and labels. Pure data; works offline and
//! before sign-in.

use crate::enums::{ActionKind, CaseStatus, Category, CategoryGroup, Role, UnitType};
use crate::error::XunchaError;

/// Title of the 2020 policy the sections point into.
const POLICY_TITLE: &str = "《关于进一步加强本市旧楼区提升改造后长效管理的意见》";
const CIVILITY_REGULATION: &str = "《天津市文明行为促进条例》";

/// One catalog entry: what to show in the category picker and why the case goes where it goes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CategoryInfo {
    pub category: Category,
    /// Stable wire code, e.g. `GROUND_LOCK`.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub group: CategoryGroup,
    /// Sections of the 2020 policy, e.g. `三(一)4`.
    pub policy_sections: Vec<String>,
    /// Article of 天津市文明行为促进条例 naming the enforcer, if any.
    pub civility_article: Option<u32>,
    /// Who that article names, e.g. `城市管理部门`.
    pub civility_enforcer: Option<String>,
    /// One line for the picker, e.g. `《关于…的意见》三(一)4、三(五)2；《天津市文明行为促进条例》第67条（城市管理部门）`.
    pub legal_basis: String,
    /// On-site dissuasion (劝阻) comes first; facility faults skip it.
    pub dissuade_first: bool,
    /// Hours from report to dispatch by the street office.
    pub dispatch_hours: u32,
    /// Days from dispatch to handled by the responsible unit.
    pub handle_days: u32,
}

impl From<&xuncha_core::catalog::CategoryInfo> for CategoryInfo {
    fn from(info: &xuncha_core::catalog::CategoryInfo) -> Self {
        let mut legal_basis = format!("{POLICY_TITLE}{}", info.policy_sections.join("、"));
        if let Some(article) = info.civility_article {
            legal_basis.push_str(&format!(
                "；{CIVILITY_REGULATION}第{}条（{}）",
                article.article, article.enforcer
            ));
        }
        CategoryInfo {
            category: info.category,
            code: info.code().to_owned(),
            name_zh: info.name_zh.to_owned(),
            name_en: info.name_en.to_owned(),
            group: info.group,
            policy_sections: info
                .policy_sections
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            civility_article: info.civility_article.map(|a| a.article),
            civility_enforcer: info.civility_article.map(|a| a.enforcer.to_owned()),
            legal_basis,
            dissuade_first: info.dissuade_first,
            dispatch_hours: info.dispatch_hours,
            handle_days: info.handle_days,
        }
    }
}

/// All categories in catalog order (behaviour first, then facilities, then service).
#[uniffi::export]
pub fn catalog() -> Vec<CategoryInfo> {
    Category::ALL
        .iter()
        .map(|c| CategoryInfo::from(c.info()))
        .collect()
}

/// The catalog entry of one category.
#[uniffi::export]
pub fn category_info(category: Category) -> CategoryInfo {
    CategoryInfo::from(category.info())
}

/// Parses a wire code such as `GROUND_LOCK`.
#[uniffi::export]
pub fn category_from_code(code: String) -> Result<Category, XunchaError> {
    Category::from_code(&code).ok_or_else(|| {
        XunchaError::invalid(
            "UNKNOWN_CATEGORY",
            format!("no category has the code {code:?}"),
        )
    })
}

/// Chinese label of a case status, e.g. `已派遣`.
#[uniffi::export]
pub fn case_status_name_zh(status: CaseStatus) -> String {
    status.name_zh().to_owned()
}

/// Chinese label of a role, e.g. `巡查员`.
#[uniffi::export]
pub fn role_name_zh(role: Role) -> String {
    role.name_zh().to_owned()
}

/// Chinese label of a unit type, e.g. `城市管理部门`.
#[uniffi::export]
pub fn unit_type_name_zh(unit_type: UnitType) -> String {
    unit_type.name_zh().to_owned()
}

/// Chinese label of an action, for buttons and the timeline.
#[uniffi::export]
pub fn action_name_zh(kind: ActionKind) -> String {
    match kind {
        ActionKind::Report => "上报",
        ActionKind::Dissuade => "劝阻解决",
        ActionKind::Escalate => "上报街道",
        ActionKind::Dispatch => "派遣",
        ActionKind::Accept => "受理",
        ActionKind::Return => "退回",
        ActionKind::Handle => "处置完毕",
        ActionKind::Verify => "核查通过",
        ActionKind::Reopen => "核查不通过",
        ActionKind::Cancel => "作废",
        ActionKind::Comment => "备注",
        ActionKind::Minutes => "联席会议纪要",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn catalog_has_every_category_with_legal_basis() {
        let entries = catalog();
        assert_eq!(entries.len(), xuncha_core::catalog::Category::ALL.len());
        let lock = entries.iter().find(|e| e.code == "GROUND_LOCK").unwrap();
        assert_eq!(lock.name_zh, "私自设置地锁");
        assert!(lock.legal_basis.contains("三(三)3"), "{}", lock.legal_basis);
        assert!(
            lock.legal_basis.contains("第69条（街道办事处）"),
            "{}",
            lock.legal_basis
        );
        let gas = category_info(Category::GasFacility);
        assert!(!gas.dissuade_first);
        assert_eq!(gas.civility_article, None);
    }

    #[test]
    fn unknown_code_is_invalid_input() {
        let err = category_from_code("NOPE".into()).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_CATEGORY");
        assert!(matches!(err, XunchaError::InvalidInput { .. }));
    }
}
