//! The effect loop: [`Driver`] performs the [`Effect`]s that [`update`] returns against the
//! running [`Backend`] and feeds the actions they lead to back through `update`. Cheap effects
//! (refresh, clock) finish at once; lab changes, workload checks and scenario steps take time
//! and come back as a [`Task`]. The terminal runtime spawns tasks and hears back on its
//! channel; [`Driver::settle`] awaits each in turn instead, which makes the same loop
//! deterministic for the snapshot tests.

use std::collections::VecDeque;
use std::sync::Arc;

use ekm_engine::clock::{Clock, SystemClock};
use ekm_lab::{EmbeddedLab, KeyInfo, KeySpec, MockControl};
use ekm_scenarios::cli::one_line;
use ekm_vocab::{Cloud, KeyAction};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use crate::backend::Backend;
use crate::model::{Action, ClockStatus, Effect, Model, Refresh};
use crate::update::update;
use crate::view::text::action_label;
use crate::workload::Workload;

/// An effect still under way: it resolves to the actions it leads to.
pub type Task = BoxFuture<'static, Vec<Action>>;

/// What performing an effect leaves to do.
#[must_use]
pub enum Followup {
    /// Actions to apply now.
    Now(Vec<Action>),
    /// Actions to apply once the task is done.
    Later(Task),
}

impl std::fmt::Debug for Followup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Followup::Now(actions) => f.debug_tuple("Now").field(actions).finish(),
            Followup::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// The backend once it runs.
#[derive(Debug)]
struct Running {
    backend: Arc<Backend>,
    workload: Option<Arc<Mutex<Workload>>>,
}

/// Performs effects; see the module docs.
#[derive(Debug)]
pub struct Driver {
    clock: Option<Arc<SystemClock>>,
    running: Option<Running>,
}

impl Driver {
    /// A driver with no backend yet; `clock` is the real-time clock whose speed and pause the
    /// time keys control (`None`: a manual clock only jumps).
    pub fn new(clock: Option<Arc<SystemClock>>) -> Self {
        Self {
            clock,
            running: None,
        }
    }

    /// Starts driving `backend` (and `workload`, when the demo workload runs).
    pub fn attach(&mut self, backend: Arc<Backend>, workload: Option<Arc<Mutex<Workload>>>) {
        self.running = Some(Running { backend, workload });
    }

    /// The backend, once attached.
    pub fn backend(&self) -> Option<&Arc<Backend>> {
        self.running.as_ref().map(|r| &r.backend)
    }

    /// Applies `action` and everything its effects lead to; tasks go to `spawn`.
    pub fn dispatch(&mut self, model: &mut Model, action: Action, mut spawn: impl FnMut(Task)) {
        let mut queue = VecDeque::from([action]);
        while let Some(action) = queue.pop_front() {
            for effect in update(model, action) {
                match self.perform(effect) {
                    Followup::Now(actions) => queue.extend(actions),
                    Followup::Later(task) => spawn(task),
                }
            }
        }
    }

    /// Applies `action` and everything its effects lead to, awaiting each task in turn.
    pub async fn settle(&mut self, model: &mut Model, action: Action) {
        let mut queue = VecDeque::from([action]);
        while let Some(action) = queue.pop_front() {
            for effect in update(model, action) {
                match self.perform(effect) {
                    Followup::Now(actions) => queue.extend(actions),
                    Followup::Later(task) => queue.extend(task.await),
                }
            }
        }
    }

    /// Performs one effect.
    pub fn perform(&mut self, effect: Effect) -> Followup {
        let status = |clock: &SystemClock| {
            vec![Action::Clock(ClockStatus {
                speed: Some(clock.speed()),
                paused: clock.is_paused(),
            })]
        };
        let none = Followup::Now(Vec::new());
        match effect {
            Effect::Quit => none,
            Effect::SetPaused(paused) => match &self.clock {
                Some(clock) => {
                    clock.set_paused(paused);
                    Followup::Now(status(clock))
                }
                None => none,
            },
            Effect::SetSpeed(speed) => match &self.clock {
                Some(clock) => {
                    clock.set_speed(speed);
                    Followup::Now(status(clock))
                }
                None => none,
            },
            Effect::Advance(by) => {
                match (&self.running, &self.clock) {
                    (Some(running), _) => running.backend.clock().advance(by),
                    (None, Some(clock)) => clock.advance(by),
                    (None, None) => {}
                }
                none
            }
            Effect::Refresh => {
                let refreshed = |refresh: Option<Refresh>| {
                    refresh
                        .map(|refresh| Action::Refreshed(Box::new(refresh)))
                        .into_iter()
                        .collect()
                };
                match self.backend() {
                    Some(backend) if backend.remote().is_some() => match backend.remote_refresh() {
                        Some(read) => Followup::Later(read.map(refreshed).boxed()),
                        None => none,
                    },
                    Some(backend) => Followup::Now(refreshed(backend.refresh())),
                    None => none,
                }
            }
            Effect::CheckObjects => match self.running.as_ref().and_then(|r| r.workload.clone()) {
                Some(workload) => Followup::Later(check(workload).boxed()),
                None => none,
            },
            Effect::PlaySteps(count) => {
                let Some(playback) = self.backend().and_then(|b| b.scenario().cloned()) else {
                    return none;
                };
                Followup::Later(
                    async move {
                        let mut playback = playback.lock().await;
                        let mut steps = Vec::new();
                        for _ in 0..count {
                            let report = playback.next_step().await;
                            let last = report.is_none();
                            steps.push(Action::Stepped(report.map(|r| Box::new(r.into()))));
                            if last {
                                break;
                            }
                        }
                        steps
                    }
                    .boxed(),
                )
            }
            Effect::Restart(steps) => match self.backend().cloned() {
                Some(backend) => Followup::Later(
                    async move {
                        let result = backend.restart(steps).await.map_err(|e| e.to_string());
                        vec![Action::Restarted(result)]
                    }
                    .boxed(),
                ),
                None => none,
            },
            Effect::WriteReport => match self.backend().cloned() {
                Some(backend) => Followup::Later(
                    async move {
                        let dir = std::path::Path::new(crate::model::REPORT_DIR);
                        let written = backend.write_report(dir).await.map(|files| {
                            format!(
                                "report written: {} and {}",
                                files.html.display(),
                                files.markdown.display()
                            )
                        });
                        vec![Action::Done(written)]
                    }
                    .boxed(),
                ),
                None => none,
            },
            Effect::ReadPinned => match self.backend().cloned() {
                Some(backend) => Followup::Later(
                    async move {
                        backend
                            .read_pinned()
                            .await
                            .map(Action::Pinned)
                            .into_iter()
                            .collect()
                    }
                    .boxed(),
                ),
                None => none,
            },
            change @ (Effect::KeyAction { .. }
            | Effect::SwapAlias { .. }
            | Effect::SwitchKey { .. }
            | Effect::SetFaults(_)) => {
                let Some(running) = &self.running else {
                    return none;
                };
                let backend = running.backend.clone();
                let workload = running.workload.clone();
                Followup::Later(
                    async move {
                        let result = change_lab(&backend, change).await;
                        let changed = result.is_ok();
                        let mut actions = vec![Action::Done(result)];
                        if changed && let Some(workload) = workload {
                            actions.extend(check(workload).await);
                        }
                        actions
                    }
                    .boxed(),
                )
            }
        }
    }
}

