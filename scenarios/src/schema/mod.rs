//! The scenario file format: what a YAML scenario may say, as Rust types.
//!
//! Every struct refuses unknown fields. A step is a map with a time (`at:` or `after:`), an
//! optional `note:` and `expect:`, and exactly one action, whose name is the remaining key
//! (`rotate: aws-demo`). Names with a fixed vocabulary (actions, providers, error kinds, fault
//! operations) are matched exactly and a near miss gets a suggestion ("unknown action `rotat` —
//! did you mean `rotate`?"). The crate documentation shows a whole file; [`crate::validate`]
//! checks what the types cannot (references, times going backwards).
//!
//! # Layout
//! - this module: the document root ([`Scenario`]: engine timings, hop timeout, invariants).
//! - `keys`: the extra keys and the named objects a scenario declares, the demo keys' names.
//! - `step`: a step of the timeline ([`Step`], [`StepTime`]) and how a step map is read.
//! - `action`: the actions a step takes and their argument maps.
//! - `access`: the customer's access documents (set up and edited), other projects on the
//!   same service.
//! - `fault`: fault windows on a cloud's calls and their words.
//! - `external`: the customer's external key manager — external key actions, HSM fleet health,
//!   faults on the hop to its proxy.
//! - `expect`: what a step expects (outcomes, readability, KMS and hop call counts, caches,
//!   key states).
//! - `error_kind`: the error kinds an outcome can name (ekm-vocab's KMS kinds and a few more).
//! - `words`: one value or a list, and the look-ups of the scenario-only word tables.
//!
//! Every word maps onto the vocabulary in one table: clouds, key actions, KMS error kinds and
//! injected errors are ekm-vocab's tables ([`Cloud`], [`KeyAction`], [`KmsErrorKind`],
//! [`ekm_vocab::InjectedError`], [`ExternalKeyAction`], [`HealthStatus`], [`VersionAction`]); the tables here hold only the words a scenario alone has
//! (its other actions and error kinds, call and hop operations, key states, the external key
//! manager's hop faults, `any` for every fault operation where the control API says `*`).

mod access;
mod action;
mod error_kind;
mod expect;
mod external;
mod fault;
mod keys;
mod step;
mod words;

use std::collections::BTreeMap;

use ekm_engine::config::EngineSettings;
pub use ekm_lab::HopErrorName;
pub use ekm_vocab::{
    Cloud, ExternalKeyAction, HealthStatus, KeyAction, KmsErrorKind, UnknownWord, VersionAction,
    Vocabulary, suggest,
};
use serde::Deserialize;

pub use access::{
    AccessDocuments, AccessEdit, AccessWord, Assignment, AwsDocuments, AzureDocuments, AzureScope,
    Binding, DeleteServicePrincipal, Document, GcpDocuments, PolicyWord, ProjectDecl, PutStatement,
    RemoveStatement,
};
pub use action::{Action, AliasSwap, SwitchKey, Traffic, VersionStep};
pub use error_kind::ErrorKind;
pub use expect::{
    CacheExpectation, CallExpectation, CallOp, CallOutcome, Count, Expect, HopExpectation, HopOp,
    HopOutcome, KeyStateWord, Outcome, Unreadable, VolumeExpectation,
};
pub use external::{ExternalKeyStep, HopError, HopFault, HopFaultWord, HsmFleet};
pub use fault::{Fault, FaultKind, FaultScope, fault_op_word};
pub use keys::{KeyDecl, ObjectDecl, demo_key};
pub use step::{Step, StepTime};
pub use words::OneOrMany;

use crate::time::LabDuration;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in reports and used as the test case name.
    pub name: String,
    /// The story the scenario tells, in prose.
    pub description: String,
    /// Engine timings (`dek_rotation`, `revalidate_after`, `cache_capacity`); the engine's
    /// defaults (24 h, 1 h, 10 000) when absent.
    #[serde(default)]
    pub engine: Option<EngineSettings>,
    /// The clouds the story covers; when absent, the ones its objects and actions name.
    #[serde(default)]
    pub providers: Option<Vec<Cloud>>,
    /// Keys to create at the start besides the demo keys (`aws-demo` with alias `ekm-demo`,
    /// `gcp-demo`, `azure-demo`), each trusted and granted like its provider's demo key.
    #[serde(default)]
    pub keys: Vec<KeyDecl>,
    /// How long the clouds wait for the external key manager's proxy (`hop_timeout: 250ms`, the
    /// XKS specification's timeout, when absent).
    #[serde(default)]
    pub hop_timeout: Option<LabDuration>,
    /// The customer's access documents the scenario starts with, per cloud (each replaces the
    /// demo tenant's; inline or `{file: PATH}` relative to the scenario).
    #[serde(default)]
    pub access: Option<AccessDocuments>,
    /// Other EKM projects reaching the lab's keys through the same service (another customer's
    /// project, another workload on the same issuer), by name, for objects' `project:`.
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectDecl>,
    /// Named objects: which provider's project seals them and what they contain.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectDecl>,
    /// Many customer projects served by several replicas, for `fleet-traffic` steps.
    #[serde(default)]
    pub fleet: Option<crate::fleet::FleetSpec>,
    /// Properties checked after every step.
    #[serde(default)]
    pub invariants: Invariants,
    /// The timeline.
    pub steps: Vec<Step>,
}

/// Global properties (`invariants:`), checked after every step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invariants {
    /// Once this long has passed since a revocation (disable, schedule-deletion, destroy,
    /// revoke-access, revoke-trust, alias-swap, switch-key) that was not undone, every object
    /// sealed under the revoked key must be unreadable.
    #[serde(default)]
    pub revocation_effective_within: Option<LabDuration>,
    /// Objects are kept in a real directory, and no file in it may contain any DEK the
    /// scenario's envelopes carry (raw, hex or base64), as recovered by the key owner.
    #[serde(default)]
    pub no_plaintext_dek_on_disk: bool,
}
