//! The request bodies, one builder per service kind, in the shapes their documentation
//! gives: Slack incoming webhooks take `text` (the fallback shown in notifications) and
//! `blocks` (header, section with fields, context); Discord webhooks take `content` and
//! `embeds` (title, description, color, fields, timestamp, footer); the generic webhook
//! gets gantry's own JSON.
//!
//! Limits are the services' own: Slack header text 150 characters, section text 3 000,
//! at most 10 fields of 2 000; Discord content 2 000, embed title 256, description 4 096,
//! at most 25 fields, names 256 and values 1 024.

use serde_json::{Value, json};

use super::group::{Notification, State};
use gantry_config::NotifySeverity as Severity;

/// Cuts `text` to at most `max` characters, marking the cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `[FIRING] web: automatic rollback from v2 to v1` and the like.
#[must_use]
pub fn headline(n: &Notification) -> String {
    let tag = match (n.state, n.repeat) {
        (State::Resolved, _) => "RESOLVED".to_string(),
        (State::Firing, true) => format!("{} (still)", n.alert.severity.as_str().to_uppercase()),
        (State::Firing, false) => n.alert.severity.as_str().to_uppercase(),
    };
    format!("[{tag}] {}", n.alert.title)
}

fn body_text(n: &Notification) -> String {
    match (&n.state, &n.resolution) {
        (State::Resolved, Some(r)) => format!("{r}\n(was: {})", n.alert.text),
        _ => n.alert.text.clone(),
    }
}

fn emoji(n: &Notification) -> &'static str {
    match (n.state, n.alert.severity) {
        (State::Resolved, _) => ":white_check_mark:",
        (_, Severity::Error) => ":red_circle:",
        (_, Severity::Warn) => ":warning:",
        (_, Severity::Info) => ":information_source:",
    }
}

/// Slack incoming webhook body.
#[must_use]
pub fn slack(project: &str, n: &Notification, at: &str) -> Value {
    let text = format!("{} {}: {}", emoji(n), headline(n), body_text(n));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&headline(n), 150), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&body_text(n), 3000)}}),
    ];
    if !n.alert.fields.is_empty() {
        let fields: Vec<Value> = n
            .alert
            .fields
            .iter()
            .take(10)
            .map(|(k, v)| json!({"type": "mrkdwn", "text": cut(&format!("*{k}*\n{v}"), 2000)}))
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": cut(&format!("gantry · {project} · {} · {at}", n.alert.key), 3000)}
    ]}));
    json!({"text": cut(&text, 3000), "blocks": blocks})
}

/// Discord webhook body.
#[must_use]
pub fn discord(project: &str, n: &Notification, at: &str) -> Value {
    let color = match (n.state, n.alert.severity) {
        (State::Resolved, _) => 0x2e_cc71,
        (_, Severity::Error) => 0xe7_4c3c,
        (_, Severity::Warn) => 0xf1_c40f,
        (_, Severity::Info) => 0x34_98db,
    };
    let fields: Vec<Value> = n
        .alert
        .fields
        .iter()
        .take(25)
        .map(|(k, v)| json!({"name": cut(k, 256), "value": cut(v, 1024), "inline": true}))
        .collect();
    json!({
        "content": cut(&headline(n), 2000),
        "embeds": [{
            "title": cut(&n.alert.title, 256),
            "description": cut(&body_text(n), 4096),
            "color": color,
            "fields": fields,
            "timestamp": at,
            "footer": {"text": cut(&format!("gantry · {project} · {}", n.alert.key), 2048)},
        }],
    })
}

/// The generic webhook's body: every fact, for machines.
#[must_use]
pub fn webhook(project: &str, n: &Notification, at: &str) -> Value {
    let fields: serde_json::Map<String, Value> = n
        .alert
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "version": "1",
        "source": "gantry",
        "project": project,
        "status": n.state.as_str(),
        "severity": n.alert.severity.as_str(),
        "group": n.alert.key,
        "title": n.alert.title,
        "text": n.alert.text,
        "resolution": n.resolution,
        "repeat": n.repeat,
        "fields": fields,
        "at": at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::group::Alert;

    fn rollback() -> Notification {
        Notification {
            state: State::Firing,
            alert: Alert {
                key: "deploy web".into(),
                severity: Severity::Error,
                title: "web: automatic rollback from v2 to v1".into(),
                text: "analysis failed: error rate 50.0% > 5%".into(),
                fields: vec![
                    ("error rate".into(), "50.0%".into()),
                    ("p99".into(), "12 ms".into()),
                ],
                once: false,
            },
            resolution: None,
            repeat: false,
            events: 2,
        }
    }

    #[test]
    fn slack_has_text_and_blocks() {
        let v = slack("shop", &rollback(), "2026-12-02T03:00:00Z");
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("[ERROR] web: automatic rollback")
        );
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert_eq!(blocks[2]["fields"][0]["text"], "*error rate*\n50.0%");
        assert_eq!(blocks[3]["type"], "context");
    }

    #[test]
    fn discord_has_content_and_an_embed_within_limits() {
        let mut n = rollback();
        n.alert.title = "x".repeat(300);
        let v = discord("shop", &n, "2026-12-02T03:00:00Z");
        let e = &v["embeds"][0];
        assert_eq!(e["title"].as_str().unwrap().chars().count(), 256);
        assert_eq!(e["color"], 0xe7_4c3c);
        assert_eq!(e["fields"][0]["name"], "error rate");
        assert_eq!(e["timestamp"], "2026-12-02T03:00:00Z");
        assert!(v["content"].as_str().unwrap().starts_with("[ERROR] "));
    }

    #[test]
    fn a_resolved_message_says_what_ended_it() {
        let mut n = rollback();
        n.state = State::Resolved;
        n.resolution = Some("web: v3 deployed".into());
        let v = webhook("shop", &n, "t");
        assert_eq!(v["status"], "resolved");
        assert_eq!(v["resolution"], "web: v3 deployed");
        assert!(headline(&n).starts_with("[RESOLVED] "));
        assert_eq!(v["fields"]["error rate"], "50.0%");
    }
}
