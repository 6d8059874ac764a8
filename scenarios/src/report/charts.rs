//! The run's timeline as inline SVG, on one time axis per scenario that folds the stretches where
//! nothing was observed: a readability lane per object with the key and fault events as numbered
//! markers and their legend, the KMS calls per minute per cloud (stacked bars), and the DEK
//! caches' occupancy.

use std::fmt::Write as _;

use super::svg::{TimeScale, escape, nice_max, num};
use super::trace::{MarkerKind, PROVIDERS, Trace};
use crate::time::clock_offset;

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
pub(super) fn lanes(out: &mut String, trace: &Trace) {
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

pub(super) fn markers_legend(out: &mut String, trace: &Trace) {
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
pub(super) fn calls_chart(out: &mut String, trace: &Trace) {
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
pub(super) fn cache_chart(out: &mut String, trace: &Trace) {
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
