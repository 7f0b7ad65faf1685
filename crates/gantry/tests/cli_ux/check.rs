//! `gantry check` warns, located, before a config hurts at run time; YAML errors name the
//! key they are in; a service that was never deployed says so.

use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;

use crate::{BIN, project};

const AGENTS: &str = "agents:\n  planner: { id: PlanAgent }\n  operator: { id: OperationsBoardAgent }\n  verifier: { id: ReviewAgent }\n";

#[test]
fn check_warns_where_a_release_or_a_role_will_fail() {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    p.write_config(&format!(
        "project: t\n{AGENTS}  approver: {{ id: alice, manual: true }}\nservices:\n  web:\n    listen: 127.0.0.1:{}\n    releases:\n      v1: {{ run: \"{} --port {{port}}\" }}\n      v2: {{ run: \"no-such-program-4711 --port {{port}}\" }}\n      v3: {{ run: ./bin/web }}\n      v4: {{ run: \"PORT=1 exec ./anything\" }}\n    health:\n      readiness: {{ http: /health }}\n  api:\n    listen: 127.0.0.1:{}\n    releases: {{ v1: {{ run: sh -c 'sleep 100' }} }}\npolicy: {{ default: warning }}\n",
        free_port(),
        demo.display(),
        free_port(),
    ));
    let out = p.gantry(&["check"]).ok();
    let err = out.stderr();
    let file = p.path().join("gantry.yaml").display().to_string();
    assert!(
        err.contains(&format!("warning: {file}:6:13: role 'approver' is `manual: true`, but `gantry sign --as approver` will fail")),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: {file}:12:18: release 'v2' of service 'web' will not start: `no-such-program-4711` is not on PATH")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:13:18: release 'v3' of service 'web' will not start: there is no executable file ./bin/web")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:18:5: service 'api' has neither health checks nor analysis"
        )),
        "{err}"
    );
    assert_eq!(
        err.matches("warning:").count(),
        4,
        "v1 and v4 are fine: {err}"
    );
    assert!(
        out.stdout()
            .contains("OK (4 agents, 2 services, 0 pipelines; 4 warnings)"),
        "{}",
        out.stdout()
    );
    let json = p.gantry(&["--json", "check"]).ok().json();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 4, "{json:#}");
    assert_eq!(json["warnings"][1]["line"], 12);
    assert_eq!(json["warnings"][1]["code"], "gantry::config::run_not_found");

    // Fixed: the program exists, the role has its key.
    std::fs::create_dir(p.path().join("bin")).unwrap();
    std::fs::copy(&demo, p.path().join("bin/web")).unwrap();
    p.gantry(&["agent", "keygen", "approver"]).ok();
    let err = p.gantry(&["check"]).ok().stderr();
    assert!(
        !err.contains("bin/web") && !err.contains("approver"),
        "{err}"
    );
}

#[test]
fn one_service_is_one_service() {
    let p = project();
    p.write_config(&format!(
        "project: t\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nservices:\n  web:\n    listen: 127.0.0.1:{}\n    releases: {{ v1: {{ run: sh -c 'sleep 1' }} }}\n    health: {{ readiness: {{ tcp: true }} }}\n",
        free_port()
    ));
    let out = p.gantry(&["check"]).ok();
    assert!(
        out.stdout()
            .contains("OK (1 agent, 1 service, 0 pipelines)"),
        "{}",
        out.stdout()
    );
    assert!(out.stderr().is_empty(), "{}", out.stderr());
}

#[test]
fn a_yaml_syntax_error_names_the_key_it_is_in() {
    let p = project();
    p.write_config(
        "project: t\nservices:\n  web:\n    listen: 127.0.0.1:9\n    releases:\n      v1: { run: \"x\"\n    health: foo\n",
    );
    let out = p.gantry(&["check"]).fails_with(2);
    let file = p.path().join("gantry.yaml").display().to_string();
    assert!(
        out.stderr()
            .contains(&format!("{file}:7:5: in `services.web.releases.v1`:")),
        "{}",
        out.stderr()
    );
}

#[test]
fn a_service_never_deployed_is_not_deployed() {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    p.write_config(&format!(
        "project: t\n{AGENTS}services:\n  web:\n    listen: 127.0.0.1:{}\n    releases: {{ v1: {{ run: \"{} --port {{port}}\" }} }}\n    health: {{ readiness: {{ http: /health }} }}\n",
        free_port(),
        demo.display()
    ));
    let _serve = Serve::start(&p);
    p.gantry(&["ps"])
        .ok()
        .says("not deployed (`gantry deploy web --version V`)");
    let ps = p.gantry(&["--json", "ps"]).ok().json();
    assert_eq!(ps["services"][0]["deployed"], false, "{ps:#}");
}
