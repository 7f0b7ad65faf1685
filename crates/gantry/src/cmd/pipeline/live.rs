//! The live terminal view of a run: one line per running step (spinner, elapsed time, the
//! step's last output line, already masked by the engine) and one per checkpoint being
//! waited for, under the log of transitions. A finished step stays as "recording" until its
//! ledger entry is durable, then leaves a final ✓/✗ line with its duration (a ✓ is evidence
//! on disk, not a promise). Used only when stdout is a terminal; `--json` and pipes never
//! see it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gantry_pipeline::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How often spinners and elapsed times move while nothing else happens.
const TICK: Duration = Duration::from_millis(120);
/// Longest output line kept for display; the terminal width cuts it further.
const MAX_SHOWN: usize = 300;

pub struct Live {
    multi: MultiProgress,
    /// Running steps by (stage, step index).
    steps: Mutex<HashMap<(String, usize), ProgressBar>>,
    /// Finished steps whose entry is not durable yet: their bar and final line.
    pending: Mutex<HashMap<(String, usize), (ProgressBar, String)>>,
    /// Checkpoints being waited for, by stage.
    waits: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Elapsed seconds with one decimal, steadier to read than indicatif's words.
fn secs(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:>5.1}s", state.elapsed().as_secs_f64());
}

/// Output shown inside a bar must not move the cursor or recolour the screen.
fn printable(line: &str) -> String {
    line.chars()
        .take(MAX_SHOWN)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Live {
    pub fn new() -> Live {
        let style =
            ProgressStyle::with_template("{spinner:.cyan} {prefix} {secs:.dim}  {wide_msg:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("secs", secs);
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            steps: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            waits: Mutex::new(HashMap::new()),
            style,
        }
    }

    fn bar(&self, prefix: String) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(prefix);
        bar.enable_steady_tick(TICK);
        bar
    }

    /// A line above the bars (a plain line if the terminal went away).
    fn println(&self, text: &str) {
        if self.multi.is_hidden() || self.multi.println(text).is_err() {
            println!("{text}");
        }
    }

    fn end_wait(&self, stage: &str) {
        if let Some(bar) = lock(&self.waits).remove(stage) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    pub fn event(&self, event: &Event) {
        match event {
            Event::StepStarted {
                stage,
                step,
                name,
                attempt,
                ..
            } => {
                let mut steps = lock(&self.steps);
                let prefix = if *attempt > 1 {
                    format!("{stage} │ {name} (attempt {attempt})")
                } else {
                    format!("{stage} │ {name}")
                };
                match steps.get(&(stage.clone(), *step)) {
                    Some(bar) => {
                        bar.set_prefix(prefix);
                        bar.set_message("");
                    }
                    None => {
                        steps.insert((stage.clone(), *step), self.bar(prefix));
                    }
                }
            }
            Event::StepOutput {
                stage, step, line, ..
            } => {
                if let Some(bar) = lock(&self.steps).get(&(stage.clone(), *step)) {
                    bar.set_message(printable(line));
                }
            }
            Event::StepFinished { stage, step, .. } => {
                let key = (stage.clone(), *step);
                let line = super::view::text(event);
                match lock(&self.steps).remove(&key) {
                    Some(bar) => {
                        bar.set_message("finished; recording it in the ledger");
                        lock(&self.pending).insert(key, (bar, line));
                    }
                    None => self.println(&line),
                }
            }
            Event::StepRecorded {
                stage,
                step,
                name,
                error,
                ..
            } => {
                let Some((bar, line)) = lock(&self.pending).remove(&(stage.clone(), *step)) else {
                    return;
                };
                bar.finish_and_clear();
                self.multi.remove(&bar);
                match error {
                    None => self.println(&line),
                    Some(e) => self.println(&format!(
                        "  {stage} │ ✗ {name}: its result could not be recorded: {e}"
                    )),
                }
            }
            Event::CheckpointWaiting { stage, role, .. } => {
                self.println(&super::view::text(event));
                let bar = self.bar(format!("{stage} │ waiting for {role}"));
                if let Some(old) = lock(&self.waits).insert(stage.clone(), bar) {
                    old.finish_and_clear();
                }
            }
            Event::CheckpointDecided { stage, .. } | Event::StageFinished { stage, .. } => {
                self.end_wait(stage);
                self.println(&super::view::text(event));
            }
            _ => self.println(&super::view::text(event)),
        }
    }

    /// Clears whatever is still on screen (a run that ended with an error mid-step).
    pub fn finish(&self) {
        for (_, bar) in lock(&self.steps).drain() {
            bar.finish_and_clear();
        }
        for (_, (bar, line)) in lock(&self.pending).drain() {
            bar.finish_and_clear();
            let unconfirmed = line.replacen('✓', "?", 1);
            self.println(&format!("{unconfirmed} (not confirmed durable)"));
        }
        for (_, bar) in lock(&self.waits).drain() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn output_cannot_steer_the_terminal() {
        assert_eq!(printable("a\x1b[2Jb\rc\td"), "a [2Jb c d");
        assert_eq!(printable(&"x".repeat(1000)).len(), 300);
    }
}
