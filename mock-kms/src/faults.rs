//! Scripted faults: latency, error rates, throttling and outages, per provider, operation and
//! key (contract: DESIGN.md §4, `PUT /_mock/v1/faults`).
//!
//! Each front-end asks [`Faults::evaluate`] before doing the work of a request and answers a
//! [`Failure`] in its own cloud's dialect. Decisions read the lab clock (throttle windows) and are
//! deterministic: an error `probability` of 0.25 fails exactly every fourth matching call, so a
//! scenario behaves the same on every run.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StateError;
use crate::keys::Provider;

/// Which operations a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultOperation {
    /// Encrypt / wrap calls.
    #[serde(rename = "encrypt")]
    Encrypt,
    /// Decrypt / unwrap calls.
    #[serde(rename = "decrypt")]
    Decrypt,
    /// STS and token endpoints.
    #[serde(rename = "auth")]
    Auth,
    /// Every call of the provider, admin and metadata calls included.
    #[serde(rename = "*")]
    Any,
}

/// The kind of operation a front-end is answering, for matching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Encrypt, wrapkey, GenerateDataKey.
    Encrypt,
    /// Decrypt, unwrapkey.
    Decrypt,
    /// AssumeRole, STS token exchange, Entra token, generateAccessToken.
    Auth,
    /// Everything else (describe, list, admin calls).
    Other,
}

/// An error a rule injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultError {
    /// The service is unavailable (AWS 503-ish `KMSInternalException`-family, GCP 503, Azure 503).
    Unavailable,
    /// An internal server error.
    Internal,
    /// Access denied, as if the policy were missing.
    AccessDenied,
    /// Throttled (AWS `ThrottlingException`, GCP 429, Azure 429 + Retry-After).
    Throttled,
}

/// A rate limit: at most `limit` calls per `per_seconds` of lab time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Calls allowed per window (`0` throttles everything).
    pub limit: u32,
    /// Window length in lab seconds.
    pub per_seconds: u64,
}

/// One fault rule, as `PUT /_mock/v1/faults` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The cloud it applies to.
    pub provider: Provider,
    /// The operation; absent = encrypt and decrypt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<FaultOperation>,
    /// Lab name of the key; absent = every key (auth calls have no key and match only rules
    /// without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A real delay before answering, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// An injected error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultError>,
    /// Fraction of matching calls that get `error` (or the outage); absent = all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// A rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// The cloud's "service unavailable" for every matching call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outage: bool,
}

impl FaultRule {
    fn validate(&self) -> Result<(), StateError> {
        let invalid = |msg: String| Err(StateError::InvalidRequest(msg));
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return invalid(format!("probability must be between 0 and 1, got {p}"));
        }
        if let Some(t) = self.throttle
            && t.per_seconds == 0
        {
            return invalid("throttle.per_seconds must be at least 1".into());
        }
        if self.latency_ms.is_none()
            && self.error.is_none()
            && self.throttle.is_none()
            && !self.outage
        {
            return invalid(format!(
                "a {} fault rule must set at least one of latency_ms, error, throttle, outage",
                self.provider
            ));
        }
        Ok(())
    }

    fn matches(&self, provider: Provider, op: OpKind, key: Option<&str>) -> bool {
        let op_matches = matches!(
            (self.operation, op),
            (Some(FaultOperation::Any), _)
                | (None, OpKind::Encrypt | OpKind::Decrypt)
                | (Some(FaultOperation::Encrypt), OpKind::Encrypt)
                | (Some(FaultOperation::Decrypt), OpKind::Decrypt)
                | (Some(FaultOperation::Auth), OpKind::Auth)
        );
        let key_matches = match (&self.key, key) {
            (None, _) => true,
            (Some(wanted), Some(key)) => wanted == key,
            (Some(_), None) => false,
        };
        self.provider == provider && op_matches && key_matches
    }
}

/// What a front-end must do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// Wait this long (real time) before answering.
    pub latency: Option<Duration>,
    /// Answer this failure instead of doing the work.
    pub failure: Option<Failure>,
}

/// An injected failure, rendered by each front-end in its cloud's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Service unavailable (a transient server-side error).
    Unavailable,
    /// Internal server error.
    Internal,
    /// Access denied.
    AccessDenied,
    /// Throttled; retry after this long (lab time).
    Throttled {
        /// When the window frees a slot.
        retry_after: Duration,
    },
    /// The cloud's outage answer (AWS 500 `DependencyTimeoutException`, GCP 503, Azure 503).
    Outage,
}

#[derive(Debug)]
struct ActiveRule {
    rule: FaultRule,
    /// Lab times of admitted calls inside the current throttle window.
    admitted: VecDeque<OffsetDateTime>,
    /// Deterministic error-rate accumulator.
    debt: f64,
}

impl ActiveRule {
    fn hits_probability(&mut self) -> bool {
        match self.rule.probability {
            None => true,
            Some(p) => {
                self.debt += p;
                if self.debt >= 1.0 - 1e-9 {
                    self.debt -= 1.0;
                    true
                } else {
                    false
                }
            }
        }
    }

