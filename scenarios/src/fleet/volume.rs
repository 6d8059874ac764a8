//! The KMS request volume of a simulated fleet run, from the mock's call log: calls per minute
//! per cloud and per key (sign-ins apart), the peak and p99 calls per second, calls per 1,000
//! operations, the cache hit ratio, and each cloud's figures beside its published quota and
//! price ([`quotas`](super::quotas)).
//!
//! *KMS calls* are the wraps and unwraps of the fleet's keys during the traffic window: what
//! the clouds meter and throttle. Sign-ins (AWS `AssumeRole`, GCP STS `token`, Entra `token`)
//! are counted apart, over the whole run including the fleet's start, because that is when the
//! lab's providers sign in (sessions run on wall time until issue 11 lands). The *cache hit
//! ratio* is the share of operations served without a KMS call (one operation makes at most one
//! call when nothing fails). Per-second figures count every second of the window, quiet ones
//! included: the p99 is the count 99 % of the seconds stay at or under.

use std::collections::BTreeMap;

use ekm_vocab::{CallKind, Cloud};
use serde::Serialize;

use super::FleetSpec;
use super::forecast::Forecast;
use super::quotas::{Published, published};

/// A `fleet-traffic` step's volume: what the simulated fleet did and what `ekm forecast`
/// computes for the same parameters.
#[derive(Debug, Clone, Serialize)]
pub struct FleetVolume {
    /// From the mock's call log.
    pub simulated: VolumeReport,
    /// From the parameters alone.
    pub forecast: Forecast,
}

impl FleetVolume {
    /// The simulated report's lines, each cloud's with the forecast's calls beside it.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.simulated.lines();
        let forecast: Vec<String> = self
            .forecast
            .clouds
            .iter()
            .map(|c| format!("{} {:.0}", c.cloud, c.calls()))
            .collect();
        lines.push(format!(
            "forecast: {:.0} KMS calls ({}), {:.1} per 1,000 operations, hit ratio {:.1} %",
            self.forecast.calls(),
            forecast.join(", "),
            self.forecast.calls_per_1000_ops(),
            100.0 * self.forecast.hit_ratio()
        ));
        lines
    }
}

/// One KMS call as the volume report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Whole seconds since the start of the window.
    pub second: u64,
    /// The cloud.
    pub cloud: Cloud,
    /// What it did.
    pub kind: CallKind,
    /// The key's lab name, if the call concerned one.
    pub key: Option<String>,
}

/// The volume of one cloud.
#[derive(Debug, Clone, Serialize)]
pub struct CloudVolume {
    /// The cloud.
    pub cloud: Cloud,
    /// Fleet projects with their key in it.
    pub projects: u32,
    /// Wraps (new DEKs).
    pub wraps: u64,
    /// Unwraps (reads of uncached DEKs, re-validations).
    pub unwraps: u64,
    /// Sign-ins over the whole run.
    pub sign_ins: u64,
    /// KMS calls per minute of the window.
    pub per_minute: Vec<u64>,
    /// The busiest minute's calls.
    pub peak_per_minute: u64,
    /// The busiest second's calls.
    pub peak_per_second: u64,
    /// The count 99 % of the window's seconds stay at or under.
    pub p99_per_second: u64,
    /// The busiest second of the busiest key (what one customer's quota sees).
    pub key_peak_per_second: u64,
    /// The published quota and price.
    pub published: Published,
    /// What the window's calls cost, in US dollars, for the whole fleet.
    pub cost_usd: f64,
}

impl CloudVolume {
    /// Wraps and unwraps.
    pub fn calls(&self) -> u64 {
        self.wraps + self.unwraps
    }
}

/// The volume of one key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyVolume {
    /// Its lab name.
    pub key: String,
    /// Its cloud.
    pub cloud: Cloud,
    /// KMS calls in the window.
    pub calls: u64,
    /// Its busiest minute's calls.
    pub peak_per_minute: u64,
    /// Its busiest second's calls.
    pub peak_per_second: u64,
}

