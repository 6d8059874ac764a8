//! Fault windows: a scenario fault becomes the mock's rule for its window, and the rules are
//! removed, with an event in the timeline, when the window ends.

use std::time::Duration;

use ekm_engine::clock::Clock;
use ekm_vocab::{
    Fault as MockFault, FaultEffect, FaultOperation, FaultScope, Latency, Probability, Throttle,
};
use time::OffsetDateTime;

use super::Playback;
use super::outcome::Done;
use crate::report::Event;
use crate::report::trace::{Marker, MarkerKind};
use crate::schema::{ErrorKind, Fault, FaultKind, injected_error_word};
use crate::time::clock_offset;
#[derive(Debug)]
pub(super) struct ActiveFault {
    pub(super) rule: MockFault,
    pub(super) until: OffsetDateTime,
    pub(super) label: String,
}

impl Playback {
    pub(super) fn expire_faults(&mut self) {
        let now = self.clock.now();
        let before = self.faults.len();
        let offset = self.elapsed();
        let mut ended = Vec::new();
        self.faults.retain(|f| {
            let keep = f.until > now;
            if !keep {
                ended.push(f.label.clone());
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
        if self.faults.len() != before
            && let Err(error) = self.apply_faults()
        {
            self.events.push(Event {
                at: offset,
                what: format!("the mock kept the ended faults: {error}"),
            });
        }
    }

    /// Hands the mock the rules in force (without windows: the runner ends them itself).
    pub(super) fn apply_faults(&self) -> Result<(), ekm_lab::LabError> {
        let faults = self.faults.iter().map(|f| f.rule.clone()).collect();
        self.lab.set_faults(faults)
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
                format!("{}% {}", rate * 100.0, injected_error_word(error)),
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
        let rule = MockFault::new(
            FaultScope {
                cloud: scope.provider.cloud(),
                operation,
                key: scope.key.clone(),
            },
            effect,
        );
        let ops = operation.label();
        let key = scope
            .key
            .as_deref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        let label = format!("{what} on {} {ops}{key}", scope.provider);
        let Ok(until) = ekm_engine::clock::checked_later(self.clock.now(), fault.window.0) else {
            return Done::failed(
                ErrorKind::Refused,
                format!(
                    "{label} for {}: the window passes the lab clock's horizon",
                    fault.window
                ),
            );
        };
        self.faults.push(ActiveFault {
            rule,
            until,
            label: label.clone(),
        });
        if let Err(error) = self.apply_faults() {
            self.faults.pop();
            return Done::failed(ErrorKind::Refused, error.to_string());
        }
        Done::ok(format!(
            "{label} until {}",
            clock_offset(self.elapsed() + fault.window.0)
        ))
    }
}
