//! Progress events for whoever shows the run (live terminal view, `--json` lines, GitHub
//! Actions workflow commands). Events never carry secret values: the engine masks first.

use serde::Serialize;

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

/// Receives events; called from the engine's tasks, so it must be cheap and thread-safe.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

/// Discards events.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: &Event) {}
}
