//! Checks of a service's `router:` settings.

use super::Problems;
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
    if *router.max_connections == 0 {
        p.add(
            router.max_connections.pos,
            "gantry::config::router",
            "zero",
            format!("service '{service}': `router.max_connections` must be at least 1"),
        );
    }
}
