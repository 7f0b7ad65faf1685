//! Issue 9: `router: { upstream, grpc_error_codes }` — read as written, nginx-free
//! defaults, and located errors for what the router cannot use.

mod support;

use gantry_config::{UpstreamProtocol, check};
use support::{BASE, ok};

fn with_router(router: &str) -> String {
    BASE.replace(
        "    listen: 127.0.0.1:8080\n",
        &format!("    listen: 127.0.0.1:8080\n    router: {router}\n"),
    )
}

#[test]
fn upstream_defaults_to_http1_and_grpc_codes_to_server_failures() {
    let c = ok(BASE);
    let r = &c.services["web"].router;
    assert_eq!(*r.upstream, UpstreamProtocol::Http1);
    assert_eq!(r.grpc_error_code_numbers(), vec![2, 4, 12, 13, 14, 15]);
}

#[test]
fn h2c_and_codes_are_read_as_written() {
    let c = ok(&with_router(
        "{ upstream: h2c, grpc_error_codes: [UNAVAILABLE, RESOURCE_EXHAUSTED] }",
    ));
    let r = &c.services["web"].router;
    assert_eq!(*r.upstream, UpstreamProtocol::H2c);
    assert_eq!(r.grpc_error_code_numbers(), vec![14, 8]);
}

#[test]
fn issue9_an_unknown_grpc_status_is_refused_where_it_is_written() {
    let errors = check(
        "gantry.yaml",
        &with_router("{ grpc_error_codes: [UNAVAILABLE, BROKEN] }"),
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{text:#?}");
    assert!(
        text[0].starts_with(
            "gantry.yaml:8:47: service 'web': `router.grpc_error_codes` has 'BROKEN', which is not a gRPC status"
        ),
        "{}",
        text[0]
    );
}

#[test]
fn issue9_an_unknown_upstream_protocol_is_refused_with_its_place() {
    let errors = check("gantry.yaml", &with_router("{ upstream: h3 }")).unwrap_err();
    let text = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("gantry.yaml:8:") && text.contains("h3"),
        "{text}"
    );
}

#[test]
fn tls_files_are_read_as_written_and_an_empty_path_is_refused_where_it_is() {
    let c = ok(&with_router(
        "{ tls: { cert: tls/cert.pem, key: tls/key.pem } }",
    ));
    let tls = c.services["web"].router.tls.clone().expect("tls");
    assert_eq!(
        (tls.cert.as_str(), tls.key.as_str()),
        ("tls/cert.pem", "tls/key.pem")
    );

    let errors = check(
        "gantry.yaml",
        &with_router("{ tls: { cert: tls/cert.pem, key: '' } }"),
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{text:#?}");
    assert!(
        text[0]
            .starts_with("gantry.yaml:8:47: service 'web': `router.tls.key` must name a PEM file"),
        "{}",
        text[0]
    );
    // A key the router does not have is refused with the keys it has.
    let errors = check(
        "gantry.yaml",
        &with_router("{ tls: { cert: a, key: b, ca: c } }"),
    )
    .unwrap_err();
    assert!(
        errors.iter().any(|e| e.to_string().contains("ca")),
        "{errors:?}"
    );
}
