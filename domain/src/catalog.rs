//! The case categories of DESIGN.md, from the policy (津政办发〔2020〕 old-estate long-term management).
//! Codes are stable API: SCREAMING_SNAKE strings on the wire, enum variants here and in Kotlin/Swift.

use serde::Serialize;

wire_enum! {
    /// What kind of problem a case is about.
    pub enum Category {
        IllegalStructure = "ILLEGAL_STRUCTURE",
        SmallAds = "SMALL_ADS",
        PoultryPigeons = "POULTRY_PIGEONS",
        CommonAreaClutter = "COMMON_AREA_CLUTTER",
        EnclosedPublicSpace = "ENCLOSED_PUBLIC_SPACE",
        GroundLock = "GROUND_LOCK",
        DisorderlyParking = "DISORDERLY_PARKING",
        AbandonedVehicle = "ABANDONED_VEHICLE",
        FireLaneBlocked = "FIRE_LANE_BLOCKED",
        Garbage = "GARBAGE",
        Greenery = "GREENERY",
        StreetLight = "STREET_LIGHT",
        StairwellLighting = "STAIRWELL_LIGHTING",
        Elevator = "ELEVATOR",
        FireEquipment = "FIRE_EQUIPMENT",
        GasFacility = "GAS_FACILITY",
        HeatingFacility = "HEATING_FACILITY",
        OldWiring = "OLD_WIRING",
        TelecomCables = "TELECOM_CABLES",
        Mailbox = "MAILBOX",
        FitnessEquipment = "FITNESS_EQUIPMENT",
        BuildingSafety = "BUILDING_SAFETY",
        GateWallIntercom = "GATE_WALL_INTERCOM",
        Walkway = "WALKWAY",
        FacilityDamage = "FACILITY_DAMAGE",
        ServiceComplaint = "SERVICE_COMPLAINT",
    }
}

wire_enum! {
    /// Behaviour of residents (dissuasion may fix it), a facility fault, or a complaint about service.
    pub enum CategoryGroup {
        Behaviour = "BEHAVIOUR",
        Facility = "FACILITY",
        Service = "SERVICE",
    }
}

/// An article of 天津市文明行为促进条例 that names the enforcing body for a behaviour.
/// Neither the article's wording nor the enforcer is a quote: the regulation's text is not on file
/// (`data/policy/tianjin-civility-regulation-excerpt.txt`), so legal-basis texts cite the article
/// by number only and `enforcer` is this project's reading, shown as a label, never in quotation
/// marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CivilityArticle {
    pub article: u32,
    /// Who the article names, in Chinese (e.g. 城市管理部门).
    pub enforcer: &'static str,
}

/// Everything the catalog knows about one category. Deadlines are data, not code paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryInfo {
    pub category: Category,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub group: CategoryGroup,
    /// Sections of the 2020 policy, e.g. `三(一)4`.
    pub policy_sections: &'static [&'static str],
    pub civility_article: Option<CivilityArticle>,
    /// On-site dissuasion (劝阻) comes before escalation. Facility faults skip it.
    pub dissuade_first: bool,
    /// Hours from report to dispatch by the street office.
    pub dispatch_hours: u32,
    /// Days from dispatch to handled by the responsible unit.
    pub handle_days: u32,
}

impl Category {
    /// The catalog entry for this category.
    pub fn info(self) -> &'static CategoryInfo {
        &CATALOG[self as usize]
    }
}

