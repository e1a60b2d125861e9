//! The texts the routing rules quote, and the check that every quote is verbatim.
//!
//! - [`Source::Policy`]: the 2020 policy, whole, as published (`domain/data/policy/
//!   tianjin-old-estates-2020.txt`, a copy of `../shared/policy/tianjin-old-estates-2020.txt`).
//!   Sections are cited as `三(一)4` (part 三, item （一）, point 4．), `三(四)`, `六(五)`.
//! - [`Source::FireProtectionLaw`], [`Source::CivilityRegulation`]: excerpts of the other laws the
//!   rules lean on, cited by article (`第二十八条`). An article whose wording was not verified
//!   appears with no text, so it can be cited by number but never quoted.
//!
//! A quote is one or more fragments joined by "…"; each fragment must occur, in order, within the
//! text of the cited section (a section's text includes its sub-items).

/// The policy, verbatim.
pub const POLICY_TEXT: &str = include_str!("../data/policy/tianjin-old-estates-2020.txt");
const FIRE_LAW_TEXT: &str = include_str!("../data/policy/fire-protection-law-excerpt.txt");
const CIVILITY_TEXT: &str = include_str!("../data/policy/tianjin-civility-regulation-excerpt.txt");

/// The document a citation points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Policy,
    FireProtectionLaw,
    CivilityRegulation,
}

impl Source {
    pub const ALL: [Source; 3] = [
        Source::Policy,
        Source::FireProtectionLaw,
        Source::CivilityRegulation,
    ];

    /// The code used in the rules file (`law = "…"`); the policy is the default and has none.
    pub fn code(self) -> &'static str {
        match self {
            Source::Policy => "POLICY",
            Source::FireProtectionLaw => "FIRE_PROTECTION_LAW",
            Source::CivilityRegulation => "TIANJIN_CIVILITY_REGULATION",
        }
    }

    pub fn from_code(code: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The title as users see it, with book-title marks.
    pub fn title(self) -> &'static str {
        match self {
            Source::Policy => {
                "《天津市人民政府办公厅关于进一步加强本市旧楼区提升改造后长效管理的意见》"
            }
            Source::FireProtectionLaw => "《中华人民共和国消防法》",
            Source::CivilityRegulation => "《天津市文明行为促进条例》",
        }
    }

    /// The stored text (the whole policy; an excerpt of a law).
    pub fn text(self) -> &'static str {
        match self {
            Source::Policy => POLICY_TEXT,
            Source::FireProtectionLaw => FIRE_LAW_TEXT,
            Source::CivilityRegulation => CIVILITY_TEXT,
        }
    }

    /// The text of one section (`三(一)4`, `第二十八条`), `None` if the document has no such section.
    pub fn section_text(self, section: &str) -> Option<String> {
        match self {
            Source::Policy => policy_section_text(POLICY_TEXT, section),
            Source::FireProtectionLaw | Source::CivilityRegulation => {
                article_text(self.text(), section)
            }
        }
    }

    /// How a citation of `section` of this document reads before its quote.
    fn label(self, section: &str) -> String {
        match self {
            Source::Policy => section.to_owned(),
            _ => format!("{}{section}", self.title()),
        }
    }
}

/// One cited passage: a section and, unless the wording is not on file, a verbatim quote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Citation {
    #[serde(serialize_with = "serialize_source")]
    pub source: Source,
    pub section: String,
    /// Fragments joined by "…"; `None` cites the section by number only.
    pub quote: Option<String>,
}

fn serialize_source<S: serde::Serializer>(source: &Source, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(source.code())
}

impl Citation {
    pub fn policy(section: &str, quote: &str) -> Citation {
        Citation {
            source: Source::Policy,
            section: section.to_owned(),
            quote: Some(quote.to_owned()),
        }
    }

    /// `三(一)4：“…”`, `《中华人民共和国消防法》第二十八条：“…”`, or the label alone.
    pub fn render(&self) -> String {
        let label = self.source.label(&self.section);
        match &self.quote {
            Some(quote) => format!("{label}：“{quote}”"),
            None => label,
        }
    }

    /// Checks the quote against the stored text of its section.
    pub fn check(&self) -> Result<(), QuoteError> {
        let Some(text) = self.source.section_text(&self.section) else {
            return Err(QuoteError::NoSuchSection {
                document: self.source.title(),
                section: self.section.clone(),
            });
        };
        match &self.quote {
            None => Ok(()),
            Some(quote) => {
                check_fragments(&text, quote).map_err(|fragment| QuoteError::NotInSection {
                    document: self.source.title(),
                    section: self.section.clone(),
                    fragment,
                })
            }
        }
    }
}

