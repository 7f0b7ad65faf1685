//! The owner of one service: a task that alone holds the service's desired state (stable
//! version and history), its active deployment, its traffic and the jobs that change its
//! instances. Everything else reaches it as a [`Command`] on its bounded queue and is
//! answered once applied, or refused with the reason; it publishes what it holds as a
//! [`Snapshot`] for `ps`, `deployment(id)` and the executor's reads.
//!
//! The loop never waits on the driver: instance starts and stops, which can take as long
//! as an application takes to get ready, run in jobs (a [`JoinSet`] it owns); the loop
//! waits only on the ledger and on jobs it has aborted. Commands are applied one at a
//! time, so "check, record, set" needs no lock: a pause can never land after `succeeded`,
//! and a shift always carries the emergency stop as it is when written.

mod approval;
mod control;
mod failover;
mod jobs;
mod operator;
mod scale;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use gantry_deploy::{DeploymentStatus, Phase, TimelineEvent, Traffic, share};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::command::{Ask, Command, Note, QUEUE};
use crate::core::{By, Core};
use crate::deployment::Dep;
use crate::exec::Exec;

/// What an owner publishes after every command it applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub stable: Option<String>,
    /// When `stable` became stable (what a promotion's soak is measured from).
    pub stable_since: Option<std::time::SystemTime>,
    pub active: Option<DeploymentStatus>,
    /// Deployments of this run that are over (and interrupted ones settled by restore).
    pub finished: Arc<BTreeMap<String, DeploymentStatus>>,
    pub traffic: Traffic,
    pub restoring: bool,
}

/// How the rest of the control plane reaches an owner.
#[derive(Clone)]
pub(crate) struct Handle {
    pub tx: mpsc::Sender<Command>,
    pub view: watch::Receiver<Snapshot>,
}

/// The seed of an owner: the service's state as replayed from the ledger.
pub(crate) struct Seed {
    pub stable: Option<String>,
    pub stable_since: Option<std::time::SystemTime>,
    pub history: Vec<String>,
    pub deployments: u64,
    pub emergency: bool,
}

/// What one of the owner's jobs is for.
enum Job {
    Deployment(String),
    Control,
    /// The watcher of deployment `id`'s approval.
    Approval(String),
}

/// What a job gives back to its owner.
pub(crate) enum Outcome {
    /// A deployment's job ended (its last transition was already asked for).
    Deployment,
    Restored(Result<(), String>),
    Started(Result<(), String>),
    Swept(usize),
    /// A scaling step's job ended (it answered its scaler itself).
    Scaled,
    /// The wait for an approval ended.
    Approval(approval::Decided),
}

pub(crate) struct Owner {
    name: String,
    core: Arc<Core>,
    past: Arc<BTreeMap<String, DeploymentStatus>>,
    tx: mpsc::Sender<Command>,
    rx: mpsc::Receiver<Command>,
    view: watch::Sender<Snapshot>,
    stable: Option<String>,
    stable_since: Option<std::time::SystemTime>,
    /// Earlier stable versions, oldest first.
    history: Vec<String>,
    /// Deployments of this service so far (ids continue the ledger's).
    counter: u64,
    active: Option<Dep>,
    finished: Arc<BTreeMap<String, DeploymentStatus>>,
    /// The traffic table as last handed to the driver; only the owner writes it.
    traffic: Traffic,
    /// No instance may start (an emergency stop; cleared by `start` before it starts the
    /// stable version).
    halted: bool,
    /// Traffic refused (an emergency stop, until `start` reopened it).
    stopped: bool,
    /// Until restore after a restart is done, mutating calls are held (503).
    restoring: bool,
    jobs: JoinSet<Outcome>,
    kinds: HashMap<tokio::task::Id, Job>,
    /// The active deployment's effects held by the operator's pause, in order.
    held: VecDeque<(String, Ask)>,
    /// A control command answered when its job is done.
    waiting: Option<control::Waiting>,
    /// The job that waits for the active deployment's approval.
    watcher: Option<tokio::task::AbortHandle>,
    /// A deployment that awaited approval before a restart, taken up again once the
    /// stable version is restored (with the seq of its grant, if granted meanwhile).
    after_restore: Option<(Box<Dep>, Option<u64>)>,
}

