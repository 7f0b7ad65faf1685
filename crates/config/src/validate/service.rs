//! Checks of `services:`.

use super::Problems;
use crate::{Config, Listen, Pos, Probe, Spanned, Strategy};

pub(super) fn check_services(config: &Config, p: &mut Problems<'_>) {
    // (position, address, owner) of every listen address, for duplicates.
    let mut addresses = Vec::new();
    for (name, service) in &config.services {
        addresses.push((
            service.listen.pos,
            service.listen.value,
            format!("service '{name}'"),
        ));
        if *service.instances == 0 {
            p.add(
                service.instances.pos,
                "gantry::config::instances",
                "zero",
                format!("service '{name}' has `instances: 0`; it needs at least 1"),
            );
        }
        if service.releases.is_empty() && service.releases_from.is_none() {
            p.add(
                service.pos,
                "gantry::config::no_releases",
                "no releases",
                format!("service '{name}' has no releases; add e.g. `releases: {{ v1: {{ run: ... }} }}` or `releases_from: {{ git: ... }}`"),
            );
        }
        for (version, release) in &service.releases {
            if release.run.trim().is_empty() {
                p.add(
                    release.run.pos,
                    "gantry::config::empty_run",
                    "empty command",
                    format!("release '{version}' of service '{name}' has an empty `run` command"),
                );
            }
        }
        let probes = [
            ("readiness", &service.health.readiness),
            ("liveness", &service.health.liveness),
            ("startup", &service.health.startup),
        ];
        for (kind, probe) in probes {
            if let Some(probe) = probe {
                check_probe(name, kind, probe, p);
            }
        }
        super::router::check_router(name, &service.router, p);
        if let Some(scaling) = &service.scaling {
            super::scaling::check_scaling(name, service, scaling, p);
        }
        check_strategy(name, &service.strategy, p, &mut addresses);
        if let Some(analysis) = &service.analysis {
            if *analysis.failure_limit == 0 {
                p.add(
                    analysis.failure_limit.pos,
                    "gantry::config::analysis",
                    "zero",
                    format!("service '{name}': `failure_limit` must be at least 1 (failing windows before rollback)"),
                );
            }
            if analysis.window.is_zero() {
                p.add(
                    analysis.window.pos,
                    "gantry::config::analysis",
                    "zero",
                    format!("service '{name}': analysis `window` must be longer than 0s"),
                );
            }
        }
    }
    super::environments::addresses(config, &mut addresses);
    addresses.sort_by_key(|(pos, _, _)| *pos);
    for (i, (pos, addr, owner)) in addresses.iter().enumerate() {
        if let Some((first, _, other)) = addresses[..i].iter().find(|(_, a, _)| a == addr) {
            p.add(
                *pos,
                "gantry::config::duplicate_listen",
                "already in use",
                format!(
                    "listen address {addr} of {owner} is already used by {other} (line {})",
                    first.line
                ),
            );
        }
    }
}

fn check_probe(service: &str, kind: &str, probe: &Spanned<Probe>, p: &mut Problems<'_>) {
    let mut checks = Vec::new();
    if let Some(v) = &probe.http {
        checks.push(("http", v.pos));
    }
    if let Some(v) = &probe.tcp
        && **v
    {
        checks.push(("tcp", v.pos));
    }
    if let Some(v) = &probe.exec {
        checks.push(("exec", v.pos));
    }
    match checks.as_slice() {
        [_] => {}
        [] => p.add(
            probe.pos,
            "gantry::config::probe_check",
            "no check",
            format!("{kind} probe of service '{service}' has no check; give one of http, tcp or exec"),
        ),
        [_, (_, pos), ..] => p.add(
            *pos,
            "gantry::config::probe_check",
            "second check",
            format!(
                "{kind} probe of service '{service}' has several checks ({}); give exactly one of http, tcp or exec",
                checks.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
    for (field, value) in [
        ("success_threshold", &probe.success_threshold),
        ("failure_threshold", &probe.failure_threshold),
    ] {
        if **value == 0 {
            p.add(
                value.pos,
                "gantry::config::probe_threshold",
                "zero",
                format!("{kind} probe of service '{service}': `{field}` must be at least 1"),
            );
        }
    }
    for (field, value) in [("period", &probe.period), ("timeout", &probe.timeout)] {
        if value.is_zero() {
            p.add(
                value.pos,
                "gantry::config::probe_timing",
                "zero",
                format!("{kind} probe of service '{service}': `{field}` must be longer than 0s"),
            );
        }
    }
}

fn check_strategy(
    service: &str,
    strategy: &Strategy,
    p: &mut Problems<'_>,
    addresses: &mut Vec<(Pos, Listen, String)>,
) {
    match strategy {
        Strategy::Rolling(r) => {
            if r.max_surge.is_zero() && r.max_unavailable.is_zero() {
                p.add(
                    r.max_unavailable.pos,
                    "gantry::config::rolling",
                    "both zero",
                    format!(
                        "service '{service}': `max_surge` and `max_unavailable` cannot both be 0"
                    ),
                );
            }
        }
        Strategy::BlueGreen(b) => {
            if let Some(preview) = &b.preview_listen {
                addresses.push((
                    preview.pos,
                    preview.value,
                    format!("the preview of service '{service}'"),
                ));
            }
        }
        Strategy::Canary(c) => {
            if c.steps.is_empty() {
                p.add(
                    c.steps.pos,
                    "gantry::config::canary_weights",
                    "no steps",
                    format!("canary of service '{service}' has no steps; add e.g. `- {{weight: 10, pause: 30s}}`"),
                );
            }
            let mut previous: Option<u8> = None;
            for step in c.steps.iter() {
                let w = *step.weight;
                if w > 100 {
                    p.add(
                        step.weight.pos,
                        "gantry::config::canary_weights",
                        "over 100",
                        format!("canary weight {w} of service '{service}' is over 100 (a percentage of traffic)"),
                    );
                } else if let Some(prev) = previous.filter(|&prev| w <= prev) {
                    p.add(
                        step.weight.pos,
                        "gantry::config::canary_weights",
                        "not increasing",
                        format!("canary weights of service '{service}' must increase: {w} follows {prev}"),
                    );
                }
                previous = Some(w.max(previous.unwrap_or(0)));
            }
        }
    }
}
