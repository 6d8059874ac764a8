//! `ekm forecast`: the KMS request volume of a fleet computed from its parameters instead of
//! simulated — the same figures as a run's [`volume`](super::volume) report, in milliseconds.
//!
//! # The model
//!
//! Every cache entry the engine keeps is one *stream* of uses: a replica's active DEK for a
//! project (used by that replica's seals of the project), a replica's decrypt entry for one DEK
//! (used by that replica's reads of data under it). Operations are spread uniformly over
//! projects and replicas, so each stream sees a share of the fleet's rate `λ(t)` (the
//! [`RateCurve`]), and the arrivals of one stream are close to a Poisson process. An entry lives
//! `revalidate_after` from the KMS call that filled it; a use finds it dead with probability
//! `1 − q(t)`, where `q(t)` — the probability it is live — is exactly the expected number of
//! fills in the last `revalidate_after` (at most one fill can happen in any such span). So the
//! expected fills per unit time obey
//!
//! ```text
//! f(t) = λₛ(t) · (1 − ∫_{t − revalidate_after}^{t} f(s) ds)
//! ```
//!
//! solved step by step on a grid ([`fills`]). A new DEK starts a new stream (`q = 0`): seals
//! rotate every `dek_rotation`; today's reads open what a uniformly chosen replica sealed last
//! for the project, so each reader sees R streams of today's DEKs per project, renewed with the
//! writers' rotation (and opens yesterday's DEK while the writer has sealed nothing yet); a read
//! `d` days old opens the one DEK of that day.
//! Each fill is one KMS call: a seal's fill is a wrap at the start of each rotation epoch and an
//! unwrap (the re-validation) otherwise; a read's fill is an unwrap.
//!
//! Per-second figures assume the calls of one second are Poisson around the expected rate:
//! the p99 is the count 99 % of the window's seconds stay at or under, the peak the count the
//! busiest second reaches (the median of the window's maximum).
//!
//! Sign-ins, as the lab's fleet makes them (each replica has its own provider per project):
//! with [`Sessions::LabClock`] a provider signs in again on its first KMS call from
//! [`renew_after`] on (the engine's own rule: the session lifetime less five minutes), its
//! lifetime the engine's registration default ([`default_session_lifetime`]: AWS 1h, GCP 1h,
//! Azure 59m59s). Its KMS calls are the fills of its streams (one seal stream, R of today's
//! reads, one of older reads), Poisson around their expected rate, so the renewals are solved
//! on the same grid as the fills ([`renewals`]). Counted with them, as the simulation counts
//! them: GCP and Azure providers sign in when they connect (the STS exchange in the background,
//! Azure reading its key); the first replica signs in once a day of `history_days` (AWS on its
//! first call too), its providers due again by the window; and each provider's first call in
//! the window signs in — except GCP's and Azure's without older data, whose token from connect
//! is still live then. With [`Sessions::Wall`] a provider signs in once per run.
//!
//! What the model leaves out: the regularity of a provider's calls when a renewal falls due —
//! its cache entries keep expiring while no call comes, so the next call comes sooner than a
//! Poisson process of the same mean rate says (the simulated fleets show 0.96–1.08 times the
//! forecast sign-ins); the rare reads of today's data before the project's first seal
//! (the simulation opens yesterday's data then), the drift of rotation epochs with the first
//! seal after a rotation falls due, retries, faults and capacity evictions (the cache is
//! assumed large enough: `cache_capacity` is not a parameter).

use std::time::Duration;

use ekm_engine::config::default_session_lifetime;
use ekm_engine::provider::session::renew_after;
use ekm_vocab::Cloud;
use serde::Serialize;

use super::shape::RateCurve;
use super::{FleetSpec, Workload};
use crate::time::compact;

/// How the providers' sign-in sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sessions {
    /// On wall time: a lab run shows one sign-in per provider (the lab today).
    Wall,
    /// On lab time, each cloud's default lifetime as the engine registers it: AWS role
    /// sessions 1h (DurationSeconds default 3600), GCP federated tokens 1h (STS `expires_in`),
    /// Entra tokens 59m59s (Entra picks 60–90 min; the lab's mock issues 3599 s).
    LabClock,
}

impl Sessions {
    /// How long one sign-in lasts in `cloud`, if sessions end on lab time.
    pub fn lifetime(self, cloud: Cloud) -> Option<Duration> {
        match self {
            Self::Wall => None,
            Self::LabClock => Some(default_session_lifetime(cloud)),
        }
    }
}

