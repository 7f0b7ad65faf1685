//! Progress events for whoever shows the run (live terminal view, `--json` lines, GitHub
//! Actions workflow commands). Events never carry secret values: the engine masks every
//! event it emits (`Event::masked`), as it masks ledger bodies.

use serde::Serialize;

use crate::mask::Masker;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run: String,
        pipeline: String,
        dir: String,
        resumed: bool,
    },
    StageStarted {
        run: String,
        stage: String,
    },
    StageFinished {
        run: String,
        stage: String,
        status: String,
        reason: Option<String>,
    },
    StepStarted {
        run: String,
        stage: String,
        step: usize,
        name: String,
        attempt: u32,
    },
    /// One masked output line; only live views want these (`--json` leaves them out).
    StepOutput {
        run: String,
        stage: String,
        step: usize,
        line: String,
    },
    StepFinished {
        run: String,
        stage: String,
        step: usize,
        name: String,
        status: String,
        exit_code: Option<i32>,
        duration_ms: u64,
        log: String,
        reason: Option<String>,
    },
    /// A finished step's entry reached the ledger durably (`error` None), or could not.
    StepRecorded {
        run: String,
        stage: String,
        step: usize,
        name: String,
        error: Option<String>,
    },
    CheckpointWaiting {
        run: String,
        stage: String,
        role: String,
        mode: String,
        hint: String,
    },
    CheckpointDecided {
        run: String,
        stage: String,
        role: String,
        decision: String,
        summary: String,
    },
    BudgetExceeded {
        run: String,
        budget: String,
        detail: String,
    },
    RunFinished {
        run: String,
        status: String,
        duration_ms: u64,
        reason: Option<String>,
    },
}

impl Event {
    /// The event with every text in it masked. Output lines are left as they are: the
    /// engine masked them on the way to the log, and they are most of the events.
    #[must_use]
    pub fn masked(self, masker: &Masker) -> Event {
        if masker.is_empty() {
            return self;
        }
        let m = |s: String| masker.mask(&s);
        let mo = |s: Option<String>| s.map(|s| masker.mask(&s));
        match self {
            Event::RunStarted {
                run,
                pipeline,
                dir,
                resumed,
            } => Event::RunStarted {
                run,
                pipeline: m(pipeline),
                dir: m(dir),
                resumed,
            },
            Event::StageStarted { run, stage } => Event::StageStarted {
                run,
                stage: m(stage),
            },
            Event::StageFinished {
                run,
                stage,
                status,
                reason,
            } => Event::StageFinished {
                run,
                stage: m(stage),
                status,
                reason: mo(reason),
            },
            Event::StepStarted {
                run,
                stage,
                step,
                name,
                attempt,
            } => Event::StepStarted {
                run,
                stage: m(stage),
                step,
                name: m(name),
                attempt,
            },
            Event::StepOutput {
                run,
                stage,
                step,
                line,
            } => Event::StepOutput {
                run,
                stage: m(stage),
                step,
                line,
            },
            Event::StepRecorded {
                run,
                stage,
                step,
                name,
                error,
            } => Event::StepRecorded {
                run,
                stage: m(stage),
                step,
                name: m(name),
                error: mo(error),
            },
            Event::StepFinished {
                run,
                stage,
                step,
                name,
                status,
                exit_code,
                duration_ms,
                log,
                reason,
            } => Event::StepFinished {
                run,
                stage: m(stage),
                step,
                name: m(name),
                status,
                exit_code,
                duration_ms,
                log: m(log),
                reason: mo(reason),
            },
            Event::CheckpointWaiting {
                run,
                stage,
                role,
                mode,
                hint,
            } => Event::CheckpointWaiting {
                run,
                stage: m(stage),
                role: m(role),
                mode,
                hint: m(hint),
            },
            Event::CheckpointDecided {
                run,
                stage,
                role,
                decision,
                summary,
            } => Event::CheckpointDecided {
                run,
                stage: m(stage),
                role: m(role),
                decision,
                summary: m(summary),
            },
            Event::BudgetExceeded {
                run,
                budget,
                detail,
            } => Event::BudgetExceeded {
                run,
                budget,
                detail: m(detail),
            },
            Event::RunFinished {
                run,
                status,
                duration_ms,
                reason,
            } => Event::RunFinished {
                run,
                status,
                duration_ms,
                reason: mo(reason),
            },
        }
    }
}

/// Receives events; called from the engine's tasks, so it must be cheap and thread-safe.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

/// Discards events.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: &Event) {}
}
