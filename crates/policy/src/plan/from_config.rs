//! `gantry plan`: the plan for one service, made from gantry.yaml — its release pipeline's
//! stages up to the target environment, its strategy, probes, analysis and alerts.

use gantry_config::{
    Condition, Config, Notifier, Pipeline, Probe, ProbeCheck, Service, Step, StepAction, Strategy,
};
use serde_json::json;

use super::{
    DeploymentStrategy, HealthChecks, Infrastructure, Monitoring, Plan, PlanStage, Resources,
    Rollback,
};
use crate::PolicyError;
use crate::config_rules::deploys;

/// What the caller decides about a plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The environment the plan ends in (`production`, `staging`, …).
    pub environment: String,
    /// The work item; default: the project name.
    pub epic_id: Option<String>,
    /// Which attempt this is.
    pub iteration: u64,
    /// When the plan is made (RFC 3339); passed in so that planning stays pure.
    pub timestamp: String,
}

/// The plan for deploying `service` to `options.environment`.
pub fn plan_for(
    config: &Config,
    service: &str,
    options: &PlanOptions,
) -> Result<Plan, PolicyError> {
    let svc = config.services.get(service).ok_or_else(|| {
        PolicyError::Unplannable(format!(
            "unknown service '{service}'; services: {}",
            config
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let env = options.environment.as_str();
    let production = is_production(env);
    let all = deploys(config, service);
    let chosen = all
        .iter()
        .find(|d| {
            d.env
                .map_or(production, |e| e == env || (production && is_production(e)))
        })
        .or_else(|| all.first());
    let promoted = config.promotion.iter().any(|e| e.as_str() == env);
    if !production && !promoted && !all.iter().any(|d| d.env == Some(env)) {
        return Err(PolicyError::Unplannable(format!(
            "no pipeline deploys service '{service}' to '{env}'; add `- {{ deploy: {service}, env: {env} }}` to one, or plan for production"
        )));
    }
    let (stages, version) = match chosen {
        Some(d) if production || d.env == Some(env) => {
            pipeline_stages(&config.pipelines[d.pipeline], service, svc, env)
        }
        _ if !production => (vec![env_stage(config, env, svc)], None),
        _ => (strategy_stages("production", svc), None),
    };
    let stages = with_promotion(config, env, svc, stages);
    let version = version.or_else(|| svc.releases.keys().next_back().cloned());
    Ok(Plan {
        epic_id: Some(
            options
                .epic_id
                .clone()
                .unwrap_or_else(|| config.project.clone()),
        ),
        iteration: Some(options.iteration),
        timestamp: Some(options.timestamp.clone()),
        service: Some(service.to_string()),
        version,
        environment: Some(env.to_string()),
        runbook: config
            .policy
            .services
            .get(service)
            .and_then(|s| s.runbook.as_ref())
            .map(|r| r.value.clone()),
        deployment_strategy: Some(DeploymentStrategy {
            kind: Some(strategy_name(&svc.strategy).to_string()),
            reason: Some(reason(service, svc)),
            stages,
        }),
        infrastructure: Some(Infrastructure {
            resources_required: Some(Resources {
                cpu: svc
                    .resources
                    .as_ref()
                    .and_then(|r| r.cpu.as_ref())
                    .map(|c| c.to_string()),
                memory: svc
                    .resources
                    .as_ref()
                    .and_then(|r| r.memory.as_ref())
                    .map(|m| m.to_string()),
                replicas: Some(u64::from(*svc.instances)),
            }),
            // The shape of the config's `scaling:` (a HorizontalPodAutoscaler's min/max
            // replicas and average CPU utilisation).
            scaling: svc.scaling.as_ref().map(|s| {
                serde_json::json!({
                    "min": *s.min, "max": *s.max, "target_cpu": s.target_cpu.to_string(),
                    "period": s.period.to_string(), "stabilization": s.stabilization.to_string(),
                })
            }),
        }),
        monitoring: Some(monitoring(config, svc)),
        health_checks: Some(HealthChecks {
            readiness: svc.health.readiness.as_ref().map(|p| probe(p)),
            liveness: svc.health.liveness.as_ref().map(|p| probe(p)),
        }),
        rollback: Some(rollback(config, service, svc)),
    })
}

fn is_production(env: &str) -> bool {
    matches!(env, "production" | "prod")
}

fn strategy_name(strategy: &Strategy) -> &'static str {
    match strategy {
        Strategy::Rolling(_) => "rolling",
        Strategy::BlueGreen(_) => "blue_green",
        Strategy::Canary(_) => "canary",
    }
}

fn reason(name: &str, svc: &Service) -> String {
    let judged = if svc.analysis.is_some() {
        ", each step judged by analysis with automatic rollback"
    } else {
        ", without analysis"
    };
    format!("services.{name}.strategy in gantry.yaml{judged}")
}

/// The pipeline's stages in run order up to the one that deploys to `env`, leaving out
/// the ones that run only on failure or always (they are the rollback procedure).
fn pipeline_stages(
    pipeline: &Pipeline,
    service: &str,
    svc: &Service,
    env: &str,
) -> (Vec<PlanStage>, Option<String>) {
    let order: Vec<usize> = pipeline
        .stage_order()
        .map(|l| l.concat())
        .unwrap_or_default();
    let deps = pipeline.dependencies().unwrap_or_default();
    let mut out = Vec::new();
    let mut version = None;
    for i in order {
        let stage = &pipeline.stages[i];
        if matches!(
            stage.condition,
            Some(Condition::Failure | Condition::Always)
        ) {
            continue;
        }
        let approval = deps
            .get(i)
            .is_some_and(|d| d.iter().any(|&j| pipeline.stages[j].checkpoint.is_some()));
        let deploy = stage.steps.iter().find_map(|s| match s.action() {
            Some(StepAction::Deploy {
                service: s,
                environment,
                version,
                ..
            }) if s == service => Some((environment.unwrap_or("production"), version)),
            _ => None,
        });
        let tests: Vec<String> = stage
            .steps
            .iter()
            .filter(|s| !matches!(s.action(), Some(StepAction::Deploy { .. })))
            .map(|s| test_label(s))
            .collect();
        let Some((target, v)) = deploy else {
            out.push(PlanStage {
                stage: stage.name.value.clone(),
                automatic: Some(!approval),
                approval_required: Some(approval),
                tests,
                ..PlanStage::default()
            });
            continue;
        };
        let reached = target == env || (is_production(env) && is_production(target));
        if reached {
            version = v.map(str::to_string);
        }
        if is_production(target) {
            let mut canary = strategy_stages(&stage.name, svc);
            if let Some(first) = canary.first_mut() {
                first.approval_required = Some(approval);
                first.automatic = Some(!approval && first.automatic.unwrap_or(true));
                first.tests = tests;
            }
            out.extend(canary);
        } else {
            out.push(PlanStage {
                stage: stage.name.value.clone(),
                environment: Some(target.to_string()),
                automatic: Some(!approval),
                approval_required: Some(approval),
                tests,
                rollback_automatic: Some(svc.analysis.is_some()),
                ..PlanStage::default()
            });
        }
        if reached {
            break;
        }
    }
    (out, version)
}

/// A stage that deploys to environment `env` as `environments:` says it (approval, soak).
fn env_stage(config: &Config, env: &str, svc: &Service) -> PlanStage {
    let e = config.environment(env);
    let approval = e.is_some_and(|e| e.approval.is_some());
    PlanStage {
        stage: env.to_string(),
        environment: Some(env.to_string()),
        automatic: Some(!approval),
        approval_required: Some(approval),
        rollback_automatic: Some(svc.analysis.is_some()),
        soak_time_hours: e
            .and_then(|e| e.soak.as_ref())
            .map(|s| s.as_millis() as f64 / 3_600_000.0),
        ..PlanStage::default()
    }
}

/// The stages with what `promotion:` adds: each environment before `env` that the
/// pipeline does not deploy to is a stage of its own (a version must pass it first, the
/// control plane enforces that), and each environment's first stage carries its
/// `approval:` and `soak:`.
fn with_promotion(
    config: &Config,
    env: &str,
    svc: &Service,
    stages: Vec<PlanStage>,
) -> Vec<PlanStage> {
    let order: Vec<&str> = config.promotion.iter().map(|e| e.as_str()).collect();
    let Some(at) = order.iter().position(|e| *e == env) else {
        return stages;
    };
    let has = |e: &str| stages.iter().any(|s| s.environment.as_deref() == Some(e));
    let missing: Vec<PlanStage> = order[..at]
        .iter()
        .filter(|e| !has(e))
        .map(|e| env_stage(config, e, svc))
        .collect();
    let first_deploy = stages
        .iter()
        .position(|s| s.environment.is_some())
        .unwrap_or(stages.len());
    let mut out: Vec<PlanStage> = stages[..first_deploy].to_vec();
    out.extend(missing);
    let mut seen = std::collections::BTreeSet::new();
    for mut s in stages[first_deploy..].iter().cloned() {
        if let Some(e) = s.environment.clone()
            && seen.insert(e.clone())
        {
            let own = env_stage(config, &e, svc);
            if own.approval_required == Some(true) {
                s.approval_required = Some(true);
                s.automatic = Some(false);
            }
            s.soak_time_hours = s.soak_time_hours.or(own.soak_time_hours);
        }
        out.push(s);
    }
    out
}

/// The production rollout by strategy: one stage per canary step, then the full stage.
fn strategy_stages(name: &str, svc: &Service) -> Vec<PlanStage> {
    let auto = Some(svc.analysis.is_some());
    let mut out = Vec::new();
    if let Strategy::Canary(c) = &svc.strategy {
        for step in c.steps.iter() {
            let hours = step.pause.map(|p| p.as_millis() as f64 / 3_600_000.0);
            out.push(PlanStage {
                stage: format!("{name}-canary-{}", *step.weight),
                environment: Some("production".to_string()),
                automatic: Some(hours.is_some()),
                approval_required: Some(false),
                rollback_automatic: auto,
                canary_percentage: Some(f64::from(*step.weight)),
                canary_duration_hours: hours,
                ..PlanStage::default()
            });
        }
    }
    out.push(PlanStage {
        stage: name.to_string(),
        environment: Some("production".to_string()),
        automatic: Some(true),
        approval_required: Some(false),
        rollback_automatic: auto,
        ..PlanStage::default()
    });
    out
}

/// How a step reads in a stage's `tests`: its name and what it runs, so that a scan stays
/// recognisable as one.
fn test_label(step: &Step) -> String {
    match (step.name.as_ref(), step.action()) {
        (Some(name), Some(StepAction::Run(cmd))) => format!("{}: {cmd}", name.value),
        (Some(name), Some(StepAction::Smoke(check))) => format!("{}: smoke {check}", name.value),
        _ => step.display_name(),
    }
}

fn monitoring(config: &Config, svc: &Service) -> Monitoring {
    let mut metrics = Vec::new();
    if let Some(a) = &svc.analysis {
        if let Some(t) = &a.error_rate {
            metrics.push(format!("error_rate {t}"));
        }
        if let Some(t) = &a.latency_p99 {
            metrics.push(format!("latency_p99 {t}"));
        }
        if let Some(n) = a.probe_failures {
            metrics.push(format!("probe_failures <= {n}"));
        }
        if let Some(p) = &a.prometheus {
            metrics.push(format!("prometheus {} {}", p.query, p.threshold));
        }
    }
    if let Some(m) = &config.monitor {
        for (name, target) in &m.targets {
            let what = [&target.http, &target.tcp, &target.exec]
                .into_iter()
                .find_map(|t| t.as_ref().map(|s| s.value.as_str()));
            metrics.push(format!("probe {name}: {}", what.unwrap_or("?")));
        }
    }
    let alerts = config
        .notify
        .iter()
        .map(|n| match &n.value {
            Notifier::Slack(s) => format!("slack (${})", s.webhook_env),
            Notifier::Discord(s) => format!("discord (${})", s.webhook_env),
            Notifier::Webhook(w) => match (&w.url_env, &w.url) {
                (Some(env), _) => format!("webhook (${env})"),
                (None, Some(url)) => format!("webhook ({url})"),
                (None, None) => "webhook".to_string(),
            },
        })
        .collect();
    Monitoring {
        metrics,
        dashboards: Vec::new(),
        alerts,
    }
}

fn probe(p: &Probe) -> serde_json::Value {
    let (kind, target) = match p.check() {
        Some(ProbeCheck::Http(path)) => ("http", json!(path)),
        Some(ProbeCheck::Tcp) => ("tcp", json!(null)),
        Some(ProbeCheck::Exec(cmd)) => ("exec", json!(cmd)),
        None => ("none", json!(null)),
    };
    let secs = |d: &gantry_config::Duration| d.as_millis() as f64 / 1000.0;
    let mut v = json!({
        "type": kind,
        "period_seconds": secs(&p.period),
        "timeout_seconds": secs(&p.timeout),
        "success_threshold": *p.success_threshold,
        "failure_threshold": *p.failure_threshold,
    });
    match kind {
        "http" => v["path"] = target,
        "exec" => v["command"] = target,
        _ => {}
    }
    v
}

fn rollback(config: &Config, service: &str, svc: &Service) -> Rollback {
    let mut triggers = Vec::new();
    let mut procedure = Vec::new();
    let mut seconds = None;
    if let Some(a) = &svc.analysis {
        let rules = [
            a.error_rate.as_ref().map(|t| format!("error_rate {t}")),
            a.latency_p99.as_ref().map(|t| format!("latency_p99 {t}")),
            a.probe_failures.map(|n| format!("probe_failures <= {n}")),
        ];
        for rule in rules.into_iter().flatten() {
            triggers.push(format!(
                "analysis: {rule} fails in {} window(s) of {}",
                *a.failure_limit, *a.window
            ));
        }
        triggers.push(format!(
            "no progress within the progress deadline ({})",
            svc.strategy.progress_deadline()
        ));
        procedure.push(
            "automatic: all traffic returns to the stable version at once; the new instances drain and stop".to_string(),
        );
        seconds = Some(a.window.as_millis() as f64 / 1000.0 * f64::from(*a.failure_limit));
    }
    for d in deploys(config, service) {
        for stage in &config.pipelines[d.pipeline].stages {
            if stage.condition == Some(Condition::Failure) {
                if !triggers.iter().any(|t| t.starts_with("a step of pipeline")) {
                    triggers.push(format!("a step of pipeline '{}' fails", d.pipeline));
                }
                for step in stage.steps.iter() {
                    let label = format!("{}: {}", stage.name.value, test_label(step));
                    if !procedure.contains(&label) {
                        procedure.push(label);
                    }
                }
            }
        }
    }
    Rollback {
        triggers,
        procedure: (!procedure.is_empty()).then(|| json!(procedure)),
        time_to_rollback_seconds: seconds,
    }
}
