//! Notifications of pipeline runs (issue 8): `gantry run` sends its own failure and its
//! checkpoint vetoes when no `gantry serve` runs, bounded in time, over http or verified
//! https; under `gantry serve` the control plane sends them (it tails the ledger the run
//! writes from another process) and the run sends nothing, so nothing arrives twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::serve::{Serve, gantry_exits};
use serde_json::Value;

use super::BIN;
use super::receiver::{Receiver, Shape};

/// A verifier that vetoes every checkpoint it is asked to sign.
const VETO: &str = "command: 'cat > /dev/null; echo \"{\\\"decision\\\": \\\"veto\\\", \\\"summary\\\": \\\"not today\\\"}\"'";

/// A project whose pipeline `p` fails until the file `ok` exists; pipeline `gated` ends its
/// first stage in a checkpoint the verifier vetoes. `notify` is the `notify:` block.
fn project(notify: &str) -> TestProject {
    let p = TestProject::init(BIN);
    let mut yaml = gantry_test_support::pipeline::config(
        &[("verifier", VETO)],
        "
  p:
    stages:
      - { name: build, steps: [ { run: test -f ok } ] }
  gated:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: verifier }
      - { name: ship, steps: [ { run: touch shipped } ] }
",
    );
    yaml.push_str("notify:\n");
    yaml.push_str(notify);
    p.write_config(&yaml);
    p.gantry(&["check"]).ok();
    p
}

