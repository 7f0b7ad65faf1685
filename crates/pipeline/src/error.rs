use std::path::{Path, PathBuf};

/// Everything the pipeline engine can fail with (as opposed to a run that fails, which is a
/// normal outcome reported in [`crate::RunOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no pipeline named '{name}' in gantry.yaml; pipelines: {known}")]
    UnknownPipeline { name: String, known: String },
    #[error("pipeline '{0}' has invalid stage order: {1}")]
    Order(String, gantry_config::OrderError),
    #[error("no run '{0}' in the ledger (see `gantry runs`)")]
    UnknownRun(String),
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable { run: String, reason: String },
    #[error(
        "run {run} was started with another definition of pipeline '{pipeline}' (sha256 {then}…, now {now}…): gantry.yaml changed since; start a new run, or resume anyway with --force"
    )]
    DefinitionChanged {
        run: String,
        pipeline: String,
        then: String,
        now: String,
    },
    #[error("{path}: refused as a run directory: {reason}")]
    RunDirRefused { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger: {0}")]
    Ledger(#[from] gantry_ledger::LedgerError),
    #[error("ledger write failed: {0}")]
    Record(String),
    #[error("cannot sign as role '{role}': {reason}")]
    Signer { role: String, reason: String },
    #[error("the budget needs git: {0}")]
    Git(String),
    #[error(
        "`budget.tools` allows '{tool}', which is not on PATH; install it or remove it from the list"
    )]
    ToolNotFound { tool: String },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    }
}
