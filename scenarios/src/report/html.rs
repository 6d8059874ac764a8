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

use super::svg::{TimeScale, escape, nice_max, num};
use super::trace::{MarkerKind, PROVIDERS, Trace};
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

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 230.0;
const RIGHT: f64 = 1180.0;

/// The time axis every chart of a scenario shares, folding the stretches where nothing was
/// observed.
fn scale(trace: &Trace) -> TimeScale {
    let moments: Vec<std::time::Duration> = trace
        .seals
        .iter()
        .map(|s| s.at)
        .chain(trace.reads.iter().map(|r| r.at))
        .chain(trace.markers.iter().map(|m| m.at))
        .chain(trace.cache.iter().map(|c| c.at))
        .chain(trace.calls.iter().flat_map(|c| {
            let start = std::time::Duration::from_secs(c.minute * 60);
            [start, start + std::time::Duration::from_secs(60)]
        }))
        .collect();
    TimeScale::folding(trace.end, LABEL, RIGHT, &moments)
}

/// A numbered marker: the events of one kind at one instant.
struct MarkerGroup {
    at: std::time::Duration,
    kind: MarkerKind,
    members: Vec<usize>,
    /// How many groups before this one share its instant (their circles sit side by side).
    beside: usize,
}

fn marker_groups(trace: &Trace) -> Vec<MarkerGroup> {
    let mut groups: Vec<MarkerGroup> = Vec::new();
    for (i, marker) in trace.markers.iter().enumerate() {
        let kind = kind_class(marker.kind);
        if let Some(group) = groups
            .iter_mut()
            .find(|g| g.at == marker.at && kind_class(g.kind) == kind)
        {
            group.members.push(i);
            continue;
        }
        let beside = groups.iter().filter(|g| g.at == marker.at).count();
        groups.push(MarkerGroup {
            at: marker.at,
            kind: marker.kind,
            members: vec![i],
            beside,
        });
    }
    groups
}

fn kind_class(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::Rotate => "rotate",
        MarkerKind::Revoke => "revoke",
        MarkerKind::Restore => "restore",
        MarkerKind::Fault | MarkerKind::FaultEnd => "fault",
    }
}

/// One lane per object: grey before it is sealed, then the colour of its last observed state.
fn lanes(out: &mut String, trace: &Trace) {
    let objects = trace.objects();
    let scale = scale(trace);
    let (top, lane, gap) = (34.0, 24.0, 10.0);
    let height = top + objects.len() as f64 * (lane + gap) + 24.0;
    let bottom = height - 22.0;
    let _ = write!(
        out,
        r#"<svg class="chart lanes" viewBox="0 0 {WIDTH} {h}" role="img" aria-label="readability of each object over lab time">"#,
        h = num(height)
    );
    out.push_str(&scale.axis(bottom, top - 8.0));
    for (n, group) in marker_groups(trace).iter().enumerate() {
        let x = num(scale.x(group.at));
        let cx = num(scale.x(group.at) + 20.0 * group.beside as f64);
        let labels: Vec<String> = group
            .members
            .iter()
            .map(|&i| trace.markers[i].label.clone())
            .collect();
        let _ = write!(
            out,
            r#"<g class="marker {class}" data-kind="{class}"><title>{time} {labels}</title><line x1="{x}" y1="{y0}" x2="{x}" y2="{bottom}"/><circle cx="{cx}" cy="{cy}" r="9"/><text x="{cx}" y="{ty}">{label}</text></g>"#,
            class = kind_class(group.kind),
            time = clock_offset(group.at),
            labels = escape(&labels.join("; ")),
            y0 = num(top - 14.0),
            bottom = num(bottom),
            cy = num(top - 20.0),
            ty = num(top - 16.5),
            label = n + 1,
        );
    }
    for (row, object) in objects.iter().enumerate() {
        let y = top + row as f64 * (lane + gap);
        lane_row(out, trace, object, &scale, y, lane);
    }
    out.push_str("</svg>");
}

/// A state between two observations.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Sealed,
    Readable,
    Cached,
    Unreadable,
}

impl State {
    fn class(self) -> &'static str {
        match self {
            State::Sealed => "sealed",
            State::Readable => "readable",
            State::Cached => "cached",
            State::Unreadable => "unreadable",
        }
    }
}

