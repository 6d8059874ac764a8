//! Azure: service principals and the Entra sign-in; Key Vault RBAC (built-in and custom roles,
//! assignments at every scope) and legacy access policies; the data-action decision; the lint.
//!
//! # Layout
//! - [`entra`]: service principals and the client-credentials sign-in.
//! - [`rbac`]: role definitions, assignments, vault permission models and the decision.
//! - [`lint`]: least-privilege findings.

pub mod entra;
pub mod lint;
pub mod rbac;

pub use entra::{ServicePrincipal, SignIn, sign_in};
pub use rbac::{Assignment, DataDecision, RoleDefinition, Vault, allows, authorize};
