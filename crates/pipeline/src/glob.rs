//! Path globs for the budget's touched-paths allowlist: `*` and `?` within one path
//! segment, `**` across segments (`deploy/**`, `.github/workflows/*.yml`).

/// Whether `path` (relative, `/`-separated) matches `pattern`.
#[must_use]
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_start_matches("./").split('/').collect();
    let segs: Vec<&str> = path.trim_start_matches("./").split('/').collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|skip| match_segments(rest, &segs[skip..])),
        Some((first, rest)) => match segs.split_first() {
            Some((seg, more)) => {
                match_segment(first.as_bytes(), seg.as_bytes()) && match_segments(rest, more)
            }
            None => false,
        },
    }
}

fn match_segment(pat: &[u8], text: &[u8]) -> bool {
    match pat.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| match_segment(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && match_segment(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && match_segment(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("deploy/**", "deploy/a/b.yaml"));
        assert!(matches("deploy/**", "deploy/x"));
        assert!(!matches("deploy/**", "src/deploy/x"));
        assert!(matches(".github/workflows/**", ".github/workflows/ci.yml"));
        assert!(matches("*.md", "README.md"));
        assert!(!matches("*.md", "docs/README.md"));
        assert!(matches("**/*.md", "docs/README.md"));
        assert!(matches("src/?.rs", "src/a.rs"));
        assert!(matches("dist/web.txt", "dist/web.txt"));
    }
}
