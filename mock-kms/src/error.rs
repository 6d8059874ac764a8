//! The lab's own error type. Each cloud front-end renders it in that cloud's dialect (AWS
//! `__type` JSON, GCP `{"error":{"status"}}`, Azure `{"error":{"code","innererror"}}`), and the
//! control API as `{"error": "..."}`.

use time::OffsetDateTime;

use crate::keys::KeyState;

/// Why the lab refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// No key with that name, id or alias.
    #[error("key `{0}` does not exist")]
    KeyNotFound(String),
    /// The key is disabled.
    #[error("key `{0}` is disabled")]
    KeyDisabled(String),
    /// The key is scheduled for deletion.
    #[error("key `{key}` is pending deletion (scheduled for {deletion_date})")]
    KeyPendingDeletion {
        /// Lab name.
        key: String,
        /// When it will be destroyed.
        deletion_date: OffsetDateTime,
    },
    /// The key's material is destroyed.
    #[error("key `{0}` is destroyed")]
    KeyDestroyed(String),
    /// The caller lacks the policy / role assignment for the action.
    #[error("the caller is not allowed to {action} with key `{key}`")]
    AccessDenied {
        /// Lab name.
        key: String,
        /// The action, in the cloud's words (`kms:Decrypt`, `useToEncrypt`, `decrypt`).
        action: String,
    },
    /// The ciphertext is malformed, tampered with, or the context/AAD does not match.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// The ciphertext was made by another key than the one named.
    #[error("ciphertext was made by key `{ciphertext_key}`, not `{requested}`")]
    IncorrectKey {
        /// The key the caller named.
        requested: String,
        /// The key the ciphertext names.
        ciphertext_key: String,
    },
    /// The key cannot do this (EC keys refuse encryption, as the real services do).
    #[error("key `{key}` cannot do this: {reason}")]
    UnsupportedOperation {
        /// Lab name.
        key: String,
        /// Why.
        reason: String,
    },
    /// A key with that name already exists.
    #[error("key `{0}` already exists")]
    AlreadyExists(String),
    /// The request is malformed or names something invalid.
    #[error("{0}")]
    InvalidRequest(String),
    /// The key's state forbids this lifecycle change (e.g. enabling a destroyed key).
    #[error("key `{key}` is {state}: {reason}")]
    InvalidState {
        /// Lab name.
        key: String,
        /// The current state name.
        state: &'static str,
        /// Why the change is refused.
        reason: String,
    },
    /// The key has no version with that id.
    #[error("key `{key}` has no version `{version}`")]
    VersionNotFound {
        /// Lab name.
        key: String,
        /// The version id asked for.
        version: String,
    },
    /// The version is disabled, scheduled for destruction or destroyed: it encrypts and decrypts
    /// nothing.
    #[error("version `{version}` of key `{key}` is {}", state.as_str())]
    VersionNotEnabled {
        /// Lab name.
        key: String,
        /// The version id.
        version: String,
        /// Its state.
        state: KeyState,
    },
    /// The version's state forbids this change (e.g. restoring an enabled version).
    #[error("version `{version}` of key `{key}` is {}: {reason}", state.as_str())]
    VersionState {
        /// Lab name.
        key: String,
        /// The version id.
        version: String,
        /// Its current state.
        state: KeyState,
        /// Why the change is refused.
        reason: String,
    },
    /// Something inside the lab failed (RNG, persistence).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ekm_vocab::UnknownWord> for StateError {
    fn from(error: ekm_vocab::UnknownWord) -> Self {
        StateError::InvalidRequest(error.to_string())
    }
}

impl From<ekm_vocab::InvalidFault> for StateError {
    fn from(error: ekm_vocab::InvalidFault) -> Self {
        StateError::InvalidRequest(error.to_string())
    }
}
