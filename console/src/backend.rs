//! What the console runs against ([`Backend`]): the embedded lab (mock KMS + engine on one
//! clock, every pane observable and every action available), or an `ekm.yaml` registration,
//! or a scenario's lab in `ekm play` (observable like the embedded lab; the scenario's steps
//! are the actions). A registration whose endpoints are a lab `mock-kms` on loopback is held
//! through that mock's control API ([`MockControl`]): its keys, call log, key and fault actions
//! work as in the embedded lab. Against real clouds the keys are the customer's, so their
//! state, the KMS's call log and key actions are out of reach, and the call log shows the
//! engine's own KMS calls. [`Backend::refresh`] (or [`Backend::remote_refresh`]) reads what
//! the panes show; [`Labels`] names keys and key versions the way the lab does.

use ekm_engine::clock::SharedClock;
use ekm_engine::config::{Config, EngineSettings};
use ekm_engine::registration::{self, Cloud, SetupError};
use ekm_engine::{Engine, KeyReference, ProjectId};
use ekm_lab::{CallPage, EmbeddedLab, KeyInfo, LabError, LabOptions, MockControl};
use ekm_scenarios::runner::{LoadedScenario, Playback, RunError};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::Mutex;

use ekm_scenarios::report::StepReport;

use crate::model::{
    CacheRow, CallRow, KeyRow, LabInfo, ProjectRow, Refresh, ScenarioInfo, StepView,
};
use crate::pinned;
use crate::story::Pinned;
use crate::view::text::tail;

