//! The unit directory: the concrete units routing can name, parsed from a `[[unit]]` file and
//! resolved by unit type plus the estate's district / street / community (most specific wins).

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use crate::estate::Estate;
use crate::org::{OrgUnit, UnitType};

use super::rules::{RulesError, RulesErrorKind, Source};

/// The demo unit directory (和平区 / 河西区 / 南开区).
const DEMO_UNITS: &str = include_str!("../../data/demo/units.toml");
const DEMO_UNITS_FILE: &str = "domain/data/demo/units.toml";

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
