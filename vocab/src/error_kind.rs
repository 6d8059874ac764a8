//! The classes of KMS failure.

/// What kind of failure a KMS call ended in, whichever cloud answered. The engine classifies
/// each provider's errors into these (`ekm_engine::KmsError::kind()`), as `std::io::Error` does
/// with `io::ErrorKind`; the scenarios, the console and the tests read the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// The service identity may not use the key (policy, role assignment or grant removed).
    AccessDenied,
    /// The key (or the requested version) is disabled.
    KeyDisabled,
    /// The key does not exist (or is not visible to the service identity).
    KeyNotFound,
    /// The key material is destroyed or scheduled for deletion.
    KeyDestroyed,
    /// The KMS rate-limited the call.
    Throttled,
    /// The KMS (or the key's backing store) did not answer.
    Unavailable,
    /// The KMS refused the eDEK: corrupt, made by another key, or a different context.
    InvalidCiphertext,
    /// The service identity could not authenticate (trust removed, bad credentials).
    Authentication,
    /// The KMS refused the request for a reason retrying cannot fix and that is not a
    /// revocation: a validation error, a key of the wrong usage or spec, an unexpected 4xx.
    Rejected,
    /// The request did not reach the KMS or its answer was unreadable.
    Transport,
}

impl KmsErrorKind {
    /// A short lowercase phrase for people (`access denied`, `key disabled`).
    pub fn phrase(self) -> &'static str {
        match self {
            KmsErrorKind::AccessDenied => "access denied",
            KmsErrorKind::KeyDisabled => "key disabled",
            KmsErrorKind::KeyNotFound => "key not found",
            KmsErrorKind::KeyDestroyed => "key destroyed",
            KmsErrorKind::Throttled => "throttled",
            KmsErrorKind::Unavailable => "unavailable",
            KmsErrorKind::InvalidCiphertext => "invalid ciphertext",
            KmsErrorKind::Authentication => "auth failed",
            KmsErrorKind::Rejected => "request rejected",
            KmsErrorKind::Transport => "transport error",
        }
    }
}

impl crate::Vocabulary for KmsErrorKind {
    const WHAT: &'static str = "error kind";
    /// Every kind with its word (`AccessDenied`, as scenario files write it).
    const WORDS: &'static [(&'static str, Self)] = &[
        ("AccessDenied", KmsErrorKind::AccessDenied),
        ("KeyDisabled", KmsErrorKind::KeyDisabled),
        ("KeyNotFound", KmsErrorKind::KeyNotFound),
        ("KeyDestroyed", KmsErrorKind::KeyDestroyed),
        ("Throttled", KmsErrorKind::Throttled),
        ("Unavailable", KmsErrorKind::Unavailable),
        ("InvalidCiphertext", KmsErrorKind::InvalidCiphertext),
        ("Authentication", KmsErrorKind::Authentication),
        ("Rejected", KmsErrorKind::Rejected),
        ("Transport", KmsErrorKind::Transport),
    ];
}

crate::vocabulary!(KmsErrorKind);