/// Starts the owner of `name` as a task in `tasks`; it runs until `shutdown`.
pub(crate) fn spawn(
    name: String,
    core: Arc<Core>,
    past: Arc<BTreeMap<String, DeploymentStatus>>,
    seed: Seed,
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> Handle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let traffic = core.driver.traffic(&name);
    let owner = Owner {
        name,
        core,
        past,
        tx: tx.clone(),
        rx,
        view: watch::Sender::new(Snapshot::default()),
        stable: seed.stable,
        stable_since: seed.stable_since,
        history: seed.history,
        counter: seed.deployments,
        active: None,
        finished: Arc::default(),
        traffic,
        halted: seed.emergency,
        stopped: seed.emergency,
        restoring: true,
        jobs: JoinSet::new(),
        kinds: HashMap::new(),
        held: VecDeque::new(),
        waiting: None,
        watcher: None,
        after_restore: None,
    };
    owner.publish_view();
    let view = owner.view.subscribe();
    tasks.spawn(owner.run(shutdown));
    Handle { tx, view }
}

impl Owner {
    async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                Some(cmd) = self.rx.recv() => self.handle(cmd).await,
                Some(done) = self.jobs.join_next_with_id(), if !self.jobs.is_empty() => {
                    self.job_done(done).await;
                }
                _ = shutdown.cancelled() => break,
            }
            self.publish_view();
        }
        // What the driver reported up to the shutdown is still recorded; anything else
        // queued is dropped (its caller hears that the control plane is going away).
        while let Ok(cmd) = self.rx.try_recv() {
            if let Command::Instance(ev) = cmd {
                self.instance(ev).await;
            }
        }
        self.jobs.abort_all();
        while self.jobs.join_next().await.is_some() {}
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::From { caller, cmd } => {
                // Boxed: the inner command is handled by this same function.
                Box::pin(caller.scope(self.handle(*cmd))).await;
            }
            Command::Deploy {
                version,
                strategy,
                reply,
            } => {
                let r = self.deploy(version, strategy).await;
                self.answer(reply, r);
            }
            Command::Operate { op, reply } => {
                let r = self.operate(op).await;
                self.answer(reply, r);
            }
            Command::Rollback { req, reply } => {
                let r = self.rollback(req).await;
                self.answer(reply, r);
            }
            Command::Control(c) => self.control(c).await,
            Command::Instance(ev) => self.instance(ev).await,
            Command::Job { id, ask } => self.ask(id, ask).await,
            Command::Scale(req) => self.scale(req).await,
        }
    }

    /// Publishes first, so that whoever hears the answer also sees its effect.
    fn answer<T>(&self, reply: oneshot::Sender<T>, value: T) {
        self.publish_view();
        let _ = reply.send(value);
    }

    fn publish_view(&self) {
        self.view.send_replace(Snapshot {
            stable: self.stable.clone(),
            stable_since: self.stable_since,
            active: self.active.as_ref().map(|d| d.status.clone()),
            finished: Arc::clone(&self.finished),
            traffic: self.traffic.clone(),
            restoring: self.restoring,
        });
    }

    /// Changes the traffic and hands it to the driver, stamped with the emergency stop as
    /// it is now: a shift can never write a stop back to "off".
    fn publish(&mut self, change: impl FnOnce(&mut Traffic)) {
        change(&mut self.traffic);
        self.traffic.emergency_stop = self.stopped;
        self.core.driver.set_traffic(&self.name, &self.traffic);
    }

    /// Records an entry and adds it to the active deployment's timeline (if any).
    async fn record_on(&mut self, by: By, kind: &str, body: Value, text: String) {
        let entry = self.core.record(by, kind, body).await;
        self.on_timeline(entry.as_ref(), kind.to_string(), text);
    }

    /// Puts a recorded entry (or, when the write failed, its kind and text alone) on the
    /// active deployment's timeline.
    fn on_timeline(&mut self, entry: Option<&gantry_ledger::Entry>, kind: String, text: String) {
        if let Some(dep) = self.active.as_mut() {
            dep.status.timeline.push(TimelineEvent {
                ts: entry.map(|e| e.ts.clone()).unwrap_or_default(),
                seq: entry.map_or(0, |e| e.seq),
                kind,
                text,
            });
        }
    }

    /// Records the active deployment's entry into `phase`, and sets it.
    async fn enter(&mut self, phase: Phase, by: By, extra: Value, text: String) {
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        if let Some(r) = extra.get("reason").and_then(Value::as_str) {
            dep.status.reason = Some(r.to_string());
        }
        let body = dep.body(extra);
        self.record_on(by, &phase.ledger_kind(), body, text).await;
        if let Some(dep) = self.active.as_mut() {
            dep.status.phase = phase;
        }
    }

    /// The active deployment is over: the service's stable version is `stable` (if any).
    fn finish(&mut self, stable: Option<String>) {
        if let Some(v) = stable
            && self.stable.as_deref() != Some(v.as_str())
        {
            if let Some(old) = self.stable.take() {
                self.history.retain(|h| *h != old);
                self.history.push(old);
            }
            self.history.retain(|h| *h != v);
            self.stable = Some(v);
            self.stable_since = Some(std::time::SystemTime::now());
        }
        if let Some(dep) = self.active.take() {
            Arc::make_mut(&mut self.finished).insert(dep.id.clone(), dep.status);
        }
        for (_, ask) in self.held.drain(..) {
            ask.refuse();
        }
    }

    /// Sets the traffic weights and records `traffic.shifted` (on the active deployment's
    /// timeline when `on_deployment`). With `by_instances` the weights are instance counts
    /// (a rolling update): the timeline then reads percentages and how many of the wanted
    /// instances each version has.
    async fn shift(
        &mut self,
        on_deployment: bool,
        weights: &BTreeMap<String, u32>,
        by_instances: bool,
    ) {
        let (body, text) = self.shift_now(on_deployment, weights, by_instances);
        if on_deployment {
            self.record_on(By::System, "traffic.shifted", body, text)
                .await;
        } else {
            self.core.record(By::System, "traffic.shifted", body).await;
        }
    }

    /// Hands the new weights to the router at once and returns the `traffic.shifted`
    /// entry's body and timeline text, for the caller to record.
    fn shift_now(
        &mut self,
        on_deployment: bool,
        weights: &BTreeMap<String, u32>,
        by_instances: bool,
    ) -> (Value, String) {
        self.publish(|t| t.weights = weights.clone());
        let dep_id = match self.active.as_mut().filter(|_| on_deployment) {
            Some(d) => {
                d.status.weights = weights.clone();
                Some(d.id.clone())
            }
            None => None,
        };
        let wanted = by_instances.then(|| match self.active.as_ref() {
            Some(d) => *d.settings.instances,
            None => self
                .core
                .service_config(&self.name)
                .map_or(1, |s| *s.instances),
        });
        // `weights` stays as it was (relative weights, what the state fold reads); the
        // share in percent and, for instance counts, what they count out of are added.
        let mut body = json!({"service": self.name, "weights": weights,
            "deployment": dep_id,
            "percent": share::percentages(weights),
            "basis": if by_instances { "instances" } else { "percent" }});
        if let (Some(n), Some(b)) = (wanted, body.as_object_mut()) {
            b.insert("instances_wanted".into(), n.into());
        }
        (body, share::describe(weights, wanted))
    }

    /// Records one instance transition the driver reported.
    async fn instance(&mut self, ev: gantry_deploy::InstanceEvent) {
        let mut body = serde_json::Map::new();
        body.insert("service".into(), ev.service.clone().into());
        body.insert("version".into(), ev.version.clone().into());
        body.insert("instance".into(), ev.instance.clone().into());
        body.extend(ev.detail.clone());
        let kind = ev.kind.ledger_kind();
        let text = format!(
            "instance {} ({}) {}",
            ev.instance,
            ev.version,
            kind.trim_start_matches("instance.")
        );
        self.record_on(By::System, kind, Value::Object(body), text)
            .await;
    }

    /// The handle a job of the active deployment asks through.
    fn exec(&self) -> Option<Exec> {
        let dep = self.active.as_ref()?;
        Some(Exec::new(Arc::clone(&self.core), dep, self.tx.clone()))
    }

    /// A job's ask: applied, held while the operator's pause lasts (the gated ones), or
    /// refused once its deployment is over or aborted.
    async fn ask(&mut self, id: String, ask: Ask) {
        let Some(dep) = self.active.as_ref().filter(|d| d.id == id) else {
            ask.refuse();
            return;
        };
        if ask.gated() {
            let r = dep.requests();
            if r.abort || self.halted {
                ask.refuse();
                return;
            }
            if r.pause {
                self.held.push_back((id, ask));
                return;
            }
        }
        self.apply(ask).await;
    }

    /// Lets go of what the pause held (after a resume, a promote or an abort).
    async fn release_held(&mut self) {
        let held: Vec<(String, Ask)> = self.held.drain(..).collect();
        for (id, ask) in held {
            self.ask(id, ask).await;
        }
    }

    async fn apply(&mut self, ask: Ask) {
        match ask {
            Ask::Gate(reply) => self.answer(reply, Ok(())),
            Ask::Shift {
                weights,
                by_instances,
                reply,
                ..
            } => {
                self.shift(true, &weights, by_instances).await;
                self.answer(reply, Ok(()));
            }
            Ask::FailOver {
                failed,
                failed_text,
                triggered,
                triggered_text,
                weights,
                reply,
            } => {
                self.fail_over(failed, failed_text, triggered, triggered_text, &weights)
                    .await;
                self.answer(reply, Ok(()));
            }
            Ask::Preview { version, reply, .. } => {
                self.publish(|t| t.preview = version);
                self.answer(reply, Ok(()));
            }
            Ask::Enter {
                phase,
                by,
                extra,
                text,
                reply,
            } => {
                // The executor's own `progressing` follows `started` only: never over an
                // operator's pause that came before its first step.
                let from_start = self
                    .active
                    .as_ref()
                    .is_some_and(|d| d.status.phase == Phase::Started);
                if !(phase == Phase::Progressing && by == By::System && !from_start) {
                    self.enter(phase, by, extra, text).await;
                }
                self.answer(reply, Ok(()));
            }
            Ask::End {
                phase,
                by,
                extra,
                text,
                stable,
                reply,
            } => {
                self.enter(phase, by, extra, text).await;
                self.finish(stable);
                self.answer(reply, Ok(()));
            }
            Ask::Record {
                by,
                kind,
                body,
                text,
                reply,
            } => {
                self.record_on(by, &kind, body, text).await;
                self.answer(reply, Ok(()));
            }
            Ask::Note(note, reply) => {
                if let Some(d) = self.active.as_mut() {
                    match note {
                        Note::Step { index, current } => {
                            d.status.step = index;
                            d.status.current = current;
                        }
                        Note::WaitingForPromote(w) => d.status.waiting_for_promote = w,
                        Note::Analysis(a) => d.status.analysis = Some(a),
                        Note::Pause(p) => d.status.pause = p,
                    }
                }
                self.answer(reply, Ok(()));
            }
            Ask::InPause(inside, reply) => {
                if let Some(d) = self.active.as_ref() {
                    d.request(|r| {
                        r.in_pause = inside;
                        r.advance = 0;
                    });
                }
                self.answer(reply, Ok(()));
            }
            Ask::TakePromote(reply) => {
                let mut taken = false;
                if let Some(d) = self.active.as_ref() {
                    d.request(|r| {
                        taken = r.advance > 0;
                        r.advance = r.advance.saturating_sub(1);
                    });
                }
                self.answer(reply, Ok(taken));
            }
        }
    }
}
