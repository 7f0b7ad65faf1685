//! `gantry.yaml`: the typed model, a loader whose errors name file, line and column, and
//! the example `gantry init` writes.
//!
//! ```
//! let config = gantry_config::parse("gantry.yaml", gantry_config::EXAMPLE).unwrap();
//! assert!(config.agents.contains_key("planner"));
//! let order = config.stage_order("release").unwrap();
//! assert_eq!(order[0], vec![0]);
//! ```
//!
//! Errors render as
//!
//! ```text
//! gantry.yaml:5:5: unknown field 'instancs', expected one of listen, instances, ...
//!   |
//! 5 |     instancs: 2
//!   |     ^^^^^^^^
//! ```
//!
//! and implement [`miette::Diagnostic`]. Parsing is bounded: files over
//! [`MAX_CONFIG_BYTES`], deep nesting and alias bombs fail fast with an error.

mod enclosing;
mod env_expand;
mod error;
mod example;
mod load;
mod lookup;
mod model;
mod order;
mod snippet;
mod spanned;
mod string_list;
pub mod units;
mod validate;

pub use env_expand::{ExpandError, expand, has_vars};
pub use error::{ConfigError, Located};
pub use example::{EXAMPLE, example};
pub use load::{MAX_CONFIG_BYTES, check, check_with_env, load, load_with_env, parse};
pub use lookup::UnknownService;
pub use model::*;
pub use order::OrderError;
pub use spanned::{Pos, Spanned};
pub use string_list::StringList;
pub use units::{
    Comparison, Cpu, Duration, Memory, Number, Percent, StatusCodes, Threshold, approximate,
};
pub use validate::status::api_base as github_api_base;
pub use validate::{
    MIN_SECRET_CHARS, SHELL_WORDS, SmokeCheck, SmokeTarget, Warning, first_program, warnings,
};
