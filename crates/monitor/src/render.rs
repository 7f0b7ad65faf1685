//! The status report in Markdown: for people, for a GitHub issue body, and for agents that
//! read it (commands in code blocks, one per line, ready to paste).

use std::fmt::Write as _;

use crate::report::Report;
use crate::status::Level;

fn icon(level: Level) -> &'static str {
    match level {
        Level::Operational => "🟢",
        Level::Degraded => "🟡",
        Level::Critical => "🔴",
    }
}

fn duration(ms: Option<u64>) -> String {
    ms.map_or("-".into(), |ms| {
        gantry_config::Duration::from_millis(ms).to_string()
    })
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// Table cells must not break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
#[must_use]
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {} status: {} {}", r.project, icon(r.status), r.status);
    let _ = writeln!(s);
    let _ = writeln!(s, "- **Last updated:** {}", r.updated);
    let _ = writeln!(s, "- **Triggered by:** {}", r.trigger);
    if let Some(git) = &r.git {
        let _ = writeln!(
            s,
            "- **Git:** {} @ `{}`",
            git.branch.as_deref().unwrap_or("(detached)"),
            git.commit
        );
    }
    if let Some(run) = &r.run {
        let _ = writeln!(
            s,
            "- **Last run:** {} `{}` {} ({})",
            run.pipeline, run.id, run.status, run.link
        );
    }
    let _ = writeln!(
        s,
        "- **Ledger:** {} entries{}",
        r.ledger.entries,
        match (r.ledger.verified, &r.ledger.problem) {
            (_, Some(p)) => format!(", PROBLEM: {p}"),
            (Some(true), None) => ", verified".into(),
            _ => String::new(),
        }
    );
    if !r.reasons.is_empty() {
        let _ = writeln!(s, "\n## Why {}\n", r.status);
        for reason in &r.reasons {
            let _ = writeln!(
                s,
                "- {} **{}**: {}",
                icon(reason.level),
                reason.subject,
                reason.text
            );
        }
    }
    if let Some(run) = &r.run {
        let _ = writeln!(s, "\n## Last pipeline run: {} `{}`\n", run.pipeline, run.id);
        let _ = writeln!(s, "| stage | status | duration | checkpoint |");
        let _ = writeln!(s, "|---|---|---|---|");
        for job in &run.jobs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(&job.stage),
                job.status,
                duration(job.duration_ms),
                cell(job.checkpoint.as_deref().unwrap_or("-"))
            );
        }
    }
    let _ = writeln!(s, "\n## System health\n");
    if r.services.is_empty() && r.targets.is_empty() {
        let _ = writeln!(
            s,
            "Nothing is monitored: no `services:` and no `monitor.targets`."
        );
    }
    if !r.services.is_empty() {
        let _ = writeln!(
            s,
            "| service | address | status | versions (traffic) | ready/desired | p99 | error rate | last check | reason |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for svc in &r.services {
            let traffic = if svc.traffic.is_empty() {
                svc.stable
                    .clone()
                    .map_or("none".into(), |v| format!("{v} (no traffic)"))
            } else {
                svc.traffic
                    .iter()
                    .map(|(v, p)| format!("{v} {p}%"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} {} | {} | {}/{} | {} | {} | {} | {} |",
                cell(&svc.name),
                svc.address,
                icon(svc.status),
                svc.status,
                cell(&traffic),
                opt(svc.ready),
                svc.desired,
                svc.latency_p99_ms
                    .map_or("-".into(), |v| format!("{v:.1} ms")),
                svc.error_rate
                    .map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                opt(svc.last_check.as_deref()),
                cell(svc.reason.as_deref().unwrap_or("-"))
            );
        }
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| target | check | state | latency | last check | reason |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for t in &r.targets {
            let _ = writeln!(
                s,
                "| {} | {} `{}` | {} | {} | {} | {} |",
                cell(&t.name),
                t.kind,
                cell(&t.address),
                t.state,
                t.latency_ms.map_or("-".into(), |v| format!("{v:.1} ms")),
                opt(t.last_check.as_deref()),
                cell(t.reason.as_deref().unwrap_or("-"))
            );
        }
    }
    alerts(&mut s, r);
    notifications(&mut s, r);
    if !r.budgets.is_empty() {
        let _ = writeln!(s, "\n## Agent budgets\n");
        for b in &r.budgets {
            let spent = if b.used >= b.limit { " (spent)" } else { "" };
            let _ = writeln!(s, "- {}{spent}", b.text);
        }
    }
    let _ = writeln!(s, "\n## Commands\n");
    let _ = writeln!(s, "Run from the project directory:\n");
    for c in &r.commands {
        let _ = writeln!(s, "- {}:\n  ```sh\n  {}\n  ```", c.what, c.command);
    }
    let c = &r.configuration;
    let _ = writeln!(s, "\n## Configuration\n");
    let _ = writeln!(s, "- **Schedule:** {}", c.schedule);
    let _ = writeln!(
        s,
        "- **Notification channels:** {}",
        if c.channels.is_empty() {
            "none".into()
        } else {
            c.channels.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "- **Labels:** {}",
        if c.labels.is_empty() {
            "none".into()
        } else {
            c.labels.join(", ")
        }
    );
    let _ = writeln!(s, "- **Emergency procedure:** {}", c.emergency);
    s
}

fn alerts(s: &mut String, r: &Report) {
    let _ = writeln!(s, "\n## Alerts\n");
    if r.alerts.is_empty() {
        let _ = writeln!(s, "No alert rules (`alerts:`).");
        return;
    }
    let _ = writeln!(
        s,
        "| alert | severity | state | since | condition | detail | runbook |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for a in &r.alerts {
        let state = if a.state == "firing" {
            format!("🔥 {}", a.state)
        } else {
            a.state.clone()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | `{}` | {} | {} |",
            cell(&a.name),
            a.severity,
            state,
            opt(a.since.as_deref()),
            cell(&a.condition),
            cell(a.detail.as_deref().unwrap_or("-")),
            cell(a.runbook.as_deref().unwrap_or("-"))
        );
    }
}

fn notifications(s: &mut String, r: &Report) {
    let _ = writeln!(s, "\n## Notification channels\n");
    if r.notifications.is_empty() {
        let _ = writeln!(s, "No notification channels (`notify:`).");
        return;
    }
    let _ = writeln!(
        s,
        "| channel | kind | minimum | last delivery | at | sent | failed | dropped | failing |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for c in &r.notifications {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&c.name),
            c.kind,
            c.min_severity,
            c.last,
            opt(c.last_at.as_deref()),
            c.sent,
            c.failed,
            c.dropped,
            cell(c.failing.as_deref().unwrap_or("-"))
        );
    }
}
