//! Which calls a fault hits: a cloud, optionally narrowed to an operation class and a key.

use crate::{CallKind, Cloud, Vocabulary};

/// Which operations a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FaultOperation {
    /// Encrypt and decrypt calls (the wire's absent `operation`).
    #[default]
    Crypto,
    /// Encrypt / wrap calls (`encrypt`).
    Encrypt,
    /// Decrypt / unwrap calls (`decrypt`).
    Decrypt,
    /// Sign-ins: STS and token endpoints (`auth`).
    Auth,
    /// Every call of the cloud, admin and metadata calls included (`*`).
    Any,
}

impl FaultOperation {
    /// Whether a call of this kind is hit.
    pub fn covers(self, kind: CallKind) -> bool {
        matches!(
            (self, kind),
            (FaultOperation::Any, _)
                | (FaultOperation::Crypto, CallKind::Wrap | CallKind::Unwrap)
                | (FaultOperation::Encrypt, CallKind::Wrap)
                | (FaultOperation::Decrypt, CallKind::Unwrap)
                | (FaultOperation::Auth, CallKind::SignIn)
        )
    }

    /// A label for people: the wire word, or `encrypt+decrypt`.
    pub fn label(self) -> &'static str {
        match self {
            FaultOperation::Crypto => "encrypt+decrypt",
            other => other.word(),
        }
    }
}

impl Vocabulary for FaultOperation {
    const WHAT: &'static str = "fault operation";
    /// The wire words of the operations that have one (`Crypto` is the absent `operation`).
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", FaultOperation::Encrypt),
        ("decrypt", FaultOperation::Decrypt),
        ("auth", FaultOperation::Auth),
        ("*", FaultOperation::Any),
    ];
}

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaultScope {
    /// The cloud whose calls are hit (a fault never spans clouds).
    pub cloud: Cloud,
    /// Which of the cloud's calls are hit, by what they do ([`FaultOperation::covers`]).
    pub operation: FaultOperation,
    /// Only calls on this key (lab name); `None` = every key. Sign-ins concern no key and are
    /// hit only by faults without one.
    pub key: Option<String>,
}

impl FaultScope {
    /// Encrypt and decrypt calls on every key of `cloud`.
    pub fn cloud(cloud: Cloud) -> Self {
        Self {
            cloud,
            operation: FaultOperation::Crypto,
            key: None,
        }
    }

    /// Whether a call of `kind` on `key` in `cloud` is hit.
    pub fn matches(&self, cloud: Cloud, kind: CallKind, key: Option<&str>) -> bool {
        let key_matches = match (&self.key, key) {
            (None, _) => true,
            (Some(wanted), Some(key)) => wanted == key,
            (Some(_), None) => false,
        };
        self.cloud == cloud && self.operation.covers(kind) && key_matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_cover_call_kinds() {
        use CallKind::*;
        let covered = |op: FaultOperation| {
            [Wrap, Unwrap, SignIn, Describe, Manage, Other]
                .into_iter()
                .filter(|kind| op.covers(*kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(covered(FaultOperation::Crypto), [Wrap, Unwrap]);
        assert_eq!(covered(FaultOperation::Encrypt), [Wrap]);
        assert_eq!(covered(FaultOperation::Decrypt), [Unwrap]);
        assert_eq!(covered(FaultOperation::Auth), [SignIn]);
        assert_eq!(covered(FaultOperation::Any).len(), 6);
        let scope = FaultScope {
            key: Some("a".into()),
            ..FaultScope::cloud(Cloud::Gcp)
        };
        assert!(scope.matches(Cloud::Gcp, Wrap, Some("a")));
        assert!(!scope.matches(Cloud::Gcp, Wrap, Some("b")));
        assert!(!scope.matches(Cloud::Gcp, Wrap, None));
        assert!(!scope.matches(Cloud::Aws, Wrap, Some("a")));
    }
}