/// One new object per cloud, then every object opened (after a key action or a jump).
async fn check(workload: Arc<Mutex<Workload>>) -> Vec<Action> {
    let events = workload.lock().await.check_now().await;
    events
        .into_iter()
        .map(|event| Action::Workload(Box::new(event)))
        .collect()
}

/// Where lab changes go: the console's own lab, or a lab mock in another process.
#[derive(Clone, Copy)]
enum Target<'a> {
    Embedded(&'a EmbeddedLab),
    Remote(&'a MockControl),
}

impl Target<'_> {
    async fn apply(self, key: &str, action: KeyAction) -> Result<KeyInfo, String> {
        match self {
            Target::Embedded(lab) => lab.apply(key, action).map_err(|e| one_line(&e)),
            Target::Remote(mock) => mock.apply(key, action).await.map_err(|e| one_line(&e)),
        }
    }

    async fn create(self, name: &str, cloud: Cloud) -> Result<(), String> {
        let spec = KeySpec::default_for(cloud);
        match self {
            Target::Embedded(lab) => lab.create_key(name, cloud, spec).map_err(|e| one_line(&e)),
            Target::Remote(mock) => mock
                .create_key(name, cloud, spec)
                .await
                .map_err(|e| one_line(&e)),
        }
        .map(drop)
    }

    async fn set_alias(self, alias: &str, target: &str) -> Result<(), String> {
        match self {
            Target::Embedded(lab) => lab.set_alias(alias, target).map_err(|e| one_line(&e)),
            Target::Remote(mock) => mock
                .set_alias(alias, target)
                .await
                .map_err(|e| one_line(&e)),
        }
    }

    async fn set_faults(self, rules: Vec<ekm_vocab::Fault>) -> Result<(), String> {
        match self {
            Target::Embedded(lab) => lab.set_faults(rules).map_err(|e| one_line(&e)),
            Target::Remote(mock) => mock.set_faults(rules).await.map_err(|e| one_line(&e)),
        }
    }
}

/// Performs a lab-changing effect (key action, alias swap, key switch, faults) on the embedded
/// lab or on the lab mock behind the registration; the message for the status bar, or why it
/// failed.
pub async fn change_lab(backend: &Backend, effect: Effect) -> Result<String, String> {
    let target = match (backend.lab(), backend.remote()) {
        (Some(lab), _) => Target::Embedded(lab),
        (None, Some(mock)) => Target::Remote(mock),
        (None, None) => {
            return Err("key actions need a lab mock: the embedded one, or mock-kms".to_owned());
        }
    };
    match effect {
        Effect::KeyAction { key, action } => {
            let info = target.apply(&key, action).await?;
            Ok(format!(
                "{} {}: {} v{}",
                action_label(action),
                key,
                info.state,
                info.versions.len()
            ))
        }
        Effect::SwapAlias {
            alias,
            target: key,
            create,
        } => {
            if create {
                target.create(&key, Cloud::Aws).await?;
            }
            target.set_alias(&alias, &key).await?;
            Ok(format!("alias/{alias} now points at {key}"))
        }
        Effect::SwitchKey {
            cloud,
            target: key,
            create,
        } => {
            let Target::Embedded(lab) = target else {
                return Err(format!(
                    "switching {cloud}'s key re-registers the project: edit the registration \
                     (ekm.yaml) and start again"
                ));
            };
            if create {
                target.create(&key, cloud).await?;
            }
            lab.switch_key(cloud, &key)
                .await
                .map_err(|e| one_line(&e))?;
            Ok(format!(
                "{cloud} now seals with {key}; old data readable until its DEKs expire"
            ))
        }
        Effect::SetFaults(rules) => {
            let count = rules.len();
            target.set_faults(rules).await?;
            Ok(format!("{count} fault rule(s) active"))
        }
        other => Err(format!("not a lab change: {other:?}")),
    }
}
