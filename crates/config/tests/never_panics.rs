//! Property tests: `parse` never panics, and every error it returns is located.

use gantry_config::{ConfigError, EXAMPLE, parse};
use proptest::prelude::*;

/// Every parse/validation error names a line and column inside the text (or 1:1 / the
/// line after the end for an empty or truncated file) and renders with a caret.
fn assert_located(text: &str, result: Result<gantry_config::Config, ConfigError>) {
    let Err(e) = result else { return };
    let line = e.line().expect("parse errors are located");
    let column = e.column().expect("parse errors are located");
    let lines = text.split('\n').count() as u64;
    assert!(
        line >= 1 && line <= lines + 1,
        "line {line} of {lines}: {e}"
    );
    assert!(column >= 1, "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("fuzz.yaml:{line}:{column}: ")),
        "{shown}"
    );
    assert!(shown.contains('^'), "{shown}");
    assert!(!e.message().contains('\n'), "{shown}");
}

/// Edits applied to the example.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        Just(":".to_string()),
        Just("- ".to_string()),
        Just("  ".to_string()),
        Just("\n".to_string()),
        Just("{".to_string()),
        Just("]".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: *a\n".to_string()),
        Just("needs: [ci]".to_string()),
        Just("0".to_string()),
        Just("%".to_string()),
        Just("'".to_string()),
        Just("\t".to_string()),
        "[a-z_]{1,8}",
        "\\PC{1,4}",
    ];
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), piece).prop_map(|(at, text)| Edit::Insert { at, text }),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len().max(1);
    match edit {
        Edit::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            chars[..at.min(chars.len())]
                .iter()
                .chain(&chars[end..])
                .collect()
        }
        Edit::Insert { at, text } => {
            let at = at % (chars.len() + 1);
            let mut out: String = chars[..at].iter().collect();
            out.push_str(text);
            out.extend(&chars[at..]);
            out
        }
        Edit::DuplicateLine(i) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = i % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let len = lines.len();
            lines.swap(a % len, b % len);
            lines.join("\n")
        }
        Edit::Truncate(at) => chars[..at % n].iter().collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        assert_located(&text, parse("fuzz.yaml", &text));
    }

    #[test]
    fn yamlish_text_never_panics(text in "([a-z]{1,6}: ?|- |  |\n|\\{|\\}|\\[|\\]|, |&a |\\*a|[0-9]{1,3}(ms|s|%)?|'|\"){0,80}") {
        assert_located(&text, parse("fuzz.yaml", &text));
    }

    #[test]
    fn mutated_example_never_panics(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut text = EXAMPLE.to_string();
        for e in &edits {
            text = apply(&text, e);
        }
        assert_located(&text, parse("fuzz.yaml", &text));
    }
}
