//! Fault admission: the active [`Fault`]s (contract: DESIGN.md §4, `PUT /_mock/v1/faults`) and
//! what they do to one call.
//!
//! The request pipeline ([`Call::admit_faults`](crate::pipeline::Call::admit_faults)) asks
//! [`Faults::evaluate`] before the work of a request is done, and the front-end answers a
//! [`Failure`] in its own cloud's dialect. Decisions read the lab clock (throttle windows, fault
//! windows) and are deterministic: a `probability` of 0.25 hits exactly every fourth matching
//! call, so a scenario behaves the same on every run.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use ekm_vocab::{CallKind, Cloud, Fault, FaultEffect, InjectedError, Probability, Throttle};
use time::OffsetDateTime;

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

/// A fault window that would end after lab time's last instant ([`ekm_clock::HORIZON`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a fault window of {} s from lab time {now} would end past the lab clock's horizon {}; \
     use a shorter window or none (until cleared)",
    window.as_secs(),
    ekm_clock::HORIZON
)]
pub struct WindowPastHorizon {
    /// The window asked for.
    pub window: Duration,
    /// Lab time when it was set.
    pub now: OffsetDateTime,
}

#[derive(Debug)]
struct ActiveFault {
    fault: Fault,
    /// Lab time it ends, if it has a window.
    until: Option<OffsetDateTime>,
    /// Lab times of admitted calls inside the current throttle window.
    admitted: VecDeque<OffsetDateTime>,
    /// Deterministic hit-rate accumulator.
    debt: f64,
}

impl ActiveFault {
    fn hits(&mut self, probability: Probability) -> bool {
        self.debt += probability.get();
        if self.debt >= 1.0 - 1e-9 {
            self.debt -= 1.0;
            true
        } else {
            false
        }
    }

    fn throttle(&mut self, throttle: Throttle, now: OffsetDateTime) -> Option<Failure> {
        // A slot taken at `t` frees at `t + per`; a window reaching past the clock's horizon
        // never frees (lab time stops there).
        let frees = |t: OffsetDateTime| ekm_clock::checked_later(t, throttle.per()).ok();
        while self
            .admitted
            .front()
            .is_some_and(|t| frees(*t).is_some_and(|end| end <= now))
        {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= throttle.limit() as usize {
            let frees_at = frees(self.admitted.front().copied().unwrap_or(now))
                .unwrap_or(ekm_clock::HORIZON.max(now));
            let wait = (frees_at - now).max(time::Duration::SECOND);
            return Some(Failure::Throttled {
                retry_after: Duration::try_from(wait).unwrap_or(Duration::from_secs(1)),
            });
        }
        self.admitted.push_back(now);
        None
    }

    fn live(&self, now: OffsetDateTime) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// The active faults.
#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<Vec<ActiveFault>>,
}

impl Faults {
    fn active(&self) -> std::sync::MutexGuard<'_, Vec<ActiveFault>> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces all faults, set at lab time `now` (their windows start then), and resets
    /// throttle windows and hit rates. A fault whose window would end past the lab clock's
    /// horizon is refused, and then none is set.
    pub fn set(&self, faults: Vec<Fault>, now: OffsetDateTime) -> Result<(), WindowPastHorizon> {
        let active = faults
            .into_iter()
            .map(|fault| {
                let until = match fault.window {
                    Some(window) => Some(
                        ekm_clock::checked_later(now, window)
                            .map_err(|_| WindowPastHorizon { window, now })?,
                    ),
                    None => None,
                };
                Ok(ActiveFault {
                    until,
                    fault,
                    admitted: VecDeque::new(),
                    debt: 0.0,
                })
            })
            .collect::<Result<_, _>>()?;
        *self.active() = active;
        Ok(())
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.active().clear();
    }

    /// The faults still in force at lab time `now`.
    pub fn list(&self, now: OffsetDateTime) -> Vec<Fault> {
        let mut active = self.active();
        active.retain(|a| a.live(now));
        active.iter().map(|a| a.fault.clone()).collect()
    }

    /// Decides what happens to one call. Latencies of matching faults add up; the first
    /// matching fault that fails the call decides the failure.
    pub fn evaluate(
        &self,
        cloud: Cloud,
        kind: CallKind,
        key: Option<&str>,
        now: OffsetDateTime,
    ) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for active in self.active().iter_mut() {
            if !active.live(now) || !active.fault.scope.matches(cloud, kind, key) {
                continue;
            }
            let failure = match active.fault.effect {
                FaultEffect::Latency {
                    latency,
                    probability,
                } => {
                    if active.hits(probability) {
                        let total = decision.latency.unwrap_or_default() + latency.get();
                        decision.latency = Some(total);
                    }
                    None
                }
                _ if decision.failure.is_some() => None,
                FaultEffect::Throttle(throttle) => active.throttle(throttle, now),
                FaultEffect::ErrorRate { error, probability } => {
                    active.hits(probability).then_some(match error {
                        InjectedError::Unavailable => Failure::Unavailable,
                        InjectedError::Internal => Failure::Internal,
                        InjectedError::AccessDenied => Failure::AccessDenied,
                        InjectedError::Throttled => Failure::Throttled {
                            retry_after: Duration::from_secs(1),
                        },
                    })
                }
                FaultEffect::Outage { probability } => {
                    active.hits(probability).then_some(Failure::Outage)
                }
            };
            decision.failure = decision.failure.or(failure);
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
        faults
            .set(serde_json::from_str(json).unwrap(), t0())
            .unwrap();
        faults
    }

