//! The seam to a customer's KMS: the [`KeyEncryptionKey`] trait, the [`KeyReference`] stamped into
//! envelopes and the [`KmsError`] every provider maps its cloud's failures into.
//!
//! A KEK provider does two things with one customer key: *wrap* a DEK into an eDEK (KMS Encrypt)
//! and *unwrap* an eDEK back into the DEK (KMS Decrypt). It never generates keys (no
//! GenerateDataKey, DESIGN.md §2) and never sees the data. The engine caches, rotates and
//! re-validates around it, so a provider is a thin translation of these two calls and their errors
//! into one cloud's API; the AWS, GCP and Azure providers plug in here.
//!
//! An in-memory provider that can be disabled, revoked, throttled or taken down lives in
//! [`memory`], for tests only (`test-support` feature). [`session`] renews the cloud
//! providers' sign-in sessions on the lab clock.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ekm_vocab::KmsErrorKind;

use crate::dek::Dek;
use crate::envelope::EncryptionContext;

pub mod aws;
pub mod azure;
pub mod gcp;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod session;

/// The future a provider returns from [`KeyEncryptionKey::wrap`] / [`KeyEncryptionKey::unwrap`].
pub type KmsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KmsError>> + Send + 'a>>;

/// A customer key encryption key in some KMS.
///
/// The engine calls [`wrap`](Self::wrap) when it creates a DEK on the encrypt path and
/// [`unwrap`](Self::unwrap) on a decrypt-path cache miss and to re-validate the active DEK. The
/// `context` is the DEK's wrap context (`{"ekm:project": <project id>}`): providers send it as the
/// KMS's additional authenticated data where the cloud supports it (AWS EncryptionContext, GCP
/// additionalAuthenticatedData) and must require the same context on unwrap.
pub trait KeyEncryptionKey: Send + Sync + fmt::Debug {
    /// The provider kind and key id written into every envelope sealed under this key.
    fn key_reference(&self) -> &KeyReference;

    /// Encrypts `dek` under the KEK's primary version.
    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek>;

    /// Decrypts an eDEK this key produced. `key_version` is the hint [`wrap`](Self::wrap)
    /// returned (possibly from an older key version); providers may use or ignore it.
    fn unwrap<'a>(
        &'a self,
        edek: &'a [u8],
        key_version: &'a str,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, Dek>;
}

/// A failed KMS call, and whether new credentials could fix it.
#[derive(Debug)]
pub(crate) struct CallFailure {
    /// What the call reports.
    pub(crate) error: KmsError,
    /// The credentials were refused (or could not be obtained): a new session may succeed.
    pub(crate) renew: bool,
}

impl From<KmsError> for CallFailure {
    fn from(error: KmsError) -> Self {
        let renew = error.is_authentication();
        Self { error, renew }
    }
}

/// What a KMS returned for a wrap: the eDEK and the key version that made it.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDek {
    /// The encrypted DEK, opaque to the engine.
    pub edek: Vec<u8>,
    /// The exact key version used (AWS: the key ARN the KMS answered with; GCP: the
    /// `cryptoKeyVersions/N` name; Azure: the versioned key id). Stored in the envelope header.
    pub key_version: String,
}

impl fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDek")
            .field("edek_len", &self.edek.len())
            .field("key_version", &self.key_version)
            .finish()
    }
}

/// Which KMS key an envelope names: the provider kind (`aws`, `gcp`, `azure`, `memory`, …) and
/// the key's id in that provider (AWS key or alias ARN, GCP `cryptoKeys` resource name, Azure key
/// id). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyReference(Arc<KeyReferenceParts>);

#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
struct KeyReferenceParts {
    provider: String,
    key: String,
}

impl KeyReference {
    /// A reference to `key` at `provider`.
    pub fn new(provider: impl Into<String>, key: impl Into<String>) -> Self {
        Self(Arc::new(KeyReferenceParts {
            provider: provider.into(),
            key: key.into(),
        }))
    }

    /// The provider kind, e.g. `aws`.
    pub fn provider(&self) -> &str {
        &self.0.provider
    }

    /// The key's id in its provider.
    pub fn key(&self) -> &str {
        &self.0.key
    }
}

impl fmt::Display for KeyReference {
    /// `provider:key`, e.g. `aws:arn:aws:kms:…:key/…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider(), self.key())
    }
}

impl fmt::Debug for KeyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyReference({self})")
    }
}

