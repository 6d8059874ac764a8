//! The console's state ([`Model`]), the messages that change it ([`Action`]) and the side
//! effects it asks for ([`Effect`]). Everything here is plain data: the runtime turns key
//! presses, ticks, engine events and lab polls into actions, and [`update`](crate::update)
//! applies them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use ekm_engine::events::{CachePath, EngineEvent};
use ekm_engine::registration::Cloud;
use ekm_vocab::KeyAction;
use time::OffsetDateTime;

use ratatui::layout::Rect;

use crate::ring::{MinuteCounts, Ring};

/// Default number of KMS calls the log keeps.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// How many minutes of history the sparklines keep.
const SPARK_MINUTES: usize = 240;

/// The screen assumed until the terminal's size is read: the smallest one the console is laid
/// out for.
pub const DEFAULT_SCREEN: Rect = Rect::new(0, 0, 80, 24);

/// How many ticks a notice stays in the status bar (5 s at 10 fps).
const NOTICE_TICKS: u32 = 50;

/// Where keyboard input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The Keys pane has focus: key, fault and time actions.
    Keys,
    /// The KMS call log has focus: scrolling and filters (global actions still work).
    Log,
    /// Story mode (`ekm demo`, `ekm play`): beats, back, restart, autoplay.
    Story,
    /// The help overlay is open.
    Help,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Keys => "KEYS",
            Mode::Log => "LOG",
            Mode::Story => "STORY",
            Mode::Help => "HELP",
        })
    }
}

/// A lifecycle command on the selected key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCommand {
    /// A lab action (rotate, disable, revoke access, …).
    Lab(KeyAction),
    /// Repoint the AWS alias the registration uses at another key.
    SwapAlias,
    /// Re-register the selected key's cloud on another key.
    SwitchKey,
}

/// A fault that can be toggled on the selected key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 400 ms of real latency on every call.
    Latency,
    /// Half of the calls fail as "unavailable".
    Errors,
    /// At most 2 calls per lab minute.
    Throttle,
    /// Every call answers the cloud's outage error.
    Outage,
}

impl FaultKind {
    /// Every fault kind, in display order.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Latency,
        FaultKind::Errors,
        FaultKind::Throttle,
        FaultKind::Outage,
    ];

    /// A short label for the Keys pane.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Latency => "lat",
            FaultKind::Errors => "err",
            FaultKind::Throttle => "thr",
            FaultKind::Outage => "OUT",
        }
    }
}

/// Which calls the log shows by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutcomeFilter {
    /// Every call.
    #[default]
    All,
    /// Successful calls only.
    Ok,
    /// Failed calls only.
    Errors,
}

impl OutcomeFilter {
    fn next(self) -> Self {
        match self {
            OutcomeFilter::All => OutcomeFilter::Ok,
            OutcomeFilter::Ok => OutcomeFilter::Errors,
            OutcomeFilter::Errors => OutcomeFilter::All,
        }
    }

    /// Whether a call with `outcome` passes.
    pub fn admits(self, outcome: &str) -> bool {
        match self {
            OutcomeFilter::All => true,
            OutcomeFilter::Ok => outcome == "ok",
            OutcomeFilter::Errors => outcome != "ok",
        }
    }
}

impl fmt::Display for OutcomeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeFilter::All => "all",
            OutcomeFilter::Ok => "ok",
            OutcomeFilter::Errors => "errors",
        })
    }
}

/// The call log's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogFilter {
    /// Only this cloud's calls.
    pub cloud: Option<Cloud>,
    /// Only these outcomes.
    pub outcome: OutcomeFilter,
}

impl LogFilter {
    /// Whether `call` passes.
    pub fn admits(&self, call: &CallRow) -> bool {
        self.cloud.is_none_or(|c| c.as_str() == call.provider) && self.outcome.admits(&call.outcome)
    }

    fn next_cloud(&mut self) {
        let position = self
            .cloud
            .and_then(|c| Cloud::ALL.iter().position(|x| *x == c));
        self.cloud = match position {
            None => Cloud::ALL.first().copied(),
            Some(i) => Cloud::ALL.get(i + 1).copied(),
        };
    }
}

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

