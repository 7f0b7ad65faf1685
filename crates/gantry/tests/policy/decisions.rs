//! The decision log: the gate's vetoes, `gantry veto`/`approve`/`decisions`, and a
//! deploy refused while a blocking veto stands.

use crate::plan::HAND_WRITTEN_WITHOUT_HEALTH_CHECKS;
use crate::{COMPLETE, project_with};

#[test]
fn the_gates_veto_of_a_hand_written_plan_is_in_the_decision_log() {
    let p = project_with(COMPLETE);
    std::fs::write(
        p.path().join("plan.json"),
        HAND_WRITTEN_WITHOUT_HEALTH_CHECKS,
    )
    .unwrap();
    p.gantry(&["policy", "check", "--plan", "plan.json"])
        .fails_with(1)
        .says("recorded: decision.veto of plan plan.json by verifier");
    let log = p
        .gantry(&["decisions", "--json", "--service", "web"])
        .ok()
        .json();
    let veto = &log[0];
    assert_eq!(veto["decision"], "veto", "{log}");
    assert_eq!(veto["from"], "verifier");
    assert_eq!(veto["agent"], "ReviewAgent");
    assert_eq!(veto["subject"], "plan plan.json");
    assert_eq!(
        veto["violation"],
        "readinessProbeMissing, livenessProbeMissing"
    );
    assert_eq!(veto["blocking"], true);
    let specifics = veto["specifics"].as_array().unwrap();
    assert_eq!(specifics.len(), 2);
    assert!(
        specifics[0]
            .as_str()
            .unwrap()
            .starts_with("plan.json#/health_checks/readiness: danger readinessProbeMissing")
    );
    for field in ["to", "impact", "requirement", "action_needed"] {
        assert!(
            !veto[field].as_str().unwrap().is_empty(),
            "{field} empty in {veto}"
        );
    }
    p.gantry(&["ledger", "verify"]).ok();
    p.gantry(&["decisions"]).ok().says("blocking");
}

#[test]
fn a_blocking_veto_refuses_deploys_until_an_approving_role_clears_it() {
    let p = project_with(COMPLETE);
    p.gantry(&[
        "veto",
        "web",
        "--as",
        "planner",
        "--violation",
        "stagingMissing",
        "--specifics",
        "v2 never ran in staging",
        "--impact",
        "untested code in production",
    ])
    .ok();
    // Refused before the CLI looks for a control plane (there is none: that would be 5).
    p.gantry(&["deploy", "web", "--version", "v2"])
        .fails_with(4)
        .says("service 'web' has 1 blocking veto(es)")
        .says("by planner: stagingMissing");
    p.gantry(&["approve", "web", "--as", "planner"])
        .fails_with(7)
        .says("role 'planner' may not approve");
    let approve = p
        .gantry(&[
            "--json",
            "approve",
            "web",
            "--as",
            "verifier",
            "--summary",
            "staged by hand",
        ])
        .ok()
        .json();
    assert_eq!(approve["cleared"].as_array().unwrap().len(), 1, "{approve}");
    // Past the veto: now the missing control plane is what stops it.
    p.gantry(&["deploy", "web", "--version", "v2"])
        .fails_with(5);
    let log = p.gantry(&["decisions", "--json"]).ok().json();
    assert_eq!(log[0]["cleared_by"], log[1]["seq"], "{log}");
}

#[test]
fn the_gate_vetoes_each_unready_service_of_the_config() {
    let text = COMPLETE.replace("    resources: { cpu: 500m, memory: 256Mi }\n", "");
    let p = project_with(&text);
    let run = p.gantry(&["--json", "policy", "check"]).fails_with(1);
    assert_eq!(run.json()["decisions"].as_array().unwrap().len(), 1);
    let log = p.gantry(&["decisions", "--json"]).ok().json();
    assert_eq!(
        log[0]["violation"], "cpuLimitsMissing, memoryLimitsMissing",
        "{log}"
    );
    assert_eq!(log[0]["subject"], "service web");
    // `gantry check` judges but records nothing.
    p.gantry(&["check"]).fails_with(1);
    assert_eq!(
        p.gantry(&["decisions", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