/// What a forecast is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastInput {
    /// The fleet.
    pub fleet: FleetSpec,
    /// Its workload.
    pub workload: Workload,
    /// How long an active DEK seals before a new one replaces it.
    pub dek_rotation: Duration,
    /// How long a cached DEK is used before the KMS confirms it again.
    pub revalidate_after: Duration,
    /// How sign-in sessions end.
    pub sessions: Sessions,
}

/// The forecast volume of one cloud.
#[derive(Debug, Clone, Serialize)]
pub struct CloudForecast {
    /// The cloud.
    pub cloud: Cloud,
    /// Projects with their key in it.
    pub projects: u32,
    /// Expected wraps (new DEKs).
    pub wraps: f64,
    /// Expected unwraps (reads of uncached DEKs and re-validations).
    pub unwraps: f64,
    /// Expected sign-ins, counted apart from the KMS calls.
    pub sign_ins: f64,
    /// Expected KMS calls per minute of the window.
    pub per_minute: Vec<f64>,
    /// The count 99 % of the window's seconds stay at or under.
    pub p99_per_second: u64,
    /// The count the busiest second reaches.
    pub peak_per_second: u64,
}

impl CloudForecast {
    /// Wraps and unwraps.
    pub fn calls(&self) -> f64 {
        self.wraps + self.unwraps
    }
}

/// A fleet's forecast KMS volume.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// What the figures rest on, one sentence each.
    pub assumptions: Vec<String>,
    /// Operations in the window.
    pub operations: u64,
    /// Per cloud, in the fleet's order.
    pub clouds: Vec<CloudForecast>,
}

impl Forecast {
    /// Expected KMS calls (wraps and unwraps) of every cloud.
    pub fn calls(&self) -> f64 {
        self.clouds.iter().map(CloudForecast::calls).sum()
    }

    /// KMS calls per 1,000 operations.
    pub fn calls_per_1000_ops(&self) -> f64 {
        1000.0 * self.calls() / self.operations as f64
    }

    /// The share of operations served without a KMS call.
    pub fn hit_ratio(&self) -> f64 {
        1.0 - self.calls() / self.operations as f64
    }

    /// Expected sign-ins of every cloud.
    pub fn sign_ins(&self) -> f64 {
        self.clouds.iter().map(|c| c.sign_ins).sum()
    }
}

/// Grid steps per `revalidate_after` at least, and the coarsest step.
const STEPS_PER_TTL: f64 = 240.0;
const MAX_STEP_SECS: f64 = 10.0;

