//! One instance's life: spawn, probe (startup, then readiness and liveness), restart with
//! backoff on exit or liveness failure, report a crash loop, stop on request.

use std::future::pending;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_config::Probe;
use gantry_deploy::health::{CrashLoop, ProbeTracker, backoff_ms};
use gantry_deploy::{EventKind, InstanceEvent, InstancePhase, InstanceSpec};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::Shared;
use crate::limits;
use crate::probe::{probe_once, tcp};
use crate::process::{spawn, terminate_group};

/// Instances that ran this long before failing start their backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

enum Outcome {
    Exited(String),
    /// Ended for running out of memory (the reason names how that was told).
    OomKilled(&'static str, String),
    LivenessFailed,
    StartupFailed,
    Stop,
    SpawnFailed(String),
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Waits while the control plane's queue of events is full (back-pressure), so that no
/// transition is dropped.
async fn emit(shared: &Shared, spec: &InstanceSpec, kind: EventKind, detail: Value) {
    let detail = match detail {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let _ = shared
        .events
        .send(InstanceEvent {
            kind,
            service: spec.service.clone(),
            version: spec.version.clone(),
            instance: spec.instance.clone(),
            detail,
        })
        .await;
}

/// A process the previous control plane started and this one verified and took over.
pub(crate) struct Adopted {
    pub pid: u32,
    pub pgid: i32,
    pub addr: SocketAddr,
}

/// The instance's process: our child, or an adopted orphan (not our child, so its exit
/// is noticed by polling `/proc` and reaped by init).
struct Running {
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
    pgid: Option<i32>,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Running {
    /// The exit status of our child; the reason as text for an adopted process.
    async fn exited(&mut self) -> Result<std::process::ExitStatus, String> {
        match (&mut self.child, self.pid) {
            (Some(child), _) => child.wait().await.map_err(|e| e.to_string()),
            (None, Some(pid)) => {
                while crate::process::process_alive(pid) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err("adopted process exited".into())
            }
            (None, None) => pending().await,
        }
    }
}

fn launch(spec: &InstanceSpec, prelude: &str) -> std::io::Result<Running> {
    let port = free_port()?;
    let (child, log) = spawn(spec, port, prelude)?;
    let pid = child.id();
    Ok(Running {
        pid,
        pgid: pid.and_then(|p| i32::try_from(p).ok()),
        child: Some(child),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    })
}

pub(crate) async fn supervise(
    shared: Arc<Shared>,
    spec: InstanceSpec,
    mut stop: watch::Receiver<bool>,
    mut adopted: Option<Adopted>,
) {
    let mut restarts: u32 = 0;
    let mut consecutive: u32 = 0;
    let mut crash = CrashLoop::default();
    let mut crashlooping = false;
    let mut reason: Option<String> = None;
    let born = Instant::now();
    // Once per instance: its cgroup (removed when this returns) serves every restart.
    let applied = limits::apply(&spec);
    let log_path = spec.log_dir.join(format!("{}.log", spec.instance));
    loop {
        let started = Instant::now();
        let (oom_before, log_from) = (limits::oom_kills(&applied), limits::log_len(&log_path));
        let running = match adopted.take() {
            Some(a) => Ok((
                Running {
                    child: None,
                    pid: Some(a.pid),
                    pgid: Some(a.pgid),
                    addr: a.addr,
                    log: spec.log_dir.join(format!("{}.log", spec.instance)),
                },
                false,
            )),
            None => launch(&spec, &applied.prelude).map(|r| (r, true)),
        };
        let outcome = match running {
            Err(e) => Outcome::SpawnFailed(e.to_string()),
            Ok((mut run, fresh)) => {
                let (pid, pgid, addr, log) = (run.pid, run.pgid, run.addr, run.log.clone());
                shared.update(&spec.service, &spec.instance, |s| {
                    s.pid = pid;
                    s.pgid = pgid;
                    s.addr = Some(addr);
                    s.ready = false;
                    s.restarts = restarts;
                    s.log = Some(log.clone());
                    s.limits = applied.enforcement;
                    if !crashlooping {
                        s.phase = InstancePhase::Starting;
                    }
                });
                // Pid, group, port and start time identify the process safely after a
                // control-plane crash (see `reclaim`). An adopted process was recorded as
                // `instance.adopted` by the control plane already.
                if fresh {
                    let detail = json!({
                        "pid": pid, "pgid": pgid, "addr": addr.to_string(), "port": addr.port(),
                        "start_time": pid.and_then(crate::process::start_time),
                        "log": log.display().to_string(), "restarts": restarts,
                        "limits": applied.detail,
                    });
                    match &reason {
                        None => emit(&shared, &spec, EventKind::Started, detail).await,
                        Some(r) => {
                            let mut d = detail;
                            d["reason"] = json!(r);
                            emit(&shared, &spec, EventKind::Restarted, d).await;
                        }
                    }
                }
                let outcome = tokio::select! {
                    status = run.exited() => {
                        let outcome = match status {
                            Ok(status) => match limits::classify(&applied, &status, oom_before, &log, log_from) {
                                (Some(label), why) => Outcome::OomKilled(label, why),
                                (None, plain) => Outcome::Exited(plain),
                            },
                            Err(why) => Outcome::Exited(why),
                        };
                        let last = match &outcome {
                            Outcome::OomKilled(label, _) => (*label).to_string(),
                            Outcome::Exited(plain) => plain.clone(),
                            _ => String::new(),
                        };
                        shared.update(&spec.service, &spec.instance, |s| s.last_exit = Some(last));
                        outcome
                    }
                    o = probes(&shared, &spec, addr) => o,
                    _ = stop.wait_for(|s| *s) => Outcome::Stop,
                    never = crate::logfile::keep_bounded(log.clone()) => never,
                };
                let was_ready = set_unready(&shared, &spec);
                if was_ready && !matches!(outcome, Outcome::Stop) {
                    emit(
                        &shared,
                        &spec,
                        EventKind::Unready,
                        json!({"reason": describe(&outcome)}),
                    )
                    .await;
                }
                if let Some(pgid) = pgid {
                    terminate_group(pgid, shared.opts.stop_grace_for(&spec.service)).await;
                }
                if let Some(child) = run.child.as_mut() {
                    let _ = child.wait().await;
                }
                outcome
            }
        };
        if matches!(outcome, Outcome::Stop) || *stop.borrow() {
            shared.update(&spec.service, &spec.instance, |s| {
                s.phase = InstancePhase::Stopped;
                s.ready = false;
            });
            emit(
                &shared,
                &spec,
                EventKind::Stopped,
                json!({"restarts": restarts, "uptime_ms": born.elapsed().as_millis() as u64}),
            )
            .await;
            return;
        }
        restarts += 1;
        if started.elapsed() >= HEALTHY_RUN {
            consecutive = 0;
        }
        consecutive += 1;
        let why = describe(&outcome);
        tracing::warn!(service = %spec.service, instance = %spec.instance, reason = %why, restarts, "instance restarting");
        let now_ms = u64::try_from(born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let looping = crash.record(
            now_ms,
            shared.opts.crash_loop_restarts,
            u64::try_from(shared.opts.crash_loop_window.as_millis()).unwrap_or(u64::MAX),
        );
        if looping && !crashlooping {
            crashlooping = true;
            emit(
                &shared,
                &spec,
                EventKind::Crashlooping,
                json!({"restarts": restarts, "last_reason": why}),
            )
            .await;
        }
        shared.update(&spec.service, &spec.instance, |s| {
            s.phase = if crashlooping {
                InstancePhase::CrashLooping
            } else {
                InstancePhase::Restarting
            };
            s.restarts = restarts;
            s.pid = None;
        });
        reason = Some(why);
        let delay = backoff_ms(
            shared.opts.backoff_base.as_millis() as u64,
            shared.opts.backoff_max.as_millis() as u64,
            consecutive,
        );
        // Decided first, sent after: the watch's read guard is not held across the send.
        let stopping = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(delay)) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopping {
            shared.update(&spec.service, &spec.instance, |s| {
                s.phase = InstancePhase::Stopped
            });
            emit(
                &shared,
                &spec,
                EventKind::Stopped,
                json!({"restarts": restarts}),
            )
            .await;
            return;
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Exited(s) => format!("process exited ({s})"),
        Outcome::OomKilled(_, why) => why.clone(),
        Outcome::LivenessFailed => "liveness probe failed".into(),
        Outcome::StartupFailed => "startup probe failed".into(),
        Outcome::Stop => "stopped".into(),
        Outcome::SpawnFailed(e) => format!("could not start: {e}"),
    }
}

/// Marks the instance unready; returns whether it was ready.
fn set_unready(shared: &Shared, spec: &InstanceSpec) -> bool {
    let mut was = false;
    shared.update(&spec.service, &spec.instance, |s| {
        was = s.ready;
        s.ready = false;
    });
    was
}

fn count_failure(shared: &Shared, spec: &InstanceSpec) {
    shared.update(&spec.service, &spec.instance, |s| s.probe_failures += 1);
}

async fn set_ready(shared: &Shared, spec: &InstanceSpec, ready: bool) {
    if ready && shared.is_terminating(&spec.service, &spec.instance) {
        return;
    }
    shared.update(&spec.service, &spec.instance, |s| {
        s.ready = ready;
        if matches!(
            s.phase,
            InstancePhase::Starting | InstancePhase::Ready | InstancePhase::Unready
        ) {
            s.phase = if ready {
                InstancePhase::Ready
            } else {
                InstancePhase::Unready
            };
        }
    });
    let kind = if ready {
        EventKind::Ready
    } else {
        EventKind::Unready
    };
    let detail = if ready {
        json!({})
    } else {
        json!({"reason": "readiness probe failed"})
    };
    emit(shared, spec, kind, detail).await;
}

/// Runs the instance's probes; returns only when a startup or liveness probe gives up.
async fn probes(shared: &Shared, spec: &InstanceSpec, addr: SocketAddr) -> Outcome {
    let health = &spec.health;
    if let Some(startup) = &health.startup {
        tokio::time::sleep(startup.initial_delay.as_std()).await;
        let mut t = ProbeTracker::new(1, *startup.failure_threshold, false);
        loop {
            let ok = probe_once(startup, addr).await;
            if t.observe(ok) == Some(true) {
                break;
            }
            if t.fail_streak() >= *startup.failure_threshold {
                return Outcome::StartupFailed;
            }
            tokio::time::sleep(startup.period.as_std()).await;
        }
    }
    let readiness = async {
        match &health.readiness {
            Some(p) => {
                tokio::time::sleep(p.initial_delay.as_std()).await;
                let mut t = ProbeTracker::new(*p.success_threshold, *p.failure_threshold, false);
                loop {
                    let ok = probe_once(p, addr).await;
                    if !ok {
                        count_failure(shared, spec);
                    }
                    if let Some(now) = t.observe(ok) {
                        set_ready(shared, spec, now).await;
                    }
                    tokio::time::sleep(p.period.as_std()).await;
                }
            }
            None => {
                // Without a readiness probe an instance is ready once its port accepts
                // connections, so the router never sends it traffic it cannot take.
                while !tcp(addr, Duration::from_millis(500)).await {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                set_ready(shared, spec, true).await;
                pending::<()>().await;
            }
        }
    };
    let liveness = async {
        match &health.liveness {
            Some(p) => liveness(shared, spec, p, addr).await,
            None => pending().await,
        }
    };
    tokio::select! {
        o = liveness => o,
        () = readiness => Outcome::StartupFailed,
    }
}

async fn liveness(shared: &Shared, spec: &InstanceSpec, p: &Probe, addr: SocketAddr) -> Outcome {
    tokio::time::sleep(p.initial_delay.as_std()).await;
    let mut t = ProbeTracker::new(1, *p.failure_threshold, true);
    loop {
        let ok = probe_once(p, addr).await;
        if !ok {
            count_failure(shared, spec);
        }
        if t.observe(ok) == Some(false) {
            return Outcome::LivenessFailed;
        }
        tokio::time::sleep(p.period.as_std()).await;
    }
}
