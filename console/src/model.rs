//! The console's state ([`Model`]), the messages that change it ([`Action`]) and the side
//! effects it asks for ([`Effect`]). Everything here is plain data: the runtime turns key
//! presses, ticks, engine events and lab polls into actions, and [`update`](crate::update)
//! applies them.
//!
//! # Layout
//! - this module: the [`Model`], its modes, filters and notices;
//! - `lab_view`: what the console knows of the lab, as rows the screens show;
//! - `action`: [`Action`] and [`Effect`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use ekm_engine::registration::Cloud;
use ekm_vocab::KeyAction;
use time::OffsetDateTime;

use ratatui::layout::Rect;

use crate::ring::{MinuteCounts, Ring};

mod action;
mod lab_view;

pub use action::{Action, Effect};
pub use lab_view::{
    CacheRow, CallRow, ClockStatus, KeyRow, LabInfo, ObjectRow, ProjectRow, Readability, Refresh,
    ScenarioInfo, StepView, WorkloadEvent,
};

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
