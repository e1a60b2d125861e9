//! Issue 11: the rules-file loader takes files an admin edits by hand (`rules check`, estates
//! import); arbitrary text and mangled copies of the real file must give an error with file:line,
//! never a panic.

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
