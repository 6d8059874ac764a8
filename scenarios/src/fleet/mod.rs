//! Fleets: many customer projects in one lab, served by several replicas of the service, under
//! a workload shaped like a real one — the question the seed FAQ's "KMS Request Volume &
//! Observability" answers (*far fewer KMS requests than user messages; spikes when cached DEKs
//! expire about hourly; extra calls when old conversations load older DEKs*), asked for N
//! projects and R replicas.
//!
//! A fleet (`fleet: {projects: 50, clouds: [aws, gcp, azure], replicas: 3}` in a scenario) is N
//! projects, each with its own customer key in one of the listed clouds (project `i` in
//! `clouds[i % len]`) and its own registration, all in one lab (one mock), and R replicas:
//! separate engines with separate DEK caches, as a service running R instances has. Each
//! project keeps `history_days` days of older data (one DEK per day, sealed before the story
//! starts), for reads of old conversations.
//!
//! A [`Workload`] (`fleet-traffic:`) is `operations` seals and reads over a window: a rate over
//! the day ([`DailyShape`]), [`Burst`]s, reads whose age follows a long-tailed distribution
//! ([`ReadAge`]), every choice drawn from a seeded ChaCha generator ([`schedule`]), so a run is
//! the same every time. Every operation picks its project and its replica uniformly (a load
//! balancer spreading requests); a seal uses the replica's active DEK for the project; a read of
//! today's data opens what a uniformly chosen replica sealed last for the project (one of the
//! project's conversations, written through any replica; yesterday's data while that replica has
//! sealed nothing yet), a read `d` days old opens the project's envelope of that day.
//!
//! # Layout
//!
//! - this module — [`FleetSpec`], [`Workload`] and their checks ([`FleetError`] names the field).
//! - [`shape`] — the rate over the window: daily shape and bursts, and its inverse.
//! - [`schedule`] — the deterministic operations a workload makes.
//! - [`forecast`] — the same volume figures computed analytically, in milliseconds.
//! - [`volume`] — the volume figures of a simulated run, from the mock's call log.
//! - [`quotas`] — each cloud's published request quota and price, with sources.

pub mod forecast;
pub mod quotas;
pub mod schedule;
pub mod shape;
pub mod volume;

use std::time::Duration;

use ekm_vocab::Cloud;
use serde::{Deserialize, Serialize};

use crate::time::LabDuration;

/// The most projects a fleet may declare.
pub const MAX_PROJECTS: u32 = 10_000;
/// The most replicas a fleet may declare.
pub const MAX_REPLICAS: u32 = 16;
/// The most days of older data a project may keep.
pub const MAX_HISTORY_DAYS: u32 = 400;
/// The most operations one `fleet-traffic` step may make.
pub const MAX_OPERATIONS: u64 = 100_000_000;
/// The longest `fleet-traffic` window.
pub const MAX_WINDOW: Duration = Duration::from_secs(31 * 86_400);

const DAY: Duration = Duration::from_secs(86_400);

/// `fleet:` — the projects and replicas of a scenario's fleet.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// How many customer projects, each with its own key and registration.
    pub projects: u32,
    /// The clouds their keys live in, project `i` in `clouds[i % len]` (all three by default).
    #[serde(default = "all_clouds")]
    pub clouds: Vec<Cloud>,
    /// How many replicas of the service (engines with their own caches) serve every project.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Days of older data each project keeps (one DEK per day), for reads of old data.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
}

fn all_clouds() -> Vec<Cloud> {
    Cloud::ALL.to_vec()
}

fn one() -> u32 {
    1
}

fn default_history_days() -> u32 {
    30
}