/// A message to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Open or close the help overlay.
    ToggleHelp,
    /// Move focus between the Keys pane and the call log.
    FocusNext,
    /// Select the previous key / scroll the log up a line.
    Up,
    /// Select the next key / scroll the log down a line.
    Down,
    /// Select key row `n`.
    SelectKey(usize),
    /// Focus the call log.
    FocusLog,
    /// Move the focused view (the call log, or the help overlay) this many lines up: towards
    /// older calls, or the top of the help. Negative moves it down.
    Scroll(i32),
    /// Like [`Action::Scroll`], by this many of the view's own pages.
    Page(i32),
    /// Show the oldest logged calls, a full page of them.
    LogTop,
    /// Follow the newest call.
    LogFollow,
    /// Follow the newest call and give the focus back to the keys (or the story).
    LeaveLog,
    /// The terminal's size, read at start and on every resize.
    Resize(Rect),
    /// Cycle the log's provider filter.
    CycleCloudFilter,
    /// Cycle the log's outcome filter.
    CycleOutcomeFilter,
    /// A lifecycle command on the selected key.
    Key(KeyCommand),
    /// Toggle a fault on the selected key.
    ToggleFault(FaultKind),
    /// Remove every fault.
    ClearFaults,
    /// Pause or resume lab time.
    TogglePause,
    /// Double the speed.
    Faster,
    /// Halve the speed.
    Slower,
    /// Move lab time forward one hour.
    JumpHour,
    /// Play the story's next beat.
    NextStep,
    /// Undo the last beat (the story is replayed up to it).
    Back,
    /// Start the story again.
    Restart,
    /// Write the story's report (HTML + Markdown) so far.
    WriteReport,
    /// A scenario step was played (`None`: there was none left).
    Stepped(Option<Box<StepView>>),
    /// The story was restarted and replayed: these steps ran (or it failed, and why).
    Restarted(Result<Vec<StepView>, String>),
    /// The pinned objects were re-read.
    Pinned(Vec<crate::story::Pinned>),
    /// A frame tick of the runtime.
    Tick,
    /// The lab is up.
    Started(Box<LabInfo>),
    /// The first frame with lab data was drawn, this long after launch (real time).
    FirstFrame(Duration),
    /// Starting the lab failed.
    StartFailed(String),
    /// Fresh state from the lab.
    Refreshed(Box<Refresh>),
    /// The engine reported something.
    Engine(Box<EngineEvent>),
    /// The demo workload did something.
    Workload(Box<WorkloadEvent>),
    /// The lab clock changed speed or pause state.
    Clock(ClockStatus),
    /// An effect finished: a message for the status bar, or an error.
    Done(Result<String, String>),
}

/// A side effect [`update`](crate::update) asks the runtime to perform.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read keys, cache and new calls from the lab.
    Refresh,
    /// Apply a lab action to key `key`.
    KeyAction {
        /// Lab name.
        key: String,
        /// The action.
        action: KeyAction,
    },
    /// Point AWS alias `alias` at `target`, creating that key first when `create`.
    SwapAlias {
        /// Alias name without `alias/`.
        alias: String,
        /// Lab name of the new target.
        target: String,
        /// Whether the target must be created.
        create: bool,
    },
    /// Re-register `cloud`'s project on key `target`, creating it first when `create`.
    SwitchKey {
        /// The cloud.
        cloud: Cloud,
        /// Lab name of the key.
        target: String,
        /// Whether the key must be created.
        create: bool,
    },
    /// Replace the mock's fault rules.
    SetFaults(Vec<ekm_vocab::Fault>),
    /// Pause (`true`) or resume lab time.
    SetPaused(bool),
    /// Set the clock's speed factor.
    SetSpeed(f64),
    /// Move lab time forward.
    Advance(Duration),
    /// Open every object of the workload now.
    CheckObjects,
    /// Play this many of the scenario's next steps.
    PlaySteps(usize),
    /// Start the scenario again in a fresh lab and replay this many steps.
    Restart(usize),
    /// Re-read the story's pinned objects.
    ReadPinned,
    /// Write the story's report so far to [`REPORT_DIR`].
    WriteReport,
    /// Stop the runtime.
    Quit,
}

/// Where the story's report is written (`w`), relative to the working directory.
pub const REPORT_DIR: &str = "ekm-report";

/// A message in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
    /// Ticks left before it disappears.
    pub ticks_left: u32,
    /// Whether it answers the user's own action (a key press) rather than reporting the demo
    /// workload: the answer to a key press is never replaced by the workload's news.
    pub own: bool,
}

impl Notice {
    /// The answer to the user's own action.
    pub(crate) fn new(text: impl Into<String>, error: bool) -> Self {
        Self {
            text: text.into(),
            error,
            ticks_left: NOTICE_TICKS,
            own: true,
        }
    }

    /// A failure of the demo workload, shown only while no answer to the user is.
    pub(crate) fn workload(text: impl Into<String>) -> Self {
        Self {
            own: false,
            ..Self::new(text, true)
        }
    }
}

