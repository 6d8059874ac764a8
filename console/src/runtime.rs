//! The runtime: one `select!` loop over terminal input (crossterm's `EventStream`), a frame
//! tick, actions reported by background tasks, the lab's start-up, and Ctrl-C. Each action goes
//! through [`update`]; the effects it returns run here — cheap reads inline, lab changes as
//! tokio tasks that report back as [`Action::Done`]. The screen is drawn on every tick and
//! after every input, from [`view`].
//!
//! Background tasks: the engine's event stream (forwarded as [`Action::Engine`]) and the demo
//! [`Workload`] (forwarded as [`Action::Workload`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, SharedClock, Stopwatch, SystemClock};
use ekm_engine::config::{Config, EngineSettings};
use ekm_mock_kms::keys::{KeySpec, Provider};
use futures::StreamExt;
use ratatui::crossterm::event::{Event, EventStream};
use ratatui::layout::Rect;
use tokio::sync::{broadcast, mpsc};
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, BackendError};
use crate::keymap::{map_key, map_mouse};
use crate::model::{Action, ClockStatus, Effect, Model, StepView};
use crate::terminal;
use crate::update::{action_label, update};
use crate::view::{layout, view};
use crate::workload::Workload;
use ekm_scenarios::runner::LoadedScenario;

/// What to run against.
#[derive(Debug, Clone)]
pub enum Source {
    /// The embedded demo lab.
    Embedded,
    /// The registration in this `ekm.yaml`.
    Config(PathBuf),
    /// Play this scenario file step by step (`ekm play`).
    Play(PathBuf),
}

/// How to run the console.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to run against.
    pub source: Source,
    /// Lab-time speed factor.
    pub speed: f64,
    /// Frames per second.
    pub fps: u32,
    /// Calls the log keeps.
    pub log_capacity: usize,
    /// Whether to run the demo workload.
    pub workload: bool,
    /// Engine timings given on the command line.
    pub timings: Timings,
}

/// Engine timings that override the defaults (or the registration's own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Encrypt-path DEK rotation period.
    pub dek_rotation: Option<Duration>,
    /// Cache re-validation period.
    pub revalidate_after: Option<Duration>,
}

impl Timings {
    /// `settings` with these timings applied.
    pub fn apply(self, mut settings: EngineSettings) -> EngineSettings {
        settings.dek_rotation = self.dek_rotation.unwrap_or(settings.dek_rotation);
        settings.revalidate_after = self.revalidate_after.unwrap_or(settings.revalidate_after);
        settings
    }
}

/// Why the console stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// The lab once it runs.
#[derive(Debug)]
struct Running {
    backend: Arc<Backend>,
    since: u64,
    workload: Option<mpsc::UnboundedSender<()>>,
}

async fn start(
    source: Source,
    timings: Timings,
    clock: SharedClock,
) -> Result<Backend, BackendError> {
    match source {
        Source::Embedded => {
            Backend::embedded(clock, timings.apply(EngineSettings::default())).await
        }
        Source::Config(path) => {
            let mut config = Config::from_file(&path)?;
            config.engine = timings.apply(config.engine);
            Backend::registered(&config, &path.display().to_string(), clock).await
        }
        Source::Play(path) => {
            let scenario = ekm_scenarios::validate::load(&path)?;
            Backend::playback(LoadedScenario {
                file: Some(path),
                scenario,
            })
            .await
        }
    }
}

