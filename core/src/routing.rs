//! Where a case goes: routing rules (data, `core/data/routing-rules.toml`) plus a unit directory
//! (data, `core/data/demo/units.toml` for the demo) resolve a category at an estate to concrete units.
//!
//! The rules file names unit *types* per category; the directory turns a type plus the estate's
//! district / street / community into one concrete unit (the most specific match wins). Management
//! mode substitutes who stands where the company would (二(三)): the estate's company (possibly a
//! nearby company for a scattered estate, 六(一)), the property owner, or the residents' committee.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::catalog::Category;
use crate::estate::{Estate, LampOwner, ManagementMode};
use crate::org::{OrgUnit, UnitType};

/// The rules shipped with this build.
const BUILTIN_RULES: &str = include_str!("../data/routing-rules.toml");
const BUILTIN_RULES_FILE: &str = "core/data/routing-rules.toml";
/// The demo unit directory (和平区 / 河西区 / 南开区).
const DEMO_UNITS: &str = include_str!("../data/demo/units.toml");
const DEMO_UNITS_FILE: &str = "core/data/demo/units.toml";

/// The rules file format this build reads.
pub const RULES_VERSION: u32 = 1;

/// The title of the policy every legal-basis text cites.
pub const POLICY_TITLE: &str =
    "《天津市人民政府办公厅关于进一步加强本市旧楼区提升改造后长效管理的意见》（2020年8月6日）";

/// What is wrong with a rules or unit-directory file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulesErrorKind {
    MalformedToml,
    UnknownField,
    MissingField,
    UnsupportedVersion,
    UnknownCategory,
    UnknownUnitType,
    DuplicateCategory,
    MissingCategory,
    LegalBasisIncomplete,
    UnknownCondition,
    EmptyOverride,
    BadEscalationChain,
    DuplicateUnitId,
    DuplicateScope,
    IncompleteScope,
    EmptyValue,
}

impl RulesErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            RulesErrorKind::MalformedToml => "MALFORMED_TOML",
            RulesErrorKind::UnknownField => "UNKNOWN_FIELD",
            RulesErrorKind::MissingField => "MISSING_FIELD",
            RulesErrorKind::UnsupportedVersion => "UNSUPPORTED_VERSION",
            RulesErrorKind::UnknownCategory => "UNKNOWN_CATEGORY",
            RulesErrorKind::UnknownUnitType => "UNKNOWN_UNIT_TYPE",
            RulesErrorKind::DuplicateCategory => "DUPLICATE_CATEGORY",
            RulesErrorKind::MissingCategory => "MISSING_CATEGORY",
            RulesErrorKind::LegalBasisIncomplete => "LEGAL_BASIS_INCOMPLETE",
            RulesErrorKind::UnknownCondition => "UNKNOWN_CONDITION",
            RulesErrorKind::EmptyOverride => "EMPTY_OVERRIDE",
            RulesErrorKind::BadEscalationChain => "BAD_ESCALATION_CHAIN",
            RulesErrorKind::DuplicateUnitId => "DUPLICATE_UNIT_ID",
            RulesErrorKind::DuplicateScope => "DUPLICATE_SCOPE",
            RulesErrorKind::IncompleteScope => "INCOMPLETE_SCOPE",
            RulesErrorKind::EmptyValue => "EMPTY_VALUE",
        }
    }
}

/// A rules or directory file was refused: which file, which line (1-based; `None` for units built
/// in code), and a plain message naming the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct RulesError {
    pub file: String,
    pub line: Option<usize>,
    pub kind: RulesErrorKind,
    pub message: String,
}

impl RulesError {
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    fn render(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{}: {}", self.file, line, self.message),
            None => format!("{}: {}", self.file, self.message),
        }
    }
}

/// Tracks the file being read so every error carries its name and line.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn last_line(&self) -> usize {
        self.line_of(self.text.len().saturating_sub(1))
    }

    fn error(&self, line: Option<usize>, kind: RulesErrorKind, message: String) -> RulesError {
        RulesError {
            file: self.file.to_owned(),
            line,
            kind,
            message,
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>, kind: RulesErrorKind, message: String) -> RulesError {
        self.error(Some(self.line_of(spanned.span().start)), kind, message)
    }

    fn toml_error(&self, err: &toml::de::Error) -> RulesError {
        let line = err.span().map(|span| self.line_of(span.start));
        let message = err.message().trim().to_owned();
        // serde's wording for these two is stable; everything else is a syntax problem.
        let kind = if message.starts_with("unknown field") {
            RulesErrorKind::UnknownField
        } else if message.starts_with("missing field") {
            RulesErrorKind::MissingField
        } else {
            RulesErrorKind::MalformedToml
        };
        self.error(line, kind, format!("TOML 无法解析：{message}"))
    }

    fn unit_type(&self, code: &Spanned<String>) -> Result<UnitType, RulesError> {
        UnitType::from_code(code.get_ref()).ok_or_else(|| {
            self.at(
                code,
                RulesErrorKind::UnknownUnitType,
                format!(
                    "未知单位类型 “{}”；可用：{}",
                    code.get_ref(),
                    join(UnitType::ALL.iter().map(|t| t.code()))
                ),
            )
        })
    }

    fn unit_ref(&self, code: &Spanned<String>) -> Result<UnitRef, RulesError> {
        if code.get_ref() == ELEVATOR_MAINTAINER {
            return Ok(UnitRef::ElevatorMaintainer);
        }
        UnitType::from_code(code.get_ref())
            .map(UnitRef::Type)
            .ok_or_else(|| {
                self.at(
                    code,
                    RulesErrorKind::UnknownUnitType,
                    format!(
                        "未知单位类型 “{}”；可用：{} 或 {ELEVATOR_MAINTAINER}",
                        code.get_ref(),
                        join(UnitType::ALL.iter().map(|t| t.code()))
                    ),
                )
            })
    }

    fn unit_refs(&self, codes: &[Spanned<String>]) -> Result<Vec<UnitRef>, RulesError> {
        codes.iter().map(|c| self.unit_ref(c)).collect()
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// The rules-file name for "the estate's designated elevator maintainer" (三(三)7).
pub const ELEVATOR_MAINTAINER: &str = "ELEVATOR_MAINTAINER";

/// A unit named in a rule: a unit type, or the estate's designated elevator maintainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitRef {
    Type(UnitType),
    /// The maintainer the street office designated for the estate (三(三)7); the street office
    /// itself while none is designated.
    ElevatorMaintainer,
}

impl UnitRef {
    pub fn code(self) -> &'static str {
        match self {
            UnitRef::Type(t) => t.code(),
            UnitRef::ElevatorMaintainer => ELEVATOR_MAINTAINER,
        }
    }
}

