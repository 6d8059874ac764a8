//! What a KMS call did, as the mock logs it.

/// The kind of a call in the mock's call log. The mock decides it from the operation it
/// answered, so readers of the log never match the clouds' operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// Encrypt with a key: AWS `Encrypt`/`GenerateDataKey`, GCP `encrypt`, Azure
    /// `encrypt`/`wrapkey`.
    Wrap,
    /// Decrypt with a key: AWS `Decrypt`, GCP `decrypt`, Azure `decrypt`/`unwrapkey`.
    Unwrap,
    /// A sign-in: AWS STS `AssumeRole`, GCP STS `token` and `generateAccessToken`, Entra ID
    /// `token`.
    SignIn,
    /// Reading key metadata: describe, get, list.
    Describe,
    /// Changing a key: create, enable, disable, rotate, schedule deletion, aliases.
    Manage,
    /// A call a cloud made on its own behalf to a service outside it: the hop between AWS KMS
    /// and an external key store's proxy (the call log's `hop` says which side).
    Hop,
    /// Anything else (the lab's own identity endpoints, unknown operations).
    Other,
}

impl CallKind {}

impl crate::Vocabulary for CallKind {
    const WHAT: &'static str = "call kind";
    /// Every kind with its word (the call log's `kind`).
    const WORDS: &'static [(&'static str, Self)] = &[
        ("wrap", CallKind::Wrap),
        ("unwrap", CallKind::Unwrap),
        ("sign-in", CallKind::SignIn),
        ("describe", CallKind::Describe),
        ("manage", CallKind::Manage),
        ("hop", CallKind::Hop),
        ("other", CallKind::Other),
    ];
}

crate::vocabulary!(CallKind);