/// Forecasts `input` (its fleet and workload valid per their checks).
pub fn forecast(input: &ForecastInput) -> Forecast {
    let fleet = &input.fleet;
    let workload = &input.workload;
    let curve = RateCurve::of(workload);
    let window = curve.window_secs();
    let ttl = input.revalidate_after.as_secs_f64().max(1e-3);
    let rotation = input.dek_rotation.as_secs_f64().max(1e-3);
    let step = (ttl / STEPS_PER_TTL).min(MAX_STEP_SECS).min(window);
    let steps = (window / step).ceil() as usize;
    let ops: Vec<f64> = (0..steps)
        .map(|i| curve.expected_between(i as f64 * step, (i as f64 + 1.0) * step))
        .collect();
    let (p, r) = (f64::from(fleet.projects), f64::from(fleet.replicas));
    let reads = workload.reads;
    let today = if workload.read_age.days == 0 {
        1.0
    } else {
        workload.read_age.today
    };
    let grid = Grid {
        ttl_steps: (ttl / step).round().max(1.0) as usize,
        epoch_steps: (rotation / step).round().max(1.0) as usize,
    };
    // Expected uses per step of one stream of each kind: seals of one (project, replica);
    // today's reads of one (reader, writer, project), once the writer has sealed for the
    // project — before that they open yesterday's data; reads d days old of one (reader,
    // project).
    let seal_share = (1.0 - reads) / (p * r);
    let fresh_share = reads * today / (p * r * r);
    let mut sealed_by_writer: f64 = 0.0;
    let (mut fresh_uses, mut fallback_uses) =
        (Vec::with_capacity(steps), Vec::with_capacity(steps));
    for ops in &ops {
        let not_yet = (-sealed_by_writer).exp();
        fresh_uses.push(fresh_share * ops * (1.0 - not_yet));
        fallback_uses.push(fresh_share * r * ops * not_yet);
        sealed_by_writer += seal_share * ops;
    }
    let seal = grid.fills(
        &ops.iter().map(|o| seal_share * o).collect::<Vec<_>>(),
        true,
    );
    let fresh = grid.fills(&fresh_uses, true);
    let mut older_per_step = vec![0.0; steps];
    let mut older_total = 0.0;
    for (d, weight) in workload.read_age.older_weights().iter().enumerate() {
        let share = reads * (1.0 - today) * weight / (p * r);
        let uses: Vec<f64> = ops
            .iter()
            .zip(&fallback_uses)
            .map(|(o, fallback)| share * o + if d == 0 { *fallback } else { 0.0 })
            .collect();
        let fills = grid.fills(&uses, false);
        older_total += fills.total;
        for (sum, f) in older_per_step.iter_mut().zip(&fills.per_step) {
            *sum += f;
        }
    }
    // Every provider (one replica's for one project) sees the same calls: its seal stream,
    // the R streams of today's reads it serves and its older reads.
    let provider_calls: Vec<f64> = (0..steps)
        .map(|i| seal.per_step[i] + r * fresh.per_step[i] + older_per_step[i])
        .collect();
    let clouds = fleet
        .clouds
        .iter()
        .map(|&cloud| {
            let projects = fleet.projects_on(cloud);
            let pc = f64::from(projects);
            let (seal_streams, fresh_streams, older_streams) = (pc * r, pc * r * r, pc * r);
            let per_step: Vec<f64> = (0..steps)
                .map(|i| {
                    seal_streams * seal.per_step[i]
                        + fresh_streams * fresh.per_step[i]
                        + older_streams * older_per_step[i]
                })
                .collect();
            let wraps = seal_streams * seal.epochs_used;
            let calls = seal_streams * seal.total
                + fresh_streams * fresh.total
                + older_streams * older_total;
            let sign_ins = match input.sessions.lifetime(cloud) {
                None => seal_streams,
                Some(lifetime) => {
                    let history = fleet.history_days;
                    let per_provider = renewals(
                        &provider_calls,
                        step,
                        renew_after(lifetime).as_secs_f64(),
                        history > 0 || cloud == Cloud::Aws,
                    );
                    // The first replica's history seals, and GCP's and Azure's connects.
                    let set_up = match cloud {
                        Cloud::Aws => pc * f64::from(history),
                        _ => pc * f64::from(history.saturating_sub(1)) + seal_streams,
                    };
                    seal_streams * per_provider + set_up
                }
            };
            let (p99, peak) = per_second_quantiles(&per_step, step);
            CloudForecast {
                cloud,
                projects,
                wraps,
                unwraps: calls - wraps,
                sign_ins,
                per_minute: per_minute(&per_step, step, window),
                p99_per_second: p99,
                peak_per_second: peak,
            }
        })
        .collect();
    Forecast {
        assumptions: assumptions(input, window),
        operations: workload.operations,
        clouds,
    }
}

