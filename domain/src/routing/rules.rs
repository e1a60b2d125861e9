//! The routing rules file: parsing and validation (every category exactly once, known codes only,
//! the source document and its dates, every legal-basis quote verbatim), and the file/line errors
//! shared with the unit-directory parser.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::catalog::Category;
use crate::estate::{Estate, LampOwner, ManagementMode};
use crate::org::UnitType;
use crate::policy::{self, Citation, Source as LawSource};

/// The rules shipped with this build.
const BUILTIN_RULES: &str = include_str!("../../data/routing-rules.toml");
const BUILTIN_RULES_FILE: &str = "domain/data/routing-rules.toml";

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
pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
}

impl Source<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
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

    pub(super) fn toml_error(&self, err: &toml::de::Error) -> RulesError {
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

    pub(super) fn unit_type(&self, code: &Spanned<String>) -> Result<UnitType, RulesError> {
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
    pub(super) fn matches(&self, estate: &Estate) -> bool {
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
    pub(super) version: u32,
    pub(super) source: SourceDocument,
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

impl RoutingRules {
    /// The rules embedded in this build (`domain/data/routing-rules.toml`).
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
        Some(code) => Some(LampOwner::from_code(code.get_ref()).ok_or_else(|| {
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
        Some(code) => Some(ManagementMode::from_code(code.get_ref()).ok_or_else(|| {
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