/// A quote that the cited text does not contain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("{document}没有第 {section} 节/条（或本系统未收录其条文）")]
    NoSuchSection {
        document: &'static str,
        section: String,
    },
    #[error(
        "{document} {section} 中找不到引文片段 “{fragment}”（引文须逐字摘录，片段间用“…”连接且按原文顺序）"
    )]
    NotInSection {
        document: &'static str,
        section: String,
        fragment: String,
    },
    #[error(
        "引文 “{quote}” 前没有可识别的条款标注（如 三(一)4：或 《中华人民共和国消防法》第二十八条：）"
    )]
    NoLabel { quote: String },
    #[error("引号不成对：{text}")]
    Unbalanced { text: String },
}

/// Each "…"-separated fragment must be non-empty and occur in `text` after the previous one.
/// Returns the first fragment that does not.
fn check_fragments(text: &str, quote: &str) -> Result<(), String> {
    let mut from = 0;
    for fragment in quote.split('…') {
        let fragment = fragment.trim();
        if fragment.is_empty() {
            return Err(quote.to_owned());
        }
        match text[from..].find(fragment) {
            Some(at) => from += at + fragment.len(),
            None => return Err(fragment.to_owned()),
        }
    }
    Ok(())
}

const CN_DIGITS: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// 1 → 一, 10 → 十, 28 → 二十八, 65 → 六十五, 105 → 一百零五 (up to 999).
pub fn chinese_number(n: u32) -> String {
    let digit = |d: u32| CN_DIGITS[(d % 10) as usize];
    let (h, t, u) = (n / 100 % 10, n / 10 % 10, n % 10);
    let mut out = String::new();
    if h > 0 {
        out.push(digit(h));
        out.push('百');
        if t == 0 && u != 0 {
            out.push('零');
        }
    }
    if t > 0 {
        if !(h == 0 && t == 1) {
            out.push(digit(t));
        }
        out.push('十');
    }
    if u > 0 || n == 0 {
        out.push(digit(u));
    }
    out
}

/// `第二十八条` for an article number.
pub fn article_label(article: u32) -> String {
    format!("第{}条", chinese_number(article))
}

/// The paragraphs of the policy with the section each belongs to: `("三", "(一)", "4")`.
/// Paragraphs before part 一 and after the last item (title, addressees, closing, signature)
/// belong to no section.
fn policy_paragraphs(text: &str) -> Vec<(String, &str)> {
    let mut top = String::new();
    let mut sub = String::new();
    let mut point = String::new();
    let mut closing = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(numeral) = heading(line, "", '、') {
            top = numeral;
            sub.clear();
            point.clear();
            closing = false;
        } else if let Some(numeral) = heading(line, "（", '）') {
            sub = format!("({numeral})");
            point.clear();
        } else if let Some(digits) = point_heading(line) {
            point = digits;
        } else if !sub.is_empty() {
            // Free text after the items of a part: the closing words of the whole document.
            closing = true;
        }
        if !top.is_empty() && !closing {
            out.push((format!("{top}{sub}{point}"), line));
        }
    }
    out
}

/// `一、…` (prefix "", close '、') or `（一）…` (prefix "（", close '）'): the Chinese numeral.
fn heading(line: &str, prefix: &str, close: char) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let end = rest.find(close)?;
    let numeral = &rest[..end];
    (!numeral.is_empty()
        && numeral
            .chars()
            .all(|c| CN_DIGITS[1..].contains(&c) || c == '十'))
    .then(|| numeral.to_owned())
}

/// `4．…` (full-width full stop): the digits.
fn point_heading(line: &str) -> Option<String> {
    let end = line.find('．')?;
    let digits = &line[..end];
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| digits.to_owned())
}

/// The text of a policy section and everything under it, `None` if no paragraph belongs to it.
fn policy_section_text(text: &str, section: &str) -> Option<String> {
    let paragraphs: Vec<&str> = policy_paragraphs(text)
        .into_iter()
        .filter(|(key, _)| within(key, section))
        .map(|(_, line)| line)
        .collect();
    (!paragraphs.is_empty()).then(|| paragraphs.join("\n"))
}

