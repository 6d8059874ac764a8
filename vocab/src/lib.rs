//! `ekm-vocab`: the words of EKM Lab, one type per idea, shared by the mock KMS, the engine, the
//! lab, the scenarios and the console. It depends on nothing of theirs, so every crate can use it.
//!
//! # Layout
//! - [`Cloud`]: AWS, GCP or Azure.
//! - [`KeyAction`]: a lifecycle action the key's owner takes (rotate, disable, revoke trust, …).
//! - [`VersionAction`]: the owner's action on one version of a key (disable, enable, destroy,
//!   restore), GCP and Azure only.
//! - [`Fault`]: an injected failure — a [`FaultScope`] (cloud, operation, key), one
//!   [`FaultEffect`] (latency, error rate, throttle or outage) and an optional lab-time window;
//!   valid by construction, with the control API's wire shape (`PUT /_mock/v1/faults`) as serde.
//! - [`CallKind`]: what a logged KMS call did (wrap, unwrap, sign-in, …), decided by the mock.
//! - [`ExternalKeyAction`], [`HealthStatus`]: the customer's actions on a key of their own
//!   external key manager, and its HSM fleet's health.
//! - [`KmsErrorKind`]: the class of a KMS failure as the engine sees it
//!   (`ekm_engine::KmsError::kind()`).
//!
//! - [`Vocabulary`]: a closed set of words, each mapped onto a value in one table; every word
//!   type above is one (and so are the scenario files' own words, in `ekm-scenarios`).
//!
//! Each word type parses from and prints as its wire word (`schedule-deletion`, `aws`), and an
//! unknown word is an [`UnknownWord`] that suggests the nearest valid one or lists them all
//! ("unknown provider `awz` — did you mean `aws`?").

mod call;
mod cloud;
mod error_kind;
mod external;
mod fault;
mod key_action;
mod word;

pub use call::CallKind;
pub use cloud::Cloud;
pub use error_kind::KmsErrorKind;
pub use external::{ExternalKeyAction, HealthStatus};
pub use fault::{
    Fault, FaultEffect, FaultOperation, FaultScope, InjectedError, InvalidFault, Latency,
    MAX_LATENCY, Probability, Throttle,
};
pub use key_action::{KeyAction, VersionAction};
pub use word::{UnknownWord, Vocabulary, deserialize_word, suggest};
