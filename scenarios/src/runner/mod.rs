//! Running scenarios: a discrete-event simulation on one [`ManualClock`] shared by the mock KMS
//! and the engine of an [`EmbeddedLab`].
//!
//! [`Playback`] runs one scenario a step at a time (the console's `ekm play` renders the live
//! lab between steps); [`run`] plays one to the end and [`run_all`] runs many in parallel, each
//! in its own task with its own lab and clock. For each step the runner advances the clock to
//! the step's time — firing the timers that fall due on the way (fault windows ending,
//! revocation deadlines of the `revocation_effective_within` invariant) at their exact lab
//! time — performs the action, then checks the step's expectations and the invariants.
//!
//! Checking `readable` / `unreadable` reads the objects through the engine like any other read
//! (it may call the KMS and fill the cache); `kms_calls` and `cache` are checked first, so they
//! see only what the action did.

//!
//! # Layout
//!
//! - this module — [`Playback`]: the state of one run, stepping, [`run`] and [`run_all`].
//! - `setup` — the lab a scenario starts with: declared keys, per-key projects, the disk audit.
//! - `access` — the customer's access documents: the scenario's own, its other projects, the
//!   edits its steps make.
//! - `actions` — what a step does: seal and read objects, key actions, alias swap, switch-key.
//! - `traffic` — the `traffic:` workload.
//! - `faults` — fault windows: building the mock's rules, ending them on time.
//! - `fleet` — a fleet's keys, replicas and older data, and its `fleet-traffic`.
//! - `external` — the external key manager: `external-key`, `hsm-fleet`, `hop-fault`.
//! - `timers` — advancing the clock through due timers; the revocation deadline invariant.
//! - `checks` — a step's expectations and the disk invariant.
//! - `outcome` — an action's result and the error kind of an engine failure.
//! - `wording` — how steps are described in reports.

mod access;
mod actions;
mod checks;
mod documents;
mod external;
mod faults;
mod fleet;
mod outcome;
mod setup;
mod timers;
mod traffic;
mod wording;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock, Stopwatch};
use ekm_engine::{EncryptionContext, ProjectId};
use ekm_lab::{CallRecord, EmbeddedLab, LabError};
use time::OffsetDateTime;

use crate::audit::DiskAudit;
use crate::report::trace::Trace;
use crate::report::{Check, Event, Hop, ScenarioReport, StepReport};
use crate::schema::{Cloud, Scenario, StepTime, demo_key};
use crate::time::LabDuration;

use self::faults::ActiveFault;
use self::fleet::FleetLab;
pub use self::fleet::{FleetOutcome, SimulatedFleet, simulate};
pub use self::outcome::error_kind;
use self::timers::Revocation;
pub use self::wording::describe;
use crate::fleet::volume::FleetVolume;

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The lab did not start.
    #[error("lab: {0}")]
    Lab(#[from] LabError),
    /// A declared key could not be created or read.
    #[error("key `{name}`: {source}")]
    Key {
        /// The key.
        name: String,
        /// The mock's refusal.
        source: LabError,
    },
    /// The object store directory could not be made.
    #[error("object store directory: {0}")]
    StoreDir(std::io::Error),
    /// The scenario's access documents were refused.
    #[error("access documents: {0}")]
    Access(LabError),
    /// A fleet's older data could not be sealed.
    #[error("sealing a fleet's older data: {0}")]
    History(ekm_engine::EngineError),
}

/// A scenario loaded from somewhere, ready to run.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// The scenario.
    pub scenario: Scenario,
}

