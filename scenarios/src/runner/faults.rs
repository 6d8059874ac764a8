//! Fault windows: a scenario fault — on a cloud's KMS, on the external key manager's HSM fleet
//! or on the hop to it — becomes the mock's setting for its window, and is removed, with an
//! event in the timeline, when the window ends.

use std::time::Duration;

use ekm_engine::clock::Clock;
use ekm_lab::HealthStatus;
use ekm_vocab::{
    Fault as MockFault, FaultEffect, FaultOperation, FaultScope, Latency, Probability, Throttle,
};
use time::OffsetDateTime;

use super::Playback;
use super::external::hop_faults;
use super::outcome::Done;
use crate::report::Event;
use crate::report::trace::{Marker, MarkerKind};
use crate::schema::{ErrorKind, Fault, FaultKind, HopFault};
use crate::time::{LabDuration, clock_offset};

/// A fault in force until its window ends.
#[derive(Debug)]
pub(super) struct ActiveFault {
    pub(super) rule: Rule,
    pub(super) until: OffsetDateTime,
    pub(super) label: String,
}

/// What a fault window sets in the mock.
#[derive(Debug, Clone)]
pub(super) enum Rule {
    /// A rule of a cloud's KMS front-end.
    Kms(MockFault),
    /// The health of the external key manager's HSM fleet.
    Fleet(HealthStatus),
    /// A fault of the hop to the external key manager.
    Hop(HopFault),
}

/// Which of the mock's settings a set of rules touches.
#[derive(Debug, Clone, Copy, Default)]
struct Touched {
    kms: bool,
    fleet: bool,
    hop: bool,
}

impl Touched {
    fn add(&mut self, rule: &Rule) {
        match rule {
            Rule::Kms(_) => self.kms = true,
            Rule::Fleet(_) => self.fleet = true,
            Rule::Hop(_) => self.hop = true,
        }
    }
}

impl Playback {
    pub(super) fn expire_faults(&mut self) {
        let now = self.clock.now();
        let offset = self.elapsed();
        let mut ended = Vec::new();
        let mut touched = Touched::default();
        self.faults.retain(|f| {
            let keep = f.until > now;
            if !keep {
                ended.push(f.label.clone());
                touched.add(&f.rule);
            }
            keep
        });
        for label in ended {
            self.trace.markers.push(Marker {
                at: offset,
                kind: MarkerKind::FaultEnd,
                label: format!("{label} ended"),
            });
            self.events.push(Event {
                at: offset,
                what: format!("{label} ended"),
            });
        }
        if let Err(error) = self.apply_faults(touched) {
            self.events.push(Event {
                at: offset,
                what: format!("the mock kept the ended faults: {error}"),
            });
        }
    }

    /// Hands the mock the rules in force of the settings `touched` (without windows: the runner
    /// ends them itself). The fleet takes the health of its latest window, `ACTIVE` without one;
    /// the hop, every hop fault in force at once.
    fn apply_faults(&self, touched: Touched) -> Result<(), ekm_lab::LabError> {
        if touched.kms {
            let faults = self
                .faults
                .iter()
                .filter_map(|f| match &f.rule {
                    Rule::Kms(rule) => Some(rule.clone()),
                    _ => None,
                })
                .collect();
            self.lab.set_faults(faults)?;
        }
        if touched.fleet {
            let health = self
                .faults
                .iter()
                .rev()
                .find_map(|f| match f.rule {
                    Rule::Fleet(health) => Some(health),
                    _ => None,
                })
                .unwrap_or(HealthStatus::Active);
            self.lab.set_hsm_fleet(health)?;
        }
        if touched.hop {
            self.lab
                .set_hop_faults(hop_faults(self.hop_faults_in_force()))?;
        }
        Ok(())
    }

    /// The hop faults whose windows are open.
    pub(super) fn hop_faults_in_force(&self) -> impl Iterator<Item = &HopFault> {
        self.faults.iter().filter_map(|f| match &f.rule {
            Rule::Hop(fault) => Some(fault),
            _ => None,
        })
    }

    /// Puts `rule` in force for `window` (`label` names it in the timeline).
    pub(super) fn open_window(&mut self, rule: Rule, label: String, window: LabDuration) -> Done {
        let Ok(until) = ekm_engine::clock::checked_later(self.clock.now(), window.0) else {
            return Done::failed(
                ErrorKind::Refused,
                format!("{label} for {window}: the window passes the lab clock's horizon"),
            );
        };
        let mut touched = Touched::default();
        touched.add(&rule);
        self.faults.push(ActiveFault {
            rule,
            until,
            label: label.clone(),
        });
        if let Err(error) = self.apply_faults(touched) {
            self.faults.pop();
            return Done::failed(ErrorKind::Refused, error.to_string());
        }
        Done::ok(format!(
            "{label} until {}",
            clock_offset(self.elapsed() + window.0)
        ))
    }

    pub(super) fn add_fault(&mut self, fault: &Fault) -> Done {
        let scope = &fault.scope;
        let operation = match (scope.op, fault.kind) {
            (Some(op), _) => op,
            (None, FaultKind::Outage) => FaultOperation::Any,
            (None, _) => FaultOperation::Crypto,
        };
        let (effect, what) = match fault.kind {
            FaultKind::Latency { ms } => (
                Latency::new(Duration::from_millis(ms)).map(|latency| FaultEffect::Latency {
                    latency,
                    probability: Probability::ALWAYS,
                }),
                format!("{ms} ms latency"),
            ),
            FaultKind::ErrorRate { rate, error } => (
                Probability::new(rate)
                    .map(|probability| FaultEffect::ErrorRate { error, probability }),
                format!("{}% {}", rate * 100.0, error.as_str()),
            ),
            FaultKind::Throttle { limit, per } => (
                Throttle::new(limit, per.0).map(FaultEffect::Throttle),
                format!("throttle {limit}/{per}"),
            ),
            FaultKind::Outage => (
                Ok(FaultEffect::Outage {
                    probability: Probability::ALWAYS,
                }),
                "outage".to_owned(),
            ),
        };
        let effect = match effect {
            Ok(effect) => effect,
            Err(error) => return Done::failed(ErrorKind::Refused, error.to_string()),
        };
        let rule = Rule::Kms(MockFault::new(
            FaultScope {
                cloud: scope.provider,
                operation,
                key: scope.key.clone(),
            },
            effect,
        ));
        let ops = operation.label();
        let key = scope
            .key
            .as_deref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        let label = format!("{what} on {} {ops}{key}", scope.provider);
        self.open_window(rule, label, fault.window)
    }
}