impl Serialize for UnitRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// A condition on an estate attribute that changes a category's routing (asset ownership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleOverride {
    pub lamp_owner: Option<LampOwner>,
    pub management_mode: Option<ManagementMode>,
    pub first_on_site: Option<Vec<UnitRef>>,
    pub owner: Option<UnitRef>,
    pub co_responsible: Option<Vec<UnitRef>>,
    /// Appended to the category's legal basis when the override applies.
    pub legal_basis: Option<String>,
}

impl RuleOverride {
    fn matches(&self, estate: &Estate) -> bool {
        self.lamp_owner.is_none_or(|o| o == estate.lamp_owner)
            && self
                .management_mode
                .is_none_or(|m| m == estate.management_mode)
    }
}

/// How one category is routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryRule {
    pub category: Category,
    pub first_on_site: Vec<UnitRef>,
    pub owner: UnitRef,
    pub co_responsible: Vec<UnitRef>,
    pub legal_basis: String,
    pub overrides: Vec<RuleOverride>,
}

/// The validated rules: exactly one rule per category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingRules {
    escalation_chain: Vec<UnitType>,
    /// Indexed by `Category as usize`.
    rules: Vec<CategoryRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: Spanned<u32>,
    escalation_chain: Spanned<Vec<Spanned<String>>>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    category: Spanned<String>,
    #[serde(default)]
    first_on_site: Vec<Spanned<String>>,
    owner: Spanned<String>,
    #[serde(default)]
    co_responsible: Vec<Spanned<String>>,
    legal_basis: Spanned<String>,
    #[serde(default, rename = "override")]
    overrides: Vec<Spanned<RawOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    #[serde(default)]
    lamp_owner: Option<Spanned<String>>,
    #[serde(default)]
    management_mode: Option<Spanned<String>>,
    #[serde(default)]
    first_on_site: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    owner: Option<Spanned<String>>,
    #[serde(default)]
    co_responsible: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    legal_basis: Option<Spanned<String>>,
}

fn parse_lamp_owner(code: &str) -> Option<LampOwner> {
    match code {
        "CITY" => Some(LampOwner::City),
        "STATE_GRID" => Some(LampOwner::StateGrid),
        _ => None,
    }
}

fn parse_management_mode(code: &str) -> Option<ManagementMode> {
    match code {
        "COMPANY" => Some(ManagementMode::Company),
        "OWNER_SELF" => Some(ManagementMode::OwnerSelf),
        "RESIDENT_SELF" => Some(ManagementMode::ResidentSelf),
        _ => None,
    }
}

impl RoutingRules {
    /// The rules embedded in this build (`core/data/routing-rules.toml`).
    pub fn builtin() -> Result<RoutingRules, RulesError> {
        RoutingRules::parse(BUILTIN_RULES, BUILTIN_RULES_FILE)
    }

    /// The text of the embedded rules file (the server serves it to devices).
    pub fn builtin_text() -> &'static str {
        BUILTIN_RULES
    }

    /// Parses and validates a rules file. `file_name` only labels errors.
    pub fn parse(text: &str, file_name: &str) -> Result<RoutingRules, RulesError> {
        let src = Source {
            text,
            file: file_name,
        };
        let raw: RawRules = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        if *raw.version.get_ref() != RULES_VERSION {
            return Err(src.at(
                &raw.version,
                RulesErrorKind::UnsupportedVersion,
                format!(
                    "规则文件版本 {} 不受支持；本程序读取 version = {RULES_VERSION}",
                    raw.version.get_ref()
                ),
            ));
        }
        let escalation_chain = parse_escalation_chain(&src, &raw.escalation_chain)?;

        let mut by_category: BTreeMap<Category, (usize, CategoryRule)> = BTreeMap::new();
        for raw_rule in &raw.rules {
            let code = raw_rule.category.get_ref();
            let line = src.line_of(raw_rule.category.span().start);
            let Some(category) = Category::from_code(code) else {
                return Err(src.at(
                    &raw_rule.category,
                    RulesErrorKind::UnknownCategory,
                    format!("未知类别 “{code}”；类别代码见 DESIGN.md（如 GROUND_LOCK）"),
                ));
            };
            if let Some((first_line, _)) = by_category.get(&category) {
                return Err(src.at(
                    &raw_rule.category,
                    RulesErrorKind::DuplicateCategory,
                    format!("类别 {code} 重复：第 {first_line} 行已有它的规则，每个类别只能有一条"),
                ));
            }
            let rule = parse_rule(&src, category, raw_rule)?;
            by_category.insert(category, (line, rule));
        }
        if let Some(missing) = Category::ALL.iter().find(|c| !by_category.contains_key(c)) {
            return Err(src.error(
                Some(src.last_line()),
                RulesErrorKind::MissingCategory,
                format!(
                    "缺少类别 {} ({}) 的规则：每个类别都必须有一条 [[rule]]",
                    missing.code(),
                    missing.info().name_zh
                ),
            ));
        }
        let rules = by_category.into_values().map(|(_, rule)| rule).collect();
        Ok(RoutingRules {
            escalation_chain,
            rules,
        })
    }

    /// The rule for a category.
    pub fn rule(&self, category: Category) -> Option<&CategoryRule> {
        self.rules
            .get(category as usize)
            .filter(|r| r.category == category)
    }

    /// Unit types in escalation order, before management-mode substitution.
    pub fn escalation_chain(&self) -> &[UnitType] {
        &self.escalation_chain
    }
}

