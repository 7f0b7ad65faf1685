//! `scaling:`: a CPU-burning load scales the service up, idle brings it back to `min`,
//! each step a `scale.changed` entry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gantry_test_support::serve::Serve;

use super::{get, instances, of_kind, project, wait_for};

const SCALING: &str = "    resources: { cpu: 200m }
    scaling: { min: 1, max: 3, target_cpu: 50%, period: 1s, stabilization: 4s }";

#[test]
fn cpu_load_scales_up_and_idle_scales_back_to_min() {
    let (p, port) = project(SCALING);
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    assert_eq!(instances(&p).len(), 1);

    // One request after another, each keeping an instance's core busy for 200 ms: far
    // above 50% of a 200m limit however the machine's cores are shared.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut failed = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if get(addr, "/burn/200") != Some(200) {
                    failed += 1;
                }
            }
            failed
        })
    };
    wait_for(&p, &serve, 120, "a scale-up to 3 ready instances", || {
        let i = instances(&p);
        i.len() == 3 && i.iter().all(|i| i["ready"] == true)
    });
    let up = of_kind(&p, "scale.changed");
    let first = &up[0]["body"];
    assert_eq!(first["service"], "web");
    assert_eq!(first["version"], "v1");
    assert_eq!(first["from"], 1);
    assert!(first["to"].as_u64().unwrap() > 1, "{first}");
    assert!(first["cpu_percent"].as_f64().unwrap() > 50.0, "{first}");
    assert_eq!(first["target_cpu_percent"], 50.0);

    stop.store(true, Ordering::Relaxed);
    let failed = load.join().unwrap();
    // Scaling up never cost a request.
    assert_eq!(failed, 0, "requests failed while scaling up");

    wait_for(&p, &serve, 120, "idle back to min (1 instance)", || {
        instances(&p).len() == 1
    });
    let steps = of_kind(&p, "scale.changed");
    for s in &steps {
        println!("scale.changed {}", s["body"]);
    }
    let last = &steps.last().unwrap()["body"];
    assert_eq!(last["to"], 1, "{steps:#?}");
    assert!(last["cpu_percent"].as_f64().unwrap() < 50.0, "{last}");
    // Every step is a change between min and max, and they chain.
    for pair in steps.windows(2) {
        assert_eq!(pair[0]["body"]["to"], pair[1]["body"]["from"], "{steps:#?}");
    }
    for s in &steps {
        let (from, to) = (
            s["body"]["from"].as_u64().unwrap(),
            s["body"]["to"].as_u64().unwrap(),
        );
        assert!(from != to && (1..=3).contains(&to), "{s}");
    }
    // The remaining instance still serves.
    assert_eq!(get(addr, "/"), Some(200));
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn scaling_needs_a_cpu_limit_and_a_sane_range() {
    let (p, _) = project("    scaling: { min: 2, max: 1, target_cpu: 70% }");
    let err = p.gantry(&["check"]).fails_with(2).stderr();
    assert!(err.contains("below `scaling.min`"), "{err}");
    assert!(err.contains("share of the CPU limit"), "{err}");
    assert!(err.contains("outside `scaling`"), "{err}");
    let (p, _) =
        project("    resources: { cpu: 100m }\n    scaling: { min: 1, max: 2, target_cpu: 70 }");
    let err = p.gantry(&["check"]).fails_with(2).stderr();
    assert!(err.contains("percentage"), "{err}");
}