/// Why a fleet or a workload makes no sense; each names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// `projects: 0`.
    #[error("projects: a fleet needs at least one project")]
    NoProjects,
    /// More projects than [`MAX_PROJECTS`].
    #[error("projects: {projects} is more than the lab serves ({MAX_PROJECTS} at most)")]
    TooManyProjects {
        /// The number given.
        projects: u32,
    },
    /// `clouds: []`.
    #[error("clouds: name at least one of aws, gcp, azure")]
    NoClouds,
    /// A cloud listed twice.
    #[error("clouds: `{0}` is listed twice")]
    RepeatedCloud(Cloud),
    /// `replicas: 0`.
    #[error("replicas: a service needs at least one replica")]
    NoReplicas,
    /// More replicas than [`MAX_REPLICAS`].
    #[error("replicas: {replicas} is more than the lab runs ({MAX_REPLICAS} at most)")]
    TooManyReplicas {
        /// The number given.
        replicas: u32,
    },
    /// More history than [`MAX_HISTORY_DAYS`].
    #[error("history_days: {days} is more than {MAX_HISTORY_DAYS} days")]
    TooMuchHistory {
        /// The number given.
        days: u32,
    },
    /// `operations: 0` or more than [`MAX_OPERATIONS`].
    #[error("operations: {operations} is not between 1 and {MAX_OPERATIONS}")]
    Operations {
        /// The number given.
        operations: u64,
    },
    /// An empty or too long window.
    #[error("over: {over} is not a window between 1s and 31d")]
    Window {
        /// The window given.
        over: LabDuration,
    },
    /// A fraction outside 0..=1 (or not a number).
    #[error("{field}: {value} is not a fraction between 0 and 1")]
    Fraction {
        /// The field (`reads`, `read_age.today`).
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// `daily.swing` outside 0..1.
    #[error("daily.swing: {0} is not between 0 (flat) and 1 (no traffic at the quietest hour)")]
    Swing(f64),
    /// `daily.peak` not a time of day.
    #[error("daily.peak: {0} is not a time of day (0s up to 24h)")]
    Peak(LabDuration),
    /// A burst's factor is not a positive number.
    #[error("bursts[{index}].factor: {factor} is not a positive number")]
    BurstFactor {
        /// Which burst.
        index: usize,
        /// The factor given.
        factor: f64,
    },
    /// A burst outside the window, or empty.
    #[error("bursts[{index}]: {at} for {length} is not inside the window of {over}")]
    BurstOutside {
        /// Which burst.
        index: usize,
        /// Its start.
        at: LabDuration,
        /// Its length.
        length: LabDuration,
        /// The window.
        over: LabDuration,
    },
    /// `read_age.tail` is not a positive number.
    #[error("read_age.tail: {0} is not a positive exponent")]
    Tail(f64),
    /// `read_age.days` is 0 or more than the fleet keeps.
    #[error("read_age.days: {days} is not between 1 and the fleet's history_days ({history})")]
    AgeBeyondHistory {
        /// The days given.
        days: u32,
        /// The fleet's `history_days`.
        history: u32,
    },
}

impl FleetSpec {
    /// Refuses a fleet that makes no sense.
    pub fn check(&self) -> Result<(), FleetError> {
        if self.projects == 0 {
            return Err(FleetError::NoProjects);
        }
        if self.projects > MAX_PROJECTS {
            return Err(FleetError::TooManyProjects {
                projects: self.projects,
            });
        }
        if self.clouds.is_empty() {
            return Err(FleetError::NoClouds);
        }
        for (i, cloud) in self.clouds.iter().enumerate() {
            if self.clouds[..i].contains(cloud) {
                return Err(FleetError::RepeatedCloud(*cloud));
            }
        }
        if self.replicas == 0 {
            return Err(FleetError::NoReplicas);
        }
        if self.replicas > MAX_REPLICAS {
            return Err(FleetError::TooManyReplicas {
                replicas: self.replicas,
            });
        }
        if self.history_days > MAX_HISTORY_DAYS {
            return Err(FleetError::TooMuchHistory {
                days: self.history_days,
            });
        }
        Ok(())
    }

    /// The cloud of project `project` (0-based).
    pub fn cloud_of(&self, project: u32) -> Cloud {
        self.clouds[project as usize % self.clouds.len()]
    }

    /// How many projects have their key in `cloud`.
    pub fn projects_on(&self, cloud: Cloud) -> u32 {
        (0..self.projects)
            .filter(|p| self.cloud_of(*p) == cloud)
            .count() as u32
    }

    /// The lab name of project `project`'s key (`fleet-0007-gcp`).
    pub fn key_name(&self, project: u32) -> String {
        format!("fleet-{project:04}-{}", self.cloud_of(project))
    }

    /// The engine project id of project `project` (`fleet-0007/gcp`).
    pub fn project_id(&self, project: u32) -> String {
        format!("fleet-{project:04}/{}", self.cloud_of(project))
    }

    /// Connections the lab's mock serves at once on each listener for this fleet: two for
    /// every replica's provider of every project (its SDK client's, and a sign-in's), beyond
    /// the mock's default of 1,024 for everything else.
    pub fn mock_connections(&self) -> usize {
        (self.projects as usize) * (self.replicas as usize) * 2 + 1024
    }
}

