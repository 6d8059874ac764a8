//! What the console knows of the lab, as its screens show it: one row per key, project, cache
//! entry, call and object, the lab's addresses, the scenario and its steps, and the clock.

use std::time::Duration;

use ekm_engine::events::CachePath;
use ekm_engine::registration::Cloud;
use time::OffsetDateTime;

/// One key as the Keys pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Lab name (`aws-demo`).
    pub name: String,
    /// `aws`, `gcp` or `azure`.
    pub provider: String,
    /// `enabled`, `disabled`, `pending-deletion`, `destroyed`, or `?` when unknown.
    pub state: String,
    /// Number of versions; the primary is the last (`v{versions}`).
    pub versions: usize,
    /// Whether the service's policy / role assignment exists (`None`: not observable).
    pub access: Option<bool>,
    /// Whether the service identity is trusted (`None`: not observable).
    pub trust: Option<bool>,
    /// AWS aliases pointing at the key.
    pub aliases: Vec<String>,
}

/// One engine project and the key it seals with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    /// The cloud.
    pub cloud: Cloud,
    /// The engine project id (`proj_demo/aws`).
    pub project: String,
    /// Label of the KEK it seals with (`@ekm-demo` for an alias, `gcp-demo`), or `—` when none.
    pub key: String,
    /// Lab name of that key, when it is a key of the embedded mock.
    pub key_name: Option<String>,
}

/// One cached DEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRow {
    /// Which cache.
    pub path: CachePath,
    /// Short DEK id.
    pub dek: String,
    /// Label of its KEK.
    pub kek: String,
    /// Its project.
    pub project: String,
    /// Created (encrypt) or first fetched (decrypt).
    pub created_at: OffsetDateTime,
    /// When it must be re-validated.
    pub expires_at: OffsetDateTime,
    /// Encrypt path: when it is replaced.
    pub next_rotation: Option<OffsetDateTime>,
    /// Seals or opens served.
    pub uses: u64,
}

/// One KMS call (from the mock's call log, or the engine's view of it).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// Lab time.
    pub time: OffsetDateTime,
    /// `aws`, `gcp`, `azure`.
    pub provider: String,
    /// The cloud's own operation name.
    pub operation: String,
    /// Lab name of the key, if any.
    pub key: Option<String>,
    /// `ok` or the cloud's error code.
    pub outcome: String,
    /// Real latency in milliseconds.
    pub latency_ms: f64,
    /// For a hop the cloud's KMS made to the customer's external key manager: which side of it
    /// (`xks`: the cloud waiting for the proxy; `xks-proxy`: the proxy's own time). `None` for
    /// the calls clients made to the cloud.
    pub hop: Option<String>,
}

/// Whether an object can be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readability {
    /// The last open succeeded.
    Readable,
    /// The last open failed, and why.
    Unreadable(String),
}

/// One object of the demo workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    /// Object name (`aws-001`).
    pub name: String,
    /// The cloud whose key sealed it.
    pub cloud: Cloud,
    /// The key and version that wrapped its DEK (`gcp-demo v2`).
    pub key: String,
    /// The result of the last open.
    pub status: Readability,
    /// Lab time of the last open (or the seal).
    pub checked_at: OffsetDateTime,
}

/// What the demo workload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadEvent {
    /// A new object was sealed and stored; `forget` left the workload's set.
    Sealed {
        /// The object.
        object: ObjectRow,
        /// An older object the workload no longer reads.
        forget: Option<String>,
    },
    /// Sealing a new object failed.
    SealFailed {
        /// The cloud.
        cloud: Cloud,
        /// Why.
        reason: String,
        /// When.
        at: OffsetDateTime,
    },
    /// An object was opened.
    Opened {
        /// The object.
        name: String,
        /// The result.
        status: Readability,
        /// When.
        at: OffsetDateTime,
    },
}

/// What the runtime read from the lab on one refresh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refresh {
    /// Every key (`None`: keys are not observable, e.g. real clouds).
    pub keys: Option<Vec<KeyRow>>,
    /// The engine's projects.
    pub projects: Vec<ProjectRow>,
    /// Both DEK caches.
    pub cache: Vec<CacheRow>,
    /// Calls since the last refresh, oldest first.
    pub calls: Vec<CallRow>,
}

/// Facts about the lab, known once it has started.
#[derive(Debug, Clone, PartialEq)]
pub struct LabInfo {
    /// What the console runs against (`embedded mock KMS`, `ekm.yaml`).
    pub source: String,
    /// Whether key, fault and alias actions are available (the embedded lab only).
    pub key_actions: bool,
    /// Encrypt-path DEK lifetime.
    pub dek_rotation: Duration,
    /// Decrypt-path entry lifetime and re-validation period.
    pub revalidate_after: Duration,
    /// Whether the call log shows the engine's own KMS calls (no mock call log to read).
    pub engine_calls: bool,
    /// The scenario being played (`ekm play`).
    pub scenario: Option<ScenarioInfo>,
}

/// A scenario played in the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// Its description, shown before the first beat.
    pub description: String,
    /// Each step's action, as written (`rotate aws-demo`).
    pub steps: Vec<String>,
    /// The steps that change a key, an alias, a registration or a fault (timeline marks).
    pub key_events: Vec<bool>,
    /// The script cut into beats.
    pub beats: Vec<crate::story::Beat>,
    /// Lab time at the start of the script.
    pub start: OffsetDateTime,
}

impl ScenarioInfo {
    /// What the console shows of `scenario`, whose script started at lab time `start`.
    pub fn new(scenario: &ekm_scenarios::schema::Scenario, start: OffsetDateTime) -> Self {
        use ekm_scenarios::schema::Action;
        Self {
            name: scenario.name.clone(),
            description: scenario.description.trim().to_owned(),
            steps: scenario
                .steps
                .iter()
                .map(|s| ekm_scenarios::runner::describe(&s.action))
                .collect(),
            key_events: scenario
                .steps
                .iter()
                .map(|s| {
                    !matches!(
                        s.action,
                        Action::Encrypt(_)
                            | Action::Decrypt(_)
                            | Action::ReadAll
                            | Action::Traffic(_)
                    )
                })
                .collect(),
            beats: crate::story::beats(scenario),
            start,
        }
    }

    /// Index of the next beat to play after `played` steps (`beats.len()`: the story is over).
    pub fn next_beat(&self, played: usize) -> usize {
        self.beats
            .iter()
            .position(|beat| beat.end() > played)
            .unwrap_or(self.beats.len())
    }
}

/// One played step, as the Scenario pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepView {
    /// Lab time since the start when it began.
    pub at: Duration,
    /// `ok` or the error kind.
    pub outcome: String,
    /// The step's note.
    pub note: Option<String>,
    /// Expectations and invariants: (expected, actual, passed).
    pub checks: Vec<(String, String, bool)>,
}

impl StepView {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|(_, _, passed)| *passed)
    }
}

/// The lab clock as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockStatus {
    /// Speed factor (`None`: manual time).
    pub speed: Option<f64>,
    /// Whether time is stopped.
    pub paused: bool,
}
