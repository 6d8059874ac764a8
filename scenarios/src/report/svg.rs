//! The few drawing primitives the HTML report's inline SVG charts need: a lab-time scale with
//! readable ticks, text escaping, and number formatting that keeps the markup small.

use std::fmt::Write as _;
use std::time::Duration;

use crate::time::compact;

/// Escapes text for HTML and SVG (element content and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Maps lab time onto the x axis of a chart. Long quiet stretches (nothing observed for more
/// than a fifth of the run and over an hour) are folded into a narrow break marked with how much
/// time it hides, so a day-long story whose events cluster in its first hour stays readable.
#[derive(Debug, Clone)]
pub struct TimeScale {
    /// Lab time at the right edge (the left edge is 0).
    pub end: Duration,
    /// x of lab time 0.
    pub left: f64,
    /// x of `end`.
    pub right: f64,
    /// Linear pieces `(from, to, x_from, x_to)`, in order; a break is a piece of its own.
    pieces: Vec<(Duration, Duration, f64, f64)>,
    /// The folded stretches `(from, to)`.
    breaks: Vec<(Duration, Duration)>,
}

/// Tick spacings a time axis chooses from, in seconds.
const TICKS: [u64; 14] = [
    10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
];

/// Width of a folded stretch.
const BREAK_WIDTH: f64 = 44.0;

impl TimeScale {
    /// A linear scale over `[0, end]` (at least one minute) drawn between `left` and `right`.
    pub fn new(end: Duration, left: f64, right: f64) -> Self {
        let end = end.max(Duration::from_secs(60));
        Self {
            end,
            left,
            right,
            pieces: vec![(Duration::ZERO, end, left, right)],
            breaks: Vec::new(),
        }
    }

    /// A scale over `[0, end]` that folds the quiet stretches between `moments` (the times
    /// something happened).
    pub fn folding(end: Duration, left: f64, right: f64, moments: &[Duration]) -> Self {
        let end = end.max(Duration::from_secs(60));
        let mut times: Vec<Duration> = moments.iter().copied().filter(|t| *t <= end).collect();
        times.extend([Duration::ZERO, end]);
        times.sort();
        times.dedup();
        let threshold = (end / 5).max(Duration::from_secs(3600));
        let breaks: Vec<(Duration, Duration)> = times
            .windows(2)
            .filter(|w| w[1] - w[0] > threshold)
            // Keep a little lead-in and lead-out around the fold.
            .map(|w| (w[0] + threshold / 8, w[1] - threshold / 8))
            .collect();
        let folded: Duration = breaks.iter().map(|(a, b)| *b - *a).sum();
        let linear = (end - folded).as_secs_f64().max(1.0);
        let width = (right - left) - BREAK_WIDTH * breaks.len() as f64;
        let mut pieces = Vec::new();
        let (mut t, mut x) = (Duration::ZERO, left);
        for &(from, to) in &breaks {
            let x_from = x + width * (from - t).as_secs_f64() / linear;
            pieces.push((t, from, x, x_from));
            pieces.push((from, to, x_from, x_from + BREAK_WIDTH));
            (t, x) = (to, x_from + BREAK_WIDTH);
        }
        pieces.push((t, end, x, right));
        Self {
            end,
            left,
            right,
            pieces,
            breaks,
        }
    }

    /// x of lab time `at` (clamped to the axis).
    pub fn x(&self, at: Duration) -> f64 {
        let at = at.min(self.end);
        self.pieces
            .iter()
            .find(|(from, to, _, _)| at >= *from && at <= *to)
            .map_or(self.right, |&(from, to, x0, x1)| {
                let span = (to - from).as_secs_f64();
                if span == 0.0 {
                    x0
                } else {
                    x0 + (x1 - x0) * (at - from).as_secs_f64() / span
                }
            })
    }

    /// Lab times of the ticks: the smallest round spacing that gives at most ten over the
    /// unfolded time, outside the folds.
    pub fn ticks(&self) -> Vec<Duration> {
        let folded: Duration = self.breaks.iter().map(|(a, b)| *b - *a).sum();
        let span = (self.end - folded).as_secs().max(1);
        let step = TICKS
            .into_iter()
            .find(|step| span / step <= 10)
            .unwrap_or(span.div_ceil(10).max(1));
        (0..=self.end.as_secs() / step)
            .map(|i| Duration::from_secs(i * step))
            .filter(|t| !self.breaks.iter().any(|(a, b)| t > a && t < b))
            .collect()
    }

