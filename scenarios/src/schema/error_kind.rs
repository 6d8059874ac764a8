//! The kinds of error an outcome or an `unreadable:` entry can name.

use ekm_vocab::KmsErrorKind;
use serde::Serialize;

use super::words::{Vocabulary, vocabulary_deserialize};

/// The kinds of error an outcome can name: the engine's KMS error classes, plus the engine's
/// own refusals and the lab refusing a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorKind {
    /// The service identity may not use the key.
    AccessDenied,
    /// The key is disabled.
    KeyDisabled,
    /// The key does not exist (Azure: also pending deletion or destroyed).
    KeyNotFound,
    /// The key is destroyed or pending deletion.
    KeyDestroyed,
    /// The KMS rate-limited the call.
    Throttled,
    /// The KMS did not answer.
    Unavailable,
    /// The KMS refused the eDEK (another key's, e.g. after an alias swap).
    InvalidCiphertext,
    /// The service identity could not authenticate (trust removed).
    Authentication,
    /// The KMS refused the request for a reason retrying cannot fix (a validation error, a key of
    /// the wrong usage, an unexpected 4xx).
    Rejected,
    /// The request did not reach the KMS.
    Transport,
    /// No key registered for the project owns the envelope's key (after a switch-key).
    UnknownKey,
    /// The project has no key to seal with.
    NoProvider,
    /// The envelope is malformed or opened with the wrong context; or the content differs.
    Envelope,
    /// The object store failed.
    Store,
    /// The mock KMS refused a key or fault change.
    Refused,
    /// Anything else.
    Other,
}

impl From<KmsErrorKind> for ErrorKind {
    fn from(kind: KmsErrorKind) -> Self {
        match kind {
            KmsErrorKind::AccessDenied => ErrorKind::AccessDenied,
            KmsErrorKind::KeyDisabled => ErrorKind::KeyDisabled,
            KmsErrorKind::KeyNotFound => ErrorKind::KeyNotFound,
            KmsErrorKind::KeyDestroyed => ErrorKind::KeyDestroyed,
            KmsErrorKind::Throttled => ErrorKind::Throttled,
            KmsErrorKind::Unavailable => ErrorKind::Unavailable,
            KmsErrorKind::InvalidCiphertext => ErrorKind::InvalidCiphertext,
            KmsErrorKind::Authentication => ErrorKind::Authentication,
            KmsErrorKind::Rejected => ErrorKind::Rejected,
            KmsErrorKind::Transport => ErrorKind::Transport,
            _ => ErrorKind::Other,
        }
    }
}

impl Vocabulary for ErrorKind {
    const WHAT: &'static str = "error kind";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("AccessDenied", ErrorKind::AccessDenied),
        ("KeyDisabled", ErrorKind::KeyDisabled),
        ("KeyNotFound", ErrorKind::KeyNotFound),
        ("KeyDestroyed", ErrorKind::KeyDestroyed),
        ("Throttled", ErrorKind::Throttled),
        ("Unavailable", ErrorKind::Unavailable),
        ("InvalidCiphertext", ErrorKind::InvalidCiphertext),
        ("Authentication", ErrorKind::Authentication),
        ("Rejected", ErrorKind::Rejected),
        ("Transport", ErrorKind::Transport),
        ("UnknownKey", ErrorKind::UnknownKey),
        ("NoProvider", ErrorKind::NoProvider),
        ("Envelope", ErrorKind::Envelope),
        ("Store", ErrorKind::Store),
        ("Refused", ErrorKind::Refused),
        ("Other", ErrorKind::Other),
    ];
}
vocabulary_deserialize!(ErrorKind);
