//! Routing against the built-in rules and the demo directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;

use super::*;
use crate::catalog::Category;
use crate::demo;
use crate::estate::{Estate, LampOwner, ManagementMode};
use crate::org::{OrgUnit, UnitType};

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
    static PARSED: std::sync::OnceLock<(RoutingRules, UnitDirectory)> = std::sync::OnceLock::new();
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
    let mut check = |(err, line): (RulesError, usize), code: &str, says: &str, exact_line: bool| {
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
    let text = "[[unit]]\nid = \"g\"\nname = \"燃气公司\"\nunit_type = \"GAS\"\noperator = true\n";
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