/// Why the console could not start its backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The embedded lab did not start.
    #[error("embedded lab: {0}")]
    Lab(#[from] LabError),
    /// The registration could not be read.
    #[error(transparent)]
    Config(#[from] ekm_engine::config::ConfigError),
    /// A registered provider could not be set up.
    #[error("registration: {0}")]
    Setup(#[from] SetupError),
    /// The scenario's lab did not start.
    #[error("scenario: {0}")]
    Scenario(#[from] RunError),
    /// The scenario file is invalid.
    #[error(transparent)]
    ScenarioFile(#[from] ekm_scenarios::validate::ScenarioError),
}

/// The embedded lab or a registration's engine.
#[derive(Debug)]
pub struct Backend {
    current: RwLock<Current>,
    kind: Kind,
    source: String,
    /// The story's remembered refusals (see [`pinned::Verdicts`]).
    verdicts: pinned::Verdicts,
}

/// The engine the panes show; a restarted story swaps in its fresh lab's.
#[derive(Debug, Clone)]
struct Current {
    engine: Engine,
    clock: SharedClock,
    projects: Vec<(Cloud, ProjectId)>,
    /// The mock's call log is read from this sequence number on.
    since: u64,
}

#[derive(Debug)]
enum Kind {
    /// The console's own embedded lab.
    Lab(Box<EmbeddedLab>),
    /// A registration: the engine, and the control API of the lab mock behind it, if it is one.
    Registration(Option<Remote>),
    /// A scenario's lab, owned by its playback (locked while a step runs), and the scenario
    /// to start again from.
    Playback(Arc<Mutex<Playback>>, Box<LoadedScenario>),
}

/// A lab mock in another process, held through its control API.
#[derive(Debug)]
struct Remote {
    control: MockControl,
    /// The keys and aliases as last read.
    labels: RwLock<Labels>,
    /// Set while a refresh is on its way, so slow answers never pile up.
    refreshing: AtomicBool,
}

impl Backend {
    /// Starts the embedded demo lab on `clock` with the engine `timings`.
    pub async fn embedded(
        clock: SharedClock,
        timings: EngineSettings,
    ) -> Result<Self, BackendError> {
        let lab = EmbeddedLab::start(LabOptions {
            engine: Some(timings),
            ..LabOptions::new(clock.clone())
        })
        .await?;
        let projects = lab
            .clouds()
            .filter_map(|cloud| lab.project(cloud).map(|p| (cloud, p)))
            .collect();
        Ok(Self {
            current: RwLock::new(Current {
                engine: lab.engine().clone(),
                clock,
                projects,
                since: 0,
            }),
            kind: Kind::Lab(Box::new(lab)),
            source: "embedded mock KMS".into(),
            verdicts: pinned::Verdicts::default(),
        })
    }

    /// Starts the scenario `loaded` in its own lab (on its own manual clock), ready to play
    /// step by step.
    pub async fn playback(loaded: LoadedScenario) -> Result<Self, BackendError> {
        let playback = Playback::start_from(loaded.clone()).await?;
        let current = Current::of(&playback);
        let source = format!("scenario {}", playback.scenario().name);
        Ok(Self {
            current: RwLock::new(current),
            kind: Kind::Playback(Arc::new(Mutex::new(playback)), Box::new(loaded)),
            source,
            verdicts: pinned::Verdicts::default(),
        })
    }

    /// The scenario playback, in story mode.
    pub fn scenario(&self) -> Option<&Arc<Mutex<Playback>>> {
        match &self.kind {
            Kind::Playback(playback, _) => Some(playback),
            _ => None,
        }
    }

    /// Starts the scenario again in a fresh lab and replays its first `steps` steps; what they
    /// did.
    pub async fn restart(&self, steps: usize) -> Result<Vec<StepView>, BackendError> {
        let Kind::Playback(playback, loaded) = &self.kind else {
            return Ok(Vec::new());
        };
        let mut fresh = Playback::start_from((**loaded).clone()).await?;
        let mut played = Vec::new();
        for _ in 0..steps {
            match fresh.next_step().await {
                Some(report) => played.push(StepView::from(report)),
                None => break,
            }
        }
        let current = Current::of(&fresh);
        let old = std::mem::replace(&mut *playback.lock().await, fresh);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = current;
        self.verdicts.clear();
        old.finish().await;
        Ok(played)
    }

    /// Re-reads the scenario's declared objects (see [`pinned::read`]); `None` outside story
    /// mode or while a step holds the lab.
    pub async fn read_pinned(&self) -> Option<Vec<Pinned>> {
        let playback = self.scenario()?.try_lock().ok()?;
        Some(pinned::read(&playback, &self.verdicts).await)
    }

    /// Writes the report of the story so far (`index.html`, `summary.md`) to `dir`, made
    /// absolute so the status line says exactly where; why not, on one line.
    pub async fn write_report(
        &self,
        dir: &std::path::Path,
    ) -> Result<ekm_scenarios::report::ReportFiles, String> {
        let playback = self.scenario().ok_or("no story to report on")?;
        let report = playback.lock().await.report_so_far();
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        ekm_scenarios::report::write_report(&dir, &[report]).map_err(|error| {
            format!(
                "cannot write the report: {}",
                ekm_scenarios::cli::one_line(&error)
            )
        })
    }

    /// An engine for the registration in `config`, on `clock` (`origin` names it).
    pub async fn registered(
        config: &Config,
        origin: &str,
        clock: SharedClock,
    ) -> Result<Self, BackendError> {
        let engine = Engine::builder(clock.clone())
            .config(config.engine.engine_config())
            .build();
        let mut projects = Vec::new();
        for (cloud, kek) in registration::connect_all(config, &clock).await? {
            let project = ProjectId::from(format!("{}/{cloud}", config.project_id).as_str());
            engine.register(project.clone(), kek);
            projects.push((cloud, project));
        }
        let remote = MockControl::find(config).await.map(|control| Remote {
            control,
            labels: RwLock::default(),
            refreshing: AtomicBool::new(false),
        });
        let source = match &remote {
            Some(remote) => format!("{origin} · mock {}", remote.control.base()),
            None => origin.to_owned(),
        };
        Ok(Self {
            current: RwLock::new(Current {
                engine,
                clock,
                projects,
                since: 0,
            }),
            kind: Kind::Registration(remote),
            source,
            verdicts: pinned::Verdicts::default(),
        })
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.current().engine.clone()
    }

    /// The lab clock.
    pub fn clock(&self) -> SharedClock {
        self.current().clock.clone()
    }

    /// The console's own embedded lab, when there is one (key actions work on it).
    pub fn lab(&self) -> Option<&EmbeddedLab> {
        match &self.kind {
            Kind::Lab(lab) => Some(lab),
            _ => None,
        }
    }

    /// The control API of the lab mock behind the registration, when there is one.
    pub fn remote(&self) -> Option<&MockControl> {
        match &self.kind {
            Kind::Registration(Some(remote)) => Some(&remote.control),
            _ => None,
        }
    }

    /// Calls `f` with the lab whose state the panes show, if it can be read now (a playback's
    /// lab is busy while a step runs).
    fn with_lab<R>(&self, f: impl FnOnce(Option<&EmbeddedLab>) -> R) -> Option<R> {
        match &self.kind {
            Kind::Lab(lab) => Some(f(Some(lab))),
            Kind::Registration(_) => Some(f(None)),
            Kind::Playback(playback, _) => playback.try_lock().ok().map(|p| f(Some(p.lab()))),
        }
    }

    /// The engine's projects, one per registered cloud.
    pub fn projects(&self) -> Vec<(Cloud, ProjectId)> {
        self.current().projects.clone()
    }

    /// What the model needs to know once.
    pub fn info(&self) -> LabInfo {
        let engine = self.engine();
        let config = engine.config();
        LabInfo {
            source: self.source.clone(),
            key_actions: matches!(self.kind, Kind::Lab(_) | Kind::Registration(Some(_))),
            dek_rotation: config.dek_rotation,
            revalidate_after: config.revalidate_after,
            engine_calls: matches!(self.kind, Kind::Registration(None)),
            scenario: match &self.kind {
                Kind::Playback(playback, _) => playback
                    .try_lock()
                    .ok()
                    .map(|p| ScenarioInfo::new(p.scenario(), p.lab().clock().now() - p.elapsed())),
                _ => None,
            },
        }
    }

    /// The current names of keys and aliases.
    pub fn labels(&self) -> Labels {
        if let Kind::Registration(Some(remote)) = &self.kind {
            return remote
                .labels
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
        }
        self.with_lab(|lab| lab.map(Labels::of).unwrap_or_default())
            .unwrap_or_default()
    }

    /// For a registration held through a mock's control API: reading what the panes show, as
    /// a task (`None` while the previous read is still on its way, or for any other backend).
    /// A mock that stopped answering leaves the panes as they were.
    pub fn remote_refresh(self: &Arc<Self>) -> Option<BoxFuture<'static, Option<Refresh>>> {
        let Kind::Registration(Some(remote)) = &self.kind else {
            return None;
        };
        if remote.refreshing.swap(true, Ordering::AcqRel) {
            return None;
        }
        let backend = self.clone();
        Some(
            async move {
                let Kind::Registration(Some(remote)) = &backend.kind else {
                    return None;
                };
                let since = backend.current().since;
                let control = &remote.control;
                let read = futures::try_join!(
                    control.keys(),
                    control.aliases(),
                    control.calls_since(since)
                );
                remote.refreshing.store(false, Ordering::Release);
                let (keys, aliases, page) = read.ok()?;
                let labels = Labels { keys, aliases };
                *remote
                    .labels
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = labels.clone();
                Some(backend.refresh_with(Some((labels, since, page))))
            }
            .boxed(),
        )
    }

    /// Keys, projects, both DEK caches and the calls logged after `*since` (which moves on);
    /// `None` while a scenario step holds the lab.
    pub fn refresh(&self) -> Option<Refresh> {
        self.with_lab(|lab| self.refresh_from(lab))
    }

    fn refresh_from(&self, lab: Option<&EmbeddedLab>) -> Refresh {
        let since = self.current().since;
        self.refresh_with(lab.map(|lab| (Labels::of(lab), since, lab.calls_since(since))))
    }

    /// What the panes show, given the mock's keys and the calls after sequence number `since`
    /// when the mock is observable. Calls read from another `since` than the current one (a
    /// restarted story swapped its lab in meanwhile) are left for the next read.
    fn refresh_with(&self, observed: Option<(Labels, u64, CallPage)>) -> Refresh {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let keys = observed.as_ref().map(|(labels, _, _)| labels.key_rows());
        let (labels, page) = match observed {
            Some((labels, since, page)) => (labels, Some(page).filter(|_| since == current.since)),
            None => (Labels::default(), None),
        };
        let projects = current
            .projects
            .iter()
            .map(|(cloud, project)| {
                let active = current.engine.active_key(project);
                let (key, key_name) = active
                    .as_ref()
                    .map_or(("—".to_owned(), None), |k| labels.kek(k));
                ProjectRow {
                    cloud: *cloud,
                    project: project.as_str().to_owned(),
                    key,
                    key_name,
                }
            })
            .collect();
        let snapshot = current.engine.snapshot();
        let cache = snapshot
            .entries
            .iter()
            .map(|e| CacheRow {
                path: e.path,
                dek: e.dek.short(),
                kek: labels.kek(&e.key).0,
                project: e.project.as_str().to_owned(),
                created_at: e.created_at,
                expires_at: e.expires_at,
                next_rotation: e.next_rotation,
                uses: e.uses,
            })
            .collect();
        let calls = match page {
            Some(page) => {
                current.since = page.next;
                page.calls
                    .into_iter()
                    .map(|c| CallRow {
                        time: c.time,
                        provider: c.provider.as_str().to_owned(),
                        operation: c.operation,
                        key: c.key,
                        outcome: c.outcome,
                        latency_ms: c.latency_ms,
                        hop: c.hop,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        Refresh {
            keys,
            projects,
            cache,
            calls,
        }
    }
}

impl Current {
    fn of(playback: &Playback) -> Self {
        let lab = playback.lab();
        Self {
            engine: lab.engine().clone(),
            clock: lab.clock().clone(),
            projects: lab
                .clouds()
                .filter_map(|cloud| lab.project(cloud).map(|p| (cloud, p)))
                .collect(),
            since: lab.calls_since(0).next,
        }
    }
}

impl From<StepReport> for StepView {
    fn from(report: StepReport) -> Self {
        Self {
            at: report.at,
            outcome: report.outcome,
            note: report.note,
            checks: report
                .checks
                .into_iter()
                .map(|c| (c.expected, c.actual, c.passed))
                .collect(),
        }
    }
}

/// Names for keys and key versions, from the mock's keys and aliases.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    keys: Vec<KeyInfo>,
    aliases: BTreeMap<String, String>,
}

impl Labels {
    fn of(lab: &EmbeddedLab) -> Self {
        Self {
            keys: lab.keys(),
            aliases: lab.aliases(),
        }
    }

    fn key_rows(&self) -> Vec<KeyRow> {
        self.keys
            .iter()
            .map(|k| KeyRow {
                name: k.name.clone(),
                provider: k.provider.as_str().to_owned(),
                state: k.state.to_owned(),
                versions: k.versions.len(),
                access: Some(k.access),
                trust: Some(k.trust),
                aliases: self
                    .aliases
                    .iter()
                    .filter(|(_, target)| **target == k.name)
                    .map(|(alias, _)| alias.clone())
                    .collect(),
            })
            .collect()
    }

    fn by_id(&self, id: &str) -> Option<&KeyInfo> {
        self.keys
            .iter()
            .find(|k| id == k.id || id.starts_with(&format!("{}/", k.id)))
    }

    /// The label of a KEK (`@ekm-demo` for an alias, `gcp-demo`) and the lab name of the key it is.
    pub fn kek(&self, key: &KeyReference) -> (String, Option<String>) {
        let id = key.key();
        if let Some((_, alias)) = id.split_once(":alias/") {
            return (format!("@{alias}"), self.aliases.get(alias).cloned());
        }
        match self.by_id(id) {
            Some(info) => (info.name.clone(), Some(info.name.clone())),
            None => (tail(id).to_owned(), None),
        }
    }

    /// The label of the key version an envelope names (`gcp-demo v2`). AWS names no version,
    /// so the key's current primary is shown (right at seal time).
    pub fn version(&self, hint: &str) -> String {
        let Some(info) = self.by_id(hint) else {
            return tail(hint).to_owned();
        };
        let version = tail(hint);
        let index = info
            .versions
            .iter()
            .position(|v| v == version)
            .map_or(info.versions.len(), |i| i + 1);
        format!("{} v{index}", info.name)
    }
}
