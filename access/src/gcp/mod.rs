//! GCP: workload-identity providers and the STS exchange; IAM allow policies on the project, key
//! ring and crypto key with predefined and custom roles; the Cloud KMS permission decision; the
//! lint.
//!
//! # Layout
//! - [`cel`]: the CEL subset attribute conditions, mappings and IAM Conditions are written in.
//! - [`federation`]: providers and the token exchange.
//! - [`iam`]: policies, roles, members and the permission decision.
//! - [`lint`]: least-privilege findings.

pub mod cel;
pub mod federation;
pub mod iam;
pub mod lint;

pub use federation::{Exchange, Federated, Provider, exchange};
pub use iam::{CustomRoles, IamPolicy, Identity, Member, allows, authorize};
