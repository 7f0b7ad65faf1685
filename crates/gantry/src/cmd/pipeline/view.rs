//! How a run shows: `--json` prints one event per line (and nothing else); on GitHub
//! Actions, workflow commands and a step summary; on a terminal, the live view
//! (`live.rs`); otherwise one plain line per transition, without escape sequences.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use gantry_pipeline::{Event, Observer};

use super::live::Live;

pub enum Style {
    Json,
    Github,
    Live(Box<Live>),
    Text,
}

pub struct View {
    style: Style,
    summary: Mutex<Vec<String>>,
}

impl View {
    pub fn new(json: bool) -> View {
        let style = if json {
            Style::Json
        } else if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Style::Github
        } else if std::io::stdout().is_terminal() {
            Style::Live(Box::new(Live::new()))
        } else {
            Style::Text
        };
        View {
            style,
            summary: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Clears the live view; writes the GitHub step summary table, if running there.
    pub fn finish(&self) {
        if let Style::Live(live) = &self.style {
            live.finish();
        }
        if !matches!(self.style, Style::Github) {
            return;
        }
        let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") else {
            return;
        };
        let rows = self.summary.lock().map(|r| r.join("")).unwrap_or_default();
        let text = format!("| stage | step | status | duration |\n|---|---|---|---|\n{rows}");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

impl Observer for View {
    fn event(&self, event: &Event) {
        match (&self.style, event) {
            (Style::Json, Event::StepOutput { .. }) => {}
            (Style::Json, e) => {
                if let Ok(text) = serde_json::to_string(e) {
                    self.line(&text);
                }
            }
            (Style::Live(live), e) => live.event(e),
            (_, Event::StepOutput { .. }) => {}
            (Style::Github, Event::StepStarted { stage, name, .. }) => {
                self.line(&format!("::group::{stage} / {name}"))
            }
            (
                Style::Github,
                Event::StepFinished {
                    stage,
                    name,
                    status,
                    duration_ms,
                    reason,
                    ..
                },
            ) => {
                self.line("::endgroup::");
                if let Some(reason) = reason {
                    self.line(&format!("::error title={stage} / {name}::{reason}"));
                }
                if let Ok(mut rows) = self.summary.lock() {
                    rows.push(format!(
                        "| {stage} | {name} | {status} | {:.1}s |\n",
                        *duration_ms as f64 / 1000.0
                    ));
                }
            }
            (_, e) => {
                let text = text(e);
                if !text.is_empty() {
                    self.line(&text);
                }
            }
        }
    }
}

/// One plain line for an event (also the live view's lines above its bars).
pub(super) fn text(event: &Event) -> String {
    match event {
        Event::RunStarted {
            run,
            pipeline,
            dir,
            resumed,
        } => {
            let verb = if *resumed { "resuming" } else { "running" };
            format!("{verb} pipeline {pipeline}: run {run} (evidence in {dir})")
        }
        Event::StageStarted { stage, .. } => format!("▶ {stage}"),
        Event::StageFinished {
            stage,
            status,
            reason,
            ..
        } => match reason {
            Some(r) => format!("■ {stage}: {status} ({r})"),
            None => format!("■ {stage}: {status}"),
        },
        Event::StepStarted {
            stage,
            name,
            attempt,
            ..
        } => {
            if *attempt > 1 {
                format!("  {stage} │ {name} (attempt {attempt})")
            } else {
                format!("  {stage} │ {name}")
            }
        }
        Event::StepFinished {
            stage,
            name,
            status,
            duration_ms,
            reason,
            ..
        } => {
            let mark = if status == "succeeded" { "✓" } else { "✗" };
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!(
                "  {stage} │ {mark} {name} {status} in {:.2}s{why}",
                *duration_ms as f64 / 1000.0
            )
        }
        // Plain logs list transitions as they happen; only a failure to record is news.
        Event::StepRecorded {
            stage,
            name,
            error: Some(e),
            ..
        } => format!("  {stage} │ ✗ {name}: its result could not be recorded: {e}"),
        Event::StepRecorded { error: None, .. } => String::new(),
        Event::CheckpointWaiting {
            stage,
            role,
            mode,
            hint,
            ..
        } => {
            if mode == "manual" {
                format!("  {stage} │ waiting for {role} to sign: {hint}")
            } else {
                format!("  {stage} │ checkpoint by {role}: {hint}")
            }
        }
        Event::CheckpointDecided {
            stage,
            role,
            decision,
            summary,
            ..
        } => {
            format!("  {stage} │ checkpoint {decision} by {role}: {summary}")
        }
        Event::BudgetExceeded { budget, detail, .. } => {
            format!("budget exceeded ({budget}): {detail}")
        }
        Event::RunFinished {
            run,
            status,
            duration_ms,
            reason,
        } => {
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!(
                "run {run} {status} in {:.1}s{why}",
                *duration_ms as f64 / 1000.0
            )
        }
        Event::StepOutput { line, .. } => line.clone(),
    }
}

#[cfg(test)]
mod durability_tests {
    use super::text;
    use gantry_pipeline::Event;

    #[test]
    fn a_step_that_could_not_be_recorded_is_news_and_one_that_was_is_not() {
        let recorded = |error: Option<&str>| Event::StepRecorded {
            run: "r".into(),
            stage: "ci".into(),
            step: 0,
            name: "test".into(),
            error: error.map(str::to_string),
        };
        assert_eq!(text(&recorded(None)), "");
        let line = text(&recorded(Some("No space left on device")));
        assert!(
            line.contains("✗ test") && line.contains("No space left"),
            "{line}"
        );
    }
}
