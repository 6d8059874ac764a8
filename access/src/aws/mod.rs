//! AWS: role trust policies, KMS key policies and role (identity) policies in IAM's JSON policy
//! language; the decision for `sts:AssumeRole` and for `kms:Encrypt`/`kms:Decrypt`; the lint.
//!
//! # Layout
//! - [`policy`]: the policy grammar and what AWS refuses when a document is put.
//! - [`condition`]: condition operators, set qualifiers, `IfExists`, and the request context.
//! - [`evaluate`]: the decision with its trace and AWS's denial message.
//! - [`lint`]: least-privilege findings for trust, key and role policies.

pub mod condition;
pub mod evaluate;
pub mod lint;
pub mod policy;

pub use condition::Context;
pub use evaluate::{Caller, Named, Request, assume_role, kms_allows, kms_call};
pub use policy::{Policy, PolicyKind};

/// The key policy KMS gives a key created without one: it lets the account's IAM policies grant
/// access to the key, and grants nothing by itself (KMS Developer Guide, "Default key policy").
pub fn default_key_policy(account: &str) -> Policy {
    let text = format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    Policy::parse(PolicyKind::Key, &text).expect("the default key policy is well formed")
}
