//! Finding a secret in the forms output carries it in, not only byte for byte:
//!
//! - JSON string escapes, one level: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and
//!   `\uXXXX` (either hex case, surrogate pairs too), so `json.dumps` with `ensure_ascii`,
//!   Go's `\u003c` for `<` and a `jq` dump of a value are all caught;
//! - percent-encoding (URLs, query strings, form bodies): any byte as `%XX` in either hex
//!   case, whichever bytes the encoder chose to escape, and `+` for a space;
//! - any mix of those with raw characters, since one matcher decodes as it goes.
//!
//! Base64 has no per-character form: the characters depend on where the secret sits in
//! the encoded bytes. [`base64_fragments`] gives, for each of the three alignments and
//! both alphabets (standard and URL-safe), the characters fully determined by the secret
//! alone; the masker treats those as further secrets. The one or two characters at each
//! end that mix the secret's bits with its neighbours' stay visible (at most 4 bits of the
//! secret each), as in GitHub Actions' masking. Line-wrapped base64 (MIME, PEM) is only
//! caught line by line.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// Base64 fragments shorter than this are not masked: fewer determined characters would
/// start to match unrelated base64 (a 6-character run is one in 6.9e10).
const MIN_BASE64_FRAGMENT: usize = 6;

/// One value to hide, matched in any of the forms above.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    value: String,
    /// Bytes a match can start with: the value's first byte, or an escape's first byte.
    starts: [bool; 256],
    /// The most bytes one match can span (every character in its longest form).
    max_span: usize,
    /// The bytes the value holds, to tell which escapes could be part of it.
    bytes: [bool; 256],
}

impl Pattern {
    pub(crate) fn new(value: String) -> Pattern {
        let mut starts = [false; 256];
        if let Some(&first) = value.as_bytes().first() {
            starts[usize::from(first)] = true;
            starts[usize::from(b'%')] = true;
            starts[usize::from(b'\\')] = true;
            if first == b' ' {
                starts[usize::from(b'+')] = true;
            }
        }
        let max_span = value
            .chars()
            .map(|c| {
                let json = if c.len_utf16() == 2 { 12 } else { 6 };
                json.max(3 * c.len_utf8())
            })
            .sum();
        let mut bytes = [false; 256];
        for &b in value.as_bytes() {
            bytes[usize::from(b)] = true;
        }
        Pattern {
            value,
            starts,
            max_span,
            bytes,
        }
    }

    pub(crate) fn value(&self) -> &str {
        &self.value
    }

    pub(crate) fn max_span(&self) -> usize {
        self.max_span
    }

    /// Whether only the raw value can occur in a text with these escapes: none of them
    /// stands for a character of the value (the usual case, even in JSON logs).
    pub(crate) fn only_raw(&self, escapes: &[Escape]) -> bool {
        escapes.iter().all(|x| match x.unit {
            Unit::Byte(b) => !self.bytes[usize::from(b)],
            Unit::Char(c) if c.is_ascii() => !self.bytes[usize::from(c as u8)],
            Unit::Char(c) => !self.value.contains(c),
            Unit::Inert => true,
        })
    }

    /// The end of the longest match starting at `start`, if one does.
    pub(crate) fn match_at(&self, text: &[u8], start: usize) -> Option<usize> {
        if !text
            .get(start)
            .is_some_and(|&b| self.starts[usize::from(b)])
        {
            return None;
        }
        // Most candidates are an unrelated `%` or `\`: turned away before allocating.
        if !self
            .value
            .chars()
            .next()
            .is_some_and(|c| may_start(text, start, c))
        {
            return None;
        }
        // The positions reachable after matching each character: a character may be
        // written in several forms of different lengths, so more than one can be live.
        let mut here = vec![start];
        let mut next = Vec::new();
        for c in self.value.chars() {
            next.clear();
            for &p in &here {
                char_ends(text, p, c, &mut next);
            }
            if next.is_empty() {
                return None;
            }
            next.sort_unstable();
            next.dedup();
            std::mem::swap(&mut here, &mut next);
        }
        here.last().copied()
    }