fn lane_row(out: &mut String, trace: &Trace, object: &str, scale: &TimeScale, y: f64, h: f64) {
    let seals: Vec<_> = trace.seals.iter().filter(|s| s.object == object).collect();
    let reads: Vec<_> = trace.reads.iter().filter(|r| r.object == object).collect();
    // (at, state, what) in time order; seals first at equal times.
    let mut points: Vec<(std::time::Duration, State, String)> = seals
        .iter()
        .map(|s| {
            (
                s.at,
                State::Sealed,
                format!("sealed under {} ({})", s.key, s.provider),
            )
        })
        .collect();
    for read in &reads {
        let (state, what) = match (read.readable(), read.kms_calls) {
            (true, 0) => (
                State::Cached,
                "readable — served from the DEK cache".to_owned(),
            ),
            (true, n) => (State::Readable, format!("readable — {n} KMS call(s)")),
            (false, _) => (State::Unreadable, format!("unreadable — {}", read.outcome)),
        };
        points.push((read.at, state, what));
    }
    points.sort_by_key(|p| p.0);
    let last = points.last().map_or(State::Sealed, |p| p.1);
    let key = seals.last().map(|s| s.key.as_str()).unwrap_or_default();
    let _ = write!(
        out,
        r#"<g class="lane" data-object="{o}" data-final="{f}"><text x="8" y="{ty}" class="lane-name">{o}</text><text x="{kx}" y="{ty}" class="lane-key">{k}</text><rect x="{x0}" y="{y}" width="{w}" height="{h}" class="before"/>"#,
        o = escape(object),
        f = last.class(),
        k = escape(key),
        kx = num(LABEL - 8.0),
        ty = num(y + h / 2.0 + 4.5),
        x0 = num(scale.left),
        y = num(y),
        w = num(scale.right - scale.left),
        h = num(h),
    );
    for (i, (at, state, what)) in points.iter().enumerate() {
        let until = points.get(i + 1).map_or(trace.end, |p| p.0);
        let (x0, x1) = (scale.x(*at), scale.x(until));
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{object} from {}: {}</title></rect>"#,
            num(x0),
            num(y),
            num((x1 - x0).max(0.0)),
            num(h),
            state.class(),
            clock_offset(*at),
            escape(what),
        );
    }
    for (at, state, what) in &points {
        let (cx, cy) = (num(scale.x(*at)), num(y + h / 2.0));
        let shape = if *state == State::Sealed {
            format!(
                r#"<rect x="{}" y="{}" width="8" height="8" transform="rotate(45 {cx} {cy})" class="dot seal"/>"#,
                num(scale.x(*at) - 4.0),
                num(y + h / 2.0 - 4.0)
            )
        } else {
            format!(
                r#"<circle cx="{cx}" cy="{cy}" r="5" class="dot {}"/>"#,
                state.class()
            )
        };
        let _ = write!(
            out,
            r#"<g class="obs"><title>{} {object}: {}</title>{shape}</g>"#,
            clock_offset(*at),
            escape(what)
        );
    }
    out.push_str("</g>");
}