    #[test]
    fn default_operation_is_encrypt_and_decrypt_only() {
        let f = rules(r#"[{"provider":"aws","outage":true}]"#);
        assert_eq!(
            f.evaluate(Cloud::Aws, CallKind::Unwrap, Some("k"), t0())
                .failure,
            Some(Failure::Outage)
        );
        assert_eq!(
            f.evaluate(Cloud::Aws, CallKind::SignIn, None, t0()).failure,
            None
        );
        assert_eq!(
            f.evaluate(Cloud::Gcp, CallKind::Unwrap, None, t0()).failure,
            None
        );
    }

    #[test]
    fn error_rate_is_deterministic() {
        let f = rules(r#"[{"provider":"gcp","error":"unavailable","probability":0.25}]"#);
        let fails = (0..100)
            .filter(|_| {
                f.evaluate(Cloud::Gcp, CallKind::Wrap, None, t0())
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
            f.evaluate(Cloud::Azure, CallKind::Describe, None, t)
                .failure
                .is_none()
        };
        assert!(ok(t0()));
        assert!(ok(t0()));
        let throttled = f.evaluate(
            Cloud::Azure,
            CallKind::Describe,
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
        let d = f.evaluate(Cloud::Aws, CallKind::Wrap, Some("a"), t0());
        assert_eq!(d.latency, Some(Duration::from_millis(12)));
        let d = f.evaluate(Cloud::Aws, CallKind::Wrap, Some("b"), t0());
        assert_eq!(d.latency, Some(Duration::from_millis(7)));
    }

    #[test]
    fn latency_honours_probability() {
        let never = rules(r#"[{"provider":"aws","latency_ms":50,"probability":0}]"#);
        assert!((0..10).all(|_| {
            never
                .evaluate(Cloud::Aws, CallKind::Wrap, None, t0())
                .latency
                .is_none()
        }));
        let half = rules(r#"[{"provider":"aws","latency_ms":50,"probability":0.5}]"#);
        let delayed = (0..10)
            .filter(|_| {
                half.evaluate(Cloud::Aws, CallKind::Wrap, None, t0())
                    .latency
                    .is_some()
            })
            .count();
        assert_eq!(delayed, 5);
    }

    #[test]
    fn a_window_ends_the_fault_on_the_lab_clock() {
        let f = rules(r#"[{"provider":"gcp","outage":true,"window_seconds":60}]"#);
        let at = |s| t0() + time::Duration::seconds(s);
        assert_eq!(
            f.evaluate(Cloud::Gcp, CallKind::Wrap, None, at(59)).failure,
            Some(Failure::Outage)
        );
        assert_eq!(f.list(at(59)).len(), 1);
        assert_eq!(
            f.evaluate(Cloud::Gcp, CallKind::Wrap, None, at(60)).failure,
            None
        );
        assert!(f.list(at(60)).is_empty());
    }

    #[test]
    fn windows_and_throttles_near_the_horizon_never_overflow() {
        let late = ekm_clock::HORIZON - time::Duration::seconds(30);
        let faults = Faults::default();
        let fault = |json: &str| serde_json::from_str::<Vec<Fault>>(json).unwrap();
        let error = faults
            .set(
                fault(r#"[{"provider":"aws","outage":true,"window_seconds":60}]"#),
                late,
            )
            .unwrap_err();
        assert!(error.to_string().contains("horizon"), "{error}");
        let huge = fault(&format!(
            r#"[{{"provider":"aws","outage":true,"window_seconds":{}}}]"#,
            u64::MAX
        ));
        assert!(faults.set(huge, t0()).is_err());
        assert!(
            faults.list(t0()).is_empty(),
            "a refused set leaves no fault"
        );
        faults
            .set(
                fault(&format!(
                    r#"[{{"provider":"aws","throttle":{{"limit":1,"per_seconds":{}}}}}]"#,
                    u64::MAX
                )),
                late,
            )
            .unwrap();
        let call = |at| {
            faults
                .evaluate(Cloud::Aws, CallKind::Wrap, None, at)
                .failure
        };
        assert_eq!(call(late), None);
        assert_eq!(
            call(ekm_clock::HORIZON),
            Some(Failure::Throttled {
                retry_after: Duration::from_secs(1)
            })
        );
    }
}
