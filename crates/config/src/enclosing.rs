//! The key a YAML syntax error sits in (`services.web.releases.v1`), read from the
//! indentation of the lines before it: the parser says what it expected, this says where
//! in gantry.yaml's structure that was.

/// The dotted path of keys enclosing line `line`, column `column` (1-based) of `text`, or
/// `None` at the top level or when it cannot be told.
pub(crate) fn enclosing_key(text: &str, line: u64, column: u64) -> Option<String> {
    let line = usize::try_from(line).ok()?;
    if line == 0 {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let here = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    // Lines before the error's, nearest first, without blanks and comments.
    let mut before = lines[..(line - 1).min(lines.len())]
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let mut path = Vec::new();
    let mut limit = here;
    // The error inside a flow mapping or list opened earlier on its own line.
    let own = lines.get(line - 1).map_or("", |l| {
        let end = l.char_indices().nth(here).map_or(l.len(), |(i, _)| i);
        &l[..end]
    });
    if unclosed(own)
        && let Some(k) = key(own)
    {
        path.push(k);
        limit = indent(own);
    } else if let Some(prev) = before.next() {
        let indent = indent(prev);
        // A flow mapping or list left open on the line before holds the error.
        if indent < here || unclosed(prev) {
            path.extend(key(prev));
            limit = indent;
        }
    }
    for l in before {
        let indent = indent(l);
        if indent < limit
            && let Some(k) = key(l)
        {
            path.push(k);
            limit = indent;
        }
        if limit == 0 {
            break;
        }
    }
    path.reverse();
    (!path.is_empty()).then(|| path.join("."))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '-']).len()
}

/// `key` of a `key: …` line; none for a list item (`- name: x` names the item, not a key
/// of the path).
fn key(line: &str) -> Option<String> {
    if line.trim_start().starts_with('-') {
        return None;
    }
    let body = line.trim_start();
    let (k, _) = body.split_once(':')?;
    let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
    (!k.is_empty() && !k.contains(['{', '[', ' '])).then(|| k.to_string())
}

fn unclosed(line: &str) -> bool {
    let open = line.matches(['{', '[']).count();
    let close = line.matches(['}', ']']).count();
    open > close
}

#[cfg(test)]
mod tests {
    use super::enclosing_key;

    const UNCLOSED: &str = "project: t\nservices:\n  web:\n    listen: x\n    releases:\n      v1: { run: \"x\"\n    health: foo\n";
    const BAD_INDENT: &str =
        "project: t\nservices:\n  web:\n    releases:\n      v1:\n        run: x\n       bad: 1\n";

    #[test]
    fn names_the_key_the_error_is_in() {
        assert_eq!(
            enclosing_key(UNCLOSED, 7, 5).as_deref(),
            Some("services.web.releases.v1")
        );
        assert_eq!(
            enclosing_key(BAD_INDENT, 7, 8).as_deref(),
            Some("services.web.releases.v1")
        );
        let list = "pipelines:\n  p:\n    stages:\n      - name: s\n        steps: [ {run: x}\n";
        assert_eq!(
            enclosing_key(list, 6, 1).as_deref(),
            Some("pipelines.p.stages.steps")
        );
        assert_eq!(
            enclosing_key("project: [\n", 2, 1).as_deref(),
            Some("project")
        );
        let same_line =
            "services:\n  web:\n    releases:\n      v1: { run: a }\n      v2: { run: b {port} }\n";
        assert_eq!(
            enclosing_key(same_line, 5, 20).as_deref(),
            Some("services.web.releases.v2")
        );
        assert_eq!(enclosing_key("a: 1\nb: 2\n", 1, 1), None);
    }
}
