//! The words of the demo history ([`super::history`]): what an inspector writes when reporting
//! each category, why a unit returns a case or a verifier sends it back, and what a joint
//! meeting agreed. `{b}` is replaced by a building of the estate (`3号楼`), `{d}` by a stairwell
//! door (`2门`).

use xuncha_core::Category;

/// Descriptions a patrol writes for `category` (at least one for every category).
pub fn descriptions(category: Category) -> &'static [&'static str] {
    use Category as C;
    match category {
        C::IllegalStructure => &[
            "{b}{d}一楼住户在楼前绿地私自搭建彩钢板棚子，约6平方米，已基本完工",
            "{b}顶层住户在楼顶平台加盖简易房，正在施工，现场有砖块和水泥",
            "{b}山墙外私自接建厨房，占用公共通道约1米",
        ],
        C::SmallAds => &[
            "{b}{d}楼道墙面张贴开锁、疏通下水道小广告十余张",
            "小区大门两侧电线杆上喷涂办证小广告，{b}单元门上也有",
            "{b}{d}各层楼梯扶手和电表箱上贴满小广告",
        ],
        C::PoultryPigeons => &[
            "{b}楼顶有住户搭建鸽舍饲养鸽子约30只，邻居反映粪便污染晾晒衣物",
            "{b}{d}一楼住户在院内圈养鸡鸭，气味较大",
        ],
        C::CommonAreaClutter => &[
            "{b}{d}楼道堆放杂物，旧家具和纸箱占满一楼楼梯口，影响通行和消防安全",
            "{b}{d}二楼至三楼楼梯平台堆放废旧自行车和花盆",
            "{b}{d}楼道内停放电动自行车并私拉电线充电",
            "{b}地下室通道堆放大量废品，有易燃纸板",
        ],
        C::EnclosedPublicSpace => &[
            "{b}楼前公共绿地被住户用铁栅栏圈占，改作私家菜园",
            "{b}{d}一楼住户将单元门前空地用砖墙围起，堆放个人物品",
        ],
        C::GroundLock => &[
            "{b}楼前公共车位被私设地锁2个，其他车辆无法停放",
            "{b}东侧道路边有住户安装地锁占用公共车位",
            "{b}{d}门口公共停车位新装地锁1个，居民多次投诉",
        ],
        C::DisorderlyParking => &[
            "{b}楼前消防通道口有私家车长时间停放，车牌津A·3K2**",
            "小区主路{b}拐角处车辆双排停放，垃圾车无法通过",
        ],
        C::AbandonedVehicle => &[
            "{b}车棚内有多辆无主自行车，积灰严重，轮胎已瘪",
            "{b}北侧停放一辆废弃三轮车，已锈蚀，停放超过半年",
        ],
        C::FireLaneBlocked => &[
            "{b}与{b}之间消防车通道被私家车和石墩堵塞",
            "小区消防通道入口被住户放置铁架和花箱堵住",
        ],
        C::Garbage => &[
            "{b}{d}门口垃圾桶满溢，周边散落生活垃圾，未按分类投放",
            "{b}旁装修垃圾堆放两天无人清运",
            "{b}西侧垃圾分类投放点厨余垃圾桶破损漏液",
        ],
        C::Greenery => &[
            "{b}楼前树木枝杈遮挡二楼窗户，居民要求修剪",
            "{b}南侧绿地枯死灌木未补种，裸露黄土",
        ],
        C::StreetLight => &[
            "{b}至{b}之间甬路路灯3盏不亮，夜间居民出行不便",
            "小区大门内侧路灯灯杆倾斜，灯罩脱落",
        ],
        C::StairwellLighting => &[
            "{b}{d}楼道声控灯二至五层均不亮",
            "{b}{d}一楼楼道灯灯罩破损，灯泡裸露",
        ],
        C::Elevator => &[
            "{b}{d}电梯停运，显示故障代码，有老人下楼困难",
            "{b}{d}电梯运行时有异响，轿厢门关闭不严",
        ],
        C::FireEquipment => &[
            "{b}{d}楼道灭火器过期，压力表指针在红区",
            "{b}{d}消火栓箱门损坏，水带缺失",
        ],
        C::GasFacility => &[
            "{b}{d}楼道内有燃气味，疑似立管接口漏气",
            "{b}外墙燃气管道锈蚀严重，固定卡子脱落",
        ],
        C::HeatingFacility => &[
            "{b}{d}地下室暖气管道漏水，地面积水",
            "{b}{d}三楼住户反映暖气不热，楼内立管阀门损坏",
        ],
        C::OldWiring => &[
            "{b}{d}楼道配电箱箱门缺失，电线裸露老化",
            "{b}外墙飞线杂乱，有电线垂落至一楼窗口",
        ],
        C::TelecomCables => &[
            "{b}{d}楼道内通信线缆散乱垂挂，影响通行",
            "{b}外墙废弃光缆、网线缠绕，部分脱落",
        ],
        C::Mailbox => &["{b}{d}信报箱锈蚀，多个箱门脱落无法上锁"],
        C::FitnessEquipment => &[
            "{b}旁健身广场漫步机转轴断裂，有安全隐患",
            "小区健身器材扭腰器底座松动",
        ],
        C::BuildingSafety => &[
            "{b}{d}三楼阳台底板开裂，有混凝土块掉落",
            "{b}外墙保温层局部空鼓脱落，下方为人行道",
        ],
        C::GateWallIntercom => &[
            "{b}{d}楼宇对讲门门禁损坏，单元门无法关闭",
            "小区东侧围墙坍塌约2米，有外来人员穿行",
        ],
        C::Walkway => &[
            "{b}与{b}之间甬路砖破损下沉，雨后积水",
            "{b}前甬路有坑洼，老人曾在此绊倒",
        ],
        C::FacilityDamage => &[
            "{b}{d}单元门被人为砸坏，玻璃破碎",
            "{b}楼前休闲座椅被损毁，木条缺失",
        ],
        C::ServiceComplaint => &[
            "{b}居民反映物业保洁近一周未清扫楼道",
            "{b}{d}居民投诉物业报修后三天无人上门",
        ],
    }
}

