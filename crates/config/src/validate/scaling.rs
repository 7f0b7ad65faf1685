//! Checks of a service's `scaling:`.

use super::Problems;
use crate::{Scaling, Service, Spanned};

pub(super) fn check_scaling(
    name: &str,
    service: &Service,
    s: &Spanned<Scaling>,
    p: &mut Problems<'_>,
) {
    const CODE: &str = "gantry::config::scaling";
    if *s.min == 0 {
        p.add(
            s.min.pos,
            CODE,
            "zero",
            format!("service '{name}': `scaling.min` must be at least 1"),
        );
    }
    if *s.max < *s.min {
        p.add(
            s.max.pos,
            CODE,
            "below min",
            format!(
                "service '{name}': `scaling.max` ({}) is below `scaling.min` ({})",
                *s.max, *s.min
            ),
        );
    }
    if s.target_cpu.value() <= 0.0 {
        p.add(
            s.target_cpu.pos,
            CODE,
            "zero",
            format!("service '{name}': `scaling.target_cpu` must be above 0%, e.g. 70%"),
        );
    }
    if s.period.as_std().is_zero() {
        p.add(
            s.period.pos,
            CODE,
            "zero",
            format!("service '{name}': `scaling.period` must be above 0, e.g. 15s"),
        );
    }
    // Utilisation is measured against the CPU limit, as HPA measures against requests.
    if service
        .resources
        .as_ref()
        .and_then(|r| r.cpu.as_ref())
        .is_none()
    {
        p.add(
            s.pos,
            CODE,
            "no cpu limit",
            format!("service '{name}': `scaling.target_cpu` is a share of the CPU limit; add `resources: {{ cpu: 500m }}`"),
        );
    }
    let n = *service.instances;
    if n < *s.min || n > *s.max {
        p.add(
            service.instances.pos,
            CODE,
            "outside scaling",
            format!(
                "service '{name}': `instances: {n}` is outside `scaling` {}..={}; deployments start `instances`, so it must lie between min and max",
                *s.min, *s.max
            ),
        );
    }
}