/// Runs the console until the user quits.
pub async fn run(options: Options) -> Result<(), RunError> {
    let launch = Stopwatch::start();
    let clock = Arc::new(SystemClock::with_speed(options.speed));
    let mut starting = Some(tokio::spawn(start(
        options.source.clone(),
        options.timings,
        clock.clone(),
    )));
    let (mut tui, _guard) = terminal::init()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut model = Model::new(options.log_capacity, Some(clock.speed()));
    let mut input = EventStream::new();
    let period = Duration::from_secs_f64(1.0 / f64::from(options.fps.clamp(1, 60)));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());
    let mut running: Option<Running> = None;
    let mut first_frame = false;
    loop {
        let (action, draw) = tokio::select! {
            _ = ticks.tick() => (Some(Action::Tick), true),
            event = input.next() => {
                let action = match event {
                    Some(Ok(Event::Key(key))) => map_key(model.mode, key),
                    Some(Ok(Event::Mouse(mouse))) => {
                        let size = tui.size()?;
                        let areas = layout(Rect::new(0, 0, size.width, size.height));
                        map_mouse(&model, &areas, mouse)
                    }
                    Some(Ok(_)) => None,
                    Some(Err(error)) => return Err(error.into()),
                    None => Some(Action::Quit),
                };
                (action, true)
            }
            Some(action) = rx.recv() => (Some(action), false),
            started = async {
                match starting.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            }, if starting.is_some() => {
                starting = None;
                let action = match started {
                    Ok(Ok(backend)) => {
                        let workload = options.workload && backend.scenario().is_none();
                        let lab = launch_tasks(backend, workload, &tx);
                        let info = lab.backend.info();
                        if info.scenario.is_some() {
                            // A scenario runs on its own manual clock.
                            let manual = ClockStatus { speed: None, paused: false };
                            dispatch(&mut model, Action::Clock(manual), &mut running, &clock, &tx);
                        }
                        running = Some(lab);
                        Action::Started(Box::new(info))
                    }
                    Ok(Err(error)) => Action::StartFailed(error.to_string()),
                    Err(error) => Action::StartFailed(format!("the lab's start-up task failed: {error}")),
                };
                (Some(action), true)
            }
            _ = &mut ctrl_c => (Some(Action::Quit), false),
        };
        if let Some(action) = action {
            dispatch(&mut model, action, &mut running, &clock, &tx);
        }
        if model.quit {
            break;
        }
        if draw {
            let now = running
                .as_ref()
                .map_or_else(|| clock.now(), |r| r.backend.clock().now());
            tui.draw(|frame| view(&model, now, frame))?;
            let populated = !model.objects.is_empty() || !options.workload;
            if !first_frame && model.keys.is_some() && populated {
                first_frame = true;
                dispatch(
                    &mut model,
                    Action::FirstFrame(launch.elapsed()),
                    &mut running,
                    &clock,
                    &tx,
                );
            }
        }
    }
    Ok(())
}

/// Applies `action` and everything its effects lead to.
fn dispatch(
    model: &mut Model,
    action: Action,
    running: &mut Option<Running>,
    clock: &Arc<SystemClock>,
    tx: &mpsc::UnboundedSender<Action>,
) {
    let mut queue = VecDeque::from([action]);
    while let Some(action) = queue.pop_front() {
        for effect in update(model, action) {
            perform(effect, running, clock, tx, &mut queue);
        }
    }
}

fn perform(
    effect: Effect,
    running: &mut Option<Running>,
    clock: &Arc<SystemClock>,
    tx: &mpsc::UnboundedSender<Action>,
    queue: &mut VecDeque<Action>,
) {
    let status = |clock: &SystemClock| ClockStatus {
        speed: Some(clock.speed()),
        paused: clock.is_paused(),
    };
    match effect {
        Effect::Quit => {}
        Effect::SetPaused(paused) => {
            clock.set_paused(paused);
            queue.push_back(Action::Clock(status(clock)));
        }
        Effect::SetSpeed(speed) => {
            clock.set_speed(speed);
            queue.push_back(Action::Clock(status(clock)));
        }
        Effect::Advance(by) => match running {
            Some(running) => running.backend.clock().advance(by),
            None => clock.advance(by),
        },
        Effect::Refresh => {
            if let Some(running) = running
                && let Some(refresh) = running.backend.refresh(&mut running.since)
            {
                queue.push_back(Action::Refreshed(Box::new(refresh)));
            }
        }
        Effect::CheckObjects => {
            if let Some(workload) = running.as_ref().and_then(|r| r.workload.as_ref()) {
                // The workload task only ends with the runtime.
                let _ = workload.send(());
            }
        }
        Effect::PlayStep => {
            let Some(playback) = running.as_ref().and_then(|r| r.backend.scenario().cloned())
            else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let report = playback.lock().await.next_step().await;
                let step = report.map(|report| {
                    Box::new(StepView {
                        outcome: report.outcome,
                        note: report.note,
                        checks: report
                            .checks
                            .into_iter()
                            .map(|c| (c.expected, c.actual, c.passed))
                            .collect(),
                    })
                });
                // A closed channel means the console is leaving: nobody to tell.
                let _ = tx.send(Action::Stepped(step));
            });
        }
        Effect::KeyAction { .. }
        | Effect::SwapAlias { .. }
        | Effect::SwitchKey { .. }
        | Effect::SetFaults(_) => {
            let Some(running) = running else { return };
            let backend = running.backend.clone();
            let tx = tx.clone();
            let check = running.workload.clone();
            tokio::spawn(async move {
                let result = change_lab(&backend, effect).await;
                let changed = result.is_ok();
                // A closed channel means the console is leaving: nobody to tell.
                let _ = tx.send(Action::Done(result));
                if changed && let Some(check) = check {
                    let _ = check.send(());
                }
            });
        }
    }
}

