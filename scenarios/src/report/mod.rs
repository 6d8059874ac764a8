//! What a run produced and how it is shown: the [`ScenarioReport`] with one [`StepReport`] per
//! step and a [`Trace`] of what happened over lab time, rendered as a readable timeline (lab
//! time, action, outcome, ✓/✗ per expectation), as JSON for machines, as JUnit XML (one test
//! case per scenario) for CI dashboards, and as a shareable HTML page with a Markdown summary
//! ([`write_report`]).
//!
//! # Layout
//!
//! - [`trace`] — the history the runner records: seals, reads, key and fault markers, KMS calls
//!   per minute, cache occupancy.
//! - [`audit_logs`] — the customer's audit records of a run's calls, per cloud, and the JSON-lines
//!   files `--audit-logs` writes ([`write_audit_logs`]).
//! - [`html`] — the self-contained HTML page (inline SVG charts, no network, no external script).
//! - [`markdown`] — the Markdown summary for tickets.
//! - `charts` — the page's timeline charts: readability lanes with markers, calls per minute,
//!   cache occupancy.
//! - [`svg`] — the chart primitives the page draws with.
//! - `volume` — the page's section for a fleet's KMS volume, simulated and forecast.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::fleet::volume::FleetVolume;
use crate::time::{clock_offset, compact};

pub mod audit_logs;
mod charts;
pub mod html;
pub mod markdown;
pub mod svg;
pub mod trace;
mod volume;

pub use audit_logs::write_audit_logs;
pub use html::{ReportFiles, write_report};
pub use trace::Trace;

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// Its description.
    pub description: String,
    /// The steps run, in order.
    pub steps: Vec<StepReport>,
    /// Why the run stopped early (the lab failed to start or broke), if it did.
    pub error: Option<String>,
    /// Real time the run took.
    #[serde(serialize_with = "seconds")]
    pub wall: Duration,
    /// What happened over lab time (for the HTML report's charts).
    pub trace: Trace,
}

/// The result of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 0-based position in the timeline.
    pub index: usize,
    /// Lab time since the start when the step began.
    #[serde(serialize_with = "seconds")]
    pub at: Duration,
    /// What happened between the previous step and this one (fault windows ending,
    /// revocation deadlines checked), oldest first.
    pub events: Vec<Event>,
    /// The action as written (`rotate aws-demo`).
    pub action: String,
    /// The step's note.
    pub note: Option<String>,
    /// `ok` or the error kind.
    pub outcome: String,
    /// What the action did or why it failed.
    pub detail: String,
    /// KMS calls the mock answered during the action (hops not counted).
    pub kms_calls: usize,
    /// The hops the clouds' KMS made to the customer's external key manager during the action,
    /// both sides of each, in the order they were answered.
    pub hops: Vec<Hop>,
    /// Expectations and invariants checked after the step.
    pub checks: Vec<Check>,
    /// A `fleet-traffic` step's KMS volume, simulated and forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<Box<FleetVolume>>,
}

/// One side of one hop from a cloud's KMS to the customer's external key manager.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// Lab time since the start.
    #[serde(serialize_with = "seconds")]
    pub at: Duration,
    /// `xks`: the cloud's side (the time KMS waited, timeouts included); `xks-proxy`: the
    /// proxy's own time in front of the HSMs.
    pub side: String,
    /// The cloud making the hop.
    pub provider: String,
    /// The XKS API (`Encrypt`, `Decrypt`, …).
    pub operation: String,
    /// The cloud key (cloud side) or the external key (proxy side).
    pub key: Option<String>,
    /// `ok` or what failed (`timeout`, an XKS error name, …).
    pub outcome: String,
    /// Real time it took, in milliseconds.
    pub latency_ms: f64,
}

impl Hop {
    /// Whether this is the cloud's side of the hop (one per hop).
    pub fn cloud_side(&self) -> bool {
        self.side == "xks"
    }

    /// The side in words (`aws KMS → XKS proxy`, `XKS proxy → HSM`).
    pub fn route(&self) -> String {
        if self.cloud_side() {
            format!("{} KMS → XKS proxy", self.provider)
        } else {
            "XKS proxy → HSM".to_owned()
        }
    }
}

/// Something that happened on the lab clock between steps.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Lab time since the start.
    #[serde(serialize_with = "seconds")]
    pub at: Duration,
    /// What happened.
    pub what: String,
}

/// One checked expectation or invariant.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was expected (`outcome KeyDisabled`, `invoice readable`).
    pub expected: String,
    /// What was found.
    pub actual: String,
    /// Whether they agree.
    pub passed: bool,
}

