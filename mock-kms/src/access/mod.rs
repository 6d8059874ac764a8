//! The customer's access documents the mock decides from (issue 11), as the customer writes them
//! in each cloud's own JSON, evaluated by [`ekm_access`]: trust (the AWS role trust policy, the
//! GCP workload-identity provider, the Azure service principal), the limited policy and its
//! assignment (AWS key and role policies, GCP IAM policies on the project, key ring and crypto
//! key, Azure role definitions and assignments or the vault's access policies).
//!
//! Trust belongs to the identity document, not to a key: the control API's `revoke-trust` on
//! any key of a cloud edits the tenant's trust document, so every key of that cloud loses it.
//! The keys' own `access` / `trust` flags ([`Key`]) only say, for a state file written before
//! the documents were kept, what documents stand for them.
//!
//! A denial leaves its decision's trace in the call log in short ([`short_trace`]).
//!
//! # Layout
//! - [`aws`]: role trust policy, role policies, key policies; AssumeRole and KMS decisions.
//! - [`gcp`]: providers, IAM policies with their etags, custom roles; the STS exchange and the
//!   Cloud KMS permission decisions.
//! - [`azure`]: service principals, role definitions and assignments, the vault; the Entra
//!   sign-in and the Key Vault data-action decisions.
//! - `explain`: EKM's three conditions on one key with their traces and the lint
//!   ([`Kms::explain`](crate::state::Kms::explain)).
//!
//! [`Key`]: crate::keys::Key

pub mod aws;
pub mod azure;
mod explain;
pub mod gcp;

pub use aws::{
    ACCESS_REVOKED_SID, ALLOW_EKM_SID, AwsAccess, KmsCall, PolicyDocument, TRUST_EKM_SID,
    TRUST_REVOKED_SID, role_caller, service_caller,
};
pub use azure::AzureAccess;
pub use gcp::GcpAccess;

use ekm_access::Decision;

/// Whether the per-key `trust` switches of an older state file (or a `--config` seed) leave the
/// tenant's trust document in place: yes unless the cloud has keys and none of them keeps it.
pub(crate) fn trust_kept(switches: impl IntoIterator<Item = bool>) -> bool {
    let mut switches = switches.into_iter().peekable();
    switches.peek().is_none() || switches.any(|trust| trust)
}

/// The lab's short form of a decision's trace for the call log: the deciding step, or for an
/// implicit denial every step, one `document part: note` each, joined by `; `.
pub fn short_trace(decision: &Decision) -> String {
    let line = |s: &ekm_access::Step| format!("{} {}: {}", s.document, s.part, s.note);
    match &decision.decided_by {
        Some(step) => line(step),
        None if decision.trace.is_empty() => "no statement applies".to_owned(),
        None => decision
            .trace
            .iter()
            .map(line)
            .collect::<Vec<_>>()
            .join("; "),
    }
}
