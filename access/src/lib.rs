//! `ekm-access`: the customer's access configuration as the documents they write in their own
//! cloud, and what each cloud decides from them for the calls EKM makes.
//!
//! The seeds' set-up is three things a customer writes: a **trust** (an AWS role trust policy
//! with the ExternalId, a GCP workload-identity provider with the allowed audience, an Azure
//! service principal for EKM's app), a **limited policy** with encrypt/decrypt, and its
//! **assignment** to that identity. This crate reads those documents in each cloud's own JSON
//! format — what `aws iam get-role`, `gcloud kms keys get-iam-policy --format=json` or
//! `az role assignment list` print — refuses malformed ones with the JSON path of the problem,
//! decides each call with a trace of which statement, binding or assignment decided, and lints
//! them for privilege EKM does not need. It knows nothing of the mock's wire protocols: the mock
//! calls it and answers with each cloud's error shape.
//!
//! Whatever the lab cannot evaluate (an unknown condition key, a CEL function outside the subset,
//! an IAM condition on a GCP binding) never grants access: it is refused when the document is
//! read, or treated as not granting (and, for an AWS Deny, as denying), and the trace says so.
//!
//! # Layout
//! - [`document`]: reading JSON documents with paths in every error.
//! - [`decision`]: [`Decision`], [`Verdict`] and the evaluation trace.
//! - [`lint`]: [`Finding`] and [`Severity`], shared by each cloud's lint rules.
//! - [`explain`]: [`Explanation`], the three conditions' decisions for one key with the lint of
//!   the documents behind them (`ekm check --explain`).
//! - [`aws`]: trust, key and identity policies; AssumeRole and KMS decisions.
//! - [`gcp`]: workload-identity providers and the STS exchange; IAM policies, roles and the
//!   Cloud KMS permission decision.
//! - [`azure`]: service principals and the Entra sign-in; RBAC and access policies and the
//!   Key Vault data-action decision.

pub mod aws;
pub mod azure;
pub mod decision;
pub mod document;
pub mod explain;
pub mod gcp;
pub mod lint;

pub use decision::{Decision, Step, Verdict};
pub use document::DocumentError;
pub use explain::{Explanation, SignInAs};
pub use lint::{Finding, Severity};
