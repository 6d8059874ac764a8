//! Fault windows on a cloud's KMS calls (`latency`, `error-rate`, `throttle`, `outage`), their
//! argument maps and the words of fault operations and injected errors.

use ekm_vocab::{Cloud, FaultOperation, InjectedError as FaultError, Vocabulary};
use serde::Deserialize;

use super::action::Action;
use crate::time::LabDuration;

/// A fault window.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// Where it applies.
    pub scope: FaultScope,
    /// How long it lasts; the runner removes it when the window ends.
    pub window: LabDuration,
}

/// The kind of a fault and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// A real delay of `ms` milliseconds per call.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// A deterministic fraction of calls fail with `error`.
    ErrorRate {
        /// Fraction in (0, 1].
        rate: f64,
        /// The injected error.
        error: FaultError,
    },
    /// At most `limit` calls per `per` of lab time.
    Throttle {
        /// Calls per window.
        limit: u32,
        /// Window.
        per: LabDuration,
    },
    /// The provider answers "service unavailable".
    Outage,
}

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultScope {
    /// The cloud.
    pub provider: Cloud,
    /// `encrypt`, `decrypt`, `auth` or `*`; absent = encrypt and decrypt.
    pub op: Option<FaultOperation>,
    /// Only this key (lab name).
    pub key: Option<String>,
}

/// The fault operations of the mock, with the scenario's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FaultOp(FaultOperation);

impl Vocabulary for FaultOp {
    const WHAT: &'static str = "fault operation";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", FaultOp(FaultOperation::Encrypt)),
        ("decrypt", FaultOp(FaultOperation::Decrypt)),
        ("auth", FaultOp(FaultOperation::Auth)),
        ("any", FaultOp(FaultOperation::Any)),
    ];
}
ekm_vocab::vocabulary!(FaultOp);

/// The words of a fault operation (`encrypt`, `decrypt`, `auth`, `any`).
pub fn fault_op_word(op: FaultOperation) -> &'static str {
    FaultOp(op).word()
}

// ---- fault argument maps ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LatencyArgs {
    provider: Cloud,
    ms: u64,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorRateArgs {
    provider: Cloud,
    rate: f64,
    #[serde(default)]
    error: Option<FaultError>,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThrottleArgs {
    provider: Cloud,
    limit: u32,
    per: LabDuration,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutageArgs {
    provider: Cloud,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

fn fault(
    kind: FaultKind,
    provider: Cloud,
    op: Option<FaultOp>,
    key: Option<String>,
    window: LabDuration,
) -> Action {
    Action::Fault(Fault {
        kind,
        scope: FaultScope {
            provider,
            op: op.map(|op| op.0),
            key,
        },
        window,
    })
}

impl LatencyArgs {
    pub(super) fn into_action(self) -> Action {
        fault(
            FaultKind::Latency { ms: self.ms },
            self.provider,
            self.op,
            self.key,
            self.window,
        )
    }
}

impl ErrorRateArgs {
    pub(super) fn into_action(self) -> Action {
        let kind = FaultKind::ErrorRate {
            rate: self.rate,
            error: self.error.unwrap_or(FaultError::Unavailable),
        };
        fault(kind, self.provider, self.op, self.key, self.window)
    }
}

impl ThrottleArgs {
    pub(super) fn into_action(self) -> Action {
        let kind = FaultKind::Throttle {
            limit: self.limit,
            per: self.per,
        };
        fault(kind, self.provider, self.op, self.key, self.window)
    }
}

impl OutageArgs {
    pub(super) fn into_action(self) -> Action {
        fault(
            FaultKind::Outage,
            self.provider,
            self.op,
            self.key,
            self.window,
        )
    }
}