/// Whether section key `key` is `section` or lies under it (三(一)4 lies under 三(一) and 三, not
/// under 三(一)1 nor 三(一)10 when asking for 三(一)1).
fn within(key: &str, section: &str) -> bool {
    match key.strip_prefix(section) {
        None => false,
        Some("") => true,
        Some(rest) => {
            !section.ends_with(|c: char| c.is_ascii_digit())
                && (rest.starts_with('(')
                    || (section.ends_with(')') && rest.starts_with(|c: char| c.is_ascii_digit())))
        }
    }
}

/// The closing words of the policy (after its last section): where its validity is stated.
pub fn policy_closing() -> String {
    let in_sections: Vec<&str> = policy_paragraphs(POLICY_TEXT)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let last = in_sections.last().copied().unwrap_or_default();
    let after = POLICY_TEXT
        .find(last)
        .map_or("", |at| &POLICY_TEXT[at + last.len()..]);
    after.trim().to_owned()
}

/// The text of `第…条` in a law excerpt: from its heading to the next article; `#` lines are notes.
fn article_text(text: &str, article: &str) -> Option<String> {
    let mut current: Option<&str> = None;
    let mut found: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('第')
            && let Some(end) = line.find('条')
        {
            let label = &line[..end + '条'.len_utf8()];
            current = Some(label);
            if label == article {
                found = Some(line[label.len()..].trim().to_owned());
            }
            continue;
        }
        if current == Some(article)
            && let Some(text) = &mut found
        {
            text.push('\n');
            text.push_str(line);
        }
    }
    found
}

/// Finds every “quote” in a rendered legal-basis text, reads the citation label just before it
/// (`三(一)4：“`, `《中华人民共和国消防法》第二十八条：“`) and checks the quote. Returns how
/// many quotes were checked.
pub fn check_rendered(text: &str) -> Result<usize, QuoteError> {
    let mut checked = 0;
    let mut rest = text;
    let mut before_len = 0;
    while let Some(open) = rest.find('“') {
        let after_open = &rest[open + '“'.len_utf8()..];
        let Some(close) = after_open.find('”') else {
            return Err(QuoteError::Unbalanced {
                text: text.to_owned(),
            });
        };
        let quote = &after_open[..close];
        let prefix = &text[..before_len + open];
        let citation = label_before(prefix, quote)?;
        citation.check()?;
        checked += 1;
        let consumed = open + '“'.len_utf8() + close + '”'.len_utf8();
        before_len += consumed;
        rest = &rest[consumed..];
    }
    if rest.contains('”') {
        return Err(QuoteError::Unbalanced {
            text: text.to_owned(),
        });
    }
    Ok(checked)
}

