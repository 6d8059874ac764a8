//! The two revocation bounds `ekm check` states per cloud: how soon taking the permission away
//! (key policy, IAM binding, role assignment) stops the engine, and how soon taking the trust
//! away (role trust policy, workload-identity provider, service principal) does — the second
//! adds the session the engine holds, which lives on to its expiry. Both come from the
//! registration through the engine's own [`Config::revocation_within`] (the scenario runner's
//! `revocation_effective_within` uses the same), with `engine.revalidate_after` as the bound on
//! the next KMS call; the cloud's own propagation delay (minutes) comes on top of both.
//!
//! What cuts the trust bound short, per cloud (DESIGN.md §9):
//! - AWS: revoking the role's active sessions (the console's "Revoke active sessions", which
//!   writes the role policy `AWSRevokeOlderSessions` denying sessions issued before now; the
//!   lab's `revoke-sessions`).
//! - GCP: disabling the provider stops new exchanges only; disabling the workload-identity
//!   *pool* also refuses the tokens it issued ("You cannot use a disabled pool to exchange
//!   tokens, or use existing tokens to access resources", IAM REST reference; the lab's
//!   `revoke-sessions`).
//! - Azure: nothing — Entra access tokens cannot be revoked and are valid until their expiry.

use std::fmt;
use std::time::Duration;

use ekm_engine::config::{Config, Revoked};
use ekm_engine::registration::Cloud;
use ekm_scenarios::time::LabDuration;

/// How soon a revocation on one cloud stops the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationBounds {
    /// The cloud.
    pub cloud: Cloud,
    /// Taking the permission away: within `engine.revalidate_after`.
    pub permission: Duration,
    /// Taking the trust away: the permission bound plus the session lifetime.
    pub trust: Duration,
}

impl RevocationBounds {
    /// The bounds of `cloud` under `config`.
    pub fn of(config: &Config, cloud: Cloud) -> Self {
        let within = config.engine.revalidate_after;
        Self {
            cloud,
            permission: config.revocation_within(cloud, Revoked::Permission, within),
            trust: config.revocation_within(cloud, Revoked::Trust, within),
        }
    }
}

impl fmt::Display for RevocationBounds {
    /// One line: `revocation: removing … takes effect within 1h (revalidate_after); removing
    /// … within 2h (1h + the 1h …, which lives on) — what cuts it short`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = LabDuration(self.permission);
        let session = LabDuration(self.trust.saturating_sub(self.permission));
        let (permission, trust, token) = match self.cloud {
            Cloud::Aws => ("the key or role policy", "the role's trust", "role session"),
            Cloud::Gcp => ("the IAM binding", "the provider", "federated token"),
            Cloud::Azure => (
                "the role assignment",
                "the service principal",
                "Entra token",
            ),
        };
        let cut = match self.cloud {
            Cloud::Aws => format!(
                "revoking the role's active sessions (AWSRevokeOlderSessions; the lab's \
                 revoke-sessions) cuts it to {within}"
            ),
            Cloud::Gcp => format!(
                "disabling the workload-identity pool also refuses the tokens it issued (the \
                 lab's revoke-sessions), which cuts it to {within}"
            ),
            Cloud::Azure => "Entra tokens cannot be revoked, so this bound stays".to_owned(),
        };
        writeln!(
            f,
            "  revocation: removing {permission} takes effect within {within} \
             (revalidate_after); removing {trust} within {} ({within} + the {session} {token}, \
             which lives on) — {cut}",
            LabDuration(self.trust)
        )
    }
}
