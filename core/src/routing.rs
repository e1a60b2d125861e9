//! Where a case goes: routing rules (data, `core/data/routing-rules.toml`) plus a unit directory
//! (data, `core/data/demo/units.toml` for the demo) resolve a category at an estate to concrete units.
//!
//! The rules file names unit *types* per category; the directory turns a type plus the estate's
//! district / street / community into one concrete unit (the most specific match wins). Management
//! mode substitutes who stands where the company would (二(三)): the estate's company (possibly a
//! nearby company for a scattered estate, 六(一)), the property owner, or the residents' committee.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::catalog::Category;
use crate::estate::{Estate, LampOwner, ManagementMode};
use crate::org::{OrgUnit, UnitType};
use crate::policy::{self, Citation, Source as LawSource};

/// The rules shipped with this build.
const BUILTIN_RULES: &str = include_str!("../data/routing-rules.toml");
const BUILTIN_RULES_FILE: &str = "core/data/routing-rules.toml";
/// The demo unit directory (和平区 / 河西区 / 南开区).
const DEMO_UNITS: &str = include_str!("../data/demo/units.toml");
const DEMO_UNITS_FILE: &str = "core/data/demo/units.toml";

/// The lowest rules version this build reads: version 1 files paraphrased the policy and named
/// no source document. A rules file's `version` is raised on every edit of its content; the case
/// records the version it was routed under.
pub const RULES_VERSION: u32 = 2;

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
    BadSource,
    BadCitation,
    QuoteNotVerbatim,
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
            RulesErrorKind::BadSource => "BAD_SOURCE",
            RulesErrorKind::BadCitation => "BAD_CITATION",
            RulesErrorKind::QuoteNotVerbatim => "QUOTE_NOT_VERBATIM",
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
        if let Some(&(t, _)) = OPERATORS.iter().find(|(_, c)| c == code.get_ref()) {
            return Ok(UnitRef::Operator(t));
        }
        UnitType::from_code(code.get_ref())
            .map(UnitRef::Type)
            .ok_or_else(|| {
                self.at(
                    code,
                    RulesErrorKind::UnknownUnitType,
                    format!(
                        "未知单位类型 “{}”；可用：{}、{ELEVATOR_MAINTAINER} 或 {}",
                        code.get_ref(),
                        join(UnitType::ALL.iter().map(|t| t.code())),
                        join(OPERATORS.iter().map(|(_, c)| *c))
                    ),
                )
            })
    }

    /// A `[[rule]]` or override's `legal_basis` list, each quote checked against its source text.
    fn citations(&self, raw: &[Spanned<RawCitation>]) -> Result<Vec<Citation>, RulesError> {
        raw.iter().map(|c| self.citation(c)).collect()
    }

    fn citation(&self, spanned: &Spanned<RawCitation>) -> Result<Citation, RulesError> {
        let raw = spanned.get_ref();
        let source = match &raw.law {
            None => LawSource::Policy,
            Some(code) => LawSource::from_code(code).ok_or_else(|| {
                self.at(
                    spanned,
                    RulesErrorKind::BadCitation,
                    format!(
                        "未知法规 “{code}”；可用：{}（省略 law 即引用本意见）",
                        join(LawSource::ALL.iter().map(|s| s.code()))
                    ),
                )
            })?,
        };
        let citation = Citation {
            source,
            section: raw.section.trim().to_owned(),
            quote: raw.quote.as_ref().map(|q| q.trim().to_owned()),
        };
        citation.check().map_err(|e| {
            let kind = match e {
                policy::QuoteError::NotInSection { .. } => RulesErrorKind::QuoteNotVerbatim,
                _ => RulesErrorKind::BadCitation,
            };
            self.at(spanned, kind, e.to_string())
        })?;
        Ok(citation)
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

/// The rules-file names for the enterprises that do the work where a department of the same type
/// supervises (三(一)7: 基础电信企业; 三(一)10: the gas and heating operators under the district
/// 燃气、供热管理部门). The directory marks them `operator = true`.
pub const OPERATORS: [(UnitType, &str); 3] = [
    (UnitType::Gas, "GAS_OPERATOR"),
    (UnitType::Heating, "HEATING_OPERATOR"),
    (UnitType::Telecom, "TELECOM_OPERATOR"),
];

/// A unit named in a rule: a unit type, an operator of a type, or the estate's designated
/// elevator maintainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitRef {
    Type(UnitType),
    /// The operator (enterprise) of a field whose department is `Type(t)` (see [`OPERATORS`]).
    Operator(UnitType),
    /// The maintainer the street office designated for the estate (三(三)7); the street office
    /// itself while none is designated.
    ElevatorMaintainer,
}

