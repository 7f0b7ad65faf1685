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
}
