//! Checks of a service's `router:` settings.

use super::Problems;
use crate::GRPC_STATUS_NAMES;
use crate::RouterSettings;

pub(super) fn check_router(service: &str, router: &RouterSettings, p: &mut Problems<'_>) {
    for (key, timeout) in router.timeouts() {
        if timeout.is_zero() {
            p.add(
                timeout.pos,
                "gantry::config::router",
                "zero",
                format!("service '{service}': `router.{key}` must be longer than 0"),
            );
        }
    }
    for (key, count) in [
        ("max_connections", &router.max_connections),
        ("backend_connections", &router.backend_connections),
        ("max_request_headers", &router.max_request_headers),
    ] {
        if **count == 0 {
            p.add(
                count.pos,
                "gantry::config::router",
                "zero",
                format!("service '{service}': `router.{key}` must be at least 1"),
            );
        }
    }
    if *router.max_request_header_bytes < 8192 {
        p.add(
            router.max_request_header_bytes.pos,
            "gantry::config::router",
            "too small",
            format!("service '{service}': `router.max_request_header_bytes` must be at least 8192"),
        );
    }
    for entry in &router.trusted_proxies {
        if let Err(e) = crate::model::router_parse_proxy(entry) {
            p.add(
                entry.pos,
                "gantry::config::router",
                "not a CIDR",
                format!("service '{service}': `router.trusted_proxies`: {e}"),
            );
        }
    }
    for name in router.grpc_error_codes.iter() {
        if !GRPC_STATUS_NAMES.contains(&name.as_str()) {
            p.add(
                name.pos,
                "gantry::config::router",
                "unknown gRPC status",
                format!(
                    "service '{service}': `router.grpc_error_codes` has '{}', which is not a gRPC status; expected one of {}",
                    name.as_str(),
                    GRPC_STATUS_NAMES.join(", ")
                ),
            );
        }
    }
    if let Some(tls) = &router.tls {
        for (key, path) in [("cert", &tls.cert), ("key", &tls.key)] {
            if path.trim().is_empty() {
                p.add(
                    path.pos,
                    "gantry::config::router",
                    "empty path",
                    format!("service '{service}': `router.tls.{key}` must name a PEM file"),
                );
            }
        }
    }
}
