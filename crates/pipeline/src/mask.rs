//! Secret masking: every occurrence of a secret value becomes `***`, in log lines, ledger
//! bodies and reports, including values split across the chunks a process writes.

use std::collections::BTreeMap;

use serde_json::Value;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Words in an environment variable name that mark its value as secret.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
];

/// Values shorter than this found only by the name heuristic are not masked: masking every
/// `1` of `USE_KEYRING=1` would garble logs without hiding anything.
const MIN_HEURISTIC_LEN: usize = 4;

/// Whether an environment variable's name looks like it holds a secret.
#[must_use]
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// The set of secret values to hide.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Masker {
    /// Secrets from the declared names (`secrets:`) and from every variable whose name looks
    /// secret, looked up in `env` (the process environment merged with the pipeline's).
    #[must_use]
    pub fn from_env(declared: &[String], env: &BTreeMap<String, String>) -> Masker {
        let mut secrets = Vec::new();
        for (name, value) in env {
            let explicit = declared.iter().any(|d| d == name);
            let heuristic = looks_secret(name) && value.len() >= MIN_HEURISTIC_LEN;
            if (explicit && !value.is_empty()) || heuristic {
                secrets.push(value.clone());
                // Multi-line values (PEM keys) are also masked line by line, since logs
                // are handled a line at a time.
                for line in value.lines() {
                    let line = line.trim();
                    if line.len() >= MIN_HEURISTIC_LEN {
                        secrets.push(line.to_string());
                    }
                }
            }
        }
        Masker::new(secrets)
    }

    #[must_use]
    pub fn new(mut secrets: Vec<String>) -> Masker {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Masker { secrets }
    }

    /// Length in bytes of the longest secret (0 if none).
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    #[must_use]
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Masks bytes (lossy UTF-8 first: logs are text).
    #[must_use]
    pub fn mask_bytes(&self, bytes: &[u8]) -> String {
        self.mask(&String::from_utf8_lossy(bytes))
    }

    /// Masks every string (and object key) inside a JSON value.
    #[must_use]
    pub fn mask_json(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The end of the longest prefix of `buf` that can be masked now without cutting a
    /// secret that may continue in the next chunk: a secret starting before the returned
    /// index is complete in `buf`.
    fn safe_cut(&self, buf: &[u8]) -> usize {
        let keep = self.max_len().saturating_sub(1);
        let mut cut = buf.len().saturating_sub(keep);
        // A complete secret that straddles the cut moves the cut to its end.
        for secret in &self.secrets {
            let s = secret.as_bytes();
            let from = cut.saturating_sub(s.len() - 1);
            let mut i = from;
            while i < cut && i + s.len() <= buf.len() {
                if &buf[i..i + s.len()] == s {
                    cut = cut.max(i + s.len());
                }
                i += 1;
            }
        }
        cut
    }
}

/// Splits a byte stream into masked lines. Long lines without a newline are flushed in
/// pieces once they exceed `max_line`, holding back just enough bytes that a secret split
/// across chunks (or pieces) is still masked whole.
#[derive(Debug)]
pub struct LineMasker {
    masker: Masker,
    buf: Vec<u8>,
    max_line: usize,
}

impl LineMasker {
    #[must_use]
    pub fn new(masker: Masker, max_line: usize) -> LineMasker {
        LineMasker {
            masker,
            buf: Vec::new(),
            max_line: max_line.max(1),
        }
    }

    /// Feeds a chunk; returns the masked complete lines (without their `\n`).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.push(self.masker.mask_bytes(line));
        }
        if self.buf.len() > self.max_line {
            let cut = self.masker.safe_cut(&self.buf);
            if cut > 0 {
                let piece: Vec<u8> = self.buf.drain(..cut).collect();
                out.push(self.masker.mask_bytes(&piece));
            }
        }
        out
    }

    /// The masked rest after the stream ended, if any.
    pub fn finish(&mut self) -> Option<String> {
        if self.buf.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.buf);
        Some(self.masker.mask_bytes(&rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_that_look_secret() {
        for name in [
            "GITHUB_TOKEN",
            "db_password",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["PATH", "HOME", "RUST_LOG"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn env_secrets_declared_and_by_name() {
        let env: BTreeMap<String, String> = [
            ("DEPLOY", "hunter2-x"),
            ("MY_TOKEN", "abcd1234"),
            ("USE_KEYRING", "1"),
            ("PATH", "/usr/bin"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let m = Masker::from_env(&["DEPLOY".to_string()], &env);
        assert_eq!(
            m.mask("x hunter2-x abcd1234 1 /usr/bin"),
            "x *** *** 1 /usr/bin"
        );
    }

    #[test]
    fn json_bodies() {
        let m = Masker::new(vec!["s3cr3t".into()]);
        let v = serde_json::json!({"a": ["xs3cr3ty", 1], "s3cr3t": {"b": "s3cr3t"}});
        assert_eq!(
            m.mask_json(&v),
            serde_json::json!({"a": ["x***y", 1], "***": {"b": "***"}})
        );
    }

    fn feed_all(m: &Masker, max_line: usize, chunks: &[&[u8]]) -> String {
        let mut lm = LineMasker::new(m.clone(), max_line);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(lm.feed(c));
        }
        out.extend(lm.finish());
        out.concat()
    }

    proptest! {
        // Whatever the chunking and line-length limit, the secret never survives.
        #[test]
        fn split_secret_never_leaks(
            prefix in "[a-z ]{0,40}",
            suffix in "[a-z ]{0,40}",
            cuts in proptest::collection::vec(0usize..120, 0..6),
            max_line in 1usize..30,
        ) {
            let secret = "S3CR3T-VALUE";
            let m = Masker::new(vec![secret.to_string()]);
            let text = format!("{prefix}{secret}{suffix}{secret}");
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&bytes[last..p]);
                last = p;
            }
            chunks.push(&bytes[last..]);
            let out = feed_all(&m, max_line, &chunks);
            prop_assert!(!out.contains("S3CR3T"), "{out}");
            prop_assert_eq!(out.matches(MASK).count(), 2);
        }
    }
}