    /// `text` with every match replaced by `mask`, leftmost first; `None` if there is none.
    #[cfg(test)]
    pub(crate) fn replace(&self, text: &str, mask: &str) -> Option<String> {
        self.replace_with(text, mask, &escapes(text))
    }

    /// Like `replace`, given the `escapes` of `text`. A match starts with the value's first
    /// character, raw (found by a fast search) or at an escape, so only those are tried.
    pub(crate) fn replace_with(
        &self,
        text: &str,
        mask: &str,
        escapes: &[Escape],
    ) -> Option<String> {
        let first = self.value.chars().next()?;
        let bytes = text.as_bytes();
        let mut out: Vec<u8> = Vec::new();
        let (mut last, mut i, mut e, mut found) = (0, 0, 0, false);
        // The next raw first character at or after `i`; searched again only once passed.
        let mut raw = text.find(first);
        while i < bytes.len() {
            if raw.is_some_and(|r| r < i) {
                raw = text
                    .get(i..)
                    .and_then(|rest| rest.find(first))
                    .map(|k| i + k);
            }
            while escapes
                .get(e)
                .is_some_and(|x| x.at < i || !x.may_begin(first))
            {
                e += 1;
            }
            let at = match (raw, escapes.get(e).map(|x| x.at)) {
                (Some(r), Some(x)) => r.min(x),
                (Some(r), None) => r,
                (None, Some(x)) => x,
                (None, None) => break,
            };
            match self.match_at(bytes, at) {
                Some(end) => {
                    found = true;
                    out.extend_from_slice(&bytes[last..at]);
                    out.extend_from_slice(mask.as_bytes());
                    last = end;
                    i = end;
                }
                None => {
                    i = at + 1;
                    while !text.is_char_boundary(i) {
                        i += 1;
                    }
                }
            }
        }
        if !found {
            return None;
        }
        out.extend_from_slice(&bytes[last..]);
        // Matches start and end on character boundaries (escapes are ASCII, raw
        // characters are whole), so this is valid UTF-8; lossy only as a backstop.
        Some(
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }
}

/// An escape in a text: where it is and the character (or, for `%XX`, the byte) it
/// stands for, decoded once per text for every pattern to look at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Escape {
    at: usize,
    unit: Unit,
}

#[derive(Clone, Copy, Debug)]
enum Unit {
    /// `%XX`: one byte of a character's UTF-8.
    Byte(u8),
    /// A JSON escape, or `+` for a space.
    Char(char),
    /// A `%` or `\` that escapes nothing: matches only as itself.
    Inert,
}

impl Escape {
    /// Whether a match of a value starting with `first` may begin here.
    fn may_begin(&self, first: char) -> bool {
        let mut buf = [0u8; 4];
        match self.unit {
            Unit::Byte(b) => first.encode_utf8(&mut buf).as_bytes()[0] == b,
            Unit::Char(c) => c == first,
            Unit::Inert => false,
        }
    }
}

/// The escapes in `text` (`%XX`, JSON `\` escapes, `+`), in order.
pub(crate) fn escapes(text: &str) -> Vec<Escape> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (at, &b) in bytes.iter().enumerate() {
        let unit = match b {
            b'%' => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                    (Some(h), Some(l)) => Unit::Byte(h << 4 | l),
                    _ => Unit::Inert,
                },
                _ => Unit::Inert,
            },
            b'\\' => json_escape(&bytes[at..]).map_or(Unit::Inert, |(c, _)| Unit::Char(c)),
            b'+' => Unit::Char(' '),
            _ => continue,
        };
        out.push(Escape { at, unit });
    }
    out
}

