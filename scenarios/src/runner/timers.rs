//! Lab time between steps: the clock advances through every timer that falls due on the way
//! (fault windows ending, revocation deadlines) at its own time, and the
//! `revocation_effective_within` invariant is checked at each deadline.
//!
//! A revocation's deadline depends on its kind. Taking the key or its policy away acts on the
//! next KMS call, so it is due within the invariant's bound — the cache TTL
//! (`revalidate_after`). Removing the *trust* only stops new sign-ins: the session the engine
//! holds lives on to its expiry, so it is due within the bound **plus** the cloud's session
//! lifetime (the registration's `session_lifetime`) — the engine's own
//! [`Config::revocation_within`](ekm_engine::config::Config::revocation_within), which `ekm
//! check` states too. A later `revoke-sessions` on that cloud brings it back to the bound,
//! counted from then.

use std::time::Duration;

use ekm_engine::clock::Clock;
use ekm_engine::config::Revoked;
use ekm_lab::ExternalKeyAction;
use time::OffsetDateTime;

use super::{Playback, to_time};
use crate::report::Check;
use crate::schema::{Cloud, KeyAction, VersionAction};
use crate::time::LabDuration;
use crate::time::clock_offset;
/// A revocation the `revocation_effective_within` invariant watches.
#[derive(Debug)]
pub(super) struct Revocation {
    pub(super) key: String,
    pub(super) cause: RevocationCause,
    pub(super) at: OffsetDateTime,
    pub(super) label: String,
    /// How long after `at` it must be in effect.
    pub(super) bound: time::Duration,
    /// For a trust removal: the session lifetime added to the bound.
    pub(super) session: Option<Duration>,
    /// The revoked key's cloud.
    pub(super) cloud: Option<Cloud>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RevocationCause {
    Key(KeyAction),
    /// One version of the key (by id) was disabled or scheduled for destruction: only what it
    /// wrapped must become unreadable.
    Version(VersionAction, String),
    AliasSwap,
    SwitchKey,
    /// The external key backing the key was disabled or deleted in the customer's manager.
    ExternalKey(ExternalKeyAction),
    /// An edit of the customer's documents took EKM's permission on the key away.
    Access,
    /// An edit of the customer's documents took EKM's trust (sign-in) away.
    Trust,
}

impl Playback {
    /// Moves the clock to `target`, firing every timer due on the way at its own time.
    pub(super) async fn advance_to(&mut self, target: OffsetDateTime) {
        loop {
            let within = self.within();
            let next_fault = self.faults.iter().map(|f| f.until).min();
            let next_deadline =
                within.and_then(|_| self.revocations.iter().map(|r| r.at + r.bound).min());
            let due = [next_fault, next_deadline]
                .into_iter()
                .flatten()
                .filter(|t| *t <= target)
                .min();
            let Some(due) = due else { break };
            self.clock.advance_to(due);
            self.expire_faults();
            let mut checks = Vec::new();
            self.check_revocation_deadlines(&mut checks).await;
            self.deferred_checks.extend(checks);
        }
        self.clock.advance_to(target);
    }

    pub(super) fn within(&self) -> Option<time::Duration> {
        self.scenario
            .invariants
            .revocation_effective_within
            .map(|w| to_time(w.0))
    }

    pub(super) fn revoke(&mut self, key: &str, cause: RevocationCause, label: &str) {
        let Some(within) = self.scenario.invariants.revocation_effective_within else {
            return;
        };
        if self
            .revocations
            .iter()
            .any(|r| r.key == key && r.cause == cause)
        {
            return;
        }
        let cloud = self.lab.key(key).ok().map(|info| info.provider);
        let revoked = match cause {
            RevocationCause::Key(KeyAction::RevokeTrust) => Revoked::Trust,
            _ => Revoked::Permission,
        };
        let config = self.lab.config();
        let bound = cloud.map_or(within.0, |c| config.revocation_within(c, revoked, within.0));
        let session = cloud
            .filter(|_| revoked == Revoked::Trust)
            .map(|c| config.session_lifetime(c).unwrap_or_default());
        self.revocations.push(Revocation {
            key: key.to_owned(),
            cause,
            at: self.clock.now(),
            label: label.to_owned(),
            bound: to_time(bound),
            session,
            cloud,
        });
    }

    /// `revoke-sessions` on `cloud`: a trust removal there is due within the bound from now.
    pub(super) fn sessions_revoked(&mut self, cloud: Cloud) {
        let Some(within) = self.within() else { return };
        let now = self.clock.now();
        for revocation in &mut self.revocations {
            if revocation.cloud == Some(cloud) && revocation.session.is_some() {
                revocation.bound = revocation.bound.min(now - revocation.at + within);
            }
        }
    }

    pub(super) fn undo(&mut self, key: &str, cause: RevocationCause) {
        self.revocations
            .retain(|r| !(r.key == key && r.cause == cause));
    }

    /// For every watched revocation whose deadline has passed: each object sealed under the
    /// revoked key must be unreadable now. Each revocation is checked once.
    pub(super) async fn check_revocation_deadlines(&mut self, checks: &mut Vec<Check>) {
        if self.within().is_none() {
            return;
        }
        let now = self.clock.now();
        let (due, waiting): (Vec<Revocation>, Vec<Revocation>) =
            std::mem::take(&mut self.revocations)
                .into_iter()
                .partition(|r| r.at + r.bound <= now);
        self.revocations = waiting;
        for revocation in due {
            let version = match &revocation.cause {
                RevocationCause::Version(_, id) => Some(id),
                _ => None,
            };
            let objects: Vec<String> = self
                .objects
                .iter()
                .filter(|(_, sealed)| sealed.key == revocation.key)
                .filter(|(_, sealed)| version.is_none_or(|id| sealed.version.as_ref() == Some(id)))
                .map(|(name, _)| name.clone())
                .collect();
            let mut still_readable = Vec::new();
            for name in &objects {
                if self.open(name).await.is_ok() {
                    still_readable.push(name.clone());
                }
            }
            let within = self
                .scenario
                .invariants
                .revocation_effective_within
                .unwrap_or_default();
            let within = match revocation.session {
                Some(session) => format!(
                    "{within} + the {} session lifetime {} (trust removal: issued sessions \
                     live on)",
                    revocation.cloud.map_or("", |c| c.as_str()),
                    LabDuration(session)
                ),
                None => within.to_string(),
            };
            let started = Duration::try_from(revocation.at - self.start).unwrap_or_default();
            checks.push(Check {
                expected: format!(
                    "invariant: {} at {} effective within {within} (checked at {}): {} object(s) \
                     under {} unreadable",
                    revocation.label,
                    clock_offset(started),
                    clock_offset(self.elapsed()),
                    objects.len(),
                    revocation.key
                ),
                actual: if still_readable.is_empty() {
                    "all unreadable".into()
                } else {
                    format!(
                        "still readable at {}: {}",
                        clock_offset(self.elapsed()),
                        still_readable.join(", ")
                    )
                },
                passed: still_readable.is_empty(),
            });
        }
    }
}