/// The citation whose label ends `prefix` with "：".
fn label_before(prefix: &str, quote: &str) -> Result<Citation, QuoteError> {
    let no_label = || QuoteError::NoLabel {
        quote: quote.to_owned(),
    };
    let head = prefix.strip_suffix('：').ok_or_else(no_label)?;
    if head.ends_with('条') {
        let open = head.rfind('《').ok_or_else(no_label)?;
        let labelled = &head[open..];
        let source = Source::ALL
            .into_iter()
            .find(|s| *s != Source::Policy && labelled.starts_with(s.title()))
            .ok_or_else(no_label)?;
        return Ok(Citation {
            source,
            section: labelled[source.title().len()..].to_owned(),
            quote: Some(quote.to_owned()),
        });
    }
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| {
            CN_DIGITS[1..].contains(c) || "十()".contains(*c) || c.is_ascii_digit()
        })
        .last()
        .map(|(i, _)| i)
        .ok_or_else(no_label)?;
    Ok(Citation::policy(&head[start..], quote))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_shipped_policy_is_the_shared_policy() {
        // CI has the shared folder beside the repository; the copy here keeps tests self-contained.
        let shared = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/policy/tianjin-old-estates-2020.txt"
        );
        match std::fs::read_to_string(shared) {
            Ok(text) => assert_eq!(
                text, POLICY_TEXT,
                "domain/data/policy copy differs from {shared}"
            ),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{shared}: {e}"),
        }
    }

    #[test]
    fn sections_are_parsed_from_the_headings() {
        let s = |section| Source::Policy.section_text(section).unwrap();
        assert!(s("三(一)4").starts_with("4．市城市管理委负责指导"));
        assert!(
            !s("三(一)1").contains("10．"),
            "三(一)1 does not swallow 三(一)10"
        );
        assert!(s("三(一)10").starts_with("10．市公用事业局"));
        assert!(s("三(四)").contains("劝阻无效的向街道办事处"));
        assert!(
            s("三(三)").contains("7．明确旧楼区"),
            "an item holds its points"
        );
        assert!(s("三").contains("（五）旧楼区管理服务企业"));
        assert!(s("二(三)").contains("三种模式"));
        assert!(
            s("六(五)").ends_with("应当依法承担赔偿责任。"),
            "closing words are no section"
        );
        assert!(s("一").contains("以习近平新时代"));
        assert_eq!(Source::Policy.section_text("三(六)"), None);
        assert_eq!(Source::Policy.section_text("七"), None);
        assert!(policy_closing().starts_with("有关区人民政府自行组织"));
        assert!(policy_closing().contains("本意见自印发之日起施行，有效期5年"));
    }

    #[test]
    fn quotes_must_be_verbatim_in_order_and_in_their_section() {
        let ok = Citation::policy("三(一)9", "检查及综合判定，指导产权单位…维修更新");
        assert_eq!(ok.check(), Ok(()));
        // The sentence the old FIRE_LANE_BLOCKED text attributed to 五(四).
        let invented = Citation::policy("五(四)", "消防救援机构依法查处占用消防车通道行为");
        assert!(matches!(
            invented.check(),
            Err(QuoteError::NotInSection { .. })
        ));
        // Right words, wrong section.
        let elsewhere = Citation::policy("三(一)5", "检查及综合判定");
        assert!(elsewhere.check().is_err());
        // Fragments out of order.
        let reversed = Citation::policy("三(一)9", "维修更新…检查及综合判定");
        assert!(reversed.check().is_err());
        // Paraphrase (a dropped word) is not a quote.
        assert!(
            Citation::policy("三(一)5", "市场监管部门加强电梯安全监督管理")
                .check()
                .is_err()
        );
        assert!(
            Citation::policy("三(一)5", "有关区市场监管部门加强旧楼区内电梯安全监督管理")
                .check()
                .is_ok()
        );
        assert!(
            Citation::policy("三(一)5", "…").check().is_err(),
            "empty fragments"
        );
    }

    #[test]
    fn law_excerpts_are_cited_by_article_and_unverified_articles_cannot_be_quoted() {
        let lane = Citation {
            source: Source::FireProtectionLaw,
            section: "第二十八条".into(),
            quote: Some("不得占用、堵塞、封闭疏散通道、安全出口、消防车通道".into()),
        };
        assert_eq!(lane.check(), Ok(()));
        let by_number = Citation {
            source: Source::CivilityRegulation,
            section: article_label(69),
            quote: None,
        };
        assert_eq!(by_number.check(), Ok(()));
        let quoted = Citation {
            quote: Some("由街道办事处".into()),
            ..by_number.clone()
        };
        assert!(quoted.check().is_err(), "no verified text: no quote");
        let missing = Citation {
            section: "第一百条".into(),
            ..by_number
        };
        assert!(matches!(
            missing.check(),
            Err(QuoteError::NoSuchSection { .. })
        ));
    }

    #[test]
    fn rendered_texts_are_checked_quote_by_quote() {
        let good = format!(
            "{}\n{}；{}\n{}",
            Source::Policy.title(),
            Citation::policy("三(五)4", "及时清理无主非机动车辆").render(),
            Citation {
                source: Source::FireProtectionLaw,
                section: "第四条".into(),
                quote: Some("并由本级人民政府消防救援机构负责实施".into()),
            }
            .render(),
            Citation {
                source: Source::CivilityRegulation,
                section: article_label(65),
                quote: None
            }
            .render(),
        );
        assert_eq!(check_rendered(&good), Ok(2), "{good}");
        assert!(check_rendered("五(四)：“消防救援机构依法查处”").is_err());
        assert!(matches!(
            check_rendered("见“确保消防车通道畅通”"),
            Err(QuoteError::NoLabel { .. })
        ));
        assert!(check_rendered("三(五)4：“及时清理").is_err());
    }

    #[test]
    fn chinese_numbers() {
        let cases = [
            (1, "一"),
            (10, "十"),
            (28, "二十八"),
            (60, "六十"),
            (69, "六十九"),
            (105, "一百零五"),
            (120, "一百二十"),
        ];
        for (n, text) in cases {
            assert_eq!(chinese_number(n), text);
        }
        assert_eq!(article_label(70), "第七十条");
    }
}