fn assumptions(input: &ForecastInput, window: f64) -> Vec<String> {
    let fleet = &input.fleet;
    let workload = &input.workload;
    let clouds: Vec<String> = fleet
        .clouds
        .iter()
        .map(|c| format!("{c} {}", fleet.projects_on(*c)))
        .collect();
    let shape = match &workload.daily {
        Some(d) => format!(
            "peaking at {} of the day, swing {} (quietest hour at {:.0} % of the mean)",
            compact(d.peak.0),
            d.swing,
            100.0 * (1.0 - d.swing)
        ),
        None => "flat over the day".to_owned(),
    };
    let age = &workload.read_age;
    let sessions = match input.sessions {
        Sessions::Wall => "sessions on wall time: one sign-in per replica and project for the \
                           whole run"
            .to_owned(),
        Sessions::LabClock => "sessions on lab time with each cloud's default lifetime (AWS \
                               1h, GCP 1h, Azure 59m59s), renewed on a provider's first call \
                               from five minutes before the end; the fleet's set-up sign-ins \
                               (connect, older data) counted"
            .to_owned(),
    };
    let mut lines = vec![
        format!(
            "{} projects ({}), each with its own key; {} replicas with their own caches, \
             every operation on a uniformly chosen project and replica",
            fleet.projects,
            clouds.join(", "),
            fleet.replicas
        ),
        format!(
            "{} operations over {} ({:.1}/s on average), {shape}",
            workload.operations,
            compact(workload.over.0),
            workload.operations as f64 / window
        ),
        format!(
            "{:.0} % reads: {:.0} % of them open today's data (what a uniformly chosen replica \
             sealed last for the project), the rest 1-{} days old with weight d^-{}",
            100.0 * workload.reads,
            100.0 * age.today,
            age.days,
            age.tail
        ),
        format!(
            "dek_rotation {}, revalidate_after {}: a cached DEK is used for {} after the KMS \
             call that fetched it; the cache never evicts for capacity",
            compact(input.dek_rotation),
            compact(input.revalidate_after),
            compact(input.revalidate_after)
        ),
        "uses of one cache entry arrive as a Poisson process; per-second counts are Poisson \
         around the expected rate"
            .to_owned(),
        sessions,
    ];
    for burst in &workload.bursts {
        lines.push(format!(
            "a burst of {}x the rate at {} for {}",
            burst.factor,
            compact(burst.at.0),
            compact(burst.length.0)
        ));
    }
    lines
}

/// The window on a grid: steps per TTL and per rotation epoch.
struct Grid {
    ttl_steps: usize,
    epoch_steps: usize,
}

/// The expected fills of one stream.
struct Fills {
    per_step: Vec<f64>,
    total: f64,
    /// Expected rotation epochs in which the stream was used at all (each starts with a wrap).
    epochs_used: f64,
}

impl Grid {
    /// The expected fills of one cache entry used `uses[i]` times in step `i` on average, its
    /// lifetime `ttl_steps`; when `rotates`, a new DEK (an empty entry) every `epoch_steps`.
    fn fills(&self, uses: &[f64], rotates: bool) -> Fills {
        let mut per_step = Vec::with_capacity(uses.len());
        // Fills of the last `ttl_steps` steps, as a ring; `live` is their sum.
        let mut ring = vec![0.0; self.ttl_steps];
        let mut live: f64 = 0.0;
        let mut unused_in_epoch = 1.0;
        let mut epochs_used = 0.0;
        for (i, expected) in uses.iter().enumerate() {
            if rotates && i > 0 && i % self.epoch_steps == 0 {
                ring.iter_mut().for_each(|f| *f = 0.0);
                live = 0.0;
                epochs_used += 1.0 - unused_in_epoch;
                unused_in_epoch = 1.0;
            }
            let slot = i % self.ttl_steps;
            live -= ring[slot];
            let no_use = (-expected).exp();
            let fill = (1.0 - no_use) * (1.0 - live).clamp(0.0, 1.0);
            unused_in_epoch *= no_use;
            ring[slot] = fill;
            live += fill;
            per_step.push(fill);
        }
        epochs_used += 1.0 - unused_in_epoch;
        Fills {
            total: per_step.iter().sum(),
            per_step,
            epochs_used,
        }
    }
}

/// The expected sign-ins of one provider whose KMS calls come `calls[i]` in step `i` on
/// average (Poisson): it signs in again on its first call at least `renew_after` seconds after
/// its last sign-in; its first call starts the count and signs in when `first_call_signs_in`.
fn renewals(calls: &[f64], step: f64, renew_after: f64, first_call_signs_in: bool) -> f64 {
    let due_steps = (renew_after / step).round().max(1.0) as usize;
    // The probability that no call came yet, that the session is due (and no call came since),
    // and per step that the provider signed in (or made its first call) then.
    let (mut never, mut due) = (1.0_f64, 0.0_f64);
    let mut started = Vec::with_capacity(calls.len());
    let mut sign_ins = 0.0;
    for (i, expected) in calls.iter().enumerate() {
        if let Some(then) = i.checked_sub(due_steps) {
            due += started[then];
        }
        let called = 1.0 - (-expected).exp();
        let (first, renewed) = (never * called, due * called);
        never -= first;
        due -= renewed;
        started.push(first + renewed);
        sign_ins += renewed + if first_call_signs_in { first } else { 0.0 };
    }
    sign_ins
}

