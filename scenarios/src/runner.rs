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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock, SharedClock, Stopwatch};
use ekm_engine::events::CachePath;
use ekm_engine::{EncryptionContext, EngineError, KmsError, ObjectName, ProjectId};
use ekm_lab::{EmbeddedLab, LabError, LabOptions};
use ekm_mock_kms::faults::{FaultOperation, FaultRule, Throttle};
use ekm_mock_kms::keys::KeySpec;
use time::OffsetDateTime;

use crate::audit::{DiskAudit, wrapping_key};
use crate::report::{Check, Event, ScenarioReport, StepReport};
use crate::schema::{
    Action, CallOp, ErrorKind, Expect, Fault, FaultKind, KeyAction, Outcome, Provider, Scenario,
    StepTime, Traffic, Vocabulary, fault_op_word, injected_error_word,
};
use crate::time::{LabDuration, clock_offset, compact};
use crate::validate::call_bounds;

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
        source: ekm_mock_kms::error::StateError,
    },
    /// The object store directory could not be made.
    #[error("object store directory: {0}")]
    StoreDir(std::io::Error),
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
    faults: Vec<ActiveFault>,
    revocations: Vec<Revocation>,
    /// The key each provider's project was switched to; absent = the demo registration (AWS:
    /// alias `ekm-demo`).
    registered: BTreeMap<Provider, String>,
    alias_target: String,
    audit: Option<DiskAudit>,
    _store_dir: Option<tempfile::TempDir>,
    call_seq: u64,
    events: Vec<Event>,
    deferred_checks: Vec<Check>,
    reports: Vec<StepReport>,
}

/// An object as last encrypted.
#[derive(Debug, Clone)]
struct Sealed {
    /// Lab name of the key that wrapped its DEK.
    key: String,
}

#[derive(Debug)]
struct ActiveFault {
    rule: FaultRule,
    until: OffsetDateTime,
    label: String,
}

/// A revocation the `revocation_effective_within` invariant watches.
#[derive(Debug)]
struct Revocation {
    key: String,
    cause: RevocationCause,
    at: OffsetDateTime,
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevocationCause {
    Key(KeyAction),
    AliasSwap,
    SwitchKey,
}

/// The result of an action.
struct Done {
    outcome: Result<(), (ErrorKind, String)>,
    detail: String,
}

impl Done {
    fn ok(detail: impl Into<String>) -> Self {
        Self {
            outcome: Ok(()),
            detail: detail.into(),
        }
    }

    fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            outcome: Err((kind, message.into())),
            detail: String::new(),
        }
    }
}

/// The error kind of an engine failure.
pub fn error_kind(error: &EngineError) -> ErrorKind {
    if let Some(kms) = error.kms_error() {
        return match kms {
            KmsError::AccessDenied { .. } => ErrorKind::AccessDenied,
            KmsError::KeyDisabled { .. } => ErrorKind::KeyDisabled,
            KmsError::KeyNotFound { .. } => ErrorKind::KeyNotFound,
            KmsError::KeyDestroyed { .. } => ErrorKind::KeyDestroyed,
            KmsError::Throttled { .. } => ErrorKind::Throttled,
            KmsError::Unavailable { .. } => ErrorKind::Unavailable,
            KmsError::InvalidCiphertext { .. } => ErrorKind::InvalidCiphertext,
            KmsError::Authentication { .. } => ErrorKind::Authentication,
            KmsError::Transport { .. } => ErrorKind::Transport,
            _ => ErrorKind::Other,
        };
    }
    match error {
        EngineError::UnknownKey { .. } => ErrorKind::UnknownKey,
        EngineError::NoProvider { .. } => ErrorKind::NoProvider,
        EngineError::Envelope(_) | EngineError::DekConflict { .. } => ErrorKind::Envelope,
        EngineError::Store(_) => ErrorKind::Store,
        _ => ErrorKind::Other,
    }
}