fn markers_legend(out: &mut String, trace: &Trace) {
    out.push_str(r#"<div class="legend"><span class="key sealed">sealed</span><span class="key readable">readable (KMS confirmed)</span><span class="key cached">readable from the DEK cache</span><span class="key unreadable">unreadable</span><span class="note">colour = the last read's outcome; dots = reads, diamonds = seals</span></div>"#);
    if trace.markers.is_empty() {
        return;
    }
    out.push_str(r#"<ol class="markers">"#);
    for group in marker_groups(trace) {
        let items: Vec<String> = group
            .members
            .iter()
            .map(|&i| {
                let m = &trace.markers[i];
                format!(
                    r#"<span class="{}">{}</span>"#,
                    kind_class(m.kind),
                    escape(&m.label)
                )
            })
            .collect();
        let _ = write!(
            out,
            "<li><b>{}</b> {}</li>",
            clock_offset(group.at),
            items.join(", ")
        );
    }
    out.push_str("</ol>");
}

/// Where every chart's plot area starts.
const CHART_TOP: f64 = 12.0;

/// A chart's frame: its CSS class, what it shows, where its plot area ends, its y maximum.
struct Frame {
    class: &'static str,
    label: &'static str,
    bottom: f64,
    max: u64,
    unit: &'static str,
}

/// Opens a chart's `<svg>` with the shared time axis and the y labels (`max` and 0); returns
/// the y position of a value.
fn chart_frame(out: &mut String, scale: &TimeScale, frame: Frame) -> impl Fn(u64) -> f64 + use<> {
    let Frame {
        class,
        label,
        bottom,
        max,
        unit,
    } = frame;
    let _ = write!(
        out,
        r#"<svg class="chart {class}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}">"#,
        height = num(bottom + 22.0),
    );
    out.push_str(&scale.axis(bottom, CHART_TOP));
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" class="ylabel">{max}{unit}</text><text x="{}" y="{}" class="ylabel">0</text>"#,
        num(LABEL - 8.0),
        num(CHART_TOP + 4.0),
        num(LABEL - 8.0),
        num(bottom)
    );
    move |v: u64| bottom - (bottom - CHART_TOP) * v as f64 / max as f64
}

/// Stacked bars: one per lab minute with calls, one colour per cloud.
fn calls_chart(out: &mut String, trace: &Trace) {
    let scale = scale(trace);
    let bottom = 170.0;
    let mut per_minute: std::collections::BTreeMap<u64, [u64; 3]> = Default::default();
    let mut totals = [0u64; 3];
    for bucket in &trace.calls {
        if let Some(p) = PROVIDERS.iter().position(|p| *p == bucket.provider) {
            per_minute.entry(bucket.minute).or_default()[p] += bucket.calls;
            totals[p] += bucket.calls;
        }
    }
    let max = nice_max(
        per_minute
            .values()
            .map(|v| v.iter().sum())
            .max()
            .unwrap_or(0),
    );
    let y = chart_frame(
        out,
        &scale,
        Frame {
            class: "calls",
            label: "KMS calls per minute per cloud",
            bottom,
            max,
            unit: "/min",
        },
    );
    for (minute, counts) in &per_minute {
        let start = std::time::Duration::from_secs(minute * 60);
        let x = scale.x(start);
        let width = (scale.x(start + std::time::Duration::from_secs(60)) - x).max(2.0);
        let mut level = 0;
        for (p, count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" class="bar {cloud}"><title>{} {cloud}: {count} call(s)</title></rect>"#,
                num(x),
                num(y(level + count)),
                num(width),
                num(y(level) - y(level + count)),
                clock_offset(std::time::Duration::from_secs(minute * 60)),
                cloud = PROVIDERS[p],
            );
            level += count;
        }
    }
    out.push_str("</svg>");
    cloud_legend(out, |p| format!("{} call(s)", totals[p]));
}

/// Step lines of live cache entries (active DEKs + decrypt entries) per cloud.
fn cache_chart(out: &mut String, trace: &Trace) {
    let scale = scale(trace);
    let bottom = 130.0;
    let total = |s: &super::trace::CacheSample| s.active_deks + s.decrypt_entries;
    let max = nice_max(trace.cache.iter().map(total).max().unwrap_or(0));
    let y = chart_frame(
        out,
        &scale,
        Frame {
            class: "cache",
            label: "live DEK cache entries per cloud",
            bottom,
            max,
            unit: "",
        },
    );
    let mut peaks = [0u64; 3];
    for (p, cloud) in PROVIDERS.iter().enumerate() {
        let samples: Vec<_> = trace
            .cache
            .iter()
            .filter(|s| s.provider == *cloud)
            .collect();
        if samples.is_empty() {
            continue;
        }
        let mut points = Vec::new();
        for (i, sample) in samples.iter().enumerate() {
            let until = samples.get(i + 1).map_or(trace.end, |s| s.at);
            let level = num(y(total(sample)));
            points.push(format!("{},{level}", num(scale.x(sample.at))));
            points.push(format!("{},{level}", num(scale.x(until))));
            peaks[p] = peaks[p].max(total(sample));
        }
        let _ = write!(
            out,
            r#"<polyline points="{}" class="line {cloud}"><title>{cloud}: live DEK-cache entries (peak {})</title></polyline>"#,
            points.join(" "),
            peaks[p]
        );
    }
    out.push_str("</svg>");
    cloud_legend(out, |p| format!("peak {}", peaks[p]));
}

fn cloud_legend(out: &mut String, text: impl Fn(usize) -> String) {
    out.push_str(r#"<div class="legend">"#);
    for (p, cloud) in PROVIDERS.iter().enumerate() {
        let _ = write!(
            out,
            r#"<span class="key {cloud}">{cloud} — {}</span>"#,
            text(p)
        );
    }
    out.push_str("</div>");
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