pub(crate) fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl StepReport {
    /// Whether every check of the step passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl ScenarioReport {
    /// Whether the scenario ran to the end and every check passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(StepReport::passed)
    }

    /// Every failed check, with the step it belongs to.
    pub fn failures(&self) -> Vec<(&StepReport, &Check)> {
        self.steps
            .iter()
            .flat_map(|s| s.checks.iter().filter(|c| !c.passed).map(move |c| (s, c)))
            .collect()
    }

    /// Checks made, and how many failed.
    pub fn counts(&self) -> (usize, usize) {
        let checks = self.steps.iter().map(|s| s.checks.len()).sum();
        (checks, self.failures().len())
    }

    /// A short summary of the failures (for JUnit messages and test output).
    pub fn failure_summary(&self) -> String {
        let mut out = String::new();
        if let Some(error) = &self.error {
            let _ = writeln!(out, "the run stopped: {error}");
        }
        for (step, check) in self.failures() {
            let _ = writeln!(
                out,
                "{} step {} `{}`: expected {}, found {}",
                clock_offset(step.at),
                step.index + 1,
                step.action,
                check.expected,
                check.actual
            );
        }
        out
    }
}

/// How to style the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    fn pass(self, passed: bool) -> String {
        if passed {
            self.paint("32", "✓")
        } else {
            self.paint("31", "✗")
        }
    }
}

/// The readable timeline of one scenario.
pub fn render_timeline(report: &ScenarioReport, style: Style) -> String {
    let mut out = String::new();
    let origin = report
        .file
        .as_ref()
        .map(|f| format!(" ({})", f.display()))
        .unwrap_or_default();
    let _ = writeln!(out, "{}{origin}", style.paint("1", &report.name));
    for step in &report.steps {
        for event in &step.events {
            let _ = writeln!(
                out,
                "  {:>13}  {}",
                clock_offset(event.at),
                style.paint("2", &format!("· {}", event.what))
            );
        }
        if let Some(note) = &step.note {
            let _ = writeln!(
                out,
                "  {:>13}  {}",
                "",
                style.paint("36", &format!("# {note}"))
            );
        }
        let outcome = if step.outcome == "ok" {
            style.paint("32", "ok")
        } else {
            style.paint("33", &step.outcome)
        };
        let hops = step.hops.iter().filter(|h| h.cloud_side()).count();
        let calls = match (step.kms_calls, hops) {
            (0, 0) => String::new(),
            (n, 0) => format!("  [{n} KMS call{}]", plural(n)),
            (n, h) => format!(
                "  [{n} KMS call{}, {h} hop{} to the external key manager]",
                plural(n),
                plural(h)
            ),
        };
        let _ = writeln!(
            out,
            "  {:>13}  {:<40} {outcome}{}{calls}",
            clock_offset(step.at),
            step.action,
            if step.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", shorten(&step.detail))
            }
        );
        for line in step.volume.iter().flat_map(|v| v.lines()) {
            let _ = writeln!(out, "  {:>13}    {}", "", style.paint("36", &line));
        }
        for check in &step.checks {
            let found = if check.passed {
                String::new()
            } else {
                format!(" (found {})", shorten(&check.actual))
            };
            let _ = writeln!(
                out,
                "  {:>13}    {} {}{found}",
                "",
                style.pass(check.passed),
                check.expected
            );
        }
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  {}", style.paint("31", &format!("stopped: {error}")));
    }
    let (checks, failed) = report.counts();
    let verdict = if report.passed() {
        style.paint("32", "PASSED")
    } else {
        style.paint("31", "FAILED")
    };
    let _ = writeln!(
        out,
        "  {verdict}: {} step{}, {checks} check{}, {failed} failed, {} wall",
        report.steps.len(),
        plural(report.steps.len()),
        plural(checks),
        compact(report.wall)
    );
    out
}

/// The first line of `text`, at most 160 characters: SDK errors carry whole HTTP responses,
/// which the JSON report keeps and the timeline does not.
fn shorten(text: &str) -> String {
    const MAX: usize = 160;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= MAX {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX).collect();
    format!("{cut}…")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The machine report of a run: every scenario, and a summary.
pub fn render_json(reports: &[ScenarioReport]) -> String {
    #[derive(Serialize)]
    struct Run<'a> {
        passed: bool,
        scenarios: &'a [ScenarioReport],
    }
    let run = Run {
        passed: reports.iter().all(ScenarioReport::passed),
        scenarios: reports,
    };
    serde_json::to_string_pretty(&run).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JUnit XML: one test suite `ekm-scenarios`, one test case per scenario (its timeline as
/// system-out, failures as the message).
pub fn render_junit(reports: &[ScenarioReport]) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("ekm-scenarios");
    for report in reports {
        let status = if report.passed() {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(report.failure_summary().trim_end().to_owned());
            status
        };
        let mut case = TestCase::new(report.name.clone(), status);
        if let Some(file) = &report.file {
            case.set_classname(file.display().to_string());
        }
        case.set_time(report.wall);
        case.set_system_out(render_timeline(report, Style { color: false }));
        suite.add_test_case(case);
    }
    let mut junit = Report::new("ekm scenario run");
    junit.add_test_suite(suite);
    junit.to_string()
}