    /// The axis: a baseline at `y` and a labelled tick per [`TimeScale::ticks`], with faint grid
    /// lines up to `top`; each fold drawn as a hatched gap saying how long it is.
    pub fn axis(&self, y: f64, top: f64) -> String {
        let mut out = format!(
            r#"<g class="axis"><line x1="{}" y1="{}" x2="{}" y2="{}" class="baseline"/>"#,
            num(self.left),
            num(y),
            num(self.right),
            num(y)
        );
        let mut last_label = f64::NEG_INFINITY;
        for tick in self.ticks() {
            let at = self.x(tick);
            let x = num(at);
            let _ = write!(
                out,
                r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" class="grid"/>"#,
                num(top),
                num(y),
            );
            if at - last_label >= 34.0 {
                last_label = at;
                let _ = write!(
                    out,
                    r#"<text x="{x}" y="{}" class="tick">{}</text>"#,
                    num(y + 14.0),
                    compact(tick)
                );
            }
        }
        for &(from, to) in &self.breaks {
            let (x0, x1) = (self.x(from), self.x(to));
            let _ = write!(
                out,
                r#"<g class="fold"><title>{} without events, folded</title><rect x="{}" y="{}" width="{}" height="{}"/><text x="{}" y="{}" class="tick">⋯{}⋯</text></g>"#,
                compact(to - from),
                num(x0 + 3.0),
                num(top),
                num(x1 - x0 - 6.0),
                num(y - top),
                num((x0 + x1) / 2.0),
                num(y + 14.0),
                compact(to - from)
            );
        }
        out.push_str("</g>");
        out
    }
}

/// A coordinate with at most one decimal (keeps the markup small and stable).
pub fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A "nice" upper bound for a y axis holding `max` (1, 2, 5 × 10ⁿ).
pub fn nice_max(max: u64) -> u64 {
    let mut magnitude = 1;
    loop {
        for factor in [1, 2, 5] {
            if max <= factor * magnitude {
                return factor * magnitude;
            }
        }
        magnitude *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_markup() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }

    #[test]
    fn ticks_are_at_most_ten_round_times() {
        let day = TimeScale::new(Duration::from_secs(25 * 3600), 0.0, 100.0);
        assert_eq!(day.ticks()[1], Duration::from_secs(3 * 3600));
        assert!(day.ticks().len() <= 11);
        let short = TimeScale::new(Duration::from_secs(70 * 60), 0.0, 100.0);
        assert_eq!(short.ticks()[1], Duration::from_secs(600));
        assert_eq!(short.x(Duration::from_secs(35 * 60)), 50.0);
        assert_eq!(short.x(Duration::from_secs(10_000)), 100.0);
    }

    #[test]
    fn quiet_stretches_are_folded() {
        let hour = Duration::from_secs(3600);
        let moments = [Duration::from_secs(600), hour, hour * 25];
        let scale = TimeScale::folding(hour * 25, 0.0, 1000.0, &moments);
        assert_eq!(scale.breaks.len(), 1, "{scale:?}");
        // The first hour gets most of the width; the fold is narrow.
        assert!(scale.x(hour) > 400.0, "{}", scale.x(hour));
        let (from, to) = scale.breaks[0];
        assert!((scale.x(to) - scale.x(from) - BREAK_WIDTH).abs() < 1e-6);
        assert!(scale.x(hour * 25) == 1000.0);
        assert!(scale.ticks().iter().all(|t| *t <= from || *t >= to));
        // Monotone.
        let xs: Vec<f64> = (0..=100).map(|i| scale.x(hour * 25 * i / 100)).collect();
        assert!(xs.windows(2).all(|w| w[0] <= w[1]));
        assert!(scale.axis(10.0, 0.0).contains("⋯"));
    }

    #[test]
    fn y_axes_end_on_round_numbers() {
        assert_eq!([0, 1, 3, 7, 12, 480].map(nice_max), [1, 1, 5, 10, 20, 500]);
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(12.0), "12");
    }
}