impl UnitRef {
    pub fn code(self) -> &'static str {
        match self {
            UnitRef::Type(t) => t.code(),
            UnitRef::Operator(t) => OPERATORS
                .iter()
                .find(|(o, _)| *o == t)
                .map_or("OPERATOR", |(_, c)| c),
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
    pub supervisor: Option<UnitRef>,
    pub owner: Option<UnitRef>,
    pub co_responsible: Option<Vec<UnitRef>>,
    /// Appended to the category's legal basis when the override applies (verbatim quotes).
    pub legal_basis: Vec<Citation>,
    pub reasoning: Option<String>,
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
    /// The regulator that supervises the work where the policy names one beside the unit doing it
    /// (ELEVATOR: 市场监管 over the designated maintainer, 三(一)5 and 三(三)7).
    pub supervisor: Option<UnitRef>,
    pub owner: UnitRef,
    pub co_responsible: Vec<UnitRef>,
    /// Verbatim quotes with their sections, checked against the source texts when parsed.
    pub legal_basis: Vec<Citation>,
    /// Why the rule reads the policy this way (shown by `rules check`, never to citizens).
    pub reasoning: Option<String>,
    pub overrides: Vec<RuleOverride>,
}

/// The document the rules implement and the dates it is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDocument {
    pub title: String,
    pub issuer: String,
    pub issued: NaiveDate,
    pub effective_from: NaiveDate,
    /// The last day in force (inclusive).
    pub effective_until: NaiveDate,
    /// The policy's own words on its validity, quoted.
    pub validity: String,
}

impl SourceDocument {
    /// `《…》（2020年8月6日）`
    pub fn cited_title(&self) -> String {
        format!("《{}》（{}）", self.title, zh_date(self.issued))
    }
}

/// `2020年8月6日`
pub fn zh_date(date: NaiveDate) -> String {
    format!("{}年{}月{}日", date.year(), date.month(), date.day())
}