fn parse_escalation_chain(
    src: &Source<'_>,
    chain: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<UnitType>, RulesError> {
    let types = chain
        .get_ref()
        .iter()
        .map(|c| src.unit_type(c))
        .collect::<Result<Vec<_>, _>>()?;
    // 三(四), 三(五)2: the company reports to the committee, the committee to the street office.
    if types.last() != Some(&UnitType::StreetOffice) {
        return Err(src.at(
            chain,
            RulesErrorKind::BadEscalationChain,
            "escalation_chain 必须以 STREET_OFFICE 结束（劝阻无效向街道办事处报告，三(四)）"
                .to_owned(),
        ));
    }
    for (i, t) in types.iter().enumerate() {
        if types[..i].contains(t) {
            return Err(src.at(
                chain,
                RulesErrorKind::BadEscalationChain,
                format!("escalation_chain 中 {} 出现了两次", t.code()),
            ));
        }
    }
    Ok(types)
}

fn parse_rule(
    src: &Source<'_>,
    category: Category,
    raw: &RawRule,
) -> Result<CategoryRule, RulesError> {
    let legal_basis = raw.legal_basis.get_ref().trim().to_owned();
    let missing: Vec<&str> = category
        .info()
        .policy_sections
        .iter()
        .copied()
        .filter(|s| !legal_basis.contains(s))
        .collect();
    if !missing.is_empty() {
        return Err(src.at(
            &raw.legal_basis,
            RulesErrorKind::LegalBasisIncomplete,
            format!(
                "类别 {} 的 legal_basis 没有引用目录中的政策条款 {}",
                category.code(),
                missing.join("、")
            ),
        ));
    }
    let mut overrides = Vec::with_capacity(raw.overrides.len());
    for raw_override in &raw.overrides {
        overrides.push(parse_override(src, category, raw_override)?);
    }
    Ok(CategoryRule {
        category,
        first_on_site: src.unit_refs(&raw.first_on_site)?,
        owner: src.unit_ref(&raw.owner)?,
        co_responsible: src.unit_refs(&raw.co_responsible)?,
        legal_basis,
        overrides,
    })
}

fn parse_override(
    src: &Source<'_>,
    category: Category,
    spanned: &Spanned<RawOverride>,
) -> Result<RuleOverride, RulesError> {
    let raw = spanned.get_ref();
    let lamp_owner = match &raw.lamp_owner {
        None => None,
        Some(code) => Some(parse_lamp_owner(code.get_ref()).ok_or_else(|| {
            src.at(
                code,
                RulesErrorKind::UnknownCondition,
                format!(
                    "lamp_owner 只能是 CITY 或 STATE_GRID，不是 “{}”",
                    code.get_ref()
                ),
            )
        })?),
    };
    let management_mode = match &raw.management_mode {
        None => None,
        Some(code) => Some(parse_management_mode(code.get_ref()).ok_or_else(|| {
            src.at(
                code,
                RulesErrorKind::UnknownCondition,
                format!(
                    "management_mode 只能是 COMPANY、OWNER_SELF 或 RESIDENT_SELF，不是 “{}”",
                    code.get_ref()
                ),
            )
        })?),
    };
    if lamp_owner.is_none() && management_mode.is_none() {
        return Err(src.at(
            spanned,
            RulesErrorKind::EmptyOverride,
            format!(
                "类别 {} 的 override 没有条件（lamp_owner 或 management_mode）",
                category.code()
            ),
        ));
    }
    let changes_something = raw.first_on_site.is_some()
        || raw.owner.is_some()
        || raw.co_responsible.is_some()
        || raw.legal_basis.is_some();
    if !changes_something {
        return Err(src.at(
            spanned,
            RulesErrorKind::EmptyOverride,
            format!("类别 {} 的 override 什么也没改（需要 owner、first_on_site、co_responsible 或 legal_basis）", category.code()),
        ));
    }
    Ok(RuleOverride {
        lamp_owner,
        management_mode,
        first_on_site: raw
            .first_on_site
            .as_deref()
            .map(|c| src.unit_refs(c))
            .transpose()?,
        owner: raw.owner.as_ref().map(|c| src.unit_ref(c)).transpose()?,
        co_responsible: raw
            .co_responsible
            .as_deref()
            .map(|c| src.unit_refs(c))
            .transpose()?,
        legal_basis: raw
            .legal_basis
            .as_ref()
            .map(|s| s.get_ref().trim().to_owned()),
    })
}

/// A unit type plus the (district, street, community) it serves.
type UnitScope<'a> = (UnitType, Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Types an estate names by id (its company, its property owner) rather than by area.
fn bound_to_estate(unit_type: UnitType) -> bool {
    matches!(
        unit_type,
        UnitType::ManagementCompany | UnitType::PropertyOwner
    )
}

/// The concrete units routing can name, indexed by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitDirectory {
    units: Vec<OrgUnit>,
    by_id: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default, rename = "unit")]
    units: Vec<RawUnit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: Spanned<String>,
    name: Spanned<String>,
    unit_type: Spanned<String>,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    street: Option<String>,
    #[serde(default)]
    community: Option<String>,
}

impl UnitDirectory {
    /// Parses and validates a unit-directory file (`[[unit]]` tables).
    pub fn parse(text: &str, file_name: &str) -> Result<UnitDirectory, RulesError> {
        let src = Source {
            text,
            file: file_name,
        };
        let raw: RawDirectory = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let mut units = Vec::with_capacity(raw.units.len());
        let mut lines = Vec::with_capacity(raw.units.len());
        for raw_unit in raw.units {
            let unit_type = src.unit_type(&raw_unit.unit_type)?;
            lines.push(Some(src.line_of(raw_unit.id.span().start)));
            units.push(OrgUnit {
                id: raw_unit.id.into_inner(),
                name: raw_unit.name.into_inner(),
                unit_type,
                district: raw_unit.district,
                street: raw_unit.street,
                community: raw_unit.community,
            });
        }
        UnitDirectory::build(units, &lines, file_name)
    }

    /// Builds a directory from units made in code (e.g. loaded from a database); errors carry no line.
    pub fn from_units(units: Vec<OrgUnit>) -> Result<UnitDirectory, RulesError> {
        let lines = vec![None; units.len()];
        UnitDirectory::build(units, &lines, "unit directory")
    }

    /// The demo directory for 和平区 / 河西区 / 南开区.
    pub fn builtin_demo() -> Result<UnitDirectory, RulesError> {
        UnitDirectory::parse(DEMO_UNITS, DEMO_UNITS_FILE)
    }