/// Sums the per-step calls into minutes.
fn per_minute(per_step: &[f64], step: f64, window: f64) -> Vec<f64> {
    let mut minutes = vec![0.0; (window / 60.0).ceil().max(1.0) as usize];
    for (i, calls) in per_step.iter().enumerate() {
        let minute = ((i as f64 * step) / 60.0) as usize;
        if let Some(m) = minutes.get_mut(minute) {
            *m += calls;
        }
    }
    minutes
}

/// The p99 and the peak of the calls per second, the calls of each second Poisson around the
/// step's expected rate.
fn per_second_quantiles(per_step: &[f64], step: f64) -> (u64, u64) {
    let seconds = per_step.len() as f64 * step;
    let rates: Vec<f64> = per_step.iter().map(|c| c / step).collect();
    // Seconds expected above count `x`, over the whole window.
    let above = |x: u64| -> f64 { rates.iter().map(|mu| step * poisson_above(*mu, x)).sum() };
    let quantile = |allowed: f64| -> u64 {
        let mut x = 0;
        while above(x) > allowed {
            x += 1;
        }
        x
    };
    (quantile(0.01 * seconds), quantile(0.5))
}

/// P(X > x) for X ~ Poisson(mu) (a normal approximation for large means).
fn poisson_above(mu: f64, x: u64) -> f64 {
    if mu <= 0.0 {
        return 0.0;
    }
    if mu > 200.0 {
        let z = (x as f64 + 0.5 - mu) / mu.sqrt();
        return 0.5 * erfc(z / std::f64::consts::SQRT_2);
    }
    let mut term = (-mu).exp();
    let mut below = term;
    for k in 1..=x {
        term *= mu / k as f64;
        below += term;
    }
    (1.0 - below).max(0.0)
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(fleet: &str, workload: &str) -> ForecastInput {
        ForecastInput {
            fleet: serde_yaml::from_str(fleet).unwrap(),
            workload: serde_yaml::from_str(workload).unwrap(),
            dek_rotation: Duration::from_secs(86_400),
            revalidate_after: Duration::from_secs(3600),
            sessions: Sessions::Wall,
        }
    }

    #[test]
    fn one_busy_stream_fills_once_per_lifetime() {
        // One project, one replica, seals only, 100 a second for 10 h: the active DEK is
        // wrapped once and re-validated every hour — 10 calls.
        let f = forecast(&input(
            "{projects: 1, clouds: [aws], replicas: 1}",
            "{operations: 3600000, over: 10h, reads: 0}",
        ));
        let aws = &f.clouds[0];
        assert!((aws.calls() - 10.0).abs() < 0.1, "{}", aws.calls());
        assert!((aws.wraps - 1.0).abs() < 1e-6, "{}", aws.wraps);
        assert_eq!(aws.sign_ins, 1.0);
        assert_eq!(aws.peak_per_second, 1);
        assert_eq!(aws.p99_per_second, 0);
        assert!(f.hit_ratio() > 0.999_99);
    }

    #[test]
    fn a_sparse_stream_fills_on_almost_every_use() {
        // One use every ten hours on average: the entry is nearly always dead.
        let f = forecast(&input(
            "{projects: 1, clouds: [gcp], replicas: 1}",
            "{operations: 100, over: 1000h, reads: 0}",
        ));
        let calls = f.calls();
        // Renewal theory: uses / (1 + λ·TTL) = 100 / 1.1.
        assert!((calls - 100.0 / 1.1).abs() < 2.0, "{calls}");
    }

    #[test]
    fn replicas_multiply_calls_and_rotation_adds_wraps() {
        let workload = "{operations: 100000, over: 24h, reads: 0.8, read_age: {today: 0.9}}";
        let one = forecast(&input("{projects: 30, replicas: 1}", workload));
        let three = forecast(&input("{projects: 30, replicas: 3}", workload));
        assert!(
            three.calls() > 2.0 * one.calls(),
            "{} vs {}",
            three.calls(),
            one.calls()
        );
        let mut hourly = input("{projects: 30, replicas: 1}", workload);
        hourly.dek_rotation = Duration::from_secs(3600);
        let hourly = forecast(&hourly);
        let wraps = |f: &Forecast| f.clouds.iter().map(|c| c.wraps).sum::<f64>();
        assert!((wraps(&one) - 30.0).abs() < 0.5, "{}", wraps(&one));
        assert!(
            (wraps(&hourly) - 30.0 * 24.0).abs() < 5.0,
            "{}",
            wraps(&hourly)
        );
        assert_eq!(one.sign_ins(), 30.0);
    }

    #[test]
    fn a_provider_called_all_the_time_signs_in_every_renewal_period() {
        // Calls in every step for a day: a sign-in at the first call, then one every 55 min
        // (1h less the five-minute margin) — 1 + 26; a 59m59s Entra token renews every
        // 54m59s — 1 + 26 too; without the first call's sign-in, 26.
        let busy = vec![50.0; 8640];
        let hour = renew_after(Duration::from_secs(3600)).as_secs_f64();
        assert!((renewals(&busy, 10.0, hour, true) - 27.0).abs() < 1e-9);
        let entra = renew_after(default_session_lifetime(Cloud::Azure)).as_secs_f64();
        assert!((renewals(&busy, 10.0, entra, true) - 27.0).abs() < 1e-9);
        assert!((renewals(&busy, 10.0, hour, false) - 26.0).abs() < 1e-9);
        assert_eq!(renewals(&vec![0.0; 8640], 10.0, hour, true), 0.0);
    }

    #[test]
    fn a_sparse_provider_renews_on_its_first_call_after_the_period() {
        // One call every 20 minutes on average: each renewal waits 55 min and then 20 min on
        // average for a call, so about 24h / 75 min sign-ins after the first.
        let sparse = vec![10.0 / 1200.0; 8640];
        let hour = renew_after(Duration::from_secs(3600)).as_secs_f64();
        let n = renewals(&sparse, 10.0, hour, true);
        assert!((n - (1.0 + 1440.0 / 75.0)).abs() < 1.0, "{n}");
    }

    #[test]
    fn lab_sessions_count_the_set_up_and_the_renewals() {
        let workload = "{operations: 100000, over: 24h, reads: 0.8, read_age: {today: 0.9}}";
        let mut lab = input("{projects: 30, replicas: 2, history_days: 3}", workload);
        lab.sessions = Sessions::LabClock;
        let f = forecast(&lab);
        let [aws, gcp] = [&f.clouds[0], &f.clouds[1]];
        // Each of 20 providers at most 27 sign-ins in the day; AWS 3 a project for the
        // history, GCP 2 and one per provider at connect.
        for (c, set_up) in [(aws, 30.0), (gcp, 20.0 + 20.0)] {
            let window = c.sign_ins - set_up;
            assert!(
                window > 20.0 * 15.0 && window <= 20.0 * 27.0,
                "{}: {window}",
                c.cloud
            );
        }
    }

    #[test]
    fn the_cold_start_echoes_an_hour_later() {
        // A flat busy day: every entry is filled in the first minutes and expires together an
        // hour later, so minute 60 sees more calls than minute 50.
        let f = forecast(&input(
            "{projects: 300, clouds: [aws], replicas: 2}",
            "{operations: 2000000, over: 3h, reads: 0.5}",
        ));
        let minutes = &f.clouds[0].per_minute;
        assert_eq!(minutes.len(), 180);
        assert!(
            minutes[0] > 2.0 * minutes[50],
            "{} {}",
            minutes[0],
            minutes[50]
        );
        assert!(
            minutes[60] > 1.5 * minutes[50],
            "{} {}",
            minutes[60],
            minutes[50]
        );
        assert!(f.clouds[0].peak_per_second > f.clouds[0].p99_per_second);
    }

    #[test]
    fn poisson_tails() {
        assert!((poisson_above(1.0, 0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        assert!(poisson_above(1.0, 10) < 1e-7);
        let normal = poisson_above(400.0, 400);
        assert!((normal - 0.49).abs() < 0.02, "{normal}");
        assert!((erfc(0.0) - 1.0).abs() < 1e-7 && (erfc(-10.0) - 2.0).abs() < 1e-7);
    }

    #[test]
    fn the_assumptions_are_printed() {
        let f = forecast(&input(
            "{projects: 6, replicas: 2}",
            "{operations: 1000, over: 24h, daily: {peak: 14h, swing: 0.6}, \
              bursts: [{at: 9h, for: 10m, factor: 5}]}",
        ));
        let text = f.assumptions.join("\n");
        for expected in [
            "6 projects (aws 2, gcp 2, azure 2)",
            "peaking at 14h of the day, swing 0.6",
            "revalidate_after 1h",
            "sessions on wall time",
            "a burst of 5x the rate at 9h for 10m",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
