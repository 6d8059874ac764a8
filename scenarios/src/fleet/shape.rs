//! The rate of a [`Workload`] over its window: the daily shape times the bursts, tabulated on a
//! grid fine enough for per-second figures, with its cumulative form — the simulation draws
//! operation times through the inverse of the cumulative rate, the forecast integrates the rate.

use std::f64::consts::TAU;
use std::time::Duration;

use super::Workload;

/// Grid cells at most (a day at one-second resolution fits).
const MAX_CELLS: usize = 200_000;

/// The operations per second of a workload at every cell of a grid over its window.
#[derive(Debug, Clone)]
pub struct RateCurve {
    /// Length of a cell, in seconds.
    cell: f64,
    /// Operations per second in each cell.
    rate: Vec<f64>,
    /// Operations expected before the end of each cell.
    cumulative: Vec<f64>,
}

impl RateCurve {
    /// The curve of `workload` (valid per [`Workload::check`]), scaled so that it makes
    /// `operations` over the window.
    pub fn of(workload: &Workload) -> Self {
        let window = workload.over.0.as_secs_f64();
        let cells = (window.ceil() as usize).clamp(1, MAX_CELLS);
        let cell = window / cells as f64;
        let relative: Vec<f64> = (0..cells)
            .map(|i| relative_rate(workload, (i as f64 + 0.5) * cell))
            .collect();
        let total: f64 = relative.iter().sum::<f64>() * cell;
        let scale = workload.operations as f64 / total;
        let rate: Vec<f64> = relative.into_iter().map(|r| r * scale).collect();
        let cumulative = rate
            .iter()
            .scan(0.0, |sum, r| {
                *sum += r * cell;
                Some(*sum)
            })
            .collect();
        Self {
            cell,
            rate,
            cumulative,
        }
    }

    /// The window's length in seconds.
    pub fn window_secs(&self) -> f64 {
        self.cell * self.rate.len() as f64
    }

    /// Operations per second at `t` seconds into the window.
    pub fn rate_at(&self, t: f64) -> f64 {
        let i = ((t / self.cell) as usize).min(self.rate.len() - 1);
        self.rate[i]
    }

    /// Operations expected over `[from, to)` seconds.
    pub fn expected_between(&self, from: f64, to: f64) -> f64 {
        self.expected_before(to) - self.expected_before(from)
    }

    fn expected_before(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.window_secs());
        let i = (t / self.cell) as usize;
        let before = if i == 0 { 0.0 } else { self.cumulative[i - 1] };
        let within = t - i as f64 * self.cell;
        before + self.rate.get(i).copied().unwrap_or(0.0) * within
    }

    /// The time at which a fraction `u` (0..1) of the window's operations have happened.
    pub fn time_of_fraction(&self, u: f64) -> Duration {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = u.clamp(0.0, 1.0) * total;
        let i = self
            .cumulative
            .partition_point(|c| *c < target)
            .min(self.rate.len() - 1);
        let before = if i == 0 { 0.0 } else { self.cumulative[i - 1] };
        let within = if self.rate[i] > 0.0 {
            ((target - before) / self.rate[i]).clamp(0.0, self.cell)
        } else {
            0.0
        };
        Duration::from_secs_f64(i as f64 * self.cell + within)
    }
}

/// The unscaled rate at `t` seconds into the window: daily shape times active bursts.
fn relative_rate(workload: &Workload, t: f64) -> f64 {
    let daily = workload.daily.map_or(1.0, |daily| {
        let phase = (t - daily.peak.0.as_secs_f64()) / 86_400.0;
        1.0 + daily.swing * (TAU * phase).cos()
    });
    let bursts: f64 = workload
        .bursts
        .iter()
        .filter(|b| {
            let start = b.at.0.as_secs_f64();
            (start..start + b.length.0.as_secs_f64()).contains(&t)
        })
        .map(|b| b.factor)
        .product();
    daily * bursts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(yaml: &str) -> RateCurve {
        RateCurve::of(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn a_flat_day_spreads_evenly() {
        let flat = curve("{operations: 86400, over: 24h}");
        assert!((flat.rate_at(0.0) - 1.0).abs() < 1e-9);
        assert!((flat.expected_between(0.0, 3600.0) - 3600.0).abs() < 1e-6);
        let half = flat.time_of_fraction(0.5).as_secs_f64();
        assert!((half - 43_200.0).abs() < 1e-6, "{half}");
    }

    #[test]
    fn the_daily_peak_and_a_burst_show_in_the_rate() {
        let day = curve(
            "{operations: 86400, over: 24h, daily: {peak: 14h, swing: 0.5}, \
              bursts: [{at: 3h, for: 10m, factor: 4}]}",
        );
        let at = |h: f64| day.rate_at(h * 3600.0);
        assert!(at(14.0) > 1.4 && at(2.0) < 0.6, "{} {}", at(14.0), at(2.0));
        assert!(
            (at(3.05) / at(2.95) - 4.0).abs() < 0.1,
            "the burst quadruples the rate"
        );
        let total = day.expected_between(0.0, 86_400.0);
        assert!((total - 86_400.0).abs() < 1e-3, "{total}");
        // The inverse puts half the operations before the middle of the cumulative rate.
        let median = day.time_of_fraction(0.5).as_secs_f64();
        assert!((day.expected_between(0.0, median) - 43_200.0).abs() < 1.0);
    }
}