/// Cache hit and miss counts from the engine's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Seals and opens served from cache.
    pub hits: u64,
    /// Lookups that needed the KMS.
    pub misses: u64,
    /// DEK rotations.
    pub rotations: u64,
    /// Operations that failed.
    pub failures: u64,
}

/// Everything the console shows.
#[derive(Debug, Clone)]
pub struct Model {
    /// Where input goes.
    pub mode: Mode,
    /// The mode to return to when help closes.
    pub help_return: Mode,
    /// Set once the runtime must stop.
    pub quit: bool,
    /// Known once the lab is up.
    pub lab: Option<LabInfo>,
    /// Why the lab failed to start.
    pub start_error: Option<String>,
    /// Keys (`None`: not observable).
    pub keys: Option<Vec<KeyRow>>,
    /// Index of the selected key row.
    pub selected: usize,
    /// The engine's projects.
    pub projects: Vec<ProjectRow>,
    /// Both DEK caches.
    pub cache: Vec<CacheRow>,
    /// Cache counters.
    pub stats: CacheStats,
    /// The last KMS calls.
    pub calls: Ring<CallRow>,
    /// Lines scrolled back from the newest call (0 = follow).
    pub log_scroll: usize,
    /// Lines the help overlay is scrolled down.
    pub help_scroll: usize,
    /// The terminal's size: how long a page of the log or the help is.
    pub screen: Rect,
    /// The log filter.
    pub filter: LogFilter,
    /// The workload's objects, in creation order.
    pub objects: Vec<ObjectRow>,
    /// KMS calls per lab minute.
    pub kms_per_minute: MinuteCounts,
    /// Workload operations per lab minute.
    pub ops_per_minute: MinuteCounts,
    /// Active faults per key name.
    pub faults: BTreeMap<String, BTreeSet<FaultKind>>,
    /// The lab clock.
    pub clock: ClockStatus,
    /// The status bar message.
    pub notice: Option<Notice>,
    /// Real time from launch to the first frame with lab data.
    pub first_frame: Option<Duration>,
    /// Steps played so far, in `ekm play`.
    pub played: Vec<StepView>,
    /// Whether scenario steps are running (or the story is being replayed).
    pub stepping: bool,
    /// Steps played once the running beat is done.
    pub beat_end: usize,
    /// The story's pinned objects, as last read.
    pub pinned: Vec<crate::story::Pinned>,
    /// Whether the story plays a beat by itself every few seconds.
    pub autoplay: bool,
    /// Ticks since the story started, for its periodic reads and autoplay.
    pub story_ticks: u64,
}

impl Model {
    /// An empty model whose call log keeps `log_capacity` calls, on a clock running at `speed`
    /// (`None`: manual time).
    pub fn new(log_capacity: usize, speed: Option<f64>) -> Self {
        Self {
            mode: Mode::Keys,
            help_return: Mode::Keys,
            quit: false,
            lab: None,
            start_error: None,
            keys: None,
            selected: 0,
            projects: Vec::new(),
            cache: Vec::new(),
            stats: CacheStats::default(),
            calls: Ring::new(log_capacity),
            log_scroll: 0,
            help_scroll: 0,
            screen: DEFAULT_SCREEN,
            filter: LogFilter::default(),
            objects: Vec::new(),
            kms_per_minute: MinuteCounts::new(SPARK_MINUTES),
            ops_per_minute: MinuteCounts::new(SPARK_MINUTES),
            faults: BTreeMap::new(),
            clock: ClockStatus {
                speed,
                paused: false,
            },
            notice: None,
            first_frame: None,
            played: Vec::new(),
            stepping: false,
            beat_end: 0,
            pinned: Vec::new(),
            autoplay: false,
            story_ticks: 0,
        }
    }

    /// The scenario told in story mode, if any.
    pub fn story(&self) -> Option<&ScenarioInfo> {
        self.lab.as_ref()?.scenario.as_ref()
    }

    /// The selected key, if keys are known.
    pub fn selected_key(&self) -> Option<&KeyRow> {
        self.keys.as_ref()?.get(self.selected)
    }

    /// Number of logged calls passing the filter.
    pub fn filtered_calls(&self) -> usize {
        self.calls.iter().filter(|c| self.filter.admits(c)).count()
    }

    pub(crate) fn cycle_cloud_filter(&mut self) {
        self.filter.next_cloud();
        self.log_scroll = 0;
    }

    pub(crate) fn cycle_outcome_filter(&mut self) {
        self.filter.outcome = self.filter.outcome.next();
        self.log_scroll = 0;
    }
}

/// Minutes since the Unix epoch of `t`, the sparklines' bucket.
pub fn unix_minute(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(60)
}
