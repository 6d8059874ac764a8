//! The shareable report: one self-contained HTML page for a run (`index.html`) and a Markdown
//! summary for tickets (`summary.md`), written by [`write_report`] — what `ekm scenario run
//! --report DIR` and the console's demo call.
//!
//! Per scenario the page shows the verdict and story, a readability lane per object over lab
//! time with the key and fault events as numbered markers, the KMS calls per minute per cloud
//! (stacked bars: the hourly re-validation spikes stand out), the DEK caches' occupancy, and each
//! step with its checks and the hops the clouds made to the customer's external key manager (one
//! row per side of each hop, with its own latency and outcome). Everything is inline SVG and CSS. The page's Content-Security-Policy
//! allows no network fetch at all and only its own, hash-pinned script: a few lines that write a
//! render status (lane and marker counts, any script error) into the page so a headless browser
//! test can read it back from the DOM.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;

use super::charts::{cache_chart, calls_chart, lanes, markers_legend};
use super::svg::escape;
use super::{ScenarioReport, markdown};
use crate::time::{clock_offset, compact};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A directory or file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The files [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The HTML page (`DIR/index.html`).
    pub html: PathBuf,
    /// The Markdown summary (`DIR/summary.md`).
    pub markdown: PathBuf,
}

/// Writes `DIR/index.html` and `DIR/summary.md` for `reports`, creating `dir` if needed.
pub fn write_report(dir: &Path, reports: &[ScenarioReport]) -> Result<ReportFiles, ReportError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let files = ReportFiles {
        html: dir.join("index.html"),
        markdown: dir.join("summary.md"),
    };
    std::fs::write(&files.html, render_html(reports)).map_err(failed(&files.html))?;
    std::fs::write(&files.markdown, markdown::render_markdown(reports))
        .map_err(failed(&files.markdown))?;
    Ok(files)
}

/// The render check: reports lanes, markers and script errors into `#render-status`.
const SCRIPT: &str = "(function(){var errors=[];\
window.addEventListener('error',function(e){errors.push(String(e.message));show();});\
document.addEventListener('securitypolicyviolation',function(e){errors.push('blocked '+e.blockedURI);show();});\
function show(){var s=document.getElementById('render-status');if(!s)return;\
var lanes=document.querySelectorAll('g.lane').length,markers=document.querySelectorAll('g.marker').length;\
s.dataset.lanes=lanes;s.dataset.markers=markers;s.dataset.errors=errors.length;\
s.dataset.state=errors.length?'error':'ok';\
s.textContent=errors.length?'render errors: '+errors.join('; '):'rendered '+lanes+' lanes, '+markers+' markers';}\
document.addEventListener('DOMContentLoaded',show);})();";

const STYLE: &str = include_str!("report.css");

fn csp_hash(source: &str) -> String {
    let digest = sha2::Sha256::digest(source.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The whole page for a run.
pub fn render_html(reports: &[ScenarioReport]) -> String {
    let passed = reports.iter().filter(|r| r.passed()).count();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src {style}; script-src {script}; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EKM Lab scenario report — {passed} of {total} passed</title>
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head><body>
<header><h1>EKM Lab scenario report</h1>
<p class="summary {verdict_class}">{passed} of {total} scenario(s) passed</p>
<p class="about">Lab time is simulated: hours of key lifecycle run in milliseconds, on the mock KMS driven through the real AWS, GCP and Azure SDKs. Every mark below is something the run observed.</p>
"#,
        style = csp_hash(STYLE),
        script = csp_hash(SCRIPT),
        total = reports.len(),
        verdict_class = if passed == reports.len() {
            "pass"
        } else {
            "fail"
        },
    );
    if reports.len() > 1 {
        out.push_str("<nav><ol>");
        for (i, report) in reports.iter().enumerate() {
            let _ = write!(
                out,
                r##"<li><a href="#s{i}">{}</a> {}</li>"##,
                escape(&report.name),
                badge(report.passed())
            );
        }
        out.push_str("</ol></nav>");
    }
    out.push_str("</header><main>");
    for (i, report) in reports.iter().enumerate() {
        scenario_section(&mut out, i, report);
    }
    out.push_str(
        r#"</main><footer><p id="render-status" data-state="pending">rendering…</p></footer></body></html>
"#,
    );
    out
}

fn badge(passed: bool) -> &'static str {
    if passed {
        r#"<span class="badge pass">PASSED</span>"#
    } else {
        r#"<span class="badge fail">FAILED</span>"#
    }
}