/// The validated rules: exactly one rule per category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingRules {
    version: u32,
    source: SourceDocument,
    escalation_chain: Vec<UnitType>,
    /// Indexed by `Category as usize`.
    rules: Vec<CategoryRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: Spanned<u32>,
    source: Spanned<RawSource>,
    escalation_chain: Spanned<Vec<Spanned<String>>>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    title: Spanned<String>,
    issuer: Spanned<String>,
    issued: Spanned<String>,
    effective_from: Spanned<String>,
    effective_until: Spanned<String>,
    validity: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCitation {
    #[serde(default)]
    law: Option<String>,
    section: String,
    #[serde(default)]
    quote: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    category: Spanned<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    first_on_site: Vec<Spanned<String>>,
    #[serde(default)]
    supervisor: Option<Spanned<String>>,
    owner: Spanned<String>,
    #[serde(default)]
    co_responsible: Vec<Spanned<String>>,
    legal_basis: Spanned<Vec<Spanned<RawCitation>>>,
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
    supervisor: Option<Spanned<String>>,
    #[serde(default)]
    legal_basis: Vec<Spanned<RawCitation>>,
    #[serde(default)]
    reasoning: Option<String>,
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
        if *raw.version.get_ref() < RULES_VERSION {
            return Err(src.at(
                &raw.version,
                RulesErrorKind::UnsupportedVersion,
                format!(
                    "规则文件版本 {} 不受支持；本程序读取 version ≥ {RULES_VERSION}（须含 [source] 来源文件与逐字引文）",
                    raw.version.get_ref()
                ),
            ));
        }
        let source = parse_source(&src, &raw.source)?;
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
            version: *raw.version.get_ref(),
            source,
            escalation_chain,
            rules,
        })
    }

    /// The rules version (raised on every edit); a case records the version it was routed under.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The document the rules implement, with its dates in force.
    pub fn source(&self) -> &SourceDocument {
        &self.source
    }

    /// Whether the source document is past its validity on `today` (Beijing date).
    pub fn expired_on(&self, today: NaiveDate) -> bool {
        today > self.source.effective_until
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

/// `[source]`: the title, issuer and issue date must be the shipped policy's; the validity must be
/// quoted from its closing words; the dates in force must follow from them
/// (自印发之日起施行，有效期5年: 2020-08-06 to 2025-08-05).
fn parse_source(src: &Source<'_>, raw: &Spanned<RawSource>) -> Result<SourceDocument, RulesError> {
    let fields = raw.get_ref();
    let bad =
        |at: &Spanned<String>, message: String| src.at(at, RulesErrorKind::BadSource, message);
    let date = |at: &Spanned<String>| {
        NaiveDate::parse_from_str(at.get_ref().trim(), "%Y-%m-%d")
            .map_err(|_| bad(at, format!("日期 “{}” 应写作 YYYY-MM-DD", at.get_ref())))
    };
    let title = fields.title.get_ref().trim().to_owned();
    if format!("《{title}》") != LawSource::Policy.title() {
        return Err(bad(
            &fields.title,
            format!(
                "来源文件标题 “{title}” 与随附政策原文的标题不符：{}",
                LawSource::Policy.title()
            ),
        ));
    }
    let closing = policy::policy_closing();
    let issuer = fields.issuer.get_ref().trim().to_owned();
    if issuer.is_empty() || !closing.contains(&issuer) {
        return Err(bad(
            &fields.issuer,
            format!("发文单位 “{issuer}” 不是政策原文落款的单位"),
        ));
    }
    let issued = date(&fields.issued)?;
    if !closing.contains(&zh_date(issued)) {
        return Err(bad(
            &fields.issued,
            format!("印发日期 {issued} 与政策原文落款日期不符"),
        ));
    }
    let validity = fields.validity.get_ref().trim().to_owned();
    if validity.is_empty() || !closing.contains(&validity) {
        return Err(bad(
            &fields.validity,
            format!("validity 须逐字引用政策原文关于施行与有效期的句子，原文中找不到 “{validity}”"),
        ));
    }
    let effective_from = date(&fields.effective_from)?;
    if validity.contains("自印发之日起施行") && effective_from != issued {
        return Err(bad(
            &fields.effective_from,
            format!("原文“自印发之日起施行”：effective_from 应为 {issued}，不是 {effective_from}"),
        ));
    }
    let effective_until = date(&fields.effective_until)?;
    let years: Option<u32> = validity
        .split_once("有效期")
        .and_then(|(_, rest)| rest.split_once('年'))
        .and_then(|(n, _)| n.trim().parse().ok());
    let expected_until = years
        .and_then(|y| effective_from.checked_add_months(Months::new(y * 12)))
        .and_then(|d| d.pred_opt());
    match expected_until {
        Some(expected) if expected != effective_until => {
            return Err(bad(
                &fields.effective_until,
                format!(
                    "原文“{validity}”：effective_until 应为 {expected}（含当日），不是 {effective_until}"
                ),
            ));
        }
        _ if effective_until <= effective_from => {
            return Err(bad(
                &fields.effective_until,
                format!(
                    "effective_until {effective_until} 必须晚于 effective_from {effective_from}"
                ),
            ));
        }
        _ => {}
    }
    Ok(SourceDocument {
        title,
        issuer,
        issued,
        effective_from,
        effective_until,
        validity,
    })
}

fn parse_rule(
    src: &Source<'_>,
    category: Category,
    raw: &RawRule,
) -> Result<CategoryRule, RulesError> {
    let legal_basis = src.citations(raw.legal_basis.get_ref())?;
    let missing: Vec<&str> = category
        .info()
        .policy_sections
        .iter()
        .copied()
        .filter(|s| {
            !legal_basis
                .iter()
                .any(|c| c.source == LawSource::Policy && c.section == *s && c.quote.is_some())
        })
        .collect();
    if !missing.is_empty() {
        return Err(src.at(
            &raw.legal_basis,
            RulesErrorKind::LegalBasisIncomplete,
            format!(
                "类别 {} 的 legal_basis 没有引用目录中的政策条款 {}（每条须有逐字引文）",
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
        supervisor: raw
            .supervisor
            .as_ref()
            .map(|c| src.unit_ref(c))
            .transpose()?,
        owner: src.unit_ref(&raw.owner)?,
        co_responsible: src.unit_refs(&raw.co_responsible)?,
        legal_basis,
        reasoning: raw.reasoning.as_ref().map(|r| r.trim().to_owned()),
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
        || raw.supervisor.is_some()
        || raw.co_responsible.is_some()
        || !raw.legal_basis.is_empty();
    if !changes_something {
        return Err(src.at(
            spanned,
            RulesErrorKind::EmptyOverride,
            format!("类别 {} 的 override 什么也没改（需要 owner、supervisor、first_on_site、co_responsible 或 legal_basis）", category.code()),
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
        supervisor: raw
            .supervisor
            .as_ref()
            .map(|c| src.unit_ref(c))
            .transpose()?,
        owner: raw.owner.as_ref().map(|c| src.unit_ref(c)).transpose()?,
        co_responsible: raw
            .co_responsible
            .as_deref()
            .map(|c| src.unit_refs(c))
            .transpose()?,
        legal_basis: src.citations(&raw.legal_basis)?,
        reasoning: raw.reasoning.as_ref().map(|r| r.trim().to_owned()),
    })
}

/// A unit type, whether it is an operator, plus the (district, street, community) it serves.
type UnitScope<'a> = (
    UnitType,
    bool,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

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
    #[serde(default)]
    operator: bool,
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
                operator: raw_unit.operator,
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
                    unit.operator,
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
        self.resolve_kind(unit_type, false, estate)
    }

    /// The operator (`operator = true`) of `unit_type` serving `estate`, most specific area first.
    pub fn resolve_operator(&self, unit_type: UnitType, estate: &Estate) -> Option<&OrgUnit> {
        self.resolve_kind(unit_type, true, estate)
    }

    fn resolve_kind(
        &self,
        unit_type: UnitType,
        operator: bool,
        estate: &Estate,
    ) -> Option<&OrgUnit> {
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
            .filter(|u| u.unit_type == unit_type && u.operator == operator)
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
        "单位目录中没有为 {district}/{street}/{community} 服务的 {unit_type}（{unit_type_zh}）{operator_note}"
    )]
    NoUnitForType {
        unit_type: &'static str,
        unit_type_zh: &'static str,
        district: String,
        street: String,
        community: String,
        /// "" or "的运营企业（operator = true）".
        operator_note: &'static str,
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
    /// The regulator supervising the owner's work, where the policy names one beside it (ELEVATOR:
    /// 市场监管 over the designated maintainer). It sees the case and may comment.
    pub supervisor: Option<OrgUnit>,
    /// Units that share the duty (e.g. FIRE_LANE_BLOCKED: the company keeps the lane clear). They
    /// see the case and may comment.
    pub co_responsible: Vec<OrgUnit>,
    /// Chinese text: the policy's title, then one verbatim quote per line with its section
    /// (`三(一)5：“…”`), and articles of other laws (《天津市文明行为促进条例》 by number).
    pub legal_basis: String,
    /// The version of the rules this decision was made under.
    pub rules_version: u32,
    /// The dates the rules' source document is in force (`2020-08-06` … `2025-08-05`).
    pub rules_effective_from: NaiveDate,
    pub rules_effective_until: NaiveDate,
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
            .ok_or_else(|| self.no_unit(unit_type, ""))
    }

    fn operator(&self, unit_type: UnitType) -> Result<OrgUnit, RoutingError> {
        self.dir
            .resolve_operator(unit_type, self.estate)
            .cloned()
            .ok_or_else(|| self.no_unit(unit_type, "的运营企业（operator = true）"))
    }

    fn no_unit(&self, unit_type: UnitType, operator_note: &'static str) -> RoutingError {
        RoutingError::NoUnitForType {
            unit_type: unit_type.code(),
            unit_type_zh: unit_type.name_zh(),
            district: self.estate.district.clone(),
            street: self.estate.street.clone(),
            community: self.estate.community.clone(),
            operator_note,
        }
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
            UnitRef::Operator(unit_type) => self.operator(unit_type),
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

/// Routes a category at an estate: first on site, escalation chain, owner, supervisor,
/// co-responsible units and the legal basis, all concrete. Overrides (asset ownership, management
/// mode) apply in file order.
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
    let mut supervisor_ref = rule.supervisor;
    let mut owner_ref = rule.owner;
    let mut co_refs = &rule.co_responsible;
    let mut citations: Vec<Citation> = rule.legal_basis.clone();
    for o in rule.overrides.iter().filter(|o| o.matches(estate)) {
        if let Some(refs) = &o.first_on_site {
            first_refs = refs;
        }
        if let Some(supervisor) = o.supervisor {
            supervisor_ref = Some(supervisor);
        }
        if let Some(owner) = o.owner {
            owner_ref = owner;
        }
        if let Some(refs) = &o.co_responsible {
            co_refs = refs;
        }
        citations.extend(o.legal_basis.iter().cloned());
    }
    let mut lines: Vec<String> = vec![format!("依据{}：", rules.source.cited_title())];
    lines.extend(citations.iter().map(Citation::render));
    if let Some(article) = category.info().civility_article {
        // Cited by number only: the article's wording is not on file (see the excerpt's notes).
        lines.push(
            Citation {
                source: LawSource::CivilityRegulation,
                section: policy::article_label(article.article),
                quote: None,
            }
            .render(),
        );
    }
    let resolver = Resolver { dir, estate };
    let owner = resolver.unit(owner_ref)?;
    let supervisor = match supervisor_ref {
        Some(r) => Some(resolver.unit(r)?).filter(|u| u.id != owner.id),
        None => None,
    };
    let first_on_site = resolver.units(first_refs, &[])?;
    let mut named: Vec<&OrgUnit> = vec![&owner];
    named.extend(supervisor.as_ref());
    let co_responsible = resolver.units(co_refs, &named)?;
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
        .chain(supervisor_ref.iter())
        .any(|r| *r == UnitRef::Type(UnitType::ManagementCompany));
    if touches_company && let Some(note) = management_note(estate) {
        lines.push(note);
    }
    Ok(RoutingDecision {
        category,
        first_on_site,
        escalation_chain,
        owner,
        supervisor,
        co_responsible,
        legal_basis: lines.join("\n"),
        rules_version: rules.version,
        rules_effective_from: rules.source.effective_from,
        rules_effective_until: rules.source.effective_until,
    })
}

/// Who stands where the company would, quoted from 二(三) / 六(一), with a plain note after the
/// quote (the note is ours, not the policy's).
fn management_note(estate: &Estate) -> Option<String> {
    let (citation, note) = match estate.management_mode {
        ManagementMode::Company if estate.scattered => (
            Citation::policy(
                "六(一)",
                "对于面积较小、无法围合的散片旧楼区，可按照就近原则，明确附近成片旧楼区的管理服务企业进行代管",
            ),
            "本旧楼区为散片旧楼区，由附近的管理服务企业代管",
        ),
        ManagementMode::Company => return None,
        ManagementMode::OwnerSelf => (
            Citation::policy("二(三)", "产权人（单位）自行管理"),
            "本旧楼区采用此模式，由产权单位承担管理服务企业的职责",
        ),
        ManagementMode::ResidentSelf => (
            Citation::policy("二(三)", "社区居民委员会牵头组织居民自治管理"),
            "本旧楼区采用此模式，由社区居委会承担管理服务企业的职责",
        ),
    };
    Some(format!("{}（{note}）", citation.render()))
}

/// The units a street office may dispatch a case of `category` at `estate` to (三(四) dispatch by
/// the street office): the routed owner and co-responsible units, the units on the escalation chain
/// and on site (the estate's own company or its stand-in, committee, street office), the estate's
/// property owner and elevator maintainer, and the district-level or city-wide departments and
/// enterprises serving the estate's district. Never a company that does not manage the estate,
/// another estate's committee or street office, another district's department, or the evaluator
/// (民政). The server refuses any other target; the dashboard lists only these. Sorted by id.
/// When the category cannot be routed (data gap), the area units are still offered.
pub fn dispatch_targets(
    rules: &RoutingRules,
    dir: &UnitDirectory,
    category: Category,
    estate: &Estate,
) -> Vec<OrgUnit> {
    let mut out: Vec<OrgUnit> = Vec::new();
    let mut add = |unit: &OrgUnit| {
        if unit.unit_type != UnitType::CivilAffairs && !out.iter().any(|u| u.id == unit.id) {
            out.push(unit.clone());
        }
    };
    if let Ok(decision) = route(rules, dir, category, estate) {
        add(&decision.owner);
        decision
            .supervisor
            .iter()
            .chain(&decision.co_responsible)
            .chain(&decision.first_on_site)
            .chain(&decision.escalation_chain)
            .for_each(&mut add);
    }
    for id in [
        &estate.company_unit,
        &estate.owner_unit,
        &estate.elevator_maintainer,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(unit) = dir.get(id) {
            add(unit);
        }
    }
    for unit_type in [UnitType::ResidentsCommittee, UnitType::StreetOffice] {
        if let Some(unit) = dir.resolve(unit_type, estate) {
            add(unit);
        }
    }
    let estate_bound = |t: UnitType| {
        matches!(
            t,
            UnitType::ManagementCompany
                | UnitType::PropertyOwner
                | UnitType::ResidentsCommittee
                | UnitType::StreetOffice
        )
    };
    for unit in dir.units() {
        let serves_district = unit.street.is_none()
            && unit.community.is_none()
            && unit
                .district
                .as_deref()
                .is_none_or(|d| d == estate.district);
        if serves_district && !estate_bound(unit.unit_type) {
            add(unit);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::demo;

    #[test]
    fn dispatch_targets_are_the_estates_own_units_and_its_district() {
        let rules = RoutingRules::builtin().unwrap();
        let dir = demo::units().unwrap();
        for e in demo::estates().unwrap() {
            for category in Category::ALL {
                let targets = dispatch_targets(&rules, &dir, category, &e);
                let ids: Vec<&str> = targets.iter().map(|u| u.id.as_str()).collect();
                let decision = route(&rules, &dir, category, &e).unwrap();
                assert!(
                    ids.contains(&decision.owner.id.as_str()),
                    "{category:?} {}",
                    e.id
                );
                for unit in &targets {
                    assert_ne!(unit.unit_type, UnitType::CivilAffairs);
                    assert!(
                        unit.district.as_deref().is_none_or(|d| d == e.district),
                        "{} is another district's unit for {}",
                        unit.id,
                        e.id
                    );
                    if unit.unit_type == UnitType::ManagementCompany {
                        assert_eq!(Some(&unit.id), e.company_unit.as_ref());
                    }
                }
            }
        }
        let changchunli = estate("changchunli");
        let ids: Vec<String> = dispatch_targets(&rules, &dir, Category::GroundLock, &changchunli)
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert!(
            ids.contains(&"heping.city_management".to_owned()),
            "{ids:?}"
        );
        assert!(!ids.contains(&"hexi.city_management".to_owned()), "{ids:?}");
        assert!(!ids.contains(&"company.hexi_youyilu".to_owned()), "{ids:?}");
    }

    fn estate(id: &str) -> Estate {
        demo::estates()
            .unwrap()
            .into_iter()
            .find(|e| e.id == id)
            .unwrap()
    }

    fn route_demo(category: Category, estate: &Estate) -> RoutingDecision {
        // Parsed once: parsing checks every quote against the policy text.
        static PARSED: std::sync::OnceLock<(RoutingRules, UnitDirectory)> =
            std::sync::OnceLock::new();
        let (rules, dir) =
            PARSED.get_or_init(|| (RoutingRules::builtin().unwrap(), demo::units().unwrap()));
        route(rules, dir, category, estate).unwrap()
    }

    /// The unit type that does the work, written out independently of the rules file (DESIGN.md's
    /// owner column as re-read against the policy in rules version 2: GARBAGE, ELEVATOR,
    /// FIRE_EQUIPMENT, GAS, HEATING and TELECOM go to the doer, the regulator supervises).
    fn design_owner(category: Category) -> UnitType {
        use Category as C;
        use UnitType as U;
        match category {
            C::IllegalStructure | C::SmallAds | C::PoultryPigeons => U::CityManagement,
            C::CommonAreaClutter | C::EnclosedPublicSpace | C::GroundLock => U::StreetOffice,
            C::DisorderlyParking | C::AbandonedVehicle => U::ManagementCompany,
            C::FireLaneBlocked => U::FireRescue,
            C::Garbage => U::ManagementCompany,
            C::Greenery | C::StreetLight => U::CityManagement,
            C::StairwellLighting => U::DistrictMaintenance,
            // pingshandao's designated maintainer is the district maintenance centre (三(三)7).
            C::Elevator => U::DistrictMaintenance,
            C::FireEquipment => U::PropertyOwner,
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

    /// The regulator over the doer, where the policy names both.
    fn design_supervisor(category: Category) -> Option<UnitType> {
        use Category as C;
        use UnitType as U;
        match category {
            C::Garbage => Some(U::CityManagement),
            C::Elevator => Some(U::MarketRegulation),
            C::FireEquipment => Some(U::FireRescue),
            C::GasFacility => Some(U::Gas),
            C::HeatingFacility => Some(U::Heating),
            C::TelecomCables => Some(U::Telecom),
            C::Mailbox => Some(U::Postal),
            _ => None,
        }
    }

    /// Categories whose owner is an operator (`operator = true`) under a department of its type.
    fn operated(category: Category) -> bool {
        matches!(
            category,
            Category::GasFacility | Category::HeatingFacility | Category::TelecomCables
        )
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
                            decision.legal_basis.contains(&format!("{section}：“")),
                            "{category} quotes no {section}"
                        );
                    }
                    // Every quote users see is verbatim in its section.
                    let quotes = crate::policy::check_rendered(&decision.legal_basis)
                        .unwrap_or_else(|e| panic!("{category}: {e}\n{}", decision.legal_basis));
                    assert!(
                        quotes >= category.info().policy_sections.len(),
                        "{category}"
                    );
                    assert_eq!(decision.owner.operator, operated(category), "{category}");
                    assert_eq!(
                        decision.supervisor.as_ref().map(|u| u.unit_type),
                        design_supervisor(category),
                        "{category} in {mode:?}"
                    );
                    if let Some(supervisor) = &decision.supervisor {
                        assert!(!supervisor.operator, "{category}: a department supervises");
                        assert_ne!(supervisor.id, decision.owner.id);
                    }
                    assert!(
                        !decision
                            .co_responsible
                            .iter()
                            .any(|u| u.id == decision.owner.id
                                || decision.supervisor.as_ref().is_some_and(|s| s.id == u.id))
                    );
                    assert_eq!(decision.rules_version, 2);
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

        // 三(一)5 + 三(三)7: the designated maintainer repairs, market regulation supervises.
        let lift = route_demo(Category::Elevator, &ping);
        assert_eq!(lift.owner.id, "hexi.maintenance");
        assert_eq!(lift.supervisor.unwrap().name, "河西区市场监督管理局");
        assert!(lift.co_responsible.is_empty());
        assert_eq!(
            route_demo(Category::Elevator, &chang).owner.id,
            "heping.maintenance"
        );
        let mut undesignated = chang.clone();
        undesignated.elevator_maintainer = None;
        let lift = route_demo(Category::Elevator, &undesignated);
        assert_eq!(
            (lift.owner.unit_type, lift.supervisor.unwrap().unit_type),
            (UnitType::StreetOffice, UnitType::MarketRegulation),
            "no maintainer designated yet: the street office's own case"
        );

        let lane = route_demo(Category::FireLaneBlocked, &ping);
        assert_eq!(lane.owner.name, "天津市河西区消防救援支队");
        assert_eq!(lane.first_on_site[0].id, "company.hexi_youyilu");
        assert_eq!(lane.co_responsible[0].id, "company.hexi_youyilu");
        assert!(
            lane.legal_basis
                .contains("《中华人民共和国消防法》第二十八条：“不得占用、堵塞、封闭疏散通道、安全出口、消防车通道”"),
            "{}",
            lane.legal_basis
        );
        assert!(
            !lane.legal_basis.contains("依法查处"),
            "the invented 五(四) sentence is gone"
        );

        // 三(一)9: fire rescue inspects and guides, the property owner repairs.
        let fire = route_demo(Category::FireEquipment, &chang);
        assert_eq!(fire.owner.id, "heping.property_owner");
        assert_eq!(fire.supervisor.unwrap().id, "heping.fire_rescue");
        assert_eq!(fire.co_responsible[0].id, "heping.nanyingmen.street_office");

        // 三(一)10: the district gas / heating department supervises, the operator repairs.
        for (category, operator, department) in [
            (Category::GasFacility, "tianjin.gas", "nankai.gas"),
            (
                Category::HeatingFacility,
                "tianjin.heating",
                "nankai.heating",
            ),
            (
                Category::TelecomCables,
                "tianjin.telecom_operator",
                "tianjin.telecom",
            ),
        ] {
            let d = route_demo(category, &estate("heyuanbeili"));
            assert_eq!(d.owner.id, operator, "{category}");
            assert_eq!(d.supervisor.unwrap().id, department, "{category}");
        }

        // 三(三)2 楼内外保洁: the manager cleans, city management supervises; for a resident-run
        // estate the committee stands in for the company.
        let rubbish = route_demo(Category::Garbage, &ping);
        assert_eq!(rubbish.owner.id, "company.hexi_youyilu");
        assert_eq!(rubbish.supervisor.unwrap().id, "hexi.city_management");
        assert_eq!(
            rubbish.co_responsible[0].id,
            "hexi.youyilu.pingshandao.committee"
        );
        let rubbish = route_demo(Category::Garbage, &estate("heyuanbeili"));
        assert_eq!(rubbish.owner.id, "nankai.xuefu.heyuan.committee");
        assert!(
            rubbish.co_responsible.is_empty(),
            "the owner is not listed twice"
        );

        // 三(三)3 coordinates both city management and housing for all three behaviours.
        for category in [
            Category::CommonAreaClutter,
            Category::EnclosedPublicSpace,
            Category::GroundLock,
        ] {
            let d = route_demo(category, &chang);
            let co: Vec<_> = d.co_responsible.iter().map(|u| u.id.as_str()).collect();
            assert_eq!(
                co,
                ["heping.city_management", "heping.housing"],
                "{category}"
            );
        }
        let bikes = route_demo(Category::AbandonedVehicle, &ping);
        assert!(
            bikes.co_responsible.is_empty(),
            "三(五)4 names the company alone"
        );
        assert!(bikes.supervisor.is_none());

        let ads = route_demo(Category::SmallAds, &chang);
        assert!(
            ads.legal_basis
                .contains("《天津市文明行为促进条例》第六十五条"),
            "{}",
            ads.legal_basis
        );
        let lock = route_demo(Category::GroundLock, &chang).legal_basis;
        assert!(
            lock.contains("《天津市文明行为促进条例》第六十九条"),
            "{lock}"
        );
        assert!(
            !lock.contains("依法处理"),
            "no paraphrase of an article not on file"
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
        assert!(
            d.legal_basis
                .contains("二(三)：“社区居民委员会牵头组织居民自治管理”"),
            "{}",
            d.legal_basis
        );
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
            operator: false,
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
            match RoutingRules::parse(&edited, "rules.toml") {
                Ok(_) => panic!("still valid after replacing {find:?} with {replace:?}"),
                Err(e) => e,
            },
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
            broken(
                "legal_basis = [\n  { section = \"三(一)6\"",
                "legal_basi = [\n  { section = \"三(一)6\"",
            ),
            "UNKNOWN_FIELD",
            "legal_basi",
            false,
        );
        check(
            broken("owner = \"HEATING_OPERATOR\"\n", "\n"),
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
            broken("version = 2", "version = 1"),
            "UNSUPPORTED_VERSION",
            "1",
            true,
        );
        check(
            broken(
                "{ section = \"三(一)7\", quote",
                "{ section = \"三(一)\", quote",
            ),
            "LEGAL_BASIS_INCOMPLETE",
            "TELECOM_CABLES",
            false,
        );
        // A paraphrase is refused where it stands, naming the fragment.
        check(
            broken(
                "负责指导有关区市场监管部门加强旧楼区内电梯安全监督管理",
                "市场监管部门加强电梯安全监督管理",
            ),
            "QUOTE_NOT_VERBATIM",
            "市场监管部门加强电梯安全监督管理",
            true,
        );
        // Right words, wrong section.
        check(
            broken(
                "{ section = \"三(一)5\", quote",
                "{ section = \"三(一)6\", quote",
            ),
            "QUOTE_NOT_VERBATIM",
            "三(一)6",
            true,
        );
        check(
            broken("{ section = \"三(一)7\"", "{ section = \"三(九)7\""),
            "BAD_CITATION",
            "三(九)7",
            true,
        );
        check(
            broken(
                "law = \"FIRE_PROTECTION_LAW\", section = \"第二十八条\"",
                "law = \"FIRE_LAW\", section = \"第二十八条\"",
            ),
            "BAD_CITATION",
            "FIRE_LAW",
            true,
        );
        check(
            broken(
                "effective_until = \"2025-08-05\"",
                "effective_until = \"2026-08-05\"",
            ),
            "BAD_SOURCE",
            "2025-08-05",
            true,
        );
        check(
            broken("issued = \"2020-08-06\"", "issued = \"2020-08-07\""),
            "BAD_SOURCE",
            "2020-08-07",
            true,
        );
        check(
            broken(
                "validity = \"本意见自印发之日起施行，有效期5年\"",
                "validity = \"有效期10年\"",
            ),
            "BAD_SOURCE",
            "有效期10年",
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
            broken("lamp_owner = \"STATE_GRID\"\nreasoning", "reasoning"),
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
    fn rules_carry_their_source_version_and_reasoning() {
        let rules = RoutingRules::builtin().unwrap();
        assert_eq!(rules.version(), 2);
        let source = rules.source();
        assert_eq!(source.cited_title(), POLICY_TITLE);
        assert_eq!(source.issuer, "天津市人民政府办公厅");
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(source.issued, day(2020, 8, 6));
        assert_eq!(
            (source.effective_from, source.effective_until),
            (day(2020, 8, 6), day(2025, 8, 5)),
            "自印发之日起施行，有效期5年"
        );
        assert!(!rules.expired_on(day(2025, 8, 5)));
        assert!(rules.expired_on(day(2025, 8, 6)));
        for category in Category::ALL {
            let rule = rules.rule(category).unwrap();
            assert!(
                rule.reasoning.as_deref().is_some_and(|r| !r.is_empty()),
                "{category} records its reasoning"
            );
            for citation in &rule.legal_basis {
                assert_eq!(citation.check(), Ok(()), "{category}");
            }
        }
        let d = route_demo(Category::Elevator, &estate("pingshandao"));
        assert_eq!(
            (
                d.rules_version,
                d.rules_effective_from,
                d.rules_effective_until
            ),
            (2, day(2020, 8, 6), day(2025, 8, 5))
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["rules_version"], 2);
        assert_eq!(json["rules_effective_from"], "2020-08-06");
        assert_eq!(json["supervisor"]["id"], "hexi.market_regulation");
    }

    #[test]
    fn every_legal_basis_users_can_see_quotes_verbatim() {
        // All estates, all modes, both lamp owners, scattered or not: every rendered text.
        let mut seen = 0;
        for base in demo::estates().unwrap() {
            for mode in [
                ManagementMode::Company,
                ManagementMode::OwnerSelf,
                ManagementMode::ResidentSelf,
            ] {
                for lamps in [LampOwner::City, LampOwner::StateGrid] {
                    for scattered in [false, true] {
                        let mut e = base.clone();
                        e.management_mode = mode;
                        e.lamp_owner = lamps;
                        e.scattered = scattered;
                        if mode == ManagementMode::Company && e.company_unit.is_none() {
                            e.company_unit = Some("company.nankai_xuefu".into());
                        }
                        for category in Category::ALL {
                            let text = route_demo(category, &e).legal_basis;
                            seen += crate::policy::check_rendered(&text)
                                .unwrap_or_else(|err| panic!("{category}: {err}\n{text}"));
                        }
                    }
                }
            }
        }
        assert!(seen > 1000, "{seen}");
    }

    #[test]
    fn directory_keeps_operators_apart_from_departments() {
        let e = estate("pingshandao");
        let mut gas_op = unit("op", UnitType::Gas, None, None, None);
        gas_op.operator = true;
        let dir = UnitDirectory::from_units(vec![
            unit("dept", UnitType::Gas, Some("河西区"), None, None),
            unit("city_dept", UnitType::Gas, None, None, None),
            gas_op,
        ])
        .unwrap();
        assert_eq!(dir.resolve(UnitType::Gas, &e).unwrap().id, "dept");
        assert_eq!(dir.resolve_operator(UnitType::Gas, &e).unwrap().id, "op");
        assert!(dir.resolve_operator(UnitType::Heating, &e).is_none());
        let text =
            "[[unit]]\nid = \"g\"\nname = \"燃气公司\"\nunit_type = \"GAS\"\noperator = true\n";
        let dir = UnitDirectory::parse(text, "units.toml").unwrap();
        assert!(dir.get("g").unwrap().operator);
        // An operator with no directory entry is a clear routing error.
        let rules = RoutingRules::builtin().unwrap();
        let err = route(&rules, &UnitDirectory::default(), Category::GasFacility, &e).unwrap_err();
        assert_eq!(err.code(), "NO_UNIT_FOR_TYPE");
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