fn groups(msgs: &[Value]) -> Vec<(String, String)> {
    msgs.iter()
        .map(|m| {
            (
                m["status"].as_str().unwrap_or("?").to_string(),
                m["group"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_run_without_serve_sends_its_failure_and_its_next_success_resolves_it() {
    let hook = Receiver::start(Shape::Webhook);
    let p = project(&format!("  - webhook: {{ url: \"{}\" }}\n", hook.url()));
    let failed = p.gantry(&["run", "p"]).fails_with(1);
    // Delivered before the run exits: nothing is left to a later process.
    let got = hook.messages();
    assert_eq!(
        groups(&got),
        [("firing".into(), "pipeline p".into())],
        "{got:#?}"
    );
    assert_eq!(got[0]["title"], "pipeline p failed");
    assert_eq!(got[0]["severity"], "error");
    let failure = p.entries_of("pipeline.state.failed")[0]["body"].clone();
    assert_eq!(got[0]["text"], failure["reason"], "{:#}", got[0]);
    let run = failure["run"].clone();
    assert!(
        got[0]["fields"].to_string().contains(run.as_str().unwrap()),
        "{:#}",
        got[0]
    );
    assert!(
        failed.stderr().contains("notified webhook"),
        "{}",
        failed.stderr()
    );

    std::fs::write(p.path().join("ok"), "").unwrap();
    p.gantry(&["run", "p"]).ok();
    let got = hook.messages();
    assert_eq!(
        groups(&got),
        [
            ("firing".into(), "pipeline p".into()),
            ("resolved".into(), "pipeline p".into())
        ],
        "{got:#?}"
    );
    // A success after a success resolves nothing: there is nothing open to resolve.
    p.gantry(&["run", "p"]).ok();
    assert_eq!(hook.messages().len(), 2);
}

#[test]
fn a_vetoed_checkpoint_without_serve_is_sent_to_slack_with_the_summary() {
    let slack = Receiver::start(Shape::Slack);
    let hook = Receiver::start(Shape::Webhook);
    let p = project(
        "  - slack: { webhook_env: SLACK_URL }\n  - webhook: { url_env: HOOK_URL, min_severity: error }\n",
    );
    let run = gantry_exits(
        &p,
        &["run", "gated"],
        &[("SLACK_URL", &slack.url()), ("HOOK_URL", &hook.url())],
        120,
    );
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(!p.path().join("shipped").exists());
    let got = slack.messages();
    let text: Vec<String> = got
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_string() + &m["blocks"].to_string())
        .collect();
    assert_eq!(got.len(), 2, "{text:#?}");
    assert!(
        text.iter().any(
            |t| t.contains("checkpoint of stage build vetoed by verifier")
                && t.contains("not today")
        ),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("pipeline gated failed")),
        "{text:#?}"
    );
    // The webhook takes errors only: the failure, not the veto (a warning).
    let hooked = hook.messages();
    assert_eq!(
        groups(&hooked),
        [("firing".into(), "pipeline gated".into())],
        "{hooked:#?}"
    );
}

/// How long `gantry run p` (which fails) takes with `hook` as its only channel.
fn timed_failing_run(p: &TestProject, hook: &Receiver) -> (Duration, String) {
    let t = Instant::now();
    let run = gantry_exits(p, &["run", "p"], &[("HOOK_URL", &hook.url())], 120);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    (t.elapsed(), run.stderr())
}

#[test]
fn a_receiver_hanging_60s_holds_gantry_run_only_for_the_delivery_budget() {
    let p = project("  - webhook: { url_env: HOOK_URL, name: oncall }\n");
    let answering = Receiver::start(Shape::Webhook);
    let (normal, _) = timed_failing_run(&p, &answering);
    assert_eq!(answering.messages().len(), 1);
    let hung = Receiver::start(Shape::Webhook);
    hung.hang();
    let (held, stderr) = timed_failing_run(&p, &hung);
    eprintln!(
        "gantry run with an answering receiver: {normal:?}; with one that hangs 60 s: {held:?}"
    );
    assert!(
        stderr.contains("warning: notification channel 'oncall' not delivered"),
        "{stderr}"
    );
    // The budget is 5 s; a hang that held the run would take 60 s. Generous for a loaded
    // machine, far below the hang.
    assert!(
        held < normal + Duration::from_secs(20),
        "{held:?} vs {normal:?}"
    );
    assert!(
        held >= Duration::from_secs(4),
        "the hang was not waited for at all: {held:?}"
    );
}

/// A self-signed certificate for 127.0.0.1 and a rustls server config serving it.
pub fn tls(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let ca = dir.join("receiver-ca.pem");
    std::fs::write(&ca, made.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .unwrap();
    (ca, Arc::new(config))
}

#[test]
fn an_https_receiver_is_reached_with_its_ca_from_ssl_cert_file_and_refused_without() {
    let p = project("  - webhook: { url_env: HOOK_URL, name: secure }\n");
    let (ca, config) = tls(p.path());
    let hook = Receiver::start_tls(Shape::Webhook, config);
    assert!(hook.url().starts_with("https://127.0.0.1:"));
    // Not trusted: the certificate is verified, so nothing is delivered.
    let run = gantry_exits(&p, &["run", "p"], &[("HOOK_URL", &hook.url())], 120);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr()
            .contains("warning: notification channel 'secure' not delivered")
            && run.stderr().to_lowercase().contains("certificate"),
        "{}",
        run.stderr()
    );
    assert!(hook.messages().is_empty());
    // Trusted through OpenSSL's SSL_CERT_FILE: delivered.
    let run = gantry_exits(
        &p,
        &["run", "p"],
        &[
            ("HOOK_URL", &hook.url()),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
        120,
    );
    assert_eq!(run.code(), 1);
    let got = hook.messages();
    assert_eq!(
        groups(&got),
        [("firing".into(), "pipeline p".into())],
        "{}",
        run.stderr()
    );
}

#[test]
fn under_serve_a_run_from_another_process_is_sent_once_by_serve() {
    let hook = Receiver::start(Shape::Webhook);
    let p = project(&format!(
        "  - webhook: {{ url: \"{}\", group_wait: 0s, group_interval: 1s }}\n",
        hook.url()
    ));
    let serve = Serve::start(&p);
    let failed = p.gantry(&["run", "p"]).fails_with(1);
    assert!(!failed.stderr().contains("notified"), "{}", failed.stderr());
    let vetoed = p.gantry(&["run", "gated"]).fails_with(1);
    assert!(!vetoed.stderr().contains("notified"), "{}", vetoed.stderr());
    let gated = p.entries_of("checkpoint.vetoed")[0]["body"]["run"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while hook.messages().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "serve sent {:#?}; its log:\n{}",
            hook.messages(),
            serve.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Time for a second copy to arrive, if anything sent one.
    std::thread::sleep(Duration::from_secs(3));
    let got = hook.messages();
    let mut seen = groups(&got);
    seen.retain(|(_, g)| g != "status");
    seen.sort();
    assert_eq!(
        seen,
        [
            ("firing".to_string(), format!("checkpoint {gated} build")),
            ("firing".to_string(), "pipeline gated".to_string()),
            ("firing".to_string(), "pipeline p".to_string()),
        ],
        "{got:#?}"
    );
    drop(serve);
}
