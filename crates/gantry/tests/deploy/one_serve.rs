//! One control plane per project: a second `gantry serve` is refused before it reads or
//! writes anything, so it cannot run recovery against the live one's instances.

use gantry_test_support::serve::{gantry_exits, group_alive, instance_groups};

use crate::{Env, Opts};

#[test]
fn issue7_a_second_serve_exits_naming_the_first_and_leaves_the_ledger_alone() {
    let env = Env::new(Opts {
        strategy: "{ canary: { steps: [ {weight: 20} ], progress_deadline: 20s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    // A canary in progress is what a second control plane's recovery used to kill.
    env.wait_for(20, "canary waiting", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    let groups = instance_groups(env.p.path());
    assert_eq!(groups.len(), 2, "v1 and v2 instances");
    let ledger = crate::operations(&env.p.ledger_path());
    let serve_json = std::fs::read(env.p.path().join(".gantry/serve.json")).unwrap();
    let first = format!("pid {}", env.serve.pid().unwrap());

    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["serve", "--detach", "--listen", "127.0.0.1:0"][..],
        &["--json", "serve"][..],
    ] {
        gantry_exits(&env.p, args, &[], 30)
            .fails_with(4)
            .says("another `gantry serve` is running for this project")
            .says(&first)
            .says(&format!("API on {}", env.serve.url))
            .says("serve.lock");
        assert_eq!(
            crate::operations(&env.p.ledger_path()),
            ledger,
            "`gantry {}` changed the ledger",
            args.join(" ")
        );
    }
    assert_eq!(
        std::fs::read(env.p.path().join(".gantry/serve.json")).unwrap(),
        serve_json,
        "the running control plane's discovery file is untouched"
    );
    for g in &groups {
        assert!(group_alive(*g), "instance group {g} was killed");
    }

    // The first one keeps serving: the canary is still where it was, and goes on.
    let web = env.web();
    assert_eq!(web["deployment"]["waiting_for_promote"], true, "{web}");
    assert_eq!(web["weights"]["v2"], 20, "{web}");
    env.p.gantry(&["promote", "web"]).ok();
    env.wait_for(20, "v2 stable", |e| e.web()["stable"] == "v2");
    let kinds = env.kinds();
    assert!(
        !kinds
            .iter()
            .any(|k| k == "instance.adopted" || k == "instance.killed"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "control.started").count(),
        1,
        "{kinds:?}"
    );
    env.p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue7_the_lock_names_the_holder_and_a_clean_stop_lets_the_next_serve_start() {
    let mut env = Env::new(Opts::default());
    let lock = std::fs::read_to_string(env.p.path().join(".gantry/serve.lock")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&lock).unwrap();
    assert_eq!(v["pid"], env.serve.pid().unwrap(), "{lock}");
    assert_eq!(v["api"], env.serve.url.as_str(), "{lock}");
    env.serve.stop();
    // The lock file stays (removing it would let two holders race); the lock does not.
    assert!(env.p.path().join(".gantry/serve.lock").exists());
    env.serve.restart(&env.p);
    env.deploy_v1();
}
