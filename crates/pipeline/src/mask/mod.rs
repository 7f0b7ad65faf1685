//! Secret masking: every occurrence of a secret value becomes `***`, in log lines, ledger
//! bodies, reports, file names and progress events, including values split across the
//! chunks a process writes.
//!
//! Which values are secret: those of the names a pipeline declares in `secrets:`, and of
//! every variable whose name looks secret (`looks_secret`), wherever the variable is set —
//! the process environment, the pipeline's `env:` or any step's own `env:`.
//!
//! Which forms are found (see `forms`): the value itself; its JSON string escaping and its
//! percent-encoding (URL or form), in any mix; and its base64 in either alphabet and any
//! alignment, from 5 bytes of secret up, except for the few bits at each end that base64
//! shares with the neighbouring bytes. Not found: other encodings (hex, double escaping),
//! and base64 wrapped across lines beyond each line's own fragment.

mod forms;
mod lines;

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_config::Pipeline;
use serde_json::Value;

use forms::Pattern;
pub(crate) use lines::LineMasker;

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
    /// Longest first, so a secret containing another is masked whole. Shared: every step's
    /// log and output streams hold a copy.
    patterns: Arc<[Pattern]>,
}

impl Masker {
    /// Secrets from the declared names (`secrets:`) and from every variable whose name looks
    /// secret, looked up in `env` (the process environment merged with the pipeline's).
    #[must_use]
    pub fn from_env(declared: &[String], env: &BTreeMap<String, String>) -> Masker {
        Masker::from_vars(declared, env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The masker of a run of `pipeline`: its declared names and secret-looking variables,
    /// from the process environment `env`, the pipeline's `env:` and every step's `env:`.
    /// A name set in several places has each of its values masked.
    #[must_use]
    pub fn for_pipeline(pipeline: &Pipeline, env: &BTreeMap<String, String>) -> Masker {
        let steps = pipeline
            .stages
            .iter()
            .flat_map(|stage| stage.steps.iter())
            .filter_map(|step| step.env.vars())
            .flatten();
        let vars = env.iter().chain(pipeline.env.iter()).chain(steps);
        Masker::from_vars(
            &pipeline.secrets,
            vars.map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    fn from_vars<'a>(
        declared: &[String],
        vars: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Masker {
        let mut secrets = Vec::new();
        for (name, value) in vars {
            let explicit = declared.iter().any(|d| d == name);
            let heuristic = looks_secret(name) && value.len() >= MIN_HEURISTIC_LEN;
            if (explicit && !value.is_empty()) || heuristic {
                secrets.push(value.to_string());
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

    /// A masker for exactly these values (and their encoded forms).
    #[must_use]
    pub fn new(secrets: Vec<String>) -> Masker {
        let mut values: Vec<String> = Vec::new();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            values.extend(forms::base64_fragments(secret.as_bytes()));
            values.push(secret);
        }
        values.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        values.dedup();
        Masker {
            patterns: values.into_iter().map(Pattern::new).collect(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    #[must_use]
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        if self.is_empty() {
            return out;
        }
        // A plain search is enough unless one of the text's escapes stands for a character
        // of the secret, which is rare even in JSON; decoding as the search goes is slower.
        let mut escapes = forms::escapes(text);
        for pattern in self.patterns.iter() {
            if pattern.only_raw(&escapes) {
                if out.contains(pattern.value()) {
                    out = out.replace(pattern.value(), MASK);
                    escapes = forms::escapes(&out);
                }
            } else if let Some(masked) = pattern.replace_with(&out, MASK, &escapes) {
                out = masked;
                escapes = forms::escapes(&out);
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
    /// index is complete in `buf`. Never inside a UTF-8 character.
    fn safe_cut(&self, buf: &[u8]) -> usize {
        let longest = self
            .patterns
            .iter()
            .map(Pattern::max_span)
            .max()
            .unwrap_or(0);
        let mut cut = buf.len().saturating_sub(longest.saturating_sub(1));
        while cut > 0 && cut < buf.len() && (buf[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        // A complete secret that straddles the cut moves the cut to its end (a match
        // starting before the cut is complete: the cut holds back its longest form).
        let mut end = cut;
        for pattern in self.patterns.iter() {
            for i in cut.saturating_sub(pattern.max_span())..cut {
                if let Some(to) = pattern.match_at(buf, i) {
                    end = end.max(to);
                }
            }
        }
        end
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

    #[test]
    fn step_env_secrets_are_masked_like_the_others() {
        let text = "project: t\nagents: { planner: { id: P } }\npipelines:\n  p:\n    secrets: [DEPLOY]\n    env: { DB_PASSWORD: from-pipeline }\n    stages:\n      - name: a\n        steps:\n          - { run: x, env: { API_TOKEN: tok-in-step, PLAIN: visible } }\n          - { run: y, env: { DEPLOY: declared-in-step } }\n";
        let config = gantry_config::parse("gantry.yaml", text).expect("config");
        let pipeline = &config.pipelines["p"].value;
        let env: BTreeMap<String, String> =
            [("API_TOKEN".to_string(), "tok-from-process".to_string())].into();
        let m = Masker::for_pipeline(pipeline, &env);
        assert_eq!(
            m.mask("tok-in-step declared-in-step from-pipeline tok-from-process visible"),
            "*** *** *** *** visible"
        );
    }

    #[test]
    fn encoded_forms_are_masked_and_plain_text_is_not_touched() {
        let m = Masker::new(vec!["p@ss/w0rd\"quoted\"".into()]);
        assert_eq!(
            m.mask(
                r#"url=https://u:p%40ss%2Fw0rd%22quoted%22@h json={"k":"p@ss\/w0rd\"quoted\""}"#
            ),
            r#"url=https://u:***@h json={"k":"***"}"#
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = base64::Engine::encode(&b64, "admin:p@ss/w0rd\"quoted\"");
        let masked = m.mask(&format!("Authorization: Basic {basic}"));
        assert!(masked.contains(MASK), "{masked}");
        assert!(
            masked.len() < 40,
            "most of the encoded secret is gone: {masked}"
        );
        let plain = "100% done, a+b \\ c";
        assert_eq!(m.mask(plain), plain);
    }

    proptest! {
        // Taking the plain search when no escape in the text could be part of the secret
        // never changes the result.
        #[test]
        fn fast_and_decoding_search_agree(
            text in "[a-c \"/%+\\\\]{0,40}|[a-c ]{0,10}(%2[fF]|%22|\\\\/|\\\\\"|%61|\\\\u0062)[a-c ]{0,10}",
            secret in "[a-c/\" ]{1,4}",
        ) {
            let m = Masker::new(vec![secret.clone()]);
            let fast = m.mask(&text);
            let slow = Pattern::new(secret).replace(&text, MASK).unwrap_or(text);
            prop_assert_eq!(fast, slow);
        }
    }
}