/// A fleet run's KMS volume.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeReport {
    /// Projects and replicas of the fleet.
    pub projects: u32,
    /// Replicas of the service.
    pub replicas: u32,
    /// Operations in the window.
    pub operations: u64,
    /// The window's length in seconds.
    pub window_secs: u64,
    /// Per cloud, in the fleet's order.
    pub clouds: Vec<CloudVolume>,
    /// Every key with a call, busiest first.
    pub keys: Vec<KeyVolume>,
}

impl VolumeReport {
    /// The volume of `calls` (the window's KMS calls and the run's sign-ins) for `operations`
    /// over a window of `window_secs`.
    pub fn of(fleet: &FleetSpec, operations: u64, window_secs: u64, calls: &[Call]) -> Self {
        let minutes = window_secs.div_ceil(60).max(1) as usize;
        let seconds = window_secs.max(1) as usize;
        let mut clouds = Vec::new();
        let mut keys = Vec::new();
        for &cloud in &fleet.clouds {
            let in_cloud = calls.iter().filter(|c| c.cloud == cloud);
            let sign_ins = in_cloud
                .clone()
                .filter(|c| c.kind == CallKind::SignIn)
                .count();
            let crypto: Vec<&Call> = in_cloud
                // A request refused before it named a key — a renewed Azure client's first
                // request, the 401 that fetches Key Vault's authentication challenge — is no
                // crypto operation.
                .filter(|c| {
                    matches!(c.kind, CallKind::Wrap | CallKind::Unwrap)
                        && c.key.is_some()
                        && c.second < window_secs
                })
                .collect();
            let mut per_minute = vec![0u64; minutes];
            let mut per_second = vec![0u64; seconds];
            let mut by_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            for call in &crypto {
                per_minute[(call.second / 60) as usize] += 1;
                per_second[call.second as usize] += 1;
                if let Some(key) = &call.key {
                    by_key.entry(key).or_default().push(call.second);
                }
            }
            let cloud_keys: Vec<KeyVolume> = by_key
                .into_iter()
                .map(|(key, seconds)| KeyVolume {
                    key: key.to_owned(),
                    cloud,
                    calls: seconds.len() as u64,
                    peak_per_minute: peak_of(seconds.iter().map(|s| s / 60)),
                    peak_per_second: peak_of(seconds.iter().copied()),
                })
                .collect();
            let published = published(cloud);
            let wraps = crypto.iter().filter(|c| c.kind == CallKind::Wrap).count() as u64;
            clouds.push(CloudVolume {
                cloud,
                projects: fleet.projects_on(cloud),
                wraps,
                unwraps: crypto.len() as u64 - wraps,
                sign_ins: sign_ins as u64,
                peak_per_minute: per_minute.iter().copied().max().unwrap_or(0),
                peak_per_second: per_second.iter().copied().max().unwrap_or(0),
                p99_per_second: percentile(&mut per_second, 0.99),
                key_peak_per_second: cloud_keys
                    .iter()
                    .map(|k| k.peak_per_second)
                    .max()
                    .unwrap_or(0),
                cost_usd: published.cost_usd(crypto.len() as f64),
                published,
                per_minute,
            });
            keys.extend(cloud_keys);
        }
        keys.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.key.cmp(&b.key)));
        Self {
            projects: fleet.projects,
            replicas: fleet.replicas,
            operations,
            window_secs,
            clouds,
            keys,
        }
    }

    /// KMS calls of every cloud.
    pub fn calls(&self) -> u64 {
        self.clouds.iter().map(CloudVolume::calls).sum()
    }

    /// KMS calls per 1,000 operations.
    pub fn calls_per_1000_ops(&self) -> f64 {
        1000.0 * self.calls() as f64 / self.operations.max(1) as f64
    }

    /// The share of operations served without a KMS call.
    pub fn hit_ratio(&self) -> f64 {
        1.0 - self.calls() as f64 / self.operations.max(1) as f64
    }

    /// Sign-ins of every cloud.
    pub fn sign_ins(&self) -> u64 {
        self.clouds.iter().map(|c| c.sign_ins).sum()
    }

    /// The report as text lines for the timeline.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "fleet of {} projects × {} replicas: {} operations, {} KMS calls ({:.1} per 1,000 \
             operations, cache hit ratio {:.1} %), {} sign-ins apart",
            self.projects,
            self.replicas,
            self.operations,
            self.calls(),
            self.calls_per_1000_ops(),
            100.0 * self.hit_ratio(),
            self.sign_ins()
        )];
        for c in &self.clouds {
            let quota = c.published.quota_text(c.key_peak_per_second as f64);
            lines.push(format!(
                "{}: {} projects, {} calls ({} wraps, {} unwraps), peak {}/s, p99 {}/s, busiest \
                 minute {}; busiest key {}/s ({quota}); ${:.4} at ${}/10k; {} sign-ins",
                c.cloud,
                c.projects,
                c.calls(),
                c.wraps,
                c.unwraps,
                c.peak_per_second,
                c.p99_per_second,
                c.peak_per_minute,
                c.key_peak_per_second,
                c.cost_usd,
                c.published.price_per_10k_usd,
                c.sign_ins
            ));
        }
        lines
    }
}