/// The two KMS operations the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsOp {
    /// KMS Encrypt of a DEK.
    Wrap,
    /// KMS Decrypt of an eDEK.
    Unwrap,
}

impl fmt::Display for KmsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wrap => "wrap",
            Self::Unwrap => "unwrap",
        })
    }
}

/// A KMS failure, as every provider reports it. Each `message` names the provider, the key and
/// what the KMS said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// The service identity may not use the key (policy, role assignment or grant removed).
    #[error("access denied: {message}")]
    AccessDenied {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The key (or the requested version) is disabled.
    #[error("key disabled: {message}")]
    KeyDisabled {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The key does not exist (or is not visible to the service identity).
    #[error("key not found: {message}")]
    KeyNotFound {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The key material is destroyed or scheduled for deletion.
    #[error("key destroyed: {message}")]
    KeyDestroyed {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The KMS rate-limited the call.
    #[error("throttled: {message}")]
    Throttled {
        /// What happened, naming provider and key.
        message: String,
        /// How long the KMS asked the caller to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The KMS (or the key's backing store) did not answer.
    #[error("KMS unavailable: {message}")]
    Unavailable {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The KMS refused the eDEK: corrupt, made by another key, or a different context.
    #[error("invalid ciphertext: {message}")]
    InvalidCiphertext {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The service identity could not authenticate (trust removed, bad credentials, STS refused).
    #[error("authentication failed: {message}")]
    Authentication {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The KMS refused the request for a reason retrying cannot fix and that is not a
    /// revocation: a validation error, a key of the wrong usage or spec, a precondition other
    /// than the key's state, an unexpected 4xx.
    #[error("request rejected: {message}")]
    Rejected {
        /// What happened, naming provider and key.
        message: String,
    },
    /// The request did not reach the KMS or its answer was unreadable.
    #[error("transport error: {message}")]
    Transport {
        /// What happened, naming provider and key.
        message: String,
    },
}

impl KmsError {
    /// The class of failure, whichever cloud answered (as `io::Error::kind`).
    pub fn kind(&self) -> KmsErrorKind {
        match self {
            Self::AccessDenied { .. } => KmsErrorKind::AccessDenied,
            Self::KeyDisabled { .. } => KmsErrorKind::KeyDisabled,
            Self::KeyNotFound { .. } => KmsErrorKind::KeyNotFound,
            Self::KeyDestroyed { .. } => KmsErrorKind::KeyDestroyed,
            Self::Throttled { .. } => KmsErrorKind::Throttled,
            Self::Unavailable { .. } => KmsErrorKind::Unavailable,
            Self::InvalidCiphertext { .. } => KmsErrorKind::InvalidCiphertext,
            Self::Authentication { .. } => KmsErrorKind::Authentication,
            Self::Rejected { .. } => KmsErrorKind::Rejected,
            Self::Transport { .. } => KmsErrorKind::Transport,
        }
    }

    /// The customer has taken the key away (access, disable, delete, destroy): cached material
    /// derived from it is dropped at once and the operation fails.
    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            Self::AccessDenied { .. }
                | Self::KeyDisabled { .. }
                | Self::KeyNotFound { .. }
                | Self::KeyDestroyed { .. }
        )
    }

    /// Worth retrying after a short backoff: throttling, outages and transport failures.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Unavailable { .. } | Self::Transport { .. }
        )
    }

    /// The service identity could not authenticate (DESIGN.md §4: failed STS surfaces here).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Authentication { .. })
    }

    /// How long the KMS asked to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_are_disjoint() {
        let denied = KmsError::AccessDenied {
            message: "aws key k: AccessDeniedException".into(),
        };
        let throttled = KmsError::Throttled {
            message: "gcp key k: RESOURCE_EXHAUSTED".into(),
            retry_after: Some(Duration::from_millis(5)),
        };
        let auth = KmsError::Authentication {
            message: "azure: invalid_client".into(),
        };
        assert!(denied.is_revocation() && !denied.is_transient());
        assert!(throttled.is_transient() && !throttled.is_revocation());
        assert_eq!(throttled.retry_after(), Some(Duration::from_millis(5)));
        assert!(auth.is_authentication() && !auth.is_transient() && !auth.is_revocation());
        assert!(denied.to_string().contains("AccessDeniedException"));
    }

    #[test]
    fn key_reference_displays_provider_and_key() {
        let key = KeyReference::new("aws", "arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(key.to_string(), "aws:arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(key.provider(), "aws");
    }
}
