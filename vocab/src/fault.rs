//! Injected faults: which calls they hit ([`FaultScope`]), what they do to them
//! ([`FaultEffect`]) and for how long.
//!
//! A [`Fault`] is valid by construction: probabilities lie in 0..=1, latencies are at most
//! [`MAX_LATENCY`], throttle windows last at least a second, and a fault has exactly one effect.
//! Its serde form is one entry of the control API's `PUT /_mock/v1/faults` list (DESIGN.md §4):
//! `{"provider","operation"?,"key"?,"latency_ms"?,"error"?,"probability"?,"throttle"?,
//! "outage"?,"window_seconds"?}` with exactly one of `latency_ms`, `error`, `throttle` and
//! `outage`; other shapes are refused with a message naming the problem.

use std::num::NonZeroU64;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{CallKind, Cloud};

/// The longest injected latency: ten minutes. Longer delays would hang clients rather than
/// slow them.
pub const MAX_LATENCY: Duration = Duration::from_secs(600);

/// Why a fault was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault: {0}")]
pub struct InvalidFault(String);

fn invalid<T>(message: impl Into<String>) -> Result<T, InvalidFault> {
    Err(InvalidFault(message.into()))
}

/// A fraction of the matching calls, in 0..=1. Faults hit deterministically: 0.25 hits exactly
/// every fourth matching call, so a scenario behaves the same on every run.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Probability(f64);

impl Probability {
    /// Every matching call.
    pub const ALWAYS: Probability = Probability(1.0);

    /// `p`, if it lies in 0..=1.
    pub fn new(p: f64) -> Result<Self, InvalidFault> {
        if (0.0..=1.0).contains(&p) {
            Ok(Self(p))
        } else {
            invalid(format!("probability must be between 0 and 1, got {p}"))
        }
    }

    /// The fraction.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A real delay before answering, at most [`MAX_LATENCY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Latency(Duration);

impl Latency {
    /// `delay`, if it is at most [`MAX_LATENCY`].
    pub fn new(delay: Duration) -> Result<Self, InvalidFault> {
        if delay <= MAX_LATENCY {
            Ok(Self(delay))
        } else {
            invalid(format!(
                "latency_ms must be at most {} ({} minutes), got {}",
                MAX_LATENCY.as_millis(),
                MAX_LATENCY.as_secs() / 60,
                delay.as_millis()
            ))
        }
    }

    /// The delay.
    pub fn get(self) -> Duration {
        self.0
    }
}

/// A rate limit: at most `limit` calls per window of lab time (`limit` 0 throttles everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    limit: u32,
    per_seconds: NonZeroU64,
}

impl Throttle {
    /// `limit` calls per `per` (rounded up to whole seconds; at least one second).
    pub fn new(limit: u32, per: Duration) -> Result<Self, InvalidFault> {
        let seconds = per.as_secs() + u64::from(per.subsec_nanos() > 0);
        match NonZeroU64::new(seconds) {
            Some(per_seconds) => Ok(Self { limit, per_seconds }),
            None => invalid("throttle.per_seconds must be at least 1"),
        }
    }

    /// Calls allowed per window.
    pub fn limit(self) -> u32 {
        self.limit
    }

    /// The window.
    pub fn per(self) -> Duration {
        Duration::from_secs(self.per_seconds.get())
    }
}

/// Which operations a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FaultOperation {
    /// Encrypt and decrypt calls (the wire's absent `operation`).
    #[default]
    Crypto,
    /// Encrypt / wrap calls (`encrypt`).
    Encrypt,
    /// Decrypt / unwrap calls (`decrypt`).
    Decrypt,
    /// Sign-ins: STS and token endpoints (`auth`).
    Auth,
    /// Every call of the cloud, admin and metadata calls included (`*`).
    Any,
}

impl FaultOperation {
    /// The wire words of the operations that have one (`Crypto` is the absent `operation`).
    pub const WORDS: &'static [(&'static str, FaultOperation)] = &[
        ("encrypt", FaultOperation::Encrypt),
        ("decrypt", FaultOperation::Decrypt),
        ("auth", FaultOperation::Auth),
        ("*", FaultOperation::Any),
    ];

    /// Whether a call of this kind is hit.
    pub fn covers(self, kind: CallKind) -> bool {
        matches!(
            (self, kind),
            (FaultOperation::Any, _)
                | (FaultOperation::Crypto, CallKind::Wrap | CallKind::Unwrap)
                | (FaultOperation::Encrypt, CallKind::Wrap)
                | (FaultOperation::Decrypt, CallKind::Unwrap)
                | (FaultOperation::Auth, CallKind::SignIn)
        )
    }

    /// A label for people: the wire word, or `encrypt+decrypt`.
    pub fn label(self) -> &'static str {
        match self {
            FaultOperation::Crypto => "encrypt+decrypt",
            other => crate::word_of(Self::WORDS, other),
        }
    }
}