fn peak_of(buckets: impl Iterator<Item = u64>) -> u64 {
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for b in buckets {
        *counts.entry(b).or_default() += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// The `q` quantile of `values` (sorted in place), the nearest rank.
fn percentile(values: &mut [u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(second: u64, cloud: Cloud, kind: CallKind, key: &str) -> Call {
        Call {
            second,
            cloud,
            kind,
            key: (!key.is_empty()).then(|| key.to_owned()),
        }
    }

    #[test]
    fn counts_per_cloud_key_minute_and_second() {
        let fleet: FleetSpec =
            serde_yaml::from_str("{projects: 2, clouds: [aws, azure], replicas: 2}").unwrap();
        let mut calls = vec![
            call(0, Cloud::Aws, CallKind::SignIn, ""),
            call(0, Cloud::Aws, CallKind::Wrap, "fleet-0000-aws"),
            call(0, Cloud::Aws, CallKind::Unwrap, "fleet-0000-aws"),
            call(0, Cloud::Aws, CallKind::Unwrap, "fleet-0000-aws"),
            call(61, Cloud::Aws, CallKind::Unwrap, "fleet-0000-aws"),
            call(3599, Cloud::Azure, CallKind::Unwrap, "fleet-0001-azure"),
            call(3600, Cloud::Azure, CallKind::Unwrap, "fleet-0001-azure"),
        ];
        calls.push(call(
            10,
            Cloud::Azure,
            CallKind::Describe,
            "fleet-0001-azure",
        ));
        let report = VolumeReport::of(&fleet, 1000, 3600, &calls);
        let aws = &report.clouds[0];
        assert_eq!((aws.wraps, aws.unwraps, aws.sign_ins), (1, 3, 1));
        assert_eq!(aws.per_minute.len(), 60);
        assert_eq!((aws.per_minute[0], aws.per_minute[1]), (3, 1));
        assert_eq!(
            (aws.peak_per_second, aws.peak_per_minute, aws.p99_per_second),
            (3, 3, 0)
        );
        let azure = &report.clouds[1];
        assert_eq!(azure.calls(), 1, "the call at 3600 s is past the window");
        assert_eq!(report.calls(), 5);
        assert!((report.calls_per_1000_ops() - 5.0).abs() < 1e-9);
        assert!((report.hit_ratio() - 0.995).abs() < 1e-9);
        assert_eq!(report.keys[0].key, "fleet-0000-aws");
        assert_eq!(report.keys[0].peak_per_second, 3);
        let text = report.lines().join("\n");
        assert!(
            text.contains("5 KMS calls (5.0 per 1,000 operations"),
            "{text}"
        );
        assert!(
            text.contains("busiest key 3/s (0.003 % of the 100000/s quota)"),
            "{text}"
        );
    }

    #[test]
    fn percentile_counts_quiet_seconds() {
        let mut seconds = vec![0; 99];
        seconds.push(7);
        assert_eq!(percentile(&mut seconds, 0.99), 0);
        assert_eq!(percentile(&mut seconds, 1.0), 7);
        assert_eq!(percentile(&mut [], 0.99), 0);
    }
}
