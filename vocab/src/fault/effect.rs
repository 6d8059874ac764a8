//! What a fault does to the calls it hits: a fraction of them, a delay, a rate limit, or an
//! injected error — each checked when made.

use std::num::NonZeroU64;
use std::time::Duration;

use super::{InvalidFault, MAX_LATENCY, invalid};

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

    /// The fraction of calls hit, in [0, 1], for comparing with a call's deterministic draw.
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

    /// The real delay to wait before answering each call hit (at most [`MAX_LATENCY`](crate::MAX_LATENCY)).
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

    /// The span of lab time in which at most [`limit`](Self::limit) calls are answered.
    pub fn per(self) -> Duration {
        Duration::from_secs(self.per_seconds.get())
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

impl InjectedError {}

impl crate::Vocabulary for InjectedError {
    const WHAT: &'static str = "injected error";
    /// Every injectable error with its wire word.
    const WORDS: &'static [(&'static str, Self)] = &[
        ("unavailable", InjectedError::Unavailable),
        ("internal", InjectedError::Internal),
        ("access-denied", InjectedError::AccessDenied),
        ("throttled", InjectedError::Throttled),
    ];
}

crate::vocabulary!(InjectedError);