/// `fleet-traffic:` — the fleet's workload over a window.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// How many operations (seals and reads) over the window.
    pub operations: u64,
    /// The window.
    pub over: LabDuration,
    /// The fraction of operations that are reads (0.7 by default).
    #[serde(default = "default_reads")]
    pub reads: f64,
    /// The rate over the day; flat when absent.
    #[serde(default)]
    pub daily: Option<DailyShape>,
    /// Windows of heavier traffic.
    #[serde(default)]
    pub bursts: Vec<Burst>,
    /// How old the data reads open is.
    #[serde(default)]
    pub read_age: ReadAge,
    /// The seed every choice is drawn from.
    #[serde(default)]
    pub seed: u64,
}

fn default_reads() -> f64 {
    0.7
}

/// A rate over the day: `rate(t) ∝ 1 + swing · cos(2π (t − peak) / 24h)`, `t` the time of day
/// counted from the start of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DailyShape {
    /// When the day is busiest (`14h`: 14:00 after the traffic's midnight).
    pub peak: LabDuration,
    /// How deep the night is: 0 flat, 0.6 the quietest hour at 40 % of the mean rate.
    pub swing: f64,
}

/// A window of heavier traffic: the rate times `factor` from `at` for `for`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// Start, since the start of the traffic.
    pub at: LabDuration,
    /// Length.
    #[serde(rename = "for")]
    pub length: LabDuration,
    /// How many times the rate.
    pub factor: f64,
}

/// The age of the data a read opens: today's with probability `today`, else `d` days old for
/// `d` in `1..=days` with probability ∝ `d^-tail` (a long tail: most older reads are of
/// yesterday, some of a months-old conversation).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadAge {
    /// The fraction of reads that open today's data.
    pub today: f64,
    /// The oldest data read, in days.
    pub days: u32,
    /// The tail's exponent: larger means older reads are rarer.
    pub tail: f64,
}

impl Default for ReadAge {
    /// 90 % today, the rest up to 30 days back with exponent 1.2.
    fn default() -> Self {
        Self {
            today: 0.9,
            days: 30,
            tail: 1.2,
        }
    }
}

impl ReadAge {
    /// The probability of each age `1..=days` among reads of older data (index 0 = 1 day).
    pub fn older_weights(&self) -> Vec<f64> {
        let raw: Vec<f64> = (1..=self.days)
            .map(|d| f64::from(d).powf(-self.tail))
            .collect();
        let total: f64 = raw.iter().sum();
        raw.into_iter().map(|w| w / total).collect()
    }
}

fn fraction(field: &'static str, value: f64) -> Result<(), FleetError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(FleetError::Fraction { field, value })
    }
}

