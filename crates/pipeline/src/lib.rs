//! gantry's pipeline engine: stages run as a DAG by `needs` (bounded by `jobs`), steps as
//! shell commands in their own process groups (timeout kills the group, retries, env, cwd,
//! `if:`) or as built-in actions the host provides, per-step logs with secrets masked, an
//! artefact manifest in `sha256sum -c` format, checkpoints signed by agents (built-in,
//! external command, or by hand via the ledger), budgets, and resume. Every transition is a
//! signed ledger entry; see `README.md` § Pipelines for the kinds.

mod actions;
mod agent;
mod budget;
mod checkpoint;
mod confine;
mod decide;
mod definition;
mod engine;
mod error;
mod events;
mod exec;
mod glob;
mod liveness;
mod manifest;
mod mask;
mod queue;
mod readback;
mod recorder;
pub mod report;
mod rundir;
mod running;
mod stage;
mod steplog;
mod tail;
mod tools;
mod which;

pub use actions::{ActionFuture, Actions, Unavailable, action_name};
pub use agent::parse_answer;
pub use confine::confine;
pub use decide::{DecideError, decidable};
pub use definition::definition_sha256;
pub use engine::{CALLER_ENV, RunOutcome, RunRequest, Services, SignerSource, execute};
pub use error::PipelineError;
pub use events::{Event, Observer, Quiet};
pub use liveness::{host_name, parse_start_time, pid_alive, process_start_time, run_alive};
pub use manifest::{MANIFEST_FILE, sha256_file};
pub use mask::{MASK, Masker, looks_secret};
pub use readback::{StepLog, find_run, run_summary, select_logs};
pub use running::kill_leftovers;