    fn build(
        units: Vec<OrgUnit>,
        lines: &[Option<usize>],
        file: &str,
    ) -> Result<UnitDirectory, RulesError> {
        let err = |i: usize, kind, message| RulesError {
            file: file.to_owned(),
            line: lines.get(i).copied().flatten(),
            kind,
            message,
        };
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(units.len());
        let mut scopes: HashMap<UnitScope<'_>, usize> = HashMap::new();
        for (i, unit) in units.iter().enumerate() {
            if unit.id.trim().is_empty() || unit.name.trim().is_empty() {
                return Err(err(
                    i,
                    RulesErrorKind::EmptyValue,
                    format!("单位 “{}” 的 id 和 name 都不能为空", unit.id),
                ));
            }
            if let Some(&first) = by_id.get(unit.id.as_str()) {
                return Err(err(
                    i,
                    RulesErrorKind::DuplicateUnitId,
                    format!(
                        "单位 id “{}” 重复（{} 与 {}）",
                        unit.id, units[first].name, unit.name
                    ),
                ));
            }
            let blank = |s: &Option<String>| s.as_deref().is_some_and(|s| s.trim().is_empty());
            if blank(&unit.district) || blank(&unit.street) || blank(&unit.community) {
                return Err(err(
                    i,
                    RulesErrorKind::EmptyValue,
                    format!(
                        "单位 {} 的 district/street/community 不能是空字符串",
                        unit.id
                    ),
                ));
            }
            let incomplete = (unit.street.is_some() && unit.district.is_none())
                || (unit.community.is_some() && unit.street.is_none());
            if incomplete {
                return Err(err(
                    i,
                    RulesErrorKind::IncompleteScope,
                    format!(
                        "单位 {}：写了 street 就要写 district，写了 community 就要写 street",
                        unit.id
                    ),
                ));
            }
            if !bound_to_estate(unit.unit_type) {
                let scope = (
                    unit.unit_type,
                    unit.district.as_deref(),
                    unit.street.as_deref(),
                    unit.community.as_deref(),
                );
                if let Some(&first) = scopes.get(&scope) {
                    return Err(err(
                        i,
                        RulesErrorKind::DuplicateScope,
                        format!(
                            "{} 和 {} 是同一辖区的同类单位 ({})，无法确定派给谁",
                            units[first].name,
                            unit.name,
                            unit.unit_type.code()
                        ),
                    ));
                }
                scopes.insert(scope, i);
            }
            by_id.insert(unit.id.clone(), i);
        }
        Ok(UnitDirectory { units, by_id })
    }

    pub fn get(&self, id: &str) -> Option<&OrgUnit> {
        self.by_id.get(id).and_then(|&i| self.units.get(i))
    }

    pub fn units(&self) -> &[OrgUnit] {
        &self.units
    }

    /// The one concrete unit of `unit_type` serving `estate`: the estate's own company or property
    /// owner for those types; otherwise the most specific area match (community, then street, then
    /// district, then city-wide). No management-mode substitution here: that is [`route`]'s job.
    pub fn resolve(&self, unit_type: UnitType, estate: &Estate) -> Option<&OrgUnit> {
        let by_estate_id = |id: &Option<String>| {
            id.as_deref()
                .and_then(|id| self.get(id))
                .filter(|u| u.unit_type == unit_type)
        };
        match unit_type {
            UnitType::ManagementCompany => return by_estate_id(&estate.company_unit),
            UnitType::PropertyOwner => return by_estate_id(&estate.owner_unit),
            _ => {}
        }
        let fits = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.units
            .iter()
            .filter(|u| u.unit_type == unit_type)
            .filter(|u| {
                fits(&u.district, &estate.district)
                    && fits(&u.street, &estate.street)
                    && fits(&u.community, &estate.community)
            })
            .max_by_key(|u| {
                (
                    u.community.is_some(),
                    u.street.is_some(),
                    u.district.is_some(),
                )
            })
    }
}

/// Why a category could not be routed for an estate (data gaps, not user error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("路由规则里没有类别 {category}")]
    NoRule { category: &'static str },
    #[error("旧楼区 {estate} 引用的单位 {unit_id} 不在单位目录中（{field}）")]
    UnknownEstateUnit {
        estate: String,
        field: &'static str,
        unit_id: String,
    },
    #[error("旧楼区 {estate} 为 {mode} 模式，但没有登记 {field}")]
    MissingEstateUnit {
        estate: String,
        mode: &'static str,
        field: &'static str,
    },
    #[error(
        "单位目录中没有为 {district}/{street}/{community} 服务的 {unit_type}（{unit_type_zh}）"
    )]
    NoUnitForType {
        unit_type: &'static str,
        unit_type_zh: &'static str,
        district: String,
        street: String,
        community: String,
    },
}

impl RoutingError {
    pub fn code(&self) -> &'static str {
        match self {
            RoutingError::NoRule { .. } => "NO_RULE",
            RoutingError::UnknownEstateUnit { .. } => "UNKNOWN_ESTATE_UNIT",
            RoutingError::MissingEstateUnit { .. } => "MISSING_ESTATE_UNIT",
            RoutingError::NoUnitForType { .. } => "NO_UNIT_FOR_TYPE",
        }
    }
}

/// Where a case of `category` at an estate goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingDecision {
    pub category: Category,
    /// Who acts first on site (dissuades, removes); empty for faults nobody can dissuade.
    pub first_on_site: Vec<OrgUnit>,
    /// Who reports to whom when the first step fails: company → committee → street office, after
    /// management-mode substitution and without repeats.
    pub escalation_chain: Vec<OrgUnit>,
    /// The unit responsible for fixing it: the street office dispatches the case here.
    pub owner: OrgUnit,
    /// Units that share the duty (e.g. ELEVATOR: market regulation plus the maintainer).
    pub co_responsible: Vec<OrgUnit>,
    /// Chinese text citing the policy sections (and 《天津市文明行为促进条例》 where it applies).
    pub legal_basis: String,
}

fn mode_code(mode: ManagementMode) -> &'static str {
    match mode {
        ManagementMode::Company => "COMPANY",
        ManagementMode::OwnerSelf => "OWNER_SELF",
        ManagementMode::ResidentSelf => "RESIDENT_SELF",
    }
}