/// Where one character `c` written at `p` can end, in each form it may take.
fn char_ends(text: &[u8], p: usize, c: char, out: &mut Vec<usize>) {
    let mut buf = [0u8; 4];
    let bytes = c.encode_utf8(&mut buf).as_bytes();
    // Raw or percent-encoded, byte by byte (an encoder escapes whichever bytes it likes).
    let mut here = vec![p];
    let mut next = Vec::new();
    for &b in bytes {
        next.clear();
        for &q in &here {
            match text.get(q) {
                Some(&t) if t == b => next.push(q + 1),
                Some(b'+') if b == b' ' => next.push(q + 1),
                _ => {}
            }
            if text.get(q) == Some(&b'%')
                && let (Some(&h), Some(&l)) = (text.get(q + 1), text.get(q + 2))
                && let (Some(h), Some(l)) = (hex(h), hex(l))
                && h << 4 | l == b
            {
                next.push(q + 3);
            }
        }
        std::mem::swap(&mut here, &mut next);
    }
    out.extend_from_slice(&here);
    if text.get(p) == Some(&b'\\')
        && let Some((decoded, len)) = json_escape(&text[p..])
        && decoded == c
    {
        out.push(p + len);
    }
}

/// Whether `c` can begin at `p` in some form: a cheap necessary condition for a match.
fn may_start(text: &[u8], p: usize, c: char) -> bool {
    let mut buf = [0u8; 4];
    let first = c.encode_utf8(&mut buf).as_bytes()[0];
    match text.get(p) {
        Some(&b) if b == first => true,
        Some(b'%') => {
            let h = text.get(p + 1).copied().and_then(hex);
            let l = text.get(p + 2).copied().and_then(hex);
            matches!((h, l), (Some(h), Some(l)) if h << 4 | l == first)
        }
        Some(b'\\') => json_escape(&text[p..]).is_some_and(|(d, _)| d == c),
        Some(b'+') => c == ' ',
        _ => false,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex4(text: &[u8]) -> Option<u32> {
    let digits = text.get(..4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc << 4 | u32::from(hex(d)?)))
}

/// The character a JSON escape at the start of `text` stands for, and the escape's length.
fn json_escape(text: &[u8]) -> Option<(char, usize)> {
    if text.first() != Some(&b'\\') {
        return None;
    }
    let simple = match text.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(&text[2..])?;
            return match unit {
                0xD800..=0xDBFF => {
                    if text.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(&text[8..])?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).map(|c| (c, 12))
                }
                _ => char::from_u32(unit).map(|c| (c, 6)),
            };
        }
        _ => return None,
    };
    Some((simple, 2))
}