/// Why an assigned unit says a case is not theirs (`{owner}`: the unit it belongs to).
pub const RETURN_REASONS: &[&str] = &[
    "经现场核实，该问题不属于我单位职责范围，建议派{owner}处理",
    "该设施不在我单位管养清单内，请街道核实后改派{owner}",
    "问题位于小区内部，按职责分工应由{owner}负责",
];

/// Why an on-site verification failed (rework).
pub const REOPEN_REASONS: &[&str] = &[
    "复查发现问题未彻底解决，现场仍有遗留，请返工",
    "现场仅做了临时处理，居民反映问题反复，需彻底整改",
    "处置后照片与现场不符，复查时问题依旧存在",
];

/// Why a case was cancelled.
pub const CANCEL_REASONS: &[&str] = &[
    "与同日上报的案件重复，合并处理",
    "经核实为误报，现场无此问题",
];

/// Notes of on-site dissuasion (劝阻) that worked.
pub const DISSUADE_NOTES: &[&str] = &[
    "已现场劝阻，当事人同意当天自行清理",
    "居委会上门做工作，住户已承诺整改",
    "经劝说，当事人已当场整改",
];

/// Notes of a verification that passed.
pub const VERIFY_NOTES: &[&str] = &[
    "现场核查已整改到位",
    "复查合格，居民认可",
    "已整改，拍照留存",
];

/// Notes of handling.
pub const HANDLE_NOTES: &[&str] = &[
    "已安排人员处置完毕",
    "已维修完成，详见处置后照片",
    "已清理完毕，并告知住户不得再犯",
];

/// What the joint meeting (联席会议, 三(三)5) agreed for a member unit (`{unit}`, `{days}`).
pub const MINUTES: &[&str] = &[
    "联席会议议定：由{unit}牵头，{days}日内完成整改，街道城管科跟踪督办，社区居委会负责复查。",
    "联席会议议定：{unit}确认职责，{days}日内处置完毕并报送处置后照片；逾期由街道约谈。",
    "联席会议议定：本案由{unit}负责，社区配合入户做工作，{days}日内完成。",
];
