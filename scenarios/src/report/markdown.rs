//! The Markdown summary of a run, for pasting into a ticket: the verdict, then per scenario its
//! story, the key and fault events, the objects' last observed state, the KMS calls per cloud
//! and every failed check (passed checks are counted, not listed).

use std::fmt::Write as _;

use super::ScenarioReport;
use super::trace::PROVIDERS;
use crate::time::{clock_offset, compact};

/// The summary of `reports`.
pub fn render_markdown(reports: &[ScenarioReport]) -> String {
    let passed = reports.iter().filter(|r| r.passed()).count();
    let mut out = format!(
        "# EKM Lab scenario report\n\n**{passed} of {} scenario(s) passed.**\n\n",
        reports.len()
    );
    out.push_str("| scenario | verdict | steps | checks | failed | lab time |\n");
    out.push_str("|---|---|---:|---:|---:|---:|\n");
    for report in reports {
        let (checks, failed) = report.counts();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {checks} | {failed} | {} |",
            cell(&report.name),
            verdict(report),
            report.steps.len(),
            compact(report.trace.end)
        );
    }
    for report in reports {
        scenario(&mut out, report);
    }
    out
}

fn verdict(report: &ScenarioReport) -> &'static str {
    if report.passed() {
        "✅ passed"
    } else {
        "❌ failed"
    }
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn scenario(out: &mut String, report: &ScenarioReport) {
    let _ = write!(out, "\n## {} — {}\n\n", report.name, verdict(report));
    if let Some(file) = &report.file {
        let _ = writeln!(out, "`{}`\n", file.display());
    }
    let story = report.description.split_whitespace().collect::<Vec<_>>();
    let _ = writeln!(out, "{}\n", story.join(" "));
    if let Some(error) = &report.error {
        let _ = writeln!(out, "**The run stopped:** {error}\n");
    }
    let trace = &report.trace;
    if !trace.markers.is_empty() {
        out.push_str("**Key and fault events**\n\n");
        for marker in &trace.markers {
            let _ = writeln!(out, "- `{}` {}", clock_offset(marker.at), marker.label);
        }
        out.push('\n');
    }
    let objects = trace.objects();
    if !objects.is_empty() {
        out.push_str("| object | sealed under | last read | outcome |\n|---|---|---|---|\n");
        for object in objects {
            let key = trace
                .seals
                .iter()
                .rev()
                .find(|s| s.object == object)
                .map_or("", |s| s.key.as_str());
            let last = trace.reads.iter().rev().find(|r| r.object == object);
            let (at, outcome) = match last {
                Some(read) if read.readable() && read.kms_calls == 0 => (
                    clock_offset(read.at),
                    "readable (from the DEK cache)".into(),
                ),
                Some(read) if read.readable() => (clock_offset(read.at), "readable".into()),
                Some(read) => (
                    clock_offset(read.at),
                    format!("unreadable: {}", read.outcome),
                ),
                None => ("—".into(), "not read".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | `{at}` | {outcome} |",
                cell(object),
                cell(key)
            );
        }
        out.push('\n');
    }
    let calls: Vec<String> = PROVIDERS
        .iter()
        .filter_map(|p| {
            let mine = trace.calls.iter().filter(|c| c.provider == *p);
            let (total, failed) = mine.fold((0, 0), |(t, f), c| (t + c.calls, f + c.failed));
            let peak = trace
                .calls
                .iter()
                .filter(|c| c.provider == *p)
                .map(|c| c.calls)
                .max()?;
            Some(format!("{p}: {total} ({failed} failed, peak {peak}/min)"))
        })
        .collect();
    if !calls.is_empty() {
        let _ = writeln!(out, "**KMS calls:** {}\n", calls.join("; "));
    }
    let (checks, failed) = report.counts();
    let _ = writeln!(out, "**Checks:** {} of {checks} passed.", checks - failed);
    for (step, check) in report.failures() {
        let _ = writeln!(
            out,
            "- ❌ `{}` step {} `{}`: expected {}, found {}",
            clock_offset(step.at),
            step.index + 1,
            step.action,
            check.expected,
            super::shorten(&check.actual)
        );
    }
}