fn scenario_section(out: &mut String, index: usize, report: &ScenarioReport) {
    let (checks, failed) = report.counts();
    let _ = write!(
        out,
        r#"<section class="scenario" id="s{index}" data-name="{name}" data-passed="{passed}"><h2>{name} {badge}</h2>"#,
        name = escape(&report.name),
        passed = report.passed(),
        badge = badge(report.passed()),
    );
    if let Some(file) = &report.file {
        let _ = write!(
            out,
            r#"<p class="file">{}</p>"#,
            escape(&file.display().to_string())
        );
    }
    let _ = write!(
        out,
        r#"<p class="story">{}</p><p class="facts">{} steps · {checks} checks, {failed} failed · {} of lab time in {} of real time</p>"#,
        escape(report.description.trim()),
        report.steps.len(),
        compact(report.trace.end),
        compact(report.wall),
    );
    if let Some(error) = &report.error {
        let _ = write!(
            out,
            r#"<p class="error">The run stopped: {}</p>"#,
            escape(error)
        );
    }
    let trace = &report.trace;
    out.push_str(r#"<h3>Readability of each object</h3>"#);
    lanes(out, trace);
    markers_legend(out, trace);
    out.push_str(r#"<h3>KMS calls per minute</h3>"#);
    calls_chart(out, trace);
    out.push_str(r#"<h3>DEK cache occupancy (live entries)</h3>"#);
    cache_chart(out, trace);
    super::volume::sections(out, report);
    out.push_str(r#"<h3>Steps and checks</h3>"#);
    steps_table(out, report);
    out.push_str("</section>");
}

/// Most hop rows shown under one step (a traffic step can make thousands).
const HOP_ROWS: usize = 12;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The hops of a step: one row per side of each hop, with its own latency and outcome.
fn hop_rows(hops: &[super::Hop]) -> String {
    if hops.is_empty() {
        return String::new();
    }
    let mut rows = String::from(r#"<table class="hops"><tbody>"#);
    for hop in hops.iter().take(HOP_ROWS) {
        let _ = write!(
            rows,
            r#"<tr class="hop {class}" data-side="{side}"><td>↳ {route}</td><td>{operation}</td><td>{key}</td><td class="num">{latency}</td><td>{outcome}</td></tr>"#,
            class = if hop.outcome == "ok" { "ok" } else { "fail" },
            side = escape(&hop.side),
            route = escape(&hop.route()),
            operation = escape(&hop.operation),
            key = escape(hop.key.as_deref().unwrap_or("—")),
            latency = latency(hop.latency_ms),
            outcome = escape(&hop.outcome),
        );
    }
    if hops.len() > HOP_ROWS {
        let _ = write!(
            rows,
            r#"<tr class="hop more"><td colspan="5">… and {} more</td></tr>"#,
            hops.len() - HOP_ROWS
        );
    }
    rows.push_str("</tbody></table>");
    rows
}

/// A real latency for people: `0.4 ms`, `103 ms`.
fn latency(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn steps_table(out: &mut String, report: &ScenarioReport) {
    out.push_str(r#"<table class="steps"><thead><tr><th>lab time</th><th>step</th><th>outcome</th><th>KMS calls</th><th>checks</th></tr></thead><tbody>"#);
    for step in &report.steps {
        for event in &step.events {
            let _ = write!(
                out,
                r#"<tr class="event"><td>{}</td><td colspan="4">· {}</td></tr>"#,
                clock_offset(event.at),
                escape(&event.what)
            );
        }
        let note = step
            .note
            .as_ref()
            .map(|n| format!(r#"<div class="note">{}</div>"#, escape(n)))
            .unwrap_or_default();
        let checks: String = step
            .checks
            .iter()
            .map(|c| {
                let found = if c.passed {
                    String::new()
                } else {
                    format!(r#" <span class="found">found {}</span>"#, escape(&c.actual))
                };
                format!(
                    r#"<li class="{}">{} {}{found}</li>"#,
                    if c.passed { "pass" } else { "fail" },
                    if c.passed { "✓" } else { "✗" },
                    escape(&c.expected)
                )
            })
            .collect();
        let hops = step.hops.iter().filter(|h| h.cloud_side()).count();
        let hop_count = match hops {
            0 => String::new(),
            n => format!(r#"<div class="hop-count">+{n} hop{}</div>"#, plural(n)),
        };
        let _ = write!(
            out,
            r#"<tr class="step {pass}"><td>{at}</td><td><code>{action}</code>{note}<div class="detail">{detail}</div>{hop_rows}</td><td class="outcome">{outcome}</td><td class="num">{calls}{hop_count}</td><td><ul class="checks">{checks}</ul></td></tr>"#,
            pass = if step.passed() { "pass" } else { "fail" },
            at = clock_offset(step.at),
            action = escape(&step.action),
            detail = escape(&super::shorten(&step.detail)),
            hop_rows = hop_rows(&step.hops),
            outcome = escape(&step.outcome),
            calls = step.kms_calls,
        );
    }
    out.push_str("</tbody></table>");
}
