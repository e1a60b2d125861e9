//! `route`: a category at an estate resolved to concrete units with its legal basis, and
//! `dispatch_targets`: the units a street office may dispatch such a case to.

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::Category;
use crate::estate::{Estate, ManagementMode};
use crate::org::{OrgUnit, UnitType};
use crate::policy::{self, Citation, Source as LawSource};

use super::directory::UnitDirectory;
use super::rules::{RoutingRules, UnitRef};

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
                mode: self.estate.management_mode.code(),
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