    fn throttle(&mut self, throttle: Throttle, now: OffsetDateTime) -> Option<Failure> {
        let window =
            time::Duration::seconds(i64::try_from(throttle.per_seconds).unwrap_or(i64::MAX));
        while self.admitted.front().is_some_and(|t| *t + window <= now) {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= throttle.limit as usize {
            let frees_at = self.admitted.front().map_or(now + window, |t| *t + window);
            let wait = (frees_at - now).max(time::Duration::SECOND);
            return Some(Failure::Throttled {
                retry_after: Duration::try_from(wait).unwrap_or(Duration::from_secs(1)),
            });
        }
        self.admitted.push_back(now);
        None
    }
}

/// The set of active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<ActiveRule>>,
}

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<ActiveRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces all rules (validating each) and resets throttle windows and error rates.
    pub fn set(&self, rules: Vec<FaultRule>) -> Result<(), StateError> {
        for rule in &rules {
            rule.validate()?;
        }
        *self.rules() = rules
            .into_iter()
            .map(|rule| ActiveRule {
                rule,
                admitted: VecDeque::new(),
                debt: 0.0,
            })
            .collect();
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules().clear();
    }

    /// The active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules().iter().map(|a| a.rule.clone()).collect()
    }

    /// Decides what happens to one request. Latencies of matching rules add up; the first
    /// matching rule that fails the call decides the failure.
    pub fn evaluate(
        &self,
        provider: Provider,
        op: OpKind,
        key: Option<&str>,
        now: OffsetDateTime,
    ) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for active in self.rules().iter_mut() {
            if !active.rule.matches(provider, op, key) {
                continue;
            }
            if let Some(ms) = active.rule.latency_ms {
                let total = decision.latency.unwrap_or_default() + Duration::from_millis(ms);
                decision.latency = Some(total);
            }
            if decision.failure.is_some() {
                continue;
            }
            if let Some(throttle) = active.rule.throttle {
                decision.failure = active.throttle(throttle, now);
            }
            if decision.failure.is_none()
                && (active.rule.outage || active.rule.error.is_some())
                && active.hits_probability()
            {
                decision.failure = Some(match active.rule.error {
                    _ if active.rule.outage => Failure::Outage,
                    Some(FaultError::Unavailable) => Failure::Unavailable,
                    Some(FaultError::Internal) => Failure::Internal,
                    Some(FaultError::AccessDenied) => Failure::AccessDenied,
                    Some(FaultError::Throttled) | None => Failure::Throttled {
                        retry_after: Duration::from_secs(1),
                    },
                });
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    fn rules(json: &str) -> Faults {
        let faults = Faults::default();
        faults.set(serde_json::from_str(json).unwrap()).unwrap();
        faults
    }

    #[test]
    fn default_operation_is_encrypt_and_decrypt_only() {
        let f = rules(r#"[{"provider":"aws","outage":true}]"#);
        assert_eq!(
            f.evaluate(Provider::Aws, OpKind::Decrypt, Some("k"), t0())
                .failure,
            Some(Failure::Outage)
        );
        assert_eq!(
            f.evaluate(Provider::Aws, OpKind::Auth, None, t0()).failure,
            None
        );
        assert_eq!(
            f.evaluate(Provider::Gcp, OpKind::Decrypt, None, t0())
                .failure,
            None
        );
    }

    #[test]
    fn error_rate_is_deterministic() {
        let f = rules(r#"[{"provider":"gcp","error":"unavailable","probability":0.25}]"#);
        let fails = (0..100)
            .filter(|_| {
                f.evaluate(Provider::Gcp, OpKind::Encrypt, None, t0())
                    .failure
                    .is_some()
            })
            .count();
        assert_eq!(fails, 25);
    }

    #[test]
    fn throttle_window_runs_on_the_lab_clock() {
        let f = rules(
            r#"[{"provider":"azure","operation":"*","throttle":{"limit":2,"per_seconds":60}}]"#,
        );
        let ok = |t| {
            f.evaluate(Provider::Azure, OpKind::Other, None, t)
                .failure
                .is_none()
        };
        assert!(ok(t0()));
        assert!(ok(t0()));
        let throttled = f.evaluate(
            Provider::Azure,
            OpKind::Other,
            None,
            t0() + time::Duration::seconds(10),
        );
        assert_eq!(
            throttled.failure,
            Some(Failure::Throttled {
                retry_after: Duration::from_secs(50)
            })
        );
        assert!(ok(t0() + time::Duration::seconds(60)));
    }

    #[test]
    fn key_rules_match_only_their_key_and_latency_adds_up() {
        let f = rules(
            r#"[{"provider":"aws","key":"a","latency_ms":5},{"provider":"aws","operation":"*","latency_ms":7}]"#,
        );
        let d = f.evaluate(Provider::Aws, OpKind::Encrypt, Some("a"), t0());
        assert_eq!(d.latency, Some(Duration::from_millis(12)));
        let d = f.evaluate(Provider::Aws, OpKind::Encrypt, Some("b"), t0());
        assert_eq!(d.latency, Some(Duration::from_millis(7)));
    }

    #[test]
    fn invalid_rules_are_refused() {
        let f = Faults::default();
        for bad in [
            r#"[{"provider":"aws"}]"#,
            r#"[{"provider":"aws","error":"internal","probability":2}]"#,
            r#"[{"provider":"aws","throttle":{"limit":1,"per_seconds":0}}]"#,
        ] {
            assert!(f.set(serde_json::from_str(bad).unwrap()).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_str::<Vec<FaultRule>>(r#"[{"provider":"aws","outgae":true}]"#)
                .is_err()
        );
    }
}
