//! Fault windows: a scenario fault becomes the mock's rule for its window, and the rules are
//! removed, with an event in the timeline, when the window ends.

use ekm_engine::clock::Clock;
use ekm_mock_kms::faults::{FaultOperation, FaultRule, Throttle};
use time::OffsetDateTime;

use super::outcome::Done;
use super::{Playback, to_time};
use crate::report::Event;
use crate::report::trace::{Marker, MarkerKind};
use crate::schema::{ErrorKind, Fault, FaultKind, fault_op_word, injected_error_word};
use crate::time::clock_offset;
#[derive(Debug)]
pub(super) struct ActiveFault {
    pub(super) rule: FaultRule,
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
        if self.faults.len() != before {
            self.apply_faults();
        }
    }

    pub(super) fn apply_faults(&self) -> Option<String> {
        let faults = self.lab.mock().lab().faults();
        if self.faults.is_empty() {
            faults.clear();
            return None;
        }
        faults
            .set(self.faults.iter().map(|f| f.rule.clone()).collect())
            .err()
            .map(|e| e.to_string())
    }

    pub(super) fn add_fault(&mut self, fault: &Fault) -> Done {
        let scope = &fault.scope;
        let operation = match (scope.op, fault.kind) {
            (Some(op), _) => Some(op),
            (None, FaultKind::Outage) => Some(FaultOperation::Any),
            (None, _) => None,
        };
        let mut rule = FaultRule {
            provider: scope.provider.mock(),
            operation,
            key: scope.key.clone(),
            latency_ms: None,
            error: None,
            probability: None,
            throttle: None,
            outage: false,
        };
        let what = match fault.kind {
            FaultKind::Latency { ms } => {
                rule.latency_ms = Some(ms);
                format!("{ms} ms latency")
            }
            FaultKind::ErrorRate { rate, error } => {
                rule.error = Some(error);
                rule.probability = Some(rate);
                format!("{}% {}", rate * 100.0, injected_error_word(error))
            }
            FaultKind::Throttle { limit, per } => {
                rule.throttle = Some(Throttle {
                    limit,
                    per_seconds: per.0.as_secs(),
                });
                format!("throttle {limit}/{per}")
            }
            FaultKind::Outage => {
                rule.outage = true;
                "outage".to_owned()
            }
        };
        let ops = operation.map_or("encrypt+decrypt", fault_op_word);
        let key = scope
            .key
            .as_deref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        let label = format!("{what} on {} {ops}{key}", scope.provider);
        self.faults.push(ActiveFault {
            rule,
            until: self.clock.now() + to_time(fault.window.0),
            label: label.clone(),
        });
        match self.apply_faults() {
            None => Done::ok(format!(
                "{label} until {}",
                clock_offset(self.elapsed() + fault.window.0)
            )),
            Some(error) => {
                self.faults.pop();
                self.apply_faults();
                Done::failed(ErrorKind::Refused, error)
            }
        }
    }
}