/// A scenario being played step by step against its own lab.
///
/// ```no_run
/// # async fn demo(scenario: ekm_scenarios::schema::Scenario) -> Result<(), ekm_scenarios::runner::RunError> {
/// use ekm_scenarios::runner::Playback;
/// let mut playback = Playback::start(scenario).await?;
/// while let Some(step) = playback.next_step().await {
///     println!("{} {} → {}", step.index, step.action, step.outcome);
///     let _snapshot = playback.lab().engine().snapshot(); // render the live lab here
/// }
/// let report = playback.finish().await;
/// assert!(report.passed());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Playback {
    scenario: Scenario,
    file: Option<PathBuf>,
    lab: EmbeddedLab,
    clock: Arc<ManualClock>,
    start: OffsetDateTime,
    stopwatch: Stopwatch,
    next: usize,
    /// Lab offset at which the previous step ended.
    previous_end: Duration,
    objects: BTreeMap<String, Sealed>,
    /// Projects registered on one key each, for objects declared with `key:`.
    extra_projects: BTreeMap<String, ProjectId>,
    /// The scenario's declared projects (`projects:`), by name.
    declared_projects: BTreeMap<String, ProjectId>,
    faults: Vec<ActiveFault>,
    revocations: Vec<Revocation>,
    /// The key each provider's project was switched to; absent = the demo registration (AWS:
    /// alias `ekm-demo`).
    registered: BTreeMap<Cloud, String>,
    alias_target: String,
    audit: Option<DiskAudit>,
    _store_dir: Option<tempfile::TempDir>,
    call_seq: u64,
    events: Vec<Event>,
    deferred_checks: Vec<Check>,
    reports: Vec<StepReport>,
    trace: Trace,
    /// The scenario's fleet, if it declares one.
    fleet: Option<FleetLab>,
    /// The volume of the `fleet-traffic` step being played, for its checks and report.
    fleet_volume: Option<FleetVolume>,
    /// KMS calls a step drained from the call log before its end (a fleet's traffic).
    drained_kms_calls: usize,
}

/// An object as last encrypted.
#[derive(Debug, Clone)]
struct Sealed {
    /// Lab name of the key that wrapped its DEK.
    key: String,
    /// The version of that key, when the lab could tell.
    version: Option<String>,
}

