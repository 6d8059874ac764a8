//! The runtime: one `select!` loop over terminal input (crossterm's `EventStream`), a frame
//! tick, actions reported by background tasks, the lab's start-up, and Ctrl-C. Each action goes
//! through the [`Driver`]'s effect loop — cheap reads inline, lab changes and scenario steps as
//! tokio tasks that report back on the loop's channel. The screen is drawn on every tick and
//! after every input, from [`view`].
//!
//! Background tasks: the engine's event stream (forwarded as [`Action::Engine`]) and the demo
//! [`Workload`] (forwarded as [`Action::Workload`]).

use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, SharedClock, Stopwatch, SystemClock};
use ekm_engine::config::{Config, EngineSettings};
use futures::StreamExt;
use ratatui::crossterm::event::{Event, EventStream};
use ratatui::layout::Rect;
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, BackendError};
use crate::driver::{Driver, Task};
use crate::keymap::{map_key, map_mouse};
use crate::model::{Action, ClockStatus, Model};
use crate::terminal;
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
    /// Tell this (validated) scenario as a story (`ekm demo`, `ekm play`).
    Play(Box<LoadedScenario>),
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
        Source::Play(loaded) => Backend::playback(*loaded).await,
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
    let mut driver = Driver::new(Some(clock.clone()));
    let mut first_frame = false;
    let size = tui.size()?;
    let screen = Action::Resize(Rect::new(0, 0, size.width, size.height));
    driver.dispatch(&mut model, screen, |task| spawn(task, &tx));
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
                    Some(Ok(Event::Resize(width, height))) => {
                        Some(Action::Resize(Rect::new(0, 0, width, height)))
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
                        let info = backend.info();
                        launch_tasks(&mut driver, backend, workload, &tx);
                        if info.scenario.is_some() {
                            // A scenario runs on its own manual clock.
                            let manual = ClockStatus { speed: None, paused: false };
                            driver.dispatch(&mut model, Action::Clock(manual), |task| spawn(task, &tx));
                        }
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
            driver.dispatch(&mut model, action, |task| spawn(task, &tx));
        }
        if model.quit {
            break;
        }
        if draw {
            let now = driver
                .backend()
                .map_or_else(|| clock.now(), |b| b.clock().now());
            tui.draw(|frame| view(&model, now, frame))?;
            let populated = !model.objects.is_empty() || !options.workload;
            if !first_frame && model.keys.is_some() && populated {
                first_frame = true;
                let elapsed = Action::FirstFrame(launch.elapsed());
                driver.dispatch(&mut model, elapsed, |task| spawn(task, &tx));
            }
        }
    }
    Ok(())
}

/// Starts the background tasks of a running lab and hands it to the driver.
fn launch_tasks(
    driver: &mut Driver,
    backend: Backend,
    workload: bool,
    tx: &mpsc::UnboundedSender<Action>,
) {
    let backend = Arc::new(backend);
    forward_engine_events(&backend, tx.clone());
    let workload = workload.then(|| spawn_workload(backend.clone(), tx.clone()));
    driver.attach(backend, workload);
}

/// Runs `task` and reports its actions, unless the console has left.
fn spawn(task: Task, tx: &mpsc::UnboundedSender<Action>) {
    let tx = tx.clone();
    tokio::spawn(async move {
        for action in task.await {
            // A closed channel means the console is leaving: nobody to tell.
            let _ = tx.send(action);
        }
    });
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

/// Runs the workload, a step every 200 ms of real time; the driver checks it on request.
fn spawn_workload(
    backend: Arc<Backend>,
    tx: mpsc::UnboundedSender<Action>,
) -> Arc<Mutex<Workload>> {
    let workload = Arc::new(Mutex::new(Workload::new(backend)));
    let stepping = workload.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(200));
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            let events = stepping.lock().await.step().await;
            for event in events {
                if tx.send(Action::Workload(Box::new(event))).is_err() {
                    return;
                }
            }
        }
    });
    workload
}
