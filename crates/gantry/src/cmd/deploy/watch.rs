//! Watching a rollout. On a terminal `gantry ps --watch` and `gantry deploy --wait` redraw
//! one view in place (indicatif): the plan's steps with the current one marked, weights the
//! deployment set against the router's table, the time left in a pause, the last analysis
//! window's figures and verdict against the thresholds, the instances and their health.
//! Without a terminal, or with `--json`, `ps --watch` prints one event per line, following
//! `GET /v1/events`.

use std::time::Duration;

use gantry_config::{Analysis, Config};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::Client;
use crate::output;

/// A view redrawn in place on stdout.
pub struct Live {
    bar: ProgressBar,
}

impl Live {
    pub fn new() -> Live {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Live { bar }
    }

    pub fn show(&self, view: String) {
        self.bar.set_message(view);
    }

    /// A line printed once, above the view.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    /// Leaves the last view on the screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// The analysis rules of `service` from gantry.yaml, to show the thresholds.
pub fn rules<'a>(config: Option<&'a Config>, service: &str) -> Option<&'a Analysis> {
    config?.services.get(service)?.analysis.as_ref()
}

/// The view of one service from `/v1/ps`.
pub fn render(svc: &Value, rules: Option<&Analysis>) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "{} on {}  stable: {}",
        svc["name"].as_str().unwrap_or_default(),
        svc["listen"].as_str().unwrap_or("-"),
        svc["stable"].as_str().unwrap_or("none")
    ));
    if let Some(d) = svc["deployment"].as_object() {
        out.push(format!(
            "deployment {}: {} → {} ({}) {}",
            d["id"].as_str().unwrap_or_default(),
            d["from"].as_str().unwrap_or("nothing"),
            d["to"].as_str().unwrap_or_default(),
            d["strategy"].as_str().unwrap_or_default().replace('_', "-"),
            d["phase"].as_str().unwrap_or_default().replace('_', " ")
        ));
        if let Some(waiting) = crate::cmd::approval::waiting(&svc["deployment"]) {
            out.push(format!("  {waiting}"));
        }
        let at = d["step"].as_u64().unwrap_or(0) as usize;
        for (i, s) in d["plan_steps"].as_array().into_iter().flatten().enumerate() {
            let mark = match (i + 1).cmp(&at) {
                std::cmp::Ordering::Less => "✓",
                std::cmp::Ordering::Equal => "▶",
                std::cmp::Ordering::Greater => " ",
            };
            out.push(format!(
                "  {mark} {}. {}",
                i + 1,
                s.as_str().unwrap_or_default()
            ));
        }
        out.push(format!(
            "  weights: desired {} · router {}",
            weights(&d["weights"]),
            weights(&svc["weights"])
        ));
        if let Some(p) = d["pause"].as_object() {
            let held = p["held_ms"].as_u64().unwrap_or(0);
            out.push(match p["millis"].as_u64() {
                Some(ms) => format!(
                    "  pause: {:.1}s of {:.1}s held, {:.1}s left",
                    secs(held),
                    secs(ms),
                    secs(ms.saturating_sub(held))
                ),
                None => format!("  pause: {:.1}s held, until `gantry promote`", secs(held)),
            });
        }
        if let Some(a) = d["analysis"].as_object() {
            out.push(format!("  analysis: {}", window(a, rules)));
        }
        if d["phase"] == "paused"
            && let Some(why) = d["reason"].as_str()
        {
            out.push(format!("  paused: {why}"));
        }
    }
    for i in svc["instances"].as_array().into_iter().flatten() {
        let phase = i["phase"].as_str().unwrap_or_default();
        let health = match (phase, i["ready"] == true) {
            ("ready", _) => "ready".to_string(),
            (p, true) => format!("{p}, ready"),
            (p, false) => format!("{p}, not ready"),
        };
        out.push(format!(
            "  instance {} {} {health}, restarts {}",
            i["instance"].as_str().unwrap_or_default(),
            i["version"].as_str().unwrap_or_default(),
            i["restarts"]
        ));
    }
    out.join("\n")
}

/// The one-line summary of a running deployment: step, weights, last verdict.
pub fn summary(d: &Value) -> String {
    if let Some(waiting) = crate::cmd::approval::waiting(d) {
        return waiting;
    }
    let verdict = d["analysis"]["verdict"]["verdict"]
        .as_str()
        .map_or(String::new(), |v| format!(", last window {v}"));
    format!(
        "step {}/{}: {}, weights {}{verdict}",
        d["step"],
        d["steps"],
        d["current"].as_str().unwrap_or_default(),
        weights(&d["weights"])
    )
}

