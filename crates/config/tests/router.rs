//! Issue 9: a service's `router:` settings — nginx-like defaults, values read as written,
//! and located errors for values the router cannot use.

mod support;

use std::time::Duration;

use gantry_config::check;
use support::{BASE, ok};

fn with_router(router: &str) -> String {
    BASE.replace(
        "    listen: 127.0.0.1:8080\n",
        &format!("    listen: 127.0.0.1:8080\n    router: {router}\n"),
    )
}

#[test]
fn defaults_are_nginx_like() {
    let c = ok(BASE);
    let r = &c.services["web"].router;
    assert_eq!(r.response_header_timeout.as_std(), Duration::from_secs(60));
    assert_eq!(r.client_body_timeout.as_std(), Duration::from_secs(60));
    assert_eq!(r.keepalive_timeout.as_std(), Duration::from_secs(75));
    assert_eq!(*r.max_connections, 4096);
    assert_eq!(*r.backend_connections, 256);
    assert_eq!(r.queue_timeout.as_std(), Duration::from_secs(60));
}

#[test]
fn values_are_read_as_written() {
    let c = ok(&with_router(
        "{ response_header_timeout: 2s, client_body_timeout: 500ms, max_connections: 10 }",
    ));
    let r = &c.services["web"].router;
    assert_eq!(r.response_header_timeout.as_std(), Duration::from_secs(2));
    assert_eq!(r.client_body_timeout.as_std(), Duration::from_millis(500));
    assert_eq!(*r.max_connections, 10);
    assert_eq!(r.connect_timeout.as_std(), Duration::from_secs(60));
}

#[test]
fn issue9_a_zero_timeout_is_refused_where_it_is_written() {
    let errors = check(
        "gantry.yaml",
        &with_router("{ client_body_timeout: 0s, max_connections: 0 }"),
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{text:#?}");
    assert!(
        text[0].starts_with(
            "gantry.yaml:8:36: service 'web': `router.client_body_timeout` must be longer than 0"
        ),
        "{}",
        text[0]
    );
    assert!(
        text[1].starts_with(
            "gantry.yaml:8:57: service 'web': `router.max_connections` must be at least 1"
        ),
        "{}",
        text[1]
    );
}

#[test]
fn issue9_an_unknown_router_key_is_refused_with_the_known_ones() {
    let errors = check("gantry.yaml", &with_router("{ upstream_timeout: 5s }")).unwrap_err();
    let text = errors[0].to_string();
    assert!(text.contains("gantry.yaml:8:"), "{text}");
    assert!(text.contains("unknown field"), "{text}");
    assert!(text.contains("response_header_timeout"), "{text}");
}

#[test]
fn issue9_draining_defaults_and_values() {
    let r = ok(BASE).services["web"].router.clone();
    assert_eq!(r.drain_timeout.as_std(), Duration::from_secs(30));
    assert_eq!(r.stop_grace.as_std(), Duration::from_secs(10));
    let c = ok(&with_router("{ drain_timeout: 60s, stop_grace: 0s }"));
    let r = &c.services["web"].router;
    assert_eq!(r.drain_timeout.as_std(), Duration::from_secs(60));
    assert_eq!(r.stop_grace.as_std(), Duration::ZERO, "0: SIGKILL at once");
    let errors = check("gantry.yaml", &with_router("{ drain_timeout: 0s }")).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.starts_with(
            "gantry.yaml:8:30: service 'web': `router.drain_timeout` must be longer than 0"
        ),
        "{text}"
    );
}

#[test]
fn issue9_header_settings_are_read_and_bad_ones_located() {
    let c = ok(&with_router(
        "{ trusted_proxies: [10.0.0.0/8, \"::1\"], forwarded: true, max_request_headers: 20 }",
    ));
    let r = &c.services["web"].router;
    let nets: Vec<String> = r
        .trusted_proxy_nets()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
    assert!(r.forwarded);
    assert_eq!(*r.max_request_headers, 20);
    assert_eq!(*r.max_request_header_bytes, 32 * 1024);
    let errors = check(
        "gantry.yaml",
        &with_router("{ trusted_proxies: [10.0.0.0/33], max_request_header_bytes: 100 }"),
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{text:#?}");
    assert!(
        text.iter().any(|t| t.starts_with(
            "gantry.yaml:8:33: service 'web': `router.trusted_proxies`: `10.0.0.0/33` is not a CIDR"
        )),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("`router.max_request_header_bytes` must be at least 8192")),
        "{text:#?}"
    );
}