struct Resolver<'a> {
    dir: &'a UnitDirectory,
    estate: &'a Estate,
}

impl Resolver<'_> {
    fn by_area(&self, unit_type: UnitType) -> Result<OrgUnit, RoutingError> {
        self.dir
            .resolve(unit_type, self.estate)
            .cloned()
            .ok_or_else(|| RoutingError::NoUnitForType {
                unit_type: unit_type.code(),
                unit_type_zh: unit_type.name_zh(),
                district: self.estate.district.clone(),
                street: self.estate.street.clone(),
                community: self.estate.community.clone(),
            })
    }

    fn by_estate_field(
        &self,
        field: &'static str,
        id: &Option<String>,
    ) -> Result<OrgUnit, RoutingError> {
        let Some(id) = id else {
            return Err(RoutingError::MissingEstateUnit {
                estate: self.estate.id.clone(),
                mode: mode_code(self.estate.management_mode),
                field,
            });
        };
        self.dir
            .get(id)
            .cloned()
            .ok_or_else(|| RoutingError::UnknownEstateUnit {
                estate: self.estate.id.clone(),
                field,
                unit_id: id.clone(),
            })
    }

    fn unit(&self, unit_ref: UnitRef) -> Result<OrgUnit, RoutingError> {
        match unit_ref {
            // 二(三): whoever manages the estate stands where the company would.
            UnitRef::Type(UnitType::ManagementCompany) => match self.estate.management_mode {
                ManagementMode::Company => {
                    self.by_estate_field("company_unit", &self.estate.company_unit)
                }
                ManagementMode::OwnerSelf => {
                    self.by_estate_field("owner_unit", &self.estate.owner_unit)
                }
                ManagementMode::ResidentSelf => self.by_area(UnitType::ResidentsCommittee),
            },
            UnitRef::Type(UnitType::PropertyOwner) => {
                self.by_estate_field("owner_unit", &self.estate.owner_unit)
            }
            UnitRef::Type(unit_type) => self.by_area(unit_type),
            // 三(三)7: the street office designates maintainers; until it has, the case is its own.
            UnitRef::ElevatorMaintainer => match &self.estate.elevator_maintainer {
                Some(_) => {
                    self.by_estate_field("elevator_maintainer", &self.estate.elevator_maintainer)
                }
                None => self.by_area(UnitType::StreetOffice),
            },
        }
    }

    fn units(&self, refs: &[UnitRef], exclude: &[&OrgUnit]) -> Result<Vec<OrgUnit>, RoutingError> {
        let mut out: Vec<OrgUnit> = Vec::with_capacity(refs.len());
        for &r in refs {
            let unit = self.unit(r)?;
            if !out
                .iter()
                .chain(exclude.iter().copied())
                .any(|u| u.id == unit.id)
            {
                out.push(unit);
            }
        }
        Ok(out)
    }
}