fn window(a: &serde_json::Map<String, Value>, rules: Option<&Analysis>) -> String {
    let f = &a["figures"];
    let (err, p99, min) = match rules {
        Some(r) => (
            r.error_rate
                .as_ref()
                .map_or(String::new(), |t| format!(" ({t})")),
            r.latency_p99
                .as_ref()
                .map_or(String::new(), |t| format!(" ({t})")),
            format!(" (min {})", r.min_requests),
        ),
        None => Default::default(),
    };
    let verdict = &a["verdict"];
    let said = match verdict["verdict"].as_str().unwrap_or_default() {
        "inconclusive" => format!(
            "inconclusive: {}",
            verdict["reason"].as_str().unwrap_or_default()
        ),
        "fail" => format!(
            "FAIL: {}",
            verdict["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.to_string(),
    };
    format!(
        "{} requests{min}, error rate {:.2}%{err}, p99 {:.0}ms{p99} → {said}; failing windows {}/{}",
        f["requests"],
        f["error_rate"].as_f64().unwrap_or(0.0) * 100.0,
        f["p99_ms"].as_f64().unwrap_or(0.0),
        a["failures"],
        a["failure_limit"]
    )
}

fn weights(w: &Value) -> String {
    let parts: Vec<String> = w
        .as_object()
        .map(|m| m.iter().map(|(v, w)| format!("{v}={w}")).collect())
        .unwrap_or_default();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// `gantry ps --watch` on a terminal: redraws every service until Ctrl-C.
pub fn ps_live(client: &Client, config: Option<&Config>) -> anyhow::Result<()> {
    let live = Live::new();
    loop {
        let ps = client.get("/v1/ps")?;
        let views: Vec<String> = ps["services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| render(s, rules(config, s["name"].as_str().unwrap_or_default())))
            .collect();
        live.show(format!(
            "status: {}\n{}",
            ps["status"].as_str().unwrap_or_default(),
            views.join("\n\n")
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `gantry ps --watch` elsewhere: one line per ledger event as it is committed (the entry
/// itself with `--json`), until Ctrl-C or the control plane ends the stream.
pub fn ps_events(client: &Client, json: bool) -> anyhow::Result<()> {
    client.follow_events("/v1/events", |entry| {
        if json {
            output::print(&format!("{entry}\n"));
        } else {
            output::print(&format!(
                "{}  {}  {}  {}\n",
                output::short_ts(entry["ts"].as_str().unwrap_or_default()),
                entry["kind"].as_str().unwrap_or_default(),
                entry["actor"]["role"].as_str().unwrap_or_default(),
                entry["body"]
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_view_marks_the_current_step_and_shows_the_window_against_thresholds() {
        let svc = json!({
            "name": "web", "listen": "127.0.0.1:8080", "stable": "v1",
            "weights": {"v1": 50, "v2": 50},
            "deployment": {
                "id": "d-2", "from": "v1", "to": "v2", "strategy": "canary", "phase": "paused",
                "step": 2, "steps": 3, "current": "pause 1500ms under analysis",
                "plan_steps": ["start 1 instance(s) of v2", "pause 1500ms under analysis", "promote v2"],
                "weights": {"v1": 50, "v2": 50},
                "reason": "waiting for traffic: 3 of 20 requests in the last window",
                "pause": {"millis": 1500, "held_ms": 500, "analyse": true, "windows": 1, "passed": 0},
                "analysis": {"figures": {"requests": 3, "error_rate": 0.0, "p99_ms": 4.0},
                    "verdict": {"verdict": "inconclusive", "reason": "3 requests"},
                    "failures": 0, "failure_limit": 1}
            },
            "instances": [{"instance": "web-v2-1", "version": "v2", "phase": "running", "ready": true, "restarts": 0}]
        });
        let rules: Analysis =
            serde_json::from_value(json!({"error_rate": "< 5%", "min_requests": 20})).unwrap();
        let view = render(&svc, Some(&rules));
        assert!(view.contains("  ✓ 1. start"), "{view}");
        assert!(view.contains("  ▶ 2. pause 1500ms"), "{view}");
        assert!(view.contains("    3. promote v2"), "{view}");
        assert!(
            view.contains("pause: 0.5s of 1.5s held, 1.0s left"),
            "{view}"
        );
        assert!(
            view.contains("3 requests (min 20), error rate 0.00% (< 5%)"),
            "{view}"
        );
        assert!(view.contains("paused: waiting for traffic"), "{view}");
        assert!(
            view.contains("instance web-v2-1 v2 running, ready, restarts 0"),
            "{view}"
        );
        assert_eq!(
            summary(&svc["deployment"]),
            "step 2/3: pause 1500ms under analysis, weights v1=50 v2=50, last window inconclusive"
        );
    }
}