impl Workload {
    /// Refuses a workload that makes no sense for `fleet`.
    pub fn check(&self, fleet: &FleetSpec) -> Result<(), FleetError> {
        if self.operations == 0 || self.operations > MAX_OPERATIONS {
            return Err(FleetError::Operations {
                operations: self.operations,
            });
        }
        if self.over.0.is_zero() || self.over.0 > MAX_WINDOW {
            return Err(FleetError::Window { over: self.over });
        }
        fraction("reads", self.reads)?;
        if let Some(daily) = &self.daily {
            if !(0.0..1.0).contains(&daily.swing) {
                return Err(FleetError::Swing(daily.swing));
            }
            if daily.peak.0 >= DAY {
                return Err(FleetError::Peak(daily.peak));
            }
        }
        for (index, burst) in self.bursts.iter().enumerate() {
            if !(burst.factor.is_finite() && burst.factor > 0.0) {
                return Err(FleetError::BurstFactor {
                    index,
                    factor: burst.factor,
                });
            }
            if burst.length.0.is_zero() || burst.at.0 + burst.length.0 > self.over.0 {
                return Err(FleetError::BurstOutside {
                    index,
                    at: burst.at,
                    length: burst.length,
                    over: self.over,
                });
            }
        }
        fraction("read_age.today", self.read_age.today)?;
        if !(self.read_age.tail.is_finite() && self.read_age.tail > 0.0) {
            return Err(FleetError::Tail(self.read_age.tail));
        }
        if self.read_age.today < 1.0
            && (self.read_age.days == 0 || self.read_age.days > fleet.history_days)
        {
            return Err(FleetError::AgeBeyondHistory {
                days: self.read_age.days,
                history: fleet.history_days,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> FleetSpec {
        serde_yaml::from_str("{projects: 10, replicas: 3}").unwrap()
    }

    fn workload(yaml: &str) -> Workload {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    #[test]
    fn defaults_and_the_projects_clouds_keys() {
        let fleet = fleet();
        assert_eq!(fleet.clouds, Cloud::ALL);
        assert_eq!(fleet.history_days, 30);
        assert_eq!(fleet.check(), Ok(()));
        assert_eq!(fleet.cloud_of(4), Cloud::Gcp);
        assert_eq!(fleet.key_name(4), "fleet-0004-gcp");
        assert_eq!(fleet.project_id(5), "fleet-0005/azure");
        assert_eq!(
            Cloud::ALL.map(|c| fleet.projects_on(c)),
            [4, 3, 3],
            "ten projects round-robin over three clouds"
        );
    }

    #[test]
    fn nonsense_fleets_are_refused_naming_the_field() {
        let cases = [
            (
                "{projects: 0}",
                "projects: a fleet needs at least one project",
            ),
            (
                "{projects: 20000}",
                "projects: 20000 is more than the lab serves (10000 at most)",
            ),
            ("{projects: 3, clouds: []}", "clouds: name at least one"),
            (
                "{projects: 3, clouds: [aws, aws]}",
                "clouds: `aws` is listed twice",
            ),
            (
                "{projects: 3, replicas: 0}",
                "replicas: a service needs at least one",
            ),
            (
                "{projects: 3, replicas: 64}",
                "replicas: 64 is more than the lab runs",
            ),
            (
                "{projects: 3, history_days: 1000}",
                "history_days: 1000 is more",
            ),
        ];
        for (yaml, expected) in cases {
            let spec: FleetSpec = serde_yaml::from_str(yaml).unwrap();
            let error = spec.check().unwrap_err().to_string();
            assert!(error.starts_with(expected), "{yaml}: {error}");
        }
        let unknown = serde_yaml::from_str::<FleetSpec>("{projects: 3, clouds: [ibm]}")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown provider `ibm`"), "{unknown}");
        let typo = serde_yaml::from_str::<FleetSpec>("{projects: 3, replica: 2}")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("unknown field `replica`"), "{typo}");
    }

    #[test]
    fn nonsense_workloads_are_refused_naming_the_field() {
        let cases = [
            ("{operations: 0, over: 1h}", "operations: 0 is not between"),
            ("{operations: 10, over: 0s}", "over: 0s is not a window"),
            ("{operations: 10, over: 40d}", "over: 40d is not a window"),
            (
                "{operations: 10, over: 1h, reads: 1.5}",
                "reads: 1.5 is not a fraction",
            ),
            (
                "{operations: 10, over: 1h, daily: {peak: 14h, swing: 1.0}}",
                "daily.swing: 1 is not between",
            ),
            (
                "{operations: 10, over: 1h, daily: {peak: 25h, swing: 0.5}}",
                "daily.peak: 1d1h is not a time of day",
            ),
            (
                "{operations: 10, over: 1h, bursts: [{at: 10m, for: 5m, factor: -2}]}",
                "bursts[0].factor: -2 is not a positive number",
            ),
            (
                "{operations: 10, over: 1h, bursts: [{at: 50m, for: 20m, factor: 2}]}",
                "bursts[0]: 50m for 20m is not inside the window of 1h",
            ),
            (
                "{operations: 10, over: 1h, read_age: {today: 2}}",
                "read_age.today: 2 is not a fraction",
            ),
            (
                "{operations: 10, over: 1h, read_age: {tail: 0}}",
                "read_age.tail: 0 is not a positive exponent",
            ),
            (
                "{operations: 10, over: 1h, read_age: {days: 90}}",
                "read_age.days: 90 is not between 1 and the fleet's history_days (30)",
            ),
        ];
        for (yaml, expected) in cases {
            let error = workload(yaml).check(&fleet()).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{yaml}: {error}");
        }
        assert_eq!(
            workload("{operations: 10, over: 1h, read_age: {today: 1, days: 0}}").check(&fleet()),
            Ok(()),
            "no older reads need no history"
        );
    }

    #[test]
    fn older_ages_have_a_long_tail() {
        let weights = ReadAge::default().older_weights();
        assert_eq!(weights.len(), 30);
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(weights[0] > 0.2 && weights[29] > 0.0 && weights[0] > 10.0 * weights[29]);
    }
}