/// Routes a category at an estate: first on site, escalation chain, owner, co-responsible units and
/// the legal basis, all concrete. Overrides (asset ownership, management mode) apply in file order.
pub fn route(
    rules: &RoutingRules,
    dir: &UnitDirectory,
    category: Category,
    estate: &Estate,
) -> Result<RoutingDecision, RoutingError> {
    let rule = rules.rule(category).ok_or(RoutingError::NoRule {
        category: category.code(),
    })?;
    let mut first_refs = &rule.first_on_site;
    let mut owner_ref = rule.owner;
    let mut co_refs = &rule.co_responsible;
    let mut basis = vec![format!("{POLICY_TITLE} {}", rule.legal_basis)];
    for o in rule.overrides.iter().filter(|o| o.matches(estate)) {
        if let Some(refs) = &o.first_on_site {
            first_refs = refs;
        }
        if let Some(owner) = o.owner {
            owner_ref = owner;
        }
        if let Some(refs) = &o.co_responsible {
            co_refs = refs;
        }
        if let Some(text) = &o.legal_basis {
            basis.push(text.clone());
        }
    }
    if let Some(article) = category.info().civility_article {
        basis.push(format!(
            "《天津市文明行为促进条例》第{}条：由{}依法处理。",
            article.article, article.enforcer
        ));
    }
    let resolver = Resolver { dir, estate };
    let owner = resolver.unit(owner_ref)?;
    let first_on_site = resolver.units(first_refs, &[])?;
    let co_responsible = resolver.units(co_refs, &[&owner])?;
    let chain_refs: Vec<UnitRef> = rules
        .escalation_chain()
        .iter()
        .map(|&t| UnitRef::Type(t))
        .collect();
    let escalation_chain = resolver.units(&chain_refs, &[])?;

    let touches_company = first_refs
        .iter()
        .chain(co_refs.iter())
        .chain(std::iter::once(&owner_ref))
        .any(|r| *r == UnitRef::Type(UnitType::ManagementCompany));
    if touches_company {
        basis.push(match estate.management_mode {
            ManagementMode::Company if estate.scattered => {
                "本旧楼区为散片旧楼区，按就近原则由附近成片旧楼区的管理服务企业代管（六(一)）。".to_owned()
            }
            ManagementMode::Company => String::new(),
            ManagementMode::OwnerSelf => {
                "本旧楼区由产权人（单位）自行管理（二(三)），由产权单位承担管理服务企业的职责。".to_owned()
            }
            ManagementMode::ResidentSelf => {
                "本旧楼区由社区居民委员会牵头组织居民自治管理（二(三)），由社区居委会承担管理服务企业的职责。".to_owned()
            }
        });
    }
    basis.retain(|s| !s.is_empty());
    Ok(RoutingDecision {
        category,
        first_on_site,
        escalation_chain,
        owner,
        co_responsible,
        legal_basis: basis.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::demo;

    fn estate(id: &str) -> Estate {
        demo::estates()
            .unwrap()
            .into_iter()
            .find(|e| e.id == id)
            .unwrap()
    }

    fn route_demo(category: Category, estate: &Estate) -> RoutingDecision {
        let rules = RoutingRules::builtin().unwrap();
        let dir = demo::units().unwrap();
        route(&rules, &dir, category, estate).unwrap()
    }

    /// DESIGN.md's "owner unit type" column, written out independently of the rules file.
    fn design_owner(category: Category) -> UnitType {
        use Category as C;
        use UnitType as U;
        match category {
            C::IllegalStructure | C::SmallAds | C::PoultryPigeons => U::CityManagement,
            C::CommonAreaClutter | C::EnclosedPublicSpace | C::GroundLock => U::StreetOffice,
            C::DisorderlyParking | C::AbandonedVehicle => U::ManagementCompany,
            C::FireLaneBlocked => U::FireRescue,
            C::Garbage | C::Greenery | C::StreetLight => U::CityManagement,
            C::StairwellLighting => U::DistrictMaintenance,
            C::Elevator => U::MarketRegulation,
            C::FireEquipment => U::FireRescue,
            C::GasFacility => U::Gas,
            C::HeatingFacility => U::Heating,
            C::OldWiring => U::StateGrid,
            C::TelecomCables => U::Telecom,
            C::Mailbox => U::PropertyOwner,
            C::FitnessEquipment => U::Sports,
            C::BuildingSafety => U::Housing,
            C::GateWallIntercom => U::ManagementCompany,
            C::Walkway => U::DistrictMaintenance,
            C::FacilityDamage => U::ManagementCompany,
            C::ServiceComplaint => U::StreetOffice,
        }
    }

    #[test]
    fn every_category_routes_for_every_management_mode_to_designs_owner_type() {
        let base = estate("pingshandao");
        let modes = [
            (ManagementMode::Company, UnitType::ManagementCompany),
            (ManagementMode::OwnerSelf, UnitType::PropertyOwner),
            (ManagementMode::ResidentSelf, UnitType::ResidentsCommittee),
        ];
        for (mode, stands_for_company) in modes {
            for lamps in [LampOwner::City, LampOwner::StateGrid] {
                let mut e = base.clone();
                e.management_mode = mode;
                e.lamp_owner = lamps;
                if mode != ManagementMode::Company {
                    e.company_unit = None;
                }
                for category in Category::ALL {
                    let decision = route_demo(category, &e);
                    let mut expected = design_owner(category);
                    if expected == UnitType::ManagementCompany {
                        expected = stands_for_company;
                    }
                    if category == Category::StreetLight && lamps == LampOwner::StateGrid {
                        expected = UnitType::StateGrid;
                    }
                    assert_eq!(
                        decision.owner.unit_type, expected,
                        "{category} in {mode:?} lamps {lamps:?}"
                    );
                    assert_eq!(
                        decision.owner.district.as_deref().unwrap_or("河西区"),
                        "河西区",
                        "{category}"
                    );
                    assert!(decision.legal_basis.contains(POLICY_TITLE));
                    for section in category.info().policy_sections {
                        assert!(
                            decision.legal_basis.contains(section),
                            "{category} misses {section}"
                        );
                    }
                    assert!(
                        !decision
                            .co_responsible
                            .iter()
                            .any(|u| u.id == decision.owner.id)
                    );
                    assert_eq!(
                        decision.escalation_chain.last().unwrap().unit_type,
                        UnitType::StreetOffice
                    );
                }
            }
        }
    }

    #[test]
    fn every_demo_estate_routes_every_category() {
        for e in demo::estates().unwrap() {
            for category in Category::ALL {
                let d = route_demo(category, &e);
                assert_eq!(d.category, category);
            }
        }
    }

    #[test]
    fn concrete_units_for_demo_estates() {
        let ping = estate("pingshandao");
        assert_eq!(
            route_demo(Category::StreetLight, &ping).owner.name,
            "国网天津市电力公司"
        );
        assert!(
            route_demo(Category::StreetLight, &ping)
                .legal_basis
                .contains("三(一)11")
        );
        let chang = estate("changchunli");
        assert_eq!(
            route_demo(Category::StreetLight, &chang).owner.name,
            "和平区城市管理委员会"
        );
        assert_eq!(
            route_demo(Category::IllegalStructure, &ping).owner.name,
            "河西区城市管理委员会"
        );
        assert_eq!(
            route_demo(Category::GroundLock, &ping).owner.name,
            "河西区友谊路街道办事处"
        );

        let lift = route_demo(Category::Elevator, &ping);
        assert_eq!(lift.owner.name, "河西区市场监督管理局");
        assert_eq!(
            lift.co_responsible
                .iter()
                .map(|u| u.id.as_str())
                .collect::<Vec<_>>(),
            ["hexi.maintenance"]
        );
        let lift = route_demo(Category::Elevator, &chang);
        assert_eq!(
            lift.co_responsible[0].unit_type,
            UnitType::StreetOffice,
            "no maintainer designated yet"
        );

        let lane = route_demo(Category::FireLaneBlocked, &ping);
        assert_eq!(lane.owner.name, "天津市河西区消防救援支队");
        assert_eq!(lane.first_on_site[0].id, "company.hexi_youyilu");
        assert_eq!(lane.co_responsible[0].id, "company.hexi_youyilu");

        let fire = route_demo(Category::FireEquipment, &chang);
        assert_eq!(fire.co_responsible[0].id, "heping.property_owner");

        let ads = route_demo(Category::SmallAds, &chang);
        assert!(ads.legal_basis.contains("第65条"), "{}", ads.legal_basis);
        assert!(
            route_demo(Category::GroundLock, &chang)
                .legal_basis
                .contains("第69条：由街道办事处")
        );

        let chain: Vec<_> = route_demo(Category::GroundLock, &ping)
            .escalation_chain
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(
            chain,
            [
                "company.hexi_youyilu",
                "hexi.youyilu.pingshandao.committee",
                "hexi.youyilu.street_office"
            ]
        );
    }

    #[test]
    fn resident_self_estate_puts_the_committee_where_the_company_would_be() {
        let he = estate("heyuanbeili");
        let d = route_demo(Category::DisorderlyParking, &he);
        assert_eq!(d.owner.id, "nankai.xuefu.heyuan.committee");
        assert!(d.legal_basis.contains("二(三)"));
        let chain: Vec<_> = d.escalation_chain.into_iter().map(|u| u.id).collect();
        assert_eq!(
            chain,
            [
                "nankai.xuefu.heyuan.committee",
                "nankai.xuefu.street_office"
            ],
            "no repeats"
        );
    }

    #[test]
    fn owner_self_estate_puts_the_property_owner_there() {
        let mut e = estate("changchunli");
        e.management_mode = ManagementMode::OwnerSelf;
        e.company_unit = None;
        let d = route_demo(Category::GateWallIntercom, &e);
        assert_eq!(d.owner.id, "heping.property_owner");
        assert_eq!(d.escalation_chain[0].id, "heping.property_owner");
        e.owner_unit = None;
        let rules = RoutingRules::builtin().unwrap();
        let err = route(
            &rules,
            &demo::units().unwrap(),
            Category::GateWallIntercom,
            &e,
        )
        .unwrap_err();
        assert_eq!(err.code(), "MISSING_ESTATE_UNIT");
        assert!(err.to_string().contains("owner_unit"));
    }

    #[test]
    fn scattered_estate_routes_company_work_to_the_nearby_company() {
        let mut e = estate("changchunli");
        e.id = "changchunli_sanpian".into();
        e.scattered = true;
        // A company from the next street manages this scattered block (六(一)).
        e.company_unit = Some("company.hexi_youyilu".into());
        let d = route_demo(Category::AbandonedVehicle, &e);
        assert_eq!(d.owner.id, "company.hexi_youyilu");
        assert!(d.legal_basis.contains("六(一)"));
        assert!(
            !route_demo(Category::Elevator, &e)
                .legal_basis
                .contains("六(一)")
        );
    }

    #[test]
    fn unknown_company_is_a_routing_error() {
        let mut e = estate("pingshandao");
        e.company_unit = Some("company.gone".into());
        let rules = RoutingRules::builtin().unwrap();
        let err = route(
            &rules,
            &demo::units().unwrap(),
            Category::DisorderlyParking,
            &e,
        )
        .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_ESTATE_UNIT");
        assert!(err.to_string().contains("company.gone"));
    }

    fn unit(id: &str, t: UnitType, d: Option<&str>, s: Option<&str>, c: Option<&str>) -> OrgUnit {
        OrgUnit {
            id: id.into(),
            name: format!("name of {id}"),
            unit_type: t,
            district: d.map(Into::into),
            street: s.map(Into::into),
            community: c.map(Into::into),
        }
    }

    #[test]
    fn directory_picks_the_most_specific_unit() {
        let e = estate("pingshandao");
        let city = UnitType::CityManagement;
        let dir = UnitDirectory::from_units(vec![
            unit("city", city, None, None, None),
            unit("district", city, Some("河西区"), None, None),
            unit("street", city, Some("河西区"), Some("友谊路街道"), None),
            unit("other_street", city, Some("河西区"), Some("马场街道"), None),
            unit("other_district", city, Some("和平区"), None, None),
        ])
        .unwrap();
        assert_eq!(dir.resolve(city, &e).unwrap().id, "street");
        let mut elsewhere = e.clone();
        elsewhere.street = "天塔街道".into();
        assert_eq!(dir.resolve(city, &elsewhere).unwrap().id, "district");
        elsewhere.district = "红桥区".into();
        assert_eq!(dir.resolve(city, &elsewhere).unwrap().id, "city");
        assert!(dir.resolve(UnitType::Gas, &e).is_none());
    }

    #[test]
    fn directory_rejects_ambiguous_or_broken_units() {
        let t = UnitType::Housing;
        let err = |units| UnitDirectory::from_units(units).unwrap_err();
        let e = err(vec![
            unit("a", t, Some("河西区"), None, None),
            unit("a", UnitType::Gas, None, None, None),
        ]);
        assert_eq!((e.code(), e.line), ("DUPLICATE_UNIT_ID", None));
        let e = err(vec![
            unit("a", t, Some("河西区"), None, None),
            unit("b", t, Some("河西区"), None, None),
        ]);
        assert_eq!(e.code(), "DUPLICATE_SCOPE");
        assert!(e.to_string().contains("name of a") && e.to_string().contains("name of b"));
        assert_eq!(
            err(vec![unit("a", t, None, Some("友谊路街道"), None)]).code(),
            "INCOMPLETE_SCOPE"
        );
        assert_eq!(
            err(vec![unit(" ", t, None, None, None)]).code(),
            "EMPTY_VALUE"
        );
        // Two companies in one district are fine: estates name their company by id.
        let c = UnitType::ManagementCompany;
        assert!(
            UnitDirectory::from_units(vec![
                unit("a", c, Some("河西区"), None, None),
                unit("b", c, Some("河西区"), None, None)
            ])
            .is_ok()
        );
    }

    #[test]
    fn directory_file_errors_carry_file_and_line() {
        let text = "[[unit]]\nid = \"a\"\nname = \"甲\"\nunit_type = \"HOUSING\"\n\n[[unit]]\nid = \"b\"\nname = \"乙\"\nunit_type = \"HOUSNG\"\n";
        let e = UnitDirectory::parse(text, "units.toml").unwrap_err();
        assert_eq!((e.code(), e.line), ("UNKNOWN_UNIT_TYPE", Some(9)));
        assert!(e.to_string().starts_with("units.toml:9: "), "{e}");
        let text = "[[unit]]\nid = \"a\"\nname = \"甲\"\nunit_type = \"HOUSING\"\n\n[[unit]]\nid = \"a\"\nname = \"乙\"\nunit_type = \"GAS\"\n";
        let e = UnitDirectory::parse(text, "units.toml").unwrap_err();
        assert_eq!((e.code(), e.line), ("DUPLICATE_UNIT_ID", Some(7)));
    }

    /// Edits the builtin rules file and returns the error with the 1-based line of the edit.
    fn broken(find: &str, replace: &str) -> (RulesError, usize) {
        let text = RoutingRules::builtin_text();
        assert!(text.contains(find), "fixture text missing: {find}");
        let edited = text.replacen(find, replace, 1);
        // The replacement starts where the original text did.
        let offset = text.find(find).unwrap();
        let line = edited[..offset].matches('\n').count() + 1;
        (
            RoutingRules::parse(&edited, "rules.toml").unwrap_err(),
            line,
        )
    }

    #[test]
    fn bad_rules_files_each_get_their_own_message() {
        let mut codes = std::collections::BTreeSet::new();
        let mut check =
            |(err, line): (RulesError, usize), code: &str, says: &str, exact_line: bool| {
                assert_eq!(err.code(), code, "{err}");
                assert_eq!(err.file, "rules.toml");
                if exact_line {
                    assert_eq!(err.line, Some(line), "{err}");
                }
                assert!(err.line.is_some(), "{err}");
                assert!(
                    err.to_string().contains(says),
                    "{err} should mention {says}"
                );
                codes.insert(err.code());
            };
        check(
            broken("category = \"GROUND_LOCK\"", "category = \"GROUND_LOCKS\""),
            "UNKNOWN_CATEGORY",
            "GROUND_LOCKS",
            true,
        );
        check(
            broken("owner = \"SPORTS\"", "owner = \"SPORT\""),
            "UNKNOWN_UNIT_TYPE",
            "SPORT",
            true,
        );
        check(
            broken(
                "first_on_site = [\"RESIDENTS_COMMITTEE\"]\nowner = \"CITY_MANAGEMENT\"",
                "first_on_site = [\"RESIDENT_COMMITTEE\"]\nowner = \"CITY_MANAGEMENT\"",
            ),
            "UNKNOWN_UNIT_TYPE",
            "RESIDENT_COMMITTEE",
            true,
        );
        check(
            broken("category = \"WALKWAY\"", "category = \"GREENERY\""),
            "DUPLICATE_CATEGORY",
            "GREENERY",
            true,
        );
        let (err, _) = broken("category = \"WALKWAY\"", "category = \"GREENERY\"");
        assert!(
            err.message.contains("第"),
            "names the first occurrence: {err}"
        );
        check(
            broken(
                "[[rule]]\ncategory = \"MAILBOX\"",
                "[[rulez]]\ncategory = \"MAILBOX\"",
            ),
            "UNKNOWN_FIELD",
            "rulez",
            false,
        );
        check(
            broken("legal_basis = \"三(一)6", "legal_basi = \"三(一)6"),
            "UNKNOWN_FIELD",
            "legal_basi",
            false,
        );
        check(
            broken("owner = \"HEATING\"\n", "\n"),
            "MISSING_FIELD",
            "owner",
            false,
        );
        check(
            broken(
                "category = \"TELECOM_CABLES\"",
                "category = \"TELECOM_CABLES",
            ),
            "MALFORMED_TOML",
            "TOML",
            true,
        );
        check(
            broken("version = 1", "version = 2"),
            "UNSUPPORTED_VERSION",
            "2",
            true,
        );
        check(
            broken(
                "三(一)10：市公用事业局指导监督有关区燃气",
                "市公用事业局指导监督有关区燃气",
            ),
            "LEGAL_BASIS_INCOMPLETE",
            "GAS_FACILITY",
            true,
        );
        check(
            broken("lamp_owner = \"STATE_GRID\"", "lamp_owner = \"GRID\""),
            "UNKNOWN_CONDITION",
            "GRID",
            true,
        );
        check(
            broken(
                "escalation_chain = [\"MANAGEMENT_COMPANY\", \"RESIDENTS_COMMITTEE\", \"STREET_OFFICE\"]",
                "escalation_chain = [\"STREET_OFFICE\", \"RESIDENTS_COMMITTEE\"]",
            ),
            "BAD_ESCALATION_CHAIN",
            "STREET_OFFICE",
            true,
        );
        check(
            broken(
                "lamp_owner = \"STATE_GRID\"\nowner = \"STATE_GRID\"\nco_responsible = [\"CITY_MANAGEMENT\"]\nlegal_basis",
                "legal_basis",
            ),
            "EMPTY_OVERRIDE",
            "STREET_LIGHT",
            false,
        );

        // A whole rule removed: the missing category is named.
        let text = RoutingRules::builtin_text();
        let start = text.find("[[rule]]\ncategory = \"WALKWAY\"").unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        let err = RoutingRules::parse(&format!("{}{}", &text[..start], &text[end..]), "rules.toml")
            .unwrap_err();
        assert_eq!(err.code(), "MISSING_CATEGORY");
        assert!(
            err.to_string().contains("WALKWAY") && err.to_string().contains("楼间甬路"),
            "{err}"
        );
        codes.insert(err.code());
        assert!(codes.len() >= 10, "{codes:?}");
    }

    #[test]
    fn empty_file_reports_the_missing_version() {
        let err = RoutingRules::parse("", "empty.toml").unwrap_err();
        assert_eq!(err.code(), "MISSING_FIELD");
        assert!(err.to_string().starts_with("empty.toml"), "{err}");
    }
}

/// Issue 11: the rules-file loader takes files an admin edits by hand (`rules check`, estates
/// import); arbitrary text and mangled copies of the real file must give an error with file:line,
/// never a panic.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// The built-in rules, cut at a line, with lines dropped, duplicated or replaced by junk.
    fn mangled_rules() -> impl Strategy<Value = String> {
        let lines: Vec<String> = RoutingRules::builtin_text()
            .lines()
            .map(str::to_owned)
            .collect();
        let count = lines.len();
        let edit = (0..count, 0u8..4, "[ -~\u{4e00}-\u{4e20}]{0,24}");
        (prop::collection::vec(edit, 1..8), 0..=count).prop_map(move |(edits, cut)| {
            let mut lines = lines.clone();
            for (at, how, junk) in edits {
                let at = at.min(lines.len().saturating_sub(1));
                if lines.is_empty() {
                    break;
                }
                match how {
                    0 => {
                        lines.remove(at);
                    }
                    1 => {
                        let copy = lines[at].clone();
                        lines.insert(at, copy);
                    }
                    2 => lines[at] = junk,
                    _ => {
                        if let Some((key, _)) = lines[at].split_once('=') {
                            lines[at] = format!("{key}= {junk}");
                        }
                    }
                }
            }
            lines.truncate(cut.max(1));
            lines.join("\n")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = RoutingRules::parse(&text, "fuzz.toml");
            let _ = UnitDirectory::parse(&text, "fuzz.toml");
        }

        #[test]
        fn mangled_rules_never_panic(text in mangled_rules()) {
            if let Err(e) = RoutingRules::parse(&text, "fuzz.toml") {
                prop_assert!(!e.code().is_empty());
                prop_assert!(e.to_string().contains("fuzz.toml"), "{e}");
            }
        }
    }
}