/// The base64 characters fully determined by `secret`, for each alignment of it in the
/// encoded bytes and each alphabet, long enough to mask safely.
pub(crate) fn base64_fragments(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for shift in 0..3usize {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(secret);
        // Character k carries bits 6k..6k+6; keep those that are all the secret's.
        let first = (8 * shift).div_ceil(6);
        let end = 8 * bytes.len() / 6;
        if end < first + MIN_BASE64_FRAGMENT {
            continue;
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            if let Some(fragment) = encoded.get(first..end) {
                out.push(fragment.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masked(secret: &str, text: &str) -> String {
        Pattern::new(secret.to_string())
            .replace(text, "***")
            .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn json_escaped_forms() {
        let secret = "pa\"ss\\w/rd\näö😀";
        let serde = serde_json::to_string(secret).unwrap();
        assert_eq!(masked(secret, &format!("x {serde} y")), "x \"***\" y");
        // ensure_ascii (Python's default), uppercase hex, escaped slash.
        let ascii = r#""pa\"ss\\w\/rd\n\u00E4\u00f6\ud83d\ude00""#;
        assert_eq!(masked(secret, ascii), "\"***\"");
        // Go escapes <, > and & even when plain.
        assert_eq!(
            masked("a<b>&c", r"{\u003c a\u003cb\u003e\u0026c}"),
            r"{\u003c ***}"
        );
        // A broken escape is not a match, and nothing is lost around it.
        assert_eq!(masked("ab", r"a\u00 a\q ab"), r"a\u00 a\q ***");
    }

    #[test]
    fn percent_encoded_forms() {
        let secret = "p@ss w0rd/ä+&=";
        for form in [
            "p%40ss%20w0rd%2F%C3%A4%2B%26%3D",
            "p%40ss+w0rd%2f%c3%a4%2b%26%3d",
            "p@ss%20w0rd/%C3%A4%2B&=",
            "%70%40%73%73%20%77%30%72%64%2F%C3%A4%2B%26%3D",
        ] {
            assert_eq!(
                masked(secret, &format!("?t={form}&x=1")),
                "?t=***&x=1",
                "{form}"
            );
        }
        // A space may be written `+`; a `+` is never a space.
        assert_eq!(masked("a+b", "a+b a%2Bb a b"), "*** *** a b");
        // A secret holding `%` still matches raw.
        assert_eq!(masked("50%25off", "50%25off 50%2525off"), "*** ***");
    }

    #[test]
    fn base64_fragments_cover_every_alignment() {
        let secret = b"s3cr3t-Value-42?>";
        let fragments = base64_fragments(secret);
        let alphabets = [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD];
        for before in ["", "a", "ab", "abc", "user:"] {
            for engine in alphabets {
                let mut bytes = before.as_bytes().to_vec();
                bytes.extend_from_slice(secret);
                bytes.extend_from_slice(b"!tail");
                let encoded = engine.encode(&bytes);
                assert!(
                    fragments.iter().any(|f| encoded.contains(f.as_str())),
                    "{before:?}: {encoded} has none of {fragments:?}"
                );
            }
        }
        assert!(
            base64_fragments(b"abc").is_empty(),
            "too short to mask safely"
        );
    }

    proptest! {
        // Whichever bytes an encoder escapes, in whichever hex case, the secret is found.
        #[test]
        fn any_percent_encoding_is_found(
            secret in "[ -~äé€😀]{1,16}",
            escape in proptest::collection::vec(any::<bool>(), 64),
            upper in any::<bool>(),
        ) {
            let mut form = String::new();
            for (i, b) in secret.bytes().enumerate() {
                if escape[i % 64] || !b.is_ascii() {
                    let hexed = format!("%{b:02X}");
                    form.push_str(&if upper { hexed } else { hexed.to_lowercase() });
                } else {
                    form.push(char::from(b));
                }
            }
            let out = masked(&secret, &format!("«{form}»"));
            prop_assert_eq!(out, "«***»".to_string());
        }

        // serde_json's and the ensure_ascii form of any string are found.
        #[test]
        fn json_escaping_is_found(secret in "\\PC{1,16}") {
            let plain = serde_json::to_string(&secret).unwrap();
            let ascii: String = plain
                .chars()
                .flat_map(|c| {
                    if c.is_ascii() {
                        vec![c.to_string()]
                    } else {
                        let mut units = [0u16; 2];
                        c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect()
                    }
                })
                .collect();
            for form in [plain, ascii] {
                // Inside the quotes, wrapped in control characters the secret cannot hold
                // (a secret of quotes would take the string's own).
                let inner = &form[1..form.len() - 1];
                let out = masked(&secret, &format!("\u{1}{inner}\u{1}"));
                prop_assert_eq!(out, "\u{1}***\u{1}".to_string());
            }
        }

        // Text without the secret in any form is left exactly as it was.
        #[test]
        fn unrelated_text_is_untouched(text in "[g-z%\\\\+ 0-9]{0,60}") {
            // No raw `Z`, and no hex letter to write `%5A` or `\u005a` with.
            let p = Pattern::new("ZZ".to_string());
            prop_assert_eq!(p.replace(&text, "***"), None);
        }
    }
}
