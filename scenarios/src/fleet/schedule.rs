//! The operations a [`Workload`] makes on a [`FleetSpec`], in time order, all drawn from one
//! ChaCha generator (`rand`'s `StdRng`) seeded with the workload's `seed`: the same fleet and
//! workload give the same operations on every machine.
//!
//! Operation `i` of `n` happens when the cumulative rate reaches `(i + u) / n` (`u` uniform in
//! 0..1: one operation in each of `n` equal slices of the expected traffic, jittered within its
//! slice); its project and replica are uniform, it is a read with probability `reads`, a read's
//! age follows the [`ReadAge`](super::ReadAge), and a read of today's data opens what a uniformly
//! chosen replica sealed last for the project.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::shape::RateCurve;
use super::{FleetSpec, Workload};

/// One operation of the fleet's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// When, since the start of the traffic.
    pub at: Duration,
    /// The project (0-based).
    pub project: u32,
    /// The replica that serves it (0-based).
    pub replica: u32,
    /// Seal new data, or read data of some age.
    pub kind: OperationKind,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// Seal new data under the replica's active DEK for the project.
    Seal,
    /// Open today's data: the envelope replica `writer` sealed last for the project (a message
    /// of one of the project's conversations, written through any replica).
    ReadToday {
        /// The replica that sealed it.
        writer: u32,
    },
    /// Open the project's data of `days` days ago.
    ReadOlder {
        /// How many days old (1 = yesterday).
        days: u32,
    },
}

/// The operations of a workload, in time order (an iterator).
#[derive(Debug)]
pub struct Schedule {
    curve: RateCurve,
    rng: StdRng,
    next: u64,
    operations: u64,
    projects: u32,
    replicas: u32,
    reads: f64,
    today: f64,
    /// Cumulative probabilities of ages 1..=days among older reads.
    older: Vec<f64>,
}

impl Schedule {
    /// The schedule of `workload` (valid per [`Workload::check`]) on `fleet`.
    pub fn new(fleet: &FleetSpec, workload: &Workload) -> Self {
        let older = workload
            .read_age
            .older_weights()
            .into_iter()
            .scan(0.0, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        Self {
            curve: RateCurve::of(workload),
            rng: StdRng::seed_from_u64(workload.seed),
            next: 0,
            operations: workload.operations,
            projects: fleet.projects,
            replicas: fleet.replicas,
            reads: workload.reads,
            today: workload.read_age.today,
            older,
        }
    }
}

impl Iterator for Schedule {
    type Item = Operation;

    fn next(&mut self) -> Option<Operation> {
        if self.next >= self.operations {
            return None;
        }
        let slice = (self.next as f64 + self.rng.random::<f64>()) / self.operations as f64;
        self.next += 1;
        let at = self.curve.time_of_fraction(slice);
        let project = self.rng.random_range(0..self.projects);
        let replica = self.rng.random_range(0..self.replicas);
        let kind = if self.rng.random::<f64>() >= self.reads {
            OperationKind::Seal
        } else if self.older.is_empty() || self.rng.random::<f64>() < self.today {
            OperationKind::ReadToday {
                writer: self.rng.random_range(0..self.replicas),
            }
        } else {
            let u = self.rng.random::<f64>();
            let days = self
                .older
                .partition_point(|c| *c < u)
                .min(self.older.len() - 1) as u32
                + 1;
            OperationKind::ReadOlder { days }
        };
        Some(Operation {
            at,
            project,
            replica,
            kind,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.operations - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> (FleetSpec, Workload) {
        let fleet = serde_yaml::from_str("{projects: 20, replicas: 3}").unwrap();
        let workload = serde_yaml::from_str(
            "{operations: 20000, over: 24h, reads: 0.6, seed: 7, \
              daily: {peak: 12h, swing: 0.5}, read_age: {today: 0.8, days: 30, tail: 1.2}}",
        )
        .unwrap();
        (fleet, workload)
    }

    #[test]
    fn the_same_seed_gives_the_same_operations_and_another_seed_others() {
        let (fleet, workload) = parts();
        let a: Vec<Operation> = Schedule::new(&fleet, &workload).collect();
        let b: Vec<Operation> = Schedule::new(&fleet, &workload).collect();
        assert_eq!(a, b);
        let other = Workload {
            seed: 8,
            ..workload
        };
        let c: Vec<Operation> = Schedule::new(&fleet, &other).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn operations_follow_the_workload() {
        let (fleet, workload) = parts();
        let ops: Vec<Operation> = Schedule::new(&fleet, &workload).collect();
        assert_eq!(ops.len(), 20_000);
        assert!(ops.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
        assert!(ops.iter().all(|o| o.project < 20 && o.replica < 3));
        let reads: Vec<u32> = ops
            .iter()
            .filter_map(|o| match o.kind {
                OperationKind::ReadToday { writer } => {
                    assert!(writer < 3);
                    Some(0)
                }
                OperationKind::ReadOlder { days } => Some(days),
                OperationKind::Seal => None,
            })
            .collect();
        let share = reads.len() as f64 / ops.len() as f64;
        assert!((share - 0.6).abs() < 0.02, "reads {share}");
        let today = reads.iter().filter(|a| **a == 0).count() as f64 / reads.len() as f64;
        assert!((today - 0.8).abs() < 0.02, "today {today}");
        assert!(reads.iter().all(|a| *a <= 30));
        let yesterday = reads.iter().filter(|a| **a == 1).count();
        let month = reads.iter().filter(|a| **a >= 20).count();
        assert!(yesterday > month && month > 0, "{yesterday} vs {month}");
        let noon = ops.iter().filter(|o| o.at.as_secs() / 3600 == 12).count();
        let midnight = ops.iter().filter(|o| o.at.as_secs() / 3600 == 0).count();
        assert!(
            noon > 2 * midnight,
            "the daily shape: {noon} at noon, {midnight} at night"
        );
    }
}
