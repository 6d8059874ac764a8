//! The messages that change the [`Model`](super::Model) ([`Action`]) and the side effects it asks
//! the runtime for ([`Effect`]).

use std::time::Duration;

use ekm_engine::events::EngineEvent;
use ekm_engine::registration::Cloud;
use ekm_vocab::KeyAction;
use ratatui::layout::Rect;

use super::{ClockStatus, FaultKind, KeyCommand, LabInfo, Refresh, StepView, WorkloadEvent};

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