impl CategoryInfo {
    pub fn code(&self) -> &'static str {
        self.category.code()
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

const fn civility(article: u32, enforcer: &'static str) -> Option<CivilityArticle> {
    Some(CivilityArticle { article, enforcer })
}

use Category as C;
use CategoryGroup::{Behaviour as B, Facility as F, Service as S};

#[rustfmt::skip]
macro_rules! entry {
    ($cat:expr, $zh:expr, $en:expr, $group:expr, $sections:expr, $article:expr, $dissuade:expr, $dispatch_h:expr, $handle_d:expr) => {
        CategoryInfo { category: $cat, name_zh: $zh, name_en: $en, group: $group, policy_sections: $sections,
            civility_article: $article, dissuade_first: $dissuade, dispatch_hours: $dispatch_h, handle_days: $handle_d }
    };
}

/// Indexed by `Category as usize`; the order must match the enum (a test checks it).
/// Deadlines follow the digital-city-management habit: urgent safety faults (gas, elevator, wiring,
/// fire) are dispatched within hours; behaviour cases get a day to dispatch after dissuasion failed.
#[rustfmt::skip]
static CATALOG: [CategoryInfo; Category::ALL.len()] = [
    entry!(C::IllegalStructure, "私搭乱建", "Illegal structure", B, &["三(一)4", "三(五)2"], civility(67, "城市管理部门"), true, 24, 15),
    entry!(C::SmallAds, "非法张贴小广告", "Illegal small ads", B, &["三(一)4", "三(五)2"], civility(65, "城市管理部门"), true, 24, 3),
    entry!(C::PoultryPigeons, "饲养家禽家畜、违规饲养鸽子", "Poultry, livestock or pigeons", B, &["三(一)4"], civility(70, "城市管理部门"), true, 24, 7),
    entry!(C::CommonAreaClutter, "共用部位堆放物品", "Clutter in common areas", B, &["三(三)3", "三(五)2"], civility(69, "街道办事处"), true, 24, 5),
    entry!(C::EnclosedPublicSpace, "圈占公共区域", "Enclosed public space", B, &["三(三)3", "三(五)2"], civility(69, "街道办事处"), true, 24, 7),
    entry!(C::GroundLock, "私自设置地锁", "Ground lock", B, &["三(三)3", "三(五)2"], civility(69, "街道办事处"), true, 24, 5),
    entry!(C::DisorderlyParking, "车辆乱停放", "Disorderly parking", B, &["三(五)4"], None, true, 12, 2),
    entry!(C::AbandonedVehicle, "久置车辆、无主非机动车", "Abandoned vehicle or bicycle", B, &["三(五)4"], None, true, 24, 7),
    entry!(C::FireLaneBlocked, "占用消防车通道", "Fire lane blocked", B, &["五(四)"], None, true, 2, 1),
    entry!(C::Garbage, "生活垃圾、垃圾分类", "Household garbage and sorting", B, &["三(一)4", "三(五)3"], None, true, 12, 2),
    entry!(C::Greenery, "绿化设施养护", "Greenery upkeep", F, &["三(一)4"], None, false, 24, 10),
    entry!(C::StreetLight, "路灯", "Street light", F, &["三(一)4", "三(一)11"], None, false, 24, 3),
    entry!(C::StairwellLighting, "楼道公用照明", "Stairwell lighting", F, &["三(一)11", "四(三)"], None, false, 24, 3),
    entry!(C::Elevator, "电梯", "Elevator", F, &["三(一)5", "三(三)7"], None, false, 2, 2),
    entry!(C::FireEquipment, "消防设施", "Fire equipment", F, &["三(一)9", "三(三)7"], None, false, 4, 3),
    entry!(C::GasFacility, "燃气设施", "Gas facility", F, &["三(一)10"], None, false, 1, 1),
    entry!(C::HeatingFacility, "供热设施", "Heating facility", F, &["三(一)10"], None, false, 4, 2),
    entry!(C::OldWiring, "老旧线路、配电箱", "Old wiring and distribution boxes", F, &["三(一)11"], None, false, 4, 3),
    entry!(C::TelecomCables, "楼内通信管线", "Telecom cables in buildings", F, &["三(一)7"], None, false, 24, 7),
    entry!(C::Mailbox, "信报箱", "Mailboxes", F, &["三(一)8"], None, false, 24, 15),
    entry!(C::FitnessEquipment, "全民健身设施", "Fitness equipment", F, &["三(一)6"], None, false, 24, 10),
    entry!(C::BuildingSafety, "房屋安全使用", "Building safety", F, &["三(一)3"], None, false, 4, 7),
    entry!(C::GateWallIntercom, "大门、围墙、楼宇对讲门", "Gates, walls, intercom doors", F, &["三(五)5"], None, false, 24, 7),
    entry!(C::Walkway, "楼间甬路", "Walkways between buildings", F, &["三(二)"], None, false, 24, 15),
    entry!(C::FacilityDamage, "损坏房屋和共用设施设备", "Damage to buildings or shared facilities", B, &["六(五)"], None, true, 24, 7),
    entry!(C::ServiceComplaint, "居民对日常管理服务的投诉", "Complaint about management service", S, &["三(二)", "三(三)2"], None, false, 24, 5),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn table_order_matches_the_enum() {
        for (i, c) in Category::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i);
            assert_eq!(c.info().category, c, "CATALOG[{i}] is out of order");
        }
    }

    #[test]
    fn codes_match_design_and_serde() {
        // DESIGN.md's table, in order.
        let design = [
            "ILLEGAL_STRUCTURE",
            "SMALL_ADS",
            "POULTRY_PIGEONS",
            "COMMON_AREA_CLUTTER",
            "ENCLOSED_PUBLIC_SPACE",
            "GROUND_LOCK",
            "DISORDERLY_PARKING",
            "ABANDONED_VEHICLE",
            "FIRE_LANE_BLOCKED",
            "GARBAGE",
            "GREENERY",
            "STREET_LIGHT",
            "STAIRWELL_LIGHTING",
            "ELEVATOR",
            "FIRE_EQUIPMENT",
            "GAS_FACILITY",
            "HEATING_FACILITY",
            "OLD_WIRING",
            "TELECOM_CABLES",
            "MAILBOX",
            "FITNESS_EQUIPMENT",
            "BUILDING_SAFETY",
            "GATE_WALL_INTERCOM",
            "WALKWAY",
            "FACILITY_DAMAGE",
            "SERVICE_COMPLAINT",
        ];
        for (c, code) in Category::ALL.into_iter().zip(design) {
            assert_eq!(c.code(), code);
            assert_eq!(Category::from_code(code), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{code}\""));
            assert_eq!(c.to_string(), code);
        }
        assert_eq!(Category::from_code("ground_lock"), None);
    }

    #[test]
    fn civility_articles_name_the_enforcer() {
        let article = |c: Category| c.info().civility_article.map(|a| (a.article, a.enforcer));
        assert_eq!(article(Category::SmallAds), Some((65, "城市管理部门")));
        assert_eq!(
            article(Category::IllegalStructure),
            Some((67, "城市管理部门"))
        );
        for c in [
            Category::CommonAreaClutter,
            Category::EnclosedPublicSpace,
            Category::GroundLock,
        ] {
            assert_eq!(article(c), Some((69, "街道办事处")), "{c}");
        }
        assert_eq!(
            article(Category::PoultryPigeons),
            Some((70, "城市管理部门"))
        );
        let with_article = Category::ALL
            .iter()
            .filter(|c| c.info().civility_article.is_some())
            .count();
        assert_eq!(with_article, 6);
    }

    #[test]
    fn entries_are_complete_and_facilities_skip_dissuasion() {
        for c in Category::ALL {
            let info = c.info();
            assert!(!info.name_zh.is_empty() && !info.name_en.is_empty(), "{c}");
            assert!(!info.policy_sections.is_empty(), "{c}");
            assert!(info.dispatch_hours > 0 && info.handle_days > 0, "{c}");
            if info.group == CategoryGroup::Facility {
                assert!(!info.dissuade_first, "{c}: facility faults skip dissuasion");
            }
        }
        assert_eq!(Category::GroundLock.info().name_zh, "私自设置地锁");
        assert_eq!(
            Category::ServiceComplaint.info().group,
            CategoryGroup::Service
        );
    }
}
