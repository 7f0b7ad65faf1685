//! The `Link` header of a paginated GitHub answer (RFC 8288): the `rel="next"` URL.

/// The URL with `rel="next"`, if any.
pub(crate) fn next(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_link_is_found_among_others() {
        let h = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="prev", <https://api.github.com/repositories/1/issues?page=4>; rel="next", <https://api.github.com/repositories/1/issues?page=9>; rel="last""#;
        assert_eq!(
            super::next(h).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=4")
        );
        assert_eq!(super::next(r#"<https://x/1>; rel="prev""#), None);
        assert_eq!(super::next(""), None);
    }
}
