//! Faults on the hop between a cloud KMS and the customer's external key manager, as the proxy
//! produces them (`PUT /_mock/v1/xks/faults`): added latency, an error the spec defines answered
//! at a rate, a malformed reply, a proxy that stops answering, and refused credentials.
//!
//! Rates are deterministic, as the lab's other faults are: a `probability` of 0.25 fails exactly
//! every fourth request, so a scenario behaves the same on every run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::api::ErrorName;

/// The hop's fault settings (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopFaults {
    /// Real delay added before the proxy answers, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latency_ms: u64,
    /// An error name of the spec the proxy answers instead of doing the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorName>,
    /// How often `error` or `malformed` strikes (0 < p ≤ 1; absent = always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Answer 200 with a body that is not the spec's JSON.
    #[serde(default, skip_serializing_if = "is_false")]
    pub malformed: bool,
    /// Stop answering: the request is held until the caller gives up (a timeout on its side).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unreachable: bool,
    /// Refuse every credential (as after a rotation the cloud did not follow): 401
    /// `AuthenticationFailedException`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reject_credentials: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// How long an unreachable proxy holds a request before dropping it (far beyond KMS's 250 ms).
pub const UNREACHABLE_HOLD: Duration = Duration::from_secs(5);

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopAction {
    /// Serve it.
    Serve,
    /// Answer this error.
    Fail(ErrorName),
    /// Answer a malformed 200.
    Malformed,
    /// Hold it, never answering in time.
    Hang,
}

impl HopFaults {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = self.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("probability must be in (0, 1], not {p}"));
        }
        if self.probability.is_some() && self.error.is_none() && !self.malformed {
            return Err("probability applies to `error` or `malformed`; give one".into());
        }
        if self.latency_ms > 60_000 {
            return Err("latency_ms must be at most 60000".into());
        }
        Ok(())
    }

    /// The added latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// The decision for request number `n` (from 1) since the faults were set.
    pub fn decide(&self, n: u64) -> HopAction {
        if self.unreachable {
            return HopAction::Hang;
        }
        if self.reject_credentials {
            return HopAction::Fail(ErrorName::AuthenticationFailedException);
        }
        let p = self.probability.unwrap_or(1.0);
        // Deterministic rate: strike when ⌊n·p⌋ moves on.
        let strikes = |n: u64| (n as f64 * p).floor() as u64;
        let hit = n > 0 && strikes(n) > strikes(n - 1);
        match (self.error, self.malformed, hit) {
            (Some(error), _, true) => HopAction::Fail(error),
            (None, true, true) => HopAction::Malformed,
            _ => HopAction::Serve,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deterministic_and_settings_checked() {
        let faults = HopFaults {
            error: Some(ErrorName::ThrottlingException),
            probability: Some(0.25),
            ..HopFaults::default()
        };
        let hits: Vec<u64> = (1..=8)
            .filter(|n| faults.decide(*n) != HopAction::Serve)
            .collect();
        assert_eq!(hits, [4, 8]);
        assert_eq!(HopFaults::default().decide(1), HopAction::Serve);
        let hang = HopFaults {
            unreachable: true,
            ..HopFaults::default()
        };
        assert_eq!(hang.decide(1), HopAction::Hang);
        let bad = HopFaults {
            probability: Some(1.5),
            ..faults.clone()
        };
        assert!(bad.validate().is_err());
        let orphan = HopFaults {
            probability: Some(0.5),
            ..HopFaults::default()
        };
        assert!(orphan.validate().is_err());
        let parsed: HopFaults =
            serde_json::from_str(r#"{"error":"InternalException","latency_ms":40}"#).unwrap();
        assert_eq!(
            parsed.decide(1),
            HopAction::Fail(ErrorName::InternalException)
        );
        assert!(serde_json::from_str::<HopFaults>(r#"{"eror":"x"}"#).is_err());
    }
}
