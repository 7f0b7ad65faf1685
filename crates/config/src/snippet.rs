//! Source snippets: the offending line with a caret, and line/column ↔ byte conversions.

/// Longest stretch of a line shown in a snippet, in characters.
const WINDOW: usize = 100;

/// The text of 1-based line `line` (without its line break), or `None` past the end.
fn line_text(text: &str, line: u64) -> Option<(usize, &str)> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let mut start = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i == index {
            return Some((start, l.strip_suffix('\r').unwrap_or(l)));
        }
        start += l.len() + 1;
    }
    None
}

/// Byte offset and length in `text` of `len` characters starting at `line`:`column`,
/// clamped to the line. Unknown or out-of-range positions give the end of the text.
pub(crate) fn byte_span(text: &str, line: u64, column: u64, len: u64) -> (usize, usize) {
    let Some((start, l)) = line_text(text, line) else {
        return (text.len(), 0);
    };
    let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let byte_at = |chars: usize| l.char_indices().nth(chars).map_or(l.len(), |(i, _)| i);
    let from = byte_at(skip);
    let to = byte_at(skip.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)));
    (start + from, to.saturating_sub(from))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn position_of(text: &str, offset: usize) -> (u64, u64) {
    let offset = offset.min(text.len());
    let mut cut = offset;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u64, column as u64)
}

/// Renders
///
/// ```text
///   |
/// 5 |     instancs: 2
///   |     ^^^^^^^^
/// ```
///
/// Long lines are cropped around the column; tabs and control characters are shown as
/// single spaces / replacement characters so that the caret lines up.
pub(crate) fn render_snippet(text: &str, line: u64, column: u64, len: u64) -> String {
    if line == 0 {
        return String::new();
    }
    let raw = line_text(text, line).map_or("", |(_, l)| l);
    let chars: Vec<char> = raw
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    let col = usize::try_from(column.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .min(chars.len());
    let (start, end) = if chars.len() <= WINDOW {
        (0, chars.len())
    } else {
        let start = col.saturating_sub(WINDOW / 2).min(chars.len() - WINDOW);
        (start, start + WINDOW)
    };
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret_at = col - start;
    if start > 0 {
        shown.insert(0, '…');
        caret_at += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    let width = usize::try_from(len)
        .unwrap_or(1)
        .min(end.saturating_sub(col))
        .max(1);
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    format!(
        "{pad} |\n{number} | {shown}\n{pad} | {}{}",
        " ".repeat(caret_at),
        "^".repeat(width)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_points_at_column() {
        let text = "a: 1\nservices:\n    instancs: 2\n";
        assert_eq!(
            render_snippet(text, 3, 5, 8),
            "  |\n3 |     instancs: 2\n  |     ^^^^^^^^"
        );
        assert_eq!(byte_span(text, 3, 5, 8), (19, 8));
        assert_eq!(position_of(text, 19), (3, 5));
        assert_eq!(render_snippet(text, 9, 1, 0), "  |\n9 | \n  | ^");
        assert_eq!(render_snippet(text, 0, 0, 0), "");
    }

    #[test]
    fn long_lines_are_cropped() {
        let text = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let s = render_snippet(&text, 1, 301, 1);
        let lines: Vec<&str> = s.lines().collect();
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[1].chars().nth(caret), Some('X'));
        assert!(lines[1].chars().count() < 120);
    }

    #[test]
    fn multibyte_and_tabs() {
        let text = "k\u{e9}y:\tv\u{1F511}x";
        let (off, len) = byte_span(text, 1, 7, 1);
        assert_eq!(&text[off..off + len], "\u{1F511}");
        assert!(render_snippet(text, 1, 5, 1).contains("k\u{e9}y: "));
        assert_eq!(position_of(text, text.len()), (1, 9));
    }
}
