//! The example `gantry.yaml` written by `gantry init`.

/// A commented, working `gantry.yaml`: three agents, the demo web service with a canary
/// strategy, and a `release` pipeline (safety gate → ci → deploy → monitor →
/// rollback-if-needed → status) with checkpoints signed by planner, operator and verifier.
pub const EXAMPLE: &str = include_str!("example.yaml");

/// The placeholder project name in [`EXAMPLE`].
const PLACEHOLDER: &str = "project: my-project";

/// [`EXAMPLE`] with the project name set to `project` (quoted if needed).
#[must_use]
pub fn example(project: &str) -> String {
    EXAMPLE.replacen(
        PLACEHOLDER,
        &format!("project: {}", yaml_string(project)),
        1,
    )
}

/// `name` as a YAML scalar: plain when safe, else single-quoted.
fn yaml_string(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.trim().is_empty() {
        return "my-project".to_string();
    }
    let plain = !clean.is_empty()
        && clean
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && clean.starts_with(|c: char| c.is_alphanumeric())
        && !matches!(
            clean.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        )
        && clean.parse::<f64>().is_err();
    if plain {
        clean
    } else {
        format!("'{}'", clean.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses() {
        let config = crate::parse("gantry.yaml", EXAMPLE).unwrap();
        assert_eq!(config.project, "my-project");
    }

    #[test]
    fn example_with_any_project_name_parses() {
        for name in [
            "shop", "my shop", "it's", "true", "123", "#x", "a: b", "", "x\ny", "ünï",
        ] {
            let text = example(name);
            let config =
                crate::parse("gantry.yaml", &text).unwrap_or_else(|e| panic!("{name:?}: {e}"));
            let expected: String = name.chars().filter(|c| !c.is_control()).collect();
            if expected.trim().is_empty() {
                assert_eq!(config.project, "my-project");
                continue;
            }
            assert_eq!(config.project, expected);
        }
    }
}