/// An error a fault injects, answered in each cloud's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectedError {
    /// The service is unavailable (AWS `ServiceUnavailableException`, GCP 503, Azure 503).
    Unavailable,
    /// An internal server error.
    Internal,
    /// Access denied, as if the policy were missing.
    AccessDenied,
    /// Throttled (AWS `ThrottlingException`, GCP 429, Azure 429 + Retry-After).
    Throttled,
}

impl InjectedError {
    /// Every injectable error with its wire word.
    pub const WORDS: &'static [(&'static str, InjectedError)] = &[
        ("unavailable", InjectedError::Unavailable),
        ("internal", InjectedError::Internal),
        ("access-denied", InjectedError::AccessDenied),
        ("throttled", InjectedError::Throttled),
    ];
}

crate::words!(InjectedError, "injected error");

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaultScope {
    /// The cloud.
    pub cloud: Cloud,
    /// The operations.
    pub operation: FaultOperation,
    /// Only calls on this key (lab name); `None` = every key. Sign-ins concern no key and are
    /// hit only by faults without one.
    pub key: Option<String>,
}

impl FaultScope {
    /// Encrypt and decrypt calls on every key of `cloud`.
    pub fn cloud(cloud: Cloud) -> Self {
        Self {
            cloud,
            operation: FaultOperation::Crypto,
            key: None,
        }
    }

    /// Whether a call of `kind` on `key` in `cloud` is hit.
    pub fn matches(&self, cloud: Cloud, kind: CallKind, key: Option<&str>) -> bool {
        let key_matches = match (&self.key, key) {
            (None, _) => true,
            (Some(wanted), Some(key)) => wanted == key,
            (Some(_), None) => false,
        };
        self.cloud == cloud && self.operation.covers(kind) && key_matches
    }
}

/// What a fault does to the calls it hits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultEffect {
    /// Delay the answer (real time) on this fraction of the calls.
    Latency {
        /// The delay.
        latency: Latency,
        /// The fraction of calls delayed.
        probability: Probability,
    },
    /// Fail this fraction of the calls with `error`.
    ErrorRate {
        /// The error.
        error: InjectedError,
        /// The fraction of calls failed.
        probability: Probability,
    },
    /// Admit at most so many calls per window of lab time; refuse the rest as throttled.
    Throttle(Throttle),
    /// Answer the cloud's "service unavailable" to this fraction of the calls (AWS 500
    /// `DependencyTimeoutException`, GCP 503, Azure 503).
    Outage {
        /// The fraction of calls refused.
        probability: Probability,
    },
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireFault", into = "WireFault")]
pub struct Fault {
    /// Which calls it hits.
    pub scope: FaultScope,
    /// What it does to them.
    pub effect: FaultEffect,
    /// How long it lasts in lab time from when it is set (whole seconds on the wire); `None` =
    /// until cleared.
    pub window: Option<Duration>,
}

impl Fault {
    /// A fault on `scope` with `effect`, until cleared.
    pub fn new(scope: FaultScope, effect: FaultEffect) -> Self {
        Self {
            scope,
            effect,
            window: None,
        }
    }

    /// The same fault, lasting `window` of lab time from when it is set.
    pub fn lasting(self, window: Duration) -> Self {
        Self {
            window: Some(window),
            ..self
        }
    }
}

/// The wire shape of a fault (DESIGN.md §4).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFault {
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
        crate::deserialize_word(deserializer, "fault operation", FaultOperation::WORDS)
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
                    limit: throttle.limit,
                    per_seconds: throttle.per_seconds.get(),
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
                "valid fault operations",
            ),
        ] {
            let error = parse(wire.clone()).unwrap_err();
            assert!(error.contains(reason), "{wire}: {error}");
        }
    }

    #[test]
    fn operations_cover_call_kinds() {
        use CallKind::*;
        let covered = |op: FaultOperation| {
            [Wrap, Unwrap, SignIn, Describe, Manage, Other]
                .into_iter()
                .filter(|kind| op.covers(*kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(covered(FaultOperation::Crypto), [Wrap, Unwrap]);
        assert_eq!(covered(FaultOperation::Encrypt), [Wrap]);
        assert_eq!(covered(FaultOperation::Decrypt), [Unwrap]);
        assert_eq!(covered(FaultOperation::Auth), [SignIn]);
        assert_eq!(covered(FaultOperation::Any).len(), 6);
        let scope = FaultScope {
            key: Some("a".into()),
            ..FaultScope::cloud(Cloud::Gcp)
        };
        assert!(scope.matches(Cloud::Gcp, Wrap, Some("a")));
        assert!(!scope.matches(Cloud::Gcp, Wrap, Some("b")));
        assert!(!scope.matches(Cloud::Gcp, Wrap, None));
        assert!(!scope.matches(Cloud::Aws, Wrap, Some("a")));
    }
}
