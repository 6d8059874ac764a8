//! A step's expectations (`outcome`, `kms_calls`, `cache`, `readable`, `unreadable`) and the
//! `no_plaintext_dek_on_disk` invariant, each as a [`Check`] in the step's report.

use ekm_engine::clock::Clock;
use ekm_engine::events::CachePath;
use ekm_lab::CallRecord;

use super::outcome::Done;
use super::{Playback, to_time};
use crate::report::Check;
use crate::schema::{Action, CallOp, Expect, HopOp, Outcome, Vocabulary};
use crate::validate::{call_bounds, hop_bounds};

/// The call log's name for the cloud's side of the hop to an external key manager: one entry
/// per hop, with the latency and outcome the cloud saw (`xks-proxy` is the proxy's own log).
pub(crate) const CLOUD_SIDE: &str = "xks";

impl Playback {
    pub(super) async fn check_expectations(
        &mut self,
        action: &Action,
        expect: Option<&Expect>,
        done: &Done,
        since_seq: u64,
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        let implicit_ok = matches!(
            action,
            Action::Key { .. }
                | Action::Version(_)
                | Action::AliasSwap(_)
                | Action::SwitchKey(_)
                | Action::Fault(_)
                | Action::ExternalKey(_)
                | Action::HsmFleet(_)
                | Action::HopFault(_)
                | Action::Access(_)
        );
        let expected_outcome = expect
            .and_then(|e| e.outcome)
            .or(implicit_ok.then_some(Outcome::Ok));
        if let Some(expected) = expected_outcome {
            let actual = match &done.outcome {
                Ok(()) => Outcome::Ok,
                Err((kind, _)) => Outcome::Error(*kind),
            };
            let actual_text = match &done.outcome {
                Ok(()) => "ok".to_owned(),
                Err((kind, message)) => format!("{kind} ({message})"),
            };
            checks.push(Check {
                expected: format!("outcome {expected}"),
                actual: actual_text,
                passed: actual == expected,
            });
        }
        let Some(expect) = expect else {
            return checks;
        };
        if let Some(calls) = &expect.kms_calls {
            let log = self.lab.calls_since(0).calls;
            let now = self.clock.now();
            for call in &calls.0 {
                let Ok(bounds) = call_bounds(call) else {
                    continue;
                };
                let op = call.op.unwrap_or(CallOp::Any);
                let provider = call.provider;
                let in_scope: Vec<&CallRecord> = log
                    .iter()
                    .filter(|c| c.provider == provider && op.matches(c.kind))
                    .filter(|c| match call.window {
                        Some(w) => c.time > now - to_time(w.0) && c.time <= now,
                        None => c.seq > since_seq,
                    })
                    .collect();
                let count = in_scope
                    .iter()
                    .filter(|c| call.outcome.as_ref().is_none_or(|o| o.matches(&c.outcome)))
                    .filter(|c| {
                        call.trace.as_ref().is_none_or(|text| {
                            c.trace
                                .as_ref()
                                .is_some_and(|trace| trace.contains(text.as_str()))
                        })
                    })
                    .count() as u64;
                let mut actual = count.to_string();
                if !bounds.admits(count) && call.trace.is_some() {
                    let traces: Vec<&str> =
                        in_scope.iter().filter_map(|c| c.trace.as_deref()).collect();
                    actual.push_str(&format!("; the traces: {}", traces.join(" | ")));
                }
                let scope = match call.window {
                    Some(w) => format!("in the last {w}"),
                    None => "during the step".to_owned(),
                };
                let mut which = String::new();
                if let Some(outcome) = &call.outcome {
                    which.push_str(&format!(" ({outcome})"));
                }
                if let Some(text) = &call.trace {
                    which.push_str(&format!(" refused by documents saying “{text}”"));
                }
                checks.push(Check {
                    expected: format!(
                        "{bounds} {} {} KMS call(s){which} {scope}",
                        call.provider,
                        op.word()
                    ),
                    actual,
                    passed: bounds.admits(count),
                });
            }
        }
        if let Some(states) = &expect.key_state {
            for (key, wanted) in states {
                let (passed, actual) = match self.lab.key(key) {
                    Ok(info) => (info.state == wanted.0, info.state.to_owned()),
                    Err(error) => (false, error.to_string()),
                };
                checks.push(Check {
                    expected: format!("{key} {} in its cloud", wanted.0),
                    actual,
                    passed,
                });
            }
        }
        if let Some(hops) = &expect.hop_calls {
            let log = self.lab.calls_since(0).calls;
            let now = self.clock.now();
            for hop in &hops.0 {
                let Ok(bounds) = hop_bounds(hop) else {
                    continue;
                };
                let op = hop.op.unwrap_or(HopOp::Any);
                let count = log
                    .iter()
                    .filter(|c| c.hop.as_deref() == Some(CLOUD_SIDE))
                    .filter(|c| hop.provider.is_none_or(|p| c.provider == p))
                    .filter(|c| hop.key.is_none() || c.key == hop.key)
                    .filter(|c| op.matches(&c.operation))
                    .filter(|c| hop.outcome.is_none_or(|o| o.matches(&c.outcome)))
                    .filter(|c| match hop.window {
                        Some(w) => c.time > now - to_time(w.0) && c.time <= now,
                        None => c.seq > since_seq,
                    })
                    .count() as u64;
                let mut what = vec![op.word().to_owned()];
                what.extend(hop.provider.map(|p| p.to_string()));
                what.extend(hop.key.as_ref().map(|k| format!("for {k}")));
                what.extend(hop.outcome.map(|o| format!("({o})")));
                let scope = match hop.window {
                    Some(w) => format!("in the last {w}"),
                    None => "during the step".to_owned(),
                };
                checks.push(Check {
                    expected: format!(
                        "{bounds} hop(s) to the external key manager, {} {scope}",
                        what.join(" ")
                    ),
                    actual: count.to_string(),
                    passed: bounds.admits(count),
                });
            }
        }
        if let Some(volume) = &expect.volume {
            checks.extend(self.volume_checks(volume));
        }
        if let Some(cache) = &expect.cache {
            let snapshot = self.lab.engine().snapshot();
            let provider = cache.provider;
            let live = |path: CachePath| {
                snapshot
                    .path(path)
                    .filter(|e| !e.expired)
                    .filter(|e| provider.is_none_or(|p| e.key.provider() == p.word()))
                    .count() as u64
            };
            let scope = provider.map(|p| format!("{p} ")).unwrap_or_default();
            for (label, count, path) in [
                ("active DEK(s)", cache.active_deks, CachePath::Encrypt),
                (
                    "decrypt-cache entr(ies)",
                    cache.decrypt_entries,
                    CachePath::Decrypt,
                ),
            ] {
                if let Some(count) = count {
                    let found = live(path);
                    checks.push(Check {
                        expected: format!("{count} live {scope}{label}"),
                        actual: found.to_string(),
                        passed: count.admits(found),
                    });
                }
            }
        }
        if let Some(readable) = &expect.readable {
            for name in &readable.0 {
                let result = self.open(name).await;
                checks.push(Check {
                    expected: format!("{name} readable"),
                    actual: match &result {
                        Ok(()) => "readable".into(),
                        Err((kind, message)) => format!("{kind}: {message}"),
                    },
                    passed: result.is_ok(),
                });
            }
        }
        if let Some(unreadable) = &expect.unreadable {
            for (name, kind) in &unreadable.0 {
                let result = self.open(name).await;
                let (passed, actual) = match (&result, kind) {
                    (Ok(()), _) => (false, "readable".to_owned()),
                    (Err((found, _)), Some(wanted)) => (found == wanted, found.to_string()),
                    (Err((found, _)), None) => (true, found.to_string()),
                };
                checks.push(Check {
                    expected: match kind {
                        Some(kind) => format!("{name} unreadable ({kind})"),
                        None => format!("{name} unreadable"),
                    },
                    actual,
                    passed,
                });
            }
        }
        checks
    }

    pub(super) fn check_disk(&self, checks: &mut Vec<Check>) {
        let Some(audit) = &self.audit else { return };
        let (passed, actual) = match audit.scan() {
            Ok(scan) if scan.leaks.is_empty() => (
                true,
                format!("{} DEK(s) absent from {} file(s)", scan.deks, scan.files),
            ),
            Ok(scan) => (
                false,
                scan.leaks
                    .iter()
                    .map(|(path, encoding)| format!("{} holds a DEK ({encoding})", path.display()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Err(error) => (false, error.to_string()),
        };
        checks.push(Check {
            expected: "invariant: no plaintext DEK on disk".into(),
            actual,
            passed,
        });
    }
}
