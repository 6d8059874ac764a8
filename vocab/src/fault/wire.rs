//! The control API's JSON shape of a fault (`PUT /_mock/v1/faults`, DESIGN.md §4) and the
//! checks that turn it into a [`Fault`]: exactly one effect, values in range, a window of at
//! least a second.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Fault, FaultEffect, FaultOperation, FaultScope, InjectedError, InvalidFault, Latency,
    Probability, Throttle, invalid,
};
use crate::Cloud;

/// The wire shape of a fault (DESIGN.md §4).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireFault {
    provider: Cloud,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<WireOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<InjectedError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    throttle: Option<WireThrottle>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    outage: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireThrottle {
    limit: u32,
    per_seconds: u64,
}

/// An `operation` word on the wire (absent = [`FaultOperation::Crypto`]).
#[derive(Clone, Copy, PartialEq)]
struct WireOperation(FaultOperation);

impl Serialize for WireOperation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.label())
    }
}

impl<'de> Deserialize<'de> for WireOperation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::deserialize_word(
            deserializer,
            <FaultOperation as crate::Vocabulary>::parse_word,
        )
        .map(WireOperation)
    }
}

impl TryFrom<WireFault> for Fault {
    type Error = InvalidFault;

    fn try_from(wire: WireFault) -> Result<Self, InvalidFault> {
        let set: Vec<&str> = [
            ("latency_ms", wire.latency_ms.is_some()),
            ("error", wire.error.is_some()),
            ("throttle", wire.throttle.is_some()),
            ("outage", wire.outage),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if set.len() != 1 {
            let found = if set.is_empty() {
                "none".to_owned()
            } else {
                set.join(" and ")
            };
            return invalid(format!(
                "a {} fault sets exactly one of latency_ms, error, throttle, outage (found {found}); \
                 send one fault per effect",
                wire.provider
            ));
        }
        let probability = wire
            .probability
            .map_or(Ok(Probability::ALWAYS), Probability::new)?;
        let effect = if let Some(ms) = wire.latency_ms {
            FaultEffect::Latency {
                latency: Latency::new(Duration::from_millis(ms))?,
                probability,
            }
        } else if let Some(error) = wire.error {
            FaultEffect::ErrorRate { error, probability }
        } else if let Some(throttle) = wire.throttle {
            if wire.probability.is_some() {
                return invalid("probability does not apply to a throttle");
            }
            FaultEffect::Throttle(Throttle::new(
                throttle.limit,
                Duration::from_secs(throttle.per_seconds),
            )?)
        } else {
            FaultEffect::Outage { probability }
        };
        let window = match wire.window_seconds {
            Some(0) => return invalid("window_seconds must be at least 1"),
            seconds => seconds.map(Duration::from_secs),
        };
        Ok(Fault {
            scope: FaultScope {
                cloud: wire.provider,
                operation: wire.operation.map_or(FaultOperation::Crypto, |op| op.0),
                key: wire.key,
            },
            effect,
            window,
        })
    }
}

impl From<Fault> for WireFault {
    fn from(fault: Fault) -> Self {
        let mut wire = WireFault {
            provider: fault.scope.cloud,
            operation: Some(WireOperation(fault.scope.operation))
                .filter(|op| op.0 != FaultOperation::Crypto),
            key: fault.scope.key,
            latency_ms: None,
            error: None,
            probability: None,
            throttle: None,
            outage: false,
            window_seconds: fault
                .window
                .map(|w| w.as_secs() + u64::from(w.subsec_nanos() > 0)),
        };
        let probability = match fault.effect {
            FaultEffect::Latency {
                latency,
                probability,
            } => {
                wire.latency_ms =
                    Some(u64::try_from(latency.get().as_millis()).unwrap_or(u64::MAX));
                probability
            }
            FaultEffect::ErrorRate { error, probability } => {
                wire.error = Some(error);
                probability
            }
            FaultEffect::Throttle(throttle) => {
                wire.throttle = Some(WireThrottle {
                    limit: throttle.limit(),
                    per_seconds: throttle.per().as_secs(),
                });
                Probability::ALWAYS
            }
            FaultEffect::Outage { probability } => {
                wire.outage = true;
                probability
            }
        };
        wire.probability = Some(probability.get()).filter(|p| *p != 1.0);
        wire
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse(value: Value) -> Result<Fault, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn the_wire_shape_round_trips() {
        for wire in [
            json!({"provider": "aws", "operation": "encrypt", "key": "aws-demo", "latency_ms": 5}),
            json!({"provider": "gcp", "throttle": {"limit": 2, "per_seconds": 10}}),
            json!({"provider": "azure", "operation": "*", "error": "unavailable", "probability": 0.5}),
            json!({"provider": "aws", "operation": "auth", "outage": true, "window_seconds": 60}),
        ] {
            let fault = parse(wire.clone()).unwrap();
            assert_eq!(serde_json::to_value(&fault).unwrap(), wire);
        }
        let outage = parse(json!({"provider": "aws", "outage": true})).unwrap();
        assert_eq!(
            outage,
            Fault::new(
                FaultScope::cloud(Cloud::Aws),
                FaultEffect::Outage {
                    probability: Probability::ALWAYS
                }
            )
        );
    }

    #[test]
    fn invalid_shapes_are_refused_with_the_reason() {
        for (wire, reason) in [
            (json!({"provider": "aws"}), "exactly one of"),
            (
                json!({"provider": "aws", "latency_ms": 5, "error": "internal"}),
                "found latency_ms and error",
            ),
            (
                json!({"provider": "aws", "error": "internal", "probability": 2}),
                "between 0 and 1",
            ),
            (
                json!({"provider": "aws", "throttle": {"limit": 1, "per_seconds": 0}}),
                "at least 1",
            ),
            (
                json!({"provider": "aws", "latency_ms": u64::MAX}),
                "latency_ms must be at most 600000 (10 minutes)",
            ),
            (
                json!({"provider": "aws", "outage": true, "window_seconds": 0}),
                "window_seconds",
            ),
            (json!({"provider": "aws", "outgae": true}), "unknown field"),
            (json!({"provider": "aws", "error": "boom"}), "access-denied"),
            (
                json!({"provider": "aws", "operation": "wrap", "outage": true}),
                "unknown fault operation `wrap`",
            ),
        ] {
            let error = parse(wire.clone()).unwrap_err();
            assert!(error.contains(reason), "{wire}: {error}");
        }
    }
}