fn object_context(name: &str) -> EncryptionContext {
    EncryptionContext::new().with("object", name)
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl Playback {
    /// Starts a fresh lab for `scenario` (mock KMS with the demo tenant on port 0, engine on a
    /// new `ManualClock`), creates its declared keys and, for `no_plaintext_dek_on_disk`, a
    /// temporary object-store directory.
    pub async fn start(scenario: Scenario) -> Result<Self, RunError> {
        Self::start_from(LoadedScenario {
            file: None,
            scenario,
        })
        .await
    }

    /// [`Playback::start`] for a scenario that remembers its file.
    pub async fn start_from(loaded: LoadedScenario) -> Result<Self, RunError> {
        let stopwatch = Stopwatch::start();
        let LoadedScenario { file, scenario } = loaded;
        let clock = Arc::new(ManualClock::default());
        let shared: SharedClock = clock.clone();
        let store_dir = if scenario.invariants.no_plaintext_dek_on_disk {
            Some(tempfile::tempdir().map_err(RunError::StoreDir)?)
        } else {
            None
        };
        let lab = EmbeddedLab::start(LabOptions {
            clock: shared,
            engine: scenario.engine.clone(),
            store_dir: store_dir.as_ref().map(|d| d.path().join("objects")),
        })
        .await?;
        for key in &scenario.keys {
            let provider = key.provider.mock();
            let spec = match &key.spec {
                Some(spec) => KeySpec::parse_for(provider, spec),
                None => Ok(KeySpec::default_for(provider)),
            };
            spec.and_then(|spec| lab.mock().lab().create_key(&key.name, provider, spec))
                .map_err(|source| RunError::Key {
                    name: key.name.clone(),
                    source,
                })?;
        }
        let mut extra_projects = BTreeMap::new();
        for decl in scenario.objects.values() {
            if let Some(key) = &decl.key
                && !extra_projects.contains_key(key)
            {
                let project = register_key_project(&lab, decl.provider, key).await?;
                extra_projects.insert(key.clone(), project);
            }
        }
        let audit = store_dir
            .as_ref()
            .map(|d| DiskAudit::new(d.path().join("objects")));
        let call_seq = lab.mock().lab().calls().since(0).next;
        Ok(Self {
            start: clock.now(),
            scenario,
            file,
            lab,
            clock,
            stopwatch,
            next: 0,
            previous_end: Duration::ZERO,
            objects: BTreeMap::new(),
            extra_projects,
            faults: Vec::new(),
            revocations: Vec::new(),
            registered: BTreeMap::new(),
            alias_target: Provider::Aws.demo_key().to_owned(),
            audit,
            _store_dir: store_dir,
            call_seq,
            events: Vec::new(),
            deferred_checks: Vec::new(),
            reports: Vec::new(),
        })
    }

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

        let done = self.act(&step.action).await;
        self.previous_end = self.elapsed().max(at);
        let kms_calls = self.take_calls();

        let mut checks = std::mem::take(&mut self.deferred_checks);
        checks.extend(
            self.check_expectations(&step.action, step.expect.as_ref(), &done, kms_calls.1)
                .await,
        );
        self.check_revocation_deadlines(&mut checks).await;
        self.check_disk(&mut checks);

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
            kms_calls: kms_calls.0,
            checks,
        };
        self.reports.push(report.clone());
        Some(report)
    }

    /// Plays the remaining steps, stops the lab and reports.
    pub async fn finish(mut self) -> ScenarioReport {
        while self.next_step().await.is_some() {}
        let report = ScenarioReport {
            name: self.scenario.name.clone(),
            file: self.file.clone(),
            description: self.scenario.description.clone(),
            steps: std::mem::take(&mut self.reports),
            error: None,
            wall: self.stopwatch.elapsed(),
        };
        self.lab.shutdown().await;
        report
    }

    /// Moves the clock to `target`, firing every timer due on the way at its own time.
    async fn advance_to(&mut self, target: OffsetDateTime) {
        loop {
            let within = self.within();
            let next_fault = self.faults.iter().map(|f| f.until).min();
            let next_deadline =
                within.and_then(|w| self.revocations.iter().map(|r| r.at + w).min());
            let due = [next_fault, next_deadline]
                .into_iter()
                .flatten()
                .filter(|t| *t <= target)
                .min();
            let Some(due) = due else { break };
            self.clock.advance_to(due);
            self.expire_faults();
            let mut checks = Vec::new();
            self.check_revocation_deadlines(&mut checks).await;
            self.deferred_checks.extend(checks);
        }
        self.clock.advance_to(target);
    }

    fn within(&self) -> Option<time::Duration> {
        self.scenario
            .invariants
            .revocation_effective_within
            .map(|w| to_time(w.0))
    }

    fn expire_faults(&mut self) {
        let now = self.clock.now();
        let before = self.faults.len();
        let offset = self.elapsed();
        let mut ended = Vec::new();
        self.faults.retain(|f| {
            let keep = f.until > now;
            if !keep {
                ended.push(f.label.clone());
            }
            keep
        });
        for label in ended {
            self.events.push(Event {
                at: offset,
                what: format!("{label} ended"),
            });
        }
        if self.faults.len() != before {
            self.apply_faults();
        }
    }

    fn apply_faults(&self) -> Option<String> {
        let faults = self.lab.mock().lab().faults();
        if self.faults.is_empty() {
            faults.clear();
            return None;
        }
        faults
            .set(self.faults.iter().map(|f| f.rule.clone()).collect())
            .err()
            .map(|e| e.to_string())
    }

    /// Calls answered since the last look: (count, their lab-time window start seq).
    fn take_calls(&mut self) -> (usize, u64) {
        let from = self.call_seq;
        let page = self.lab.mock().lab().calls().since(from);
        self.call_seq = page.next;
        (page.calls.len(), from)
    }

    fn project(&self, provider: Provider) -> Option<ProjectId> {
        self.lab.project(provider.cloud())
    }

    /// The lab key a provider's project seals with now.
    fn current_key(&self, provider: Provider) -> String {
        match self.registered.get(&provider) {
            Some(key) => key.clone(),
            None if provider == Provider::Aws => self.alias_target.clone(),
            None => provider.demo_key().to_owned(),
        }
    }

    async fn act(&mut self, action: &Action) -> Done {
        match action {
            Action::Encrypt(objects) => self.encrypt(objects).await,
            Action::Decrypt(objects) => self.read(objects).await,
            Action::ReadAll => {
                let all: Vec<String> = self.objects.keys().cloned().collect();
                if all.is_empty() {
                    return Done::ok("nothing encrypted yet");
                }
                self.read(&all).await
            }
            Action::Traffic(traffic) => self.traffic(traffic).await,
            Action::Key { action, key } => self.key_action(*action, key),
            Action::AliasSwap(swap) => {
                let old = self.alias_target.clone();
                match self.lab.mock().lab().set_alias(&swap.alias, &swap.to) {
                    Ok(()) => {
                        self.alias_target = swap.to.clone();
                        if !self.registered.contains_key(&Provider::Aws) {
                            self.revoke(
                                &old,
                                RevocationCause::AliasSwap,
                                &format!("alias-swap away from {old}"),
                            );
                            self.undo(&swap.to, RevocationCause::AliasSwap);
                        }
                        Done::ok(format!("alias/{} now points at {}", swap.alias, swap.to))
                    }
                    Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
                }
            }
            Action::SwitchKey(switch) => {
                let old = self.current_key(switch.provider);
                match self
                    .lab
                    .switch_key(switch.provider.cloud(), &switch.to)
                    .await
                {
                    Ok(reference) => {
                        self.registered.insert(switch.provider, switch.to.clone());
                        if old != switch.to {
                            self.revoke(
                                &old,
                                RevocationCause::SwitchKey,
                                &format!("switch-key away from {old}"),
                            );
                        }
                        self.undo(&switch.to, RevocationCause::SwitchKey);
                        Done::ok(format!(
                            "{} project now registered on {reference}",
                            switch.provider
                        ))
                    }
                    Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
                }
            }
            Action::Fault(fault) => self.add_fault(fault),
        }
    }

    fn key_action(&mut self, action: KeyAction, key: &str) -> Done {
        match self.lab.mock().lab().apply(key, action) {
            Ok(info) => {
                if action.revokes() {
                    self.revoke(
                        key,
                        RevocationCause::Key(action),
                        &format!("{} {key}", action.name()),
                    );
                }
                if let Some(undone) = action.undoes() {
                    self.undo(key, RevocationCause::Key(undone));
                }
                Done::ok(format!(
                    "{key}: {}, access {}, trust {}, {} version{}",
                    info.state,
                    on_off(info.access),
                    on_off(info.trust),
                    info.versions.len(),
                    if info.versions.len() == 1 { "" } else { "s" }
                ))
            }
            Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
        }
    }

    fn revoke(&mut self, key: &str, cause: RevocationCause, label: &str) {
        if self.within().is_none()
            || self
                .revocations
                .iter()
                .any(|r| r.key == key && r.cause == cause)
        {
            return;
        }
        self.revocations.push(Revocation {
            key: key.to_owned(),
            cause,
            at: self.clock.now(),
            label: label.to_owned(),
        });
    }

    fn undo(&mut self, key: &str, cause: RevocationCause) {
        self.revocations
            .retain(|r| !(r.key == key && r.cause == cause));
    }

    fn add_fault(&mut self, fault: &Fault) -> Done {
        let scope = &fault.scope;
        let operation = match (scope.op, fault.kind) {
            (Some(op), _) => Some(op),
            (None, FaultKind::Outage) => Some(FaultOperation::Any),
            (None, _) => None,
        };
        let mut rule = FaultRule {
            provider: scope.provider.mock(),
            operation,
            key: scope.key.clone(),
            latency_ms: None,
            error: None,
            probability: None,
            throttle: None,
            outage: false,
        };
        let what = match fault.kind {
            FaultKind::Latency { ms } => {
                rule.latency_ms = Some(ms);
                format!("{ms} ms latency")
            }
            FaultKind::ErrorRate { rate, error } => {
                rule.error = Some(error);
                rule.probability = Some(rate);
                format!("{}% {}", rate * 100.0, injected_error_word(error))
            }
            FaultKind::Throttle { limit, per } => {
                rule.throttle = Some(Throttle {
                    limit,
                    per_seconds: per.0.as_secs(),
                });
                format!("throttle {limit}/{per}")
            }
            FaultKind::Outage => {
                rule.outage = true;
                "outage".to_owned()
            }
        };
        let ops = operation.map_or("encrypt+decrypt", fault_op_word);
        let key = scope
            .key
            .as_deref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        let label = format!("{what} on {} {ops}{key}", scope.provider);
        self.faults.push(ActiveFault {
            rule,
            until: self.clock.now() + to_time(fault.window.0),
            label: label.clone(),
        });
        match self.apply_faults() {
            None => Done::ok(format!(
                "{label} until {}",
                clock_offset(self.elapsed() + fault.window.0)
            )),
            Some(error) => {
                self.faults.pop();
                self.apply_faults();
                Done::failed(ErrorKind::Refused, error)
            }
        }
    }

    async fn encrypt(&mut self, objects: &[String]) -> Done {
        let mut sealed = Vec::new();
        let mut failed = Vec::new();
        let mut first_error = None;
        for name in objects {
            match self.encrypt_one(name).await {
                Ok(key) => sealed.push(format!("{name} under {key}")),
                Err((kind, message)) => {
                    failed.push(format!("{name}: {kind}"));
                    first_error.get_or_insert((kind, message));
                }
            }
        }
        let mut parts = Vec::new();
        if !sealed.is_empty() {
            parts.push(format!("sealed {}", sealed.join(", ")));
        }
        if !failed.is_empty() {
            parts.push(format!("failed {}", failed.join(", ")));
        }
        Done {
            outcome: first_error.map_or(Ok(()), Err),
            detail: parts.join("; "),
        }
    }

    /// The project an object is sealed for and opened as.
    fn object_project(&self, name: &str) -> Result<(Provider, ProjectId), (ErrorKind, String)> {
        let decl = self
            .scenario
            .objects
            .get(name)
            .ok_or_else(|| (ErrorKind::Other, format!("unknown object `{name}`")))?;
        let provider = decl.provider;
        let project = match &decl.key {
            Some(key) => self.extra_projects.get(key).cloned(),
            None => self.project(provider),
        }
        .ok_or_else(|| {
            (
                ErrorKind::NoProvider,
                format!("{provider} is not registered"),
            )
        })?;
        Ok((provider, project))
    }

    /// Seals and stores one object; returns the lab key that wrapped its DEK.
    async fn encrypt_one(&mut self, name: &str) -> Result<String, (ErrorKind, String)> {
        let (provider, project) = self.object_project(name)?;
        let decl = &self.scenario.objects[name];
        let object = ObjectName::new(name).map_err(|e| (ErrorKind::Store, e.to_string()))?;
        let content = decl.content.clone();
        let engine = self.lab.engine();
        engine
            .put(&object, &project, &object_context(name), content.as_bytes())
            .await
            .map_err(|e| (error_kind(&e), format!("{name}: {e}")))?;
        let envelope = engine
            .store()
            .get(&object)
            .map_err(|e| (ErrorKind::Store, format!("{name}: {e}")))?;
        let lab = self.lab.mock().lab();
        if let Some(audit) = &mut self.audit
            && let Err(error) = audit.learn(lab, &envelope)
        {
            self.deferred_checks.push(Check {
                expected: format!("the auditor recovers the DEK of {name}"),
                actual: error.to_string(),
                passed: false,
            });
        }
        let key =
            wrapping_key(lab, &envelope).map_or_else(|_| self.current_key(provider), |k| k.key);
        self.objects
            .insert(name.to_owned(), Sealed { key: key.clone() });
        Ok(key)
    }

    /// Opens one object: `Ok` or the error kind and message.
    async fn open(&self, name: &str) -> Result<(), (ErrorKind, String)> {
        let object = ObjectName::new(name).map_err(|e| (ErrorKind::Store, e.to_string()))?;
        let (_, project) = self.object_project(name)?;
        let plaintext = self
            .lab
            .engine()
            .get(&object, &project, &object_context(name))
            .await
            .map_err(|e| (error_kind(&e), e.to_string()))?;
        let expected = self
            .scenario
            .objects
            .get(name)
            .map(|o| o.content.as_bytes());
        if Some(plaintext.as_slice()) == expected {
            Ok(())
        } else {
            Err((
                ErrorKind::Envelope,
                format!("{name} opened to different content"),
            ))
        }
    }

    async fn read(&self, objects: &[String]) -> Done {
        let mut readable = Vec::new();
        let mut first_error = None;
        let mut failed = Vec::new();
        for name in objects {
            match self.open(name).await {
                Ok(()) => readable.push(name.as_str()),
                Err((kind, message)) => {
                    failed.push(format!("{name}: {kind}"));
                    first_error.get_or_insert((kind, message));
                }
            }
        }
        let mut parts = Vec::new();
        if !readable.is_empty() {
            parts.push(format!("read {}", readable.join(", ")));
        }
        if !failed.is_empty() {
            parts.push(format!("unreadable {}", failed.join(", ")));
        }
        Done {
            outcome: first_error.map_or(Ok(()), Err),
            detail: parts.join("; "),
        }
    }

    async fn traffic(&mut self, traffic: &Traffic) -> Done {
        let start = self.clock.now();
        let providers = &traffic.provider.0;
        let projects: Vec<ProjectId> = providers.iter().filter_map(|p| self.project(*p)).collect();
        if projects.is_empty() {
            return Done::failed(
                ErrorKind::NoProvider,
                "no registered project to send traffic to",
            );
        }
        let reads = traffic.reads.unwrap_or(0.5);
        let over = to_time(traffic.over.0);
        let total = traffic.operations;
        let mut sealed: Vec<Vec<Vec<u8>>> = vec![Vec::new(); projects.len()];
        let (mut seals, mut opens, mut failures) = (0u64, 0u64, 0u64);
        let mut first_error: Option<(ErrorKind, String)> = None;
        let mut debt = 0.0;
        for i in 0..total {
            let at = start + over * (i as f64 / total as f64);
            self.advance_to(at).await;
            let which = (i % projects.len() as u64) as usize;
            debt += reads;
            let is_read = debt >= 1.0 - 1e-9;
            if is_read {
                debt -= 1.0;
            }
            let history = &sealed[which];
            let result = if is_read && !history.is_empty() {
                opens += 1;
                let pick = ((i as usize).wrapping_mul(7919)) % history.len();
                let envelope = &history[pick];
                let context = traffic_context(envelope);
                self.lab
                    .engine()
                    .open(&projects[which], envelope, &context)
                    .await
                    .map(|_| ())
            } else {
                seals += 1;
                let context = EncryptionContext::new().with("traffic", i.to_string());
                match self
                    .lab
                    .engine()
                    .seal(&projects[which], &context, b"traffic")
                    .await
                {
                    Ok(envelope) => {
                        sealed[which].push(envelope);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            if let Err(error) = result {
                failures += 1;
                first_error.get_or_insert_with(|| (error_kind(&error), error.to_string()));
            }
        }
        self.advance_to(start + over).await;
        let detail = format!(
            "{total} operations over {} ({seals} seals, {opens} opens), {failures} failed",
            traffic.over
        );
        match first_error {
            None => Done::ok(detail),
            Some((kind, message)) => Done {
                outcome: Err((kind, format!("{detail}; first: {message}"))),
                detail: String::new(),
            },
        }
    }

    async fn check_expectations(
        &mut self,
        action: &Action,
        expect: Option<&Expect>,
        done: &Done,
        since_seq: u64,
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        let implicit_ok = matches!(
            action,
            Action::Key { .. } | Action::AliasSwap(_) | Action::SwitchKey(_) | Action::Fault(_)
        );
        let expected_outcome = expect
            .and_then(|e| e.outcome)
            .or(implicit_ok.then_some(Outcome::Ok));
        if let Some(expected) = expected_outcome {
            let actual = match &done.outcome {
                Ok(()) => Outcome::Ok,
                Err((kind, _)) => Outcome::Error(*kind),
            };
            let actual_text = match &done.outcome {
                Ok(()) => "ok".to_owned(),
                Err((kind, message)) => format!("{kind} ({message})"),
            };
            checks.push(Check {
                expected: format!("outcome {expected}"),
                actual: actual_text,
                passed: actual == expected,
            });
        }
        let Some(expect) = expect else {
            return checks;
        };
        if let Some(calls) = &expect.kms_calls {
            let log = self.lab.mock().lab().calls().since(0).calls;
            let now = self.clock.now();
            for call in &calls.0 {
                let Ok(bounds) = call_bounds(call) else {
                    continue;
                };
                let op = call.op.unwrap_or(CallOp::Any);
                let provider = call.provider.mock();
                let count = log
                    .iter()
                    .filter(|c| c.provider == provider && op.matches(&c.operation))
                    .filter(|c| match call.window {
                        Some(w) => c.time > now - to_time(w.0) && c.time <= now,
                        None => c.seq > since_seq,
                    })
                    .count() as u64;
                let scope = match call.window {
                    Some(w) => format!("in the last {w}"),
                    None => "during the step".to_owned(),
                };
                checks.push(Check {
                    expected: format!(
                        "{bounds} {} {} KMS call(s) {scope}",
                        call.provider,
                        op.word()
                    ),
                    actual: count.to_string(),
                    passed: bounds.admits(count),
                });
            }
        }
        if let Some(cache) = &expect.cache {
            let snapshot = self.lab.engine().snapshot();
            let provider = cache.provider;
            let live = |path: CachePath| {
                snapshot
                    .path(path)
                    .filter(|e| !e.expired)
                    .filter(|e| provider.is_none_or(|p| e.key.provider() == p.word()))
                    .count() as u64
            };
            let scope = provider.map(|p| format!("{p} ")).unwrap_or_default();
            for (label, count, path) in [
                ("active DEK(s)", cache.active_deks, CachePath::Encrypt),
                (
                    "decrypt-cache entr(ies)",
                    cache.decrypt_entries,
                    CachePath::Decrypt,
                ),
            ] {
                if let Some(count) = count {
                    let found = live(path);
                    checks.push(Check {
                        expected: format!("{count} live {scope}{label}"),
                        actual: found.to_string(),
                        passed: count.admits(found),
                    });
                }
            }
        }
        if let Some(readable) = &expect.readable {
            for name in &readable.0 {
                let result = self.open(name).await;
                checks.push(Check {
                    expected: format!("{name} readable"),
                    actual: match &result {
                        Ok(()) => "readable".into(),
                        Err((kind, message)) => format!("{kind}: {message}"),
                    },
                    passed: result.is_ok(),
                });
            }
        }
        if let Some(unreadable) = &expect.unreadable {
            for (name, kind) in &unreadable.0 {
                let result = self.open(name).await;
                let (passed, actual) = match (&result, kind) {
                    (Ok(()), _) => (false, "readable".to_owned()),
                    (Err((found, _)), Some(wanted)) => (found == wanted, found.to_string()),
                    (Err((found, _)), None) => (true, found.to_string()),
                };
                checks.push(Check {
                    expected: match kind {
                        Some(kind) => format!("{name} unreadable ({kind})"),
                        None => format!("{name} unreadable"),
                    },
                    actual,
                    passed,
                });
            }
        }
        checks
    }

    /// For every watched revocation whose deadline has passed: each object sealed under the
    /// revoked key must be unreadable now. Each revocation is checked once.
    async fn check_revocation_deadlines(&mut self, checks: &mut Vec<Check>) {
        let Some(within) = self.within() else { return };
        let now = self.clock.now();
        let (due, waiting): (Vec<Revocation>, Vec<Revocation>) =
            std::mem::take(&mut self.revocations)
                .into_iter()
                .partition(|r| r.at + within <= now);
        self.revocations = waiting;
        for revocation in due {
            let objects: Vec<String> = self
                .objects
                .iter()
                .filter(|(_, sealed)| sealed.key == revocation.key)
                .map(|(name, _)| name.clone())
                .collect();
            let mut still_readable = Vec::new();
            for name in &objects {
                if self.open(name).await.is_ok() {
                    still_readable.push(name.clone());
                }
            }
            let within = self
                .scenario
                .invariants
                .revocation_effective_within
                .unwrap_or_default();
            let started = Duration::try_from(revocation.at - self.start).unwrap_or_default();
            checks.push(Check {
                expected: format!(
                    "invariant: {} at {} effective within {within} (checked at {}): {} object(s) \
                     under {} unreadable",
                    revocation.label,
                    clock_offset(started),
                    clock_offset(self.elapsed()),
                    objects.len(),
                    revocation.key
                ),
                actual: if still_readable.is_empty() {
                    "all unreadable".into()
                } else {
                    format!(
                        "still readable at {}: {}",
                        clock_offset(self.elapsed()),
                        still_readable.join(", ")
                    )
                },
                passed: still_readable.is_empty(),
            });
        }
    }

    fn check_disk(&self, checks: &mut Vec<Check>) {
        let Some(audit) = &self.audit else { return };
        let (passed, actual) = match audit.scan() {
            Ok(scan) if scan.leaks.is_empty() => (
                true,
                format!("{} DEK(s) absent from {} file(s)", scan.deks, scan.files),
            ),
            Ok(scan) => (
                false,
                scan.leaks
                    .iter()
                    .map(|(path, encoding)| format!("{} holds a DEK ({encoding})", path.display()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Err(error) => (false, error.to_string()),
        };
        checks.push(Check {
            expected: "invariant: no plaintext DEK on disk".into(),
            actual,
            passed,
        });
    }
}

/// Registers a project of its own on the mock key `key` (`proj_demo/<key>`).
async fn register_key_project(
    lab: &EmbeddedLab,
    provider: Provider,
    key: &str,
) -> Result<ProjectId, RunError> {
    let info = lab
        .mock()
        .lab()
        .key_info(key)
        .map_err(|source| RunError::Key {
            name: key.to_owned(),
            source,
        })?;
    let config = ekm_lab::registration_on(lab.config(), provider.cloud(), &info)?;
    let kek = ekm_engine::registration::connect(&config, provider.cloud())
        .await
        .map_err(LabError::from)?;
    let project = ProjectId::from(format!("{}/{key}", lab.config().project_id).as_str());
    lab.engine().register(project.clone(), kek);
    Ok(project)
}

/// The context traffic envelopes were sealed with (`traffic` = its operation number), read back
/// from the envelope's authenticated header.
fn traffic_context(envelope: &[u8]) -> EncryptionContext {
    ekm_engine::envelope::parse(envelope)
        .map(|parsed| parsed.header().context())
        .unwrap_or_default()
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A step's action as one line (`rotate aws-demo`, `encrypt a, b`).
pub fn describe(action: &Action) -> String {
    let name = action.name();
    match action {
        Action::Encrypt(objects) | Action::Decrypt(objects) => {
            format!("{name} {}", objects.join(", "))
        }
        Action::ReadAll => name.to_owned(),
        Action::Traffic(t) => {
            let providers: Vec<String> = t.provider.0.iter().map(ToString::to_string).collect();
            format!(
                "{name} {} ops / {} on {}",
                t.operations,
                t.over,
                providers.join("+")
            )
        }
        Action::Key { key, .. } => format!("{name} {key}"),
        Action::AliasSwap(swap) => format!("{name} alias/{} → {}", swap.alias, swap.to),
        Action::SwitchKey(switch) => format!("{name} {} → {}", switch.provider, switch.to),
        Action::Fault(fault) => {
            let op = fault
                .scope
                .op
                .map(|op| format!(" {}", fault_op_word(op)))
                .unwrap_or_default();
            format!(
                "{name} {}{op} for {}",
                fault.scope.provider,
                compact(fault.window.0)
            )
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
