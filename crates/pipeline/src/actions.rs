//! Built-in step actions (`deploy:`, `smoke:`, `doctor:`, `status:`) are provided by the
//! binary through [`Actions`]; the engine only knows how to call them.

use std::future::Future;
use std::pin::Pin;

use gantry_config::StepAction;

/// A boxed future, so that [`Actions`] stays object-safe without an async-trait crate.
pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Implementations of the built-in actions. `log` receives lines for the step's log
/// (masked by the engine). An `Err` fails the step with that reason.
pub trait Actions: Send + Sync {
    fn run<'a>(
        &'a self,
        action: StepAction<'a>,
        log: &'a (dyn Fn(&str) + Send + Sync),
    ) -> ActionFuture<'a>;
}

/// The actions of a gantry without a control plane yet: each fails with a clear reason
/// instead of pretending.
pub struct Unavailable;

impl Actions for Unavailable {
    fn run<'a>(
        &'a self,
        action: StepAction<'a>,
        _log: &'a (dyn Fn(&str) + Send + Sync),
    ) -> ActionFuture<'a> {
        let name = action_name(&action);
        Box::pin(async move {
            Err(format!(
                "the built-in `{name}:` action is not available yet in this gantry; \
                 use a `run:` step until it lands"
            ))
        })
    }
}

/// The action's key as written in gantry.yaml.
#[must_use]
pub fn action_name(action: &StepAction<'_>) -> &'static str {
    match action {
        StepAction::Run(_) => "run",
        StepAction::Deploy { .. } => "deploy",
        StepAction::Smoke(_) => "smoke",
        StepAction::Doctor(_) => "doctor",
        StepAction::Status(_) => "status",
    }
}