/// Performs a lab-changing effect (key action, alias swap, key switch, faults); the message
/// for the status bar, or why it failed.
pub async fn change_lab(backend: &Backend, effect: Effect) -> Result<String, String> {
    let lab = backend
        .lab()
        .ok_or_else(|| "key actions need the embedded lab".to_owned())?;
    let mock = lab.mock().lab();
    let create = |name: &str, provider: Provider| {
        mock.create_key(name, provider, KeySpec::default_for(provider))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    match effect {
        Effect::KeyAction { key, action } => {
            let info = mock.apply(&key, action).map_err(|e| e.to_string())?;
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
            target,
            create: new,
        } => {
            if new {
                create(&target, Provider::Aws)?;
            }
            mock.set_alias(&alias, &target).map_err(|e| e.to_string())?;
            Ok(format!("alias/{alias} now points at {target}"))
        }
        Effect::SwitchKey {
            cloud,
            target,
            create: new,
        } => {
            if new {
                let provider: Provider = cloud
                    .as_str()
                    .parse()
                    .map_err(|e: ekm_mock_kms::error::StateError| e.to_string())?;
                create(&target, provider)?;
            }
            lab.switch_key(cloud, &target)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "{cloud} now seals with {target}; old data readable until its DEKs expire"
            ))
        }
        Effect::SetFaults(rules) => {
            let count = rules.len();
            mock.faults().set(rules).map_err(|e| e.to_string())?;
            Ok(format!("{count} fault rule(s) active"))
        }
        other => Err(format!("not a lab change: {other:?}")),
    }
}

/// Starts the background tasks of a running lab.
fn launch_tasks(backend: Backend, workload: bool, tx: &mpsc::UnboundedSender<Action>) -> Running {
    let backend = Arc::new(backend);
    forward_engine_events(&backend, tx.clone());
    let workload = workload.then(|| spawn_workload(backend.clone(), tx.clone()));
    Running {
        backend,
        since: 0,
        workload,
    }
}

/// Forwards the engine's events as actions until the console leaves.
fn forward_engine_events(backend: &Backend, tx: mpsc::UnboundedSender<Action>) {
    let mut events = backend.engine().subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if tx.send(Action::Engine(Box::new(event))).is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Runs the workload: a step every 200 ms of real time, a full check on request.
fn spawn_workload(
    backend: Arc<Backend>,
    tx: mpsc::UnboundedSender<Action>,
) -> mpsc::UnboundedSender<()> {
    let (check_tx, mut check_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut workload = Workload::new(backend);
        let mut every = tokio::time::interval(Duration::from_millis(200));
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let events = tokio::select! {
                _ = every.tick() => workload.step().await,
                request = check_rx.recv() => match request {
                    Some(()) => workload.check_now().await,
                    None => return,
                },
            };
            for event in events {
                if tx.send(Action::Workload(Box::new(event))).is_err() {
                    return;
                }
            }
        }
    });
    check_tx
}
