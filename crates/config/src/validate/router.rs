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