fn object_context(name: &str) -> EncryptionContext {
    EncryptionContext::new().with("object", name)
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl Playback {
    /// The running lab: its engine (snapshot, events), the mock (keys, faults, call log) and
    /// the clock.
    pub fn lab(&self) -> &EmbeddedLab {
        &self.lab
    }

    /// The scenario being played.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Lab time since the start of the scenario.
    pub fn elapsed(&self) -> Duration {
        Duration::try_from(self.clock.now() - self.start).unwrap_or_default()
    }

    /// When (lab time since the start) the next step happens, or `None` when all have run.
    pub fn next_step_at(&self) -> Option<Duration> {
        self.scenario
            .steps
            .get(self.next)
            .map(|step| self.start_of(step.time))
    }

    /// The steps played so far.
    pub fn reports(&self) -> &[StepReport] {
        &self.reports
    }

    /// Whether every step has run.
    pub fn is_finished(&self) -> bool {
        self.next >= self.scenario.steps.len()
    }

    fn start_of(&self, time: StepTime) -> Duration {
        match time {
            StepTime::At(LabDuration(t)) => t.max(self.previous_end),
            StepTime::After(LabDuration(d)) => self.previous_end.saturating_add(d),
        }
    }

    /// Advances the clock to the next step, runs it and checks it; `None` when all have run.
    pub async fn next_step(&mut self) -> Option<StepReport> {
        let step = self.scenario.steps.get(self.next)?.clone();
        let index = self.next;
        self.next += 1;
        let at = self.start_of(step.time);
        self.advance_to(self.start + to_time(at)).await;
        self.take_calls();

        let since_seq = self.call_seq;
        let done = self.act(&step.action).await;
        self.previous_end = self.elapsed().max(at);
        let calls = self.take_calls();
        let hops: Vec<Hop> = calls
            .iter()
            .filter_map(|call| {
                let side = call.hop.clone()?;
                Some(Hop {
                    at: Duration::try_from(call.time - self.start).unwrap_or_default(),
                    side,
                    provider: call.provider.as_str().to_owned(),
                    operation: call.operation.clone(),
                    key: call.key.clone(),
                    outcome: call.outcome.clone(),
                    latency_ms: call.latency_ms,
                })
            })
            .collect();

        let mut checks = std::mem::take(&mut self.deferred_checks);
        checks.extend(
            self.check_expectations(&step.action, step.expect.as_ref(), &done, since_seq)
                .await,
        );
        self.check_revocation_deadlines(&mut checks).await;
        self.check_disk(&mut checks);
        self.sample_cache();

        let (outcome, detail) = match done.outcome {
            Ok(()) => ("ok".to_owned(), done.detail),
            Err((kind, message)) => (kind.to_string(), message),
        };
        let report = StepReport {
            index,
            at,
            events: std::mem::take(&mut self.events),
            action: describe(&step.action),
            note: step.note.clone(),
            outcome,
            detail,
            kms_calls: calls.len() - hops.len() + std::mem::take(&mut self.drained_kms_calls),
            hops,
            checks,
            volume: self.fleet_volume.take().map(Box::new),
        };
        self.reports.push(report.clone());
        Some(report)
    }

    /// The report of the steps played so far (the story's "write the report" key): what
    /// [`finish`](Self::finish) would report had the scenario stopped here.
    pub fn report_so_far(&mut self) -> ScenarioReport {
        self.take_calls();
        self.sample_cache();
        let mut trace = self.trace.clone();
        trace.end = self.elapsed();
        ScenarioReport {
            name: self.scenario.name.clone(),
            file: self.file.clone(),
            description: self.scenario.description.clone(),
            steps: self.reports.clone(),
            error: None,
            wall: self.stopwatch.elapsed(),
            trace,
        }
    }

    /// Plays the remaining steps, stops the lab and reports.
    pub async fn finish(mut self) -> ScenarioReport {
        while self.next_step().await.is_some() {}
        self.take_calls();
        self.trace.end = self.elapsed();
        let report = ScenarioReport {
            name: self.scenario.name.clone(),
            file: self.file.clone(),
            description: self.scenario.description.clone(),
            steps: std::mem::take(&mut self.reports),
            error: None,
            wall: self.stopwatch.elapsed(),
            trace: std::mem::take(&mut self.trace),
        };
        self.lab.shutdown().await;
        report
    }

    /// Calls answered since the last look, into the trace (with their audit records).
    fn take_calls(&mut self) -> Vec<CallRecord> {
        let page = self.lab.calls_since(self.call_seq);
        self.call_seq = page.next;
        self.trace.add_calls(self.start, &page.calls);
        for call in &page.calls {
            if let Some(record) = self.lab.audit_record(call) {
                self.trace.audit_logs.add(call.provider, record);
            }
        }
        page.calls
    }

    /// Records the DEK caches' occupancy now.
    fn sample_cache(&mut self) {
        let at = self.elapsed();
        self.trace.sample_cache(at, &self.lab.engine().snapshot());
    }

    fn project(&self, provider: Cloud) -> Option<ProjectId> {
        self.lab.project(provider)
    }

    /// The lab key a provider's project seals with now.
    fn current_key(&self, provider: Cloud) -> String {
        match self.registered.get(&provider) {
            Some(key) => key.clone(),
            None if provider == Cloud::Aws => self.alias_target.clone(),
            None => demo_key(provider).to_owned(),
        }
    }
}

/// Plays `loaded` to the end. A lab that fails to start is reported as the run's error.
pub async fn run(loaded: LoadedScenario) -> ScenarioReport {
    let stopwatch = Stopwatch::start();
    let (name, description, file) = (
        loaded.scenario.name.clone(),
        loaded.scenario.description.clone(),
        loaded.file.clone(),
    );
    match Playback::start_from(loaded).await {
        Ok(playback) => playback.finish().await,
        Err(error) => ScenarioReport {
            name,
            file,
            description,
            steps: Vec::new(),
            error: Some(error.to_string()),
            wall: stopwatch.elapsed(),
            trace: Trace::default(),
        },
    }
}

/// Runs every scenario in parallel (one task each, each with its own lab and clock) and returns
/// the reports in input order. `on_done` is called as each finishes (for a progress bar).
pub async fn run_all(
    scenarios: Vec<LoadedScenario>,
    mut on_done: impl FnMut(&ScenarioReport),
) -> Vec<ScenarioReport> {
    let mut tasks = tokio::task::JoinSet::new();
    let count = scenarios.len();
    for (i, loaded) in scenarios.into_iter().enumerate() {
        let name = loaded.scenario.name.clone();
        let file = loaded.file.clone();
        let description = loaded.scenario.description.clone();
        tasks.spawn(async move {
            let stopwatch = Stopwatch::start();
            let handle = tokio::spawn(run(loaded));
            let report = handle.await.unwrap_or_else(|join| ScenarioReport {
                name,
                file,
                description,
                steps: Vec::new(),
                error: Some(format!("the run panicked: {join}")),
                wall: stopwatch.elapsed(),
                trace: Trace::default(),
            });
            (i, report)
        });
    }
    let mut reports: Vec<Option<ScenarioReport>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, report)) = joined {
            on_done(&report);
            reports[i] = Some(report);
        }
    }
    reports.into_iter().flatten().collect()
}
