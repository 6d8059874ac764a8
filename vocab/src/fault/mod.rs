//! Injected faults: which calls they hit ([`FaultScope`]), what they do to them
//! ([`FaultEffect`]) and for how long.
//!
//! A [`Fault`] is valid by construction: probabilities lie in 0..=1, latencies are at most
//! [`MAX_LATENCY`], throttle windows last at least a second, and a fault has exactly one effect.
//! Its serde form is one entry of the control API's `PUT /_mock/v1/faults` list (DESIGN.md §4):
//! `{"provider","operation"?,"key"?,"latency_ms"?,"error"?,"probability"?,"throttle"?,
//! "outage"?,"window_seconds"?}` with exactly one of `latency_ms`, `error`, `throttle` and
//! `outage`; other shapes are refused with a message naming the problem.
//!
//! # Layout
//! - `effect`: what a fault does — [`Probability`], [`Latency`], [`Throttle`],
//!   [`InjectedError`].
//! - `scope`: which calls it hits — [`FaultOperation`], [`FaultScope`].
//! - `wire`: the control API's JSON shape and the checks that make a [`Fault`] from it.

mod effect;
mod scope;
mod wire;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use effect::{InjectedError, Latency, Probability, Throttle};
pub use scope::{FaultOperation, FaultScope};
use wire::WireFault;

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
