//! An in-memory KEK for tests (`test-support` feature): real AES-256-GCM wrapping under versioned
//! key material held in process, with switches for everything a customer or an outage can do to a
//! key, and call counters.
//!
//! Failures are checked in this order on every call: latency, outage, throttling, access, key
//! state. The eDEK is `version (u32) ‖ nonce (12) ‖ ciphertext ‖ tag`, with the wrap context's
//! canonical encoding as AAD, so an eDEK only unwraps under the context it was wrapped with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use zeroize::Zeroizing;

use super::{KeyEncryptionKey, KeyReference, KmsError, KmsFuture, WrappedDek};
use crate::crypto::{self, AeadKey, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::dek::Dek;
use crate::envelope::EncryptionContext;

/// The lifecycle state of a [`MemoryKek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKeyState {
    /// Usable.
    Enabled,
    /// Disabled by the customer: every call fails with [`KmsError::KeyDisabled`].
    Disabled,
    /// Key material destroyed: every call fails with [`KmsError::KeyDestroyed`].
    Destroyed,
}

/// An in-memory key encryption key with switchable failures. See the [module docs](self).
pub struct MemoryKek {
    reference: KeyReference,
    state: Mutex<State>,
    wraps: AtomicU64,
    unwraps: AtomicU64,
}

struct State {
    versions: Vec<Zeroizing<[u8; KEY_LEN]>>,
    key_state: MemoryKeyState,
    access: bool,
    outage: bool,
    throttled_calls: u32,
    retry_after: Option<Duration>,
    latency: Duration,
}

impl MemoryKek {
    /// A new enabled key `memory://keys/{name}` with one version.
    pub fn new(name: &str) -> Self {
        Self {
            reference: KeyReference::new("memory", format!("memory://keys/{name}")),
            state: Mutex::new(State {
                versions: vec![fresh_version()],
                key_state: MemoryKeyState::Enabled,
                access: true,
                outage: false,
                throttled_calls: 0,
                retry_after: None,
                latency: Duration::ZERO,
            }),
            wraps: AtomicU64::new(0),
            unwraps: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a key version and makes it primary; eDEKs of older versions still unwrap.
    pub fn rotate(&self) {
        self.state().versions.push(fresh_version());
    }

    /// Sets the key's lifecycle state.
    pub fn set_state(&self, key_state: MemoryKeyState) {
        self.state().key_state = key_state;
    }

    /// Grants (`true`) or revokes (`false`) the service's access: revoked calls fail with
    /// [`KmsError::AccessDenied`].
    pub fn set_access(&self, access: bool) {
        self.state().access = access;
    }

    /// Starts (`true`) or ends an outage: calls fail with [`KmsError::Unavailable`].
    pub fn set_outage(&self, outage: bool) {
        self.state().outage = outage;
    }

    /// Fails the next `calls` calls with [`KmsError::Throttled`] carrying `retry_after`.
    pub fn throttle_next(&self, calls: u32, retry_after: Option<Duration>) {
        let mut state = self.state();
        state.throttled_calls = calls;
        state.retry_after = retry_after;
    }

    /// Makes every call take `latency` of real time first.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Wrap calls made so far, failed ones included.
    pub fn wrap_calls(&self) -> u64 {
        self.wraps.load(Ordering::SeqCst)
    }

    /// Unwrap calls made so far, failed ones included.
    pub fn unwrap_calls(&self) -> u64 {
        self.unwraps.load(Ordering::SeqCst)
    }

    fn version_name(&self, index: usize) -> String {
        format!("{}/versions/{}", self.reference.key(), index + 1)
    }

    fn error_message(&self, what: &str) -> String {
        format!("memory key {}: {what}", self.reference.key())
    }

    /// Waits out the latency, then applies the failure switches; on success returns the key
    /// material of every version (primary last).
    async fn admit(&self) -> Result<Vec<Zeroizing<[u8; KEY_LEN]>>, KmsError> {
        let latency = self.state().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut state = self.state();
        if state.outage {
            return Err(KmsError::Unavailable {
                message: self.error_message("outage"),
            });
        }
        if state.throttled_calls > 0 {
            state.throttled_calls -= 1;
            return Err(KmsError::Throttled {
                message: self.error_message("rate exceeded"),
                retry_after: state.retry_after,
            });
        }
        if !state.access {
            return Err(KmsError::AccessDenied {
                message: self.error_message("the service has no access to this key"),
            });
        }
        match state.key_state {
            MemoryKeyState::Enabled => Ok(state.versions.clone()),
            MemoryKeyState::Disabled => Err(KmsError::KeyDisabled {
                message: self.error_message("key is disabled"),
            }),
            MemoryKeyState::Destroyed => Err(KmsError::KeyDestroyed {
                message: self.error_message("key material is destroyed"),
            }),
        }
    }

    fn invalid(&self, what: &str) -> KmsError {
        KmsError::InvalidCiphertext {
            message: self.error_message(what),
        }
    }

    fn aad(&self, context: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        context.encode().map_err(|e| self.invalid(&e.to_string()))
    }
}

fn fresh_version() -> Zeroizing<[u8; KEY_LEN]> {
    // Test-only key material: fall back to a fixed pattern only if the OS RNG is broken, which
    // would make every other test fail loudly anyway.
    Zeroizing::new(crypto::random_array().unwrap_or([0x5a; KEY_LEN]))
}

const VERSION_LEN: usize = 4;

impl KeyEncryptionKey for MemoryKek {
    fn key_reference(&self) -> &KeyReference {
        &self.reference
    }

    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek> {
        Box::pin(async move {
            self.wraps.fetch_add(1, Ordering::SeqCst);
            let versions = self.admit().await?;
            let aad = self.aad(context)?;
            let index = versions.len() - 1;
            let material = versions
                .last()
                .ok_or_else(|| self.invalid("no key versions"))?;
            let nonce: [u8; NONCE_LEN] =
                crypto::random_array().map_err(|e| KmsError::Unavailable {
                    message: self.error_message(&e.to_string()),
                })?;
            let version = u32::try_from(index).map_err(|_| self.invalid("too many versions"))?;
            let mut edek = Vec::with_capacity(VERSION_LEN + NONCE_LEN + KEY_LEN + TAG_LEN);
            edek.extend_from_slice(&version.to_be_bytes());
            edek.extend_from_slice(&nonce);
            let start = edek.len();
            edek.resize(start + KEY_LEN, 0);
            let tag = AeadKey::new(material)
                .seal_into(nonce, &aad, dek.expose_secret(), &mut edek[start..])
                .map_err(|_| self.invalid("wrap failed"))?;
            edek.extend_from_slice(&tag);
            Ok(WrappedDek {
                edek,
                key_version: self.version_name(index),
            })
        })
    }

    fn unwrap<'a>(
        &'a self,
        edek: &'a [u8],
        _key_version: &'a str,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, Dek> {
        Box::pin(async move {
            self.unwraps.fetch_add(1, Ordering::SeqCst);
            let versions = self.admit().await?;
            let aad = self.aad(context)?;
            if edek.len() != VERSION_LEN + NONCE_LEN + KEY_LEN + TAG_LEN {
                return Err(self.invalid("eDEK has the wrong length"));
            }
            let (version, rest) = edek.split_at(VERSION_LEN);
            let (nonce, rest) = rest.split_at(NONCE_LEN);
            let (ciphertext, tag) = rest.split_at(KEY_LEN);
            let version =
                u32::from_be_bytes(version.try_into().map_err(|_| self.invalid("version"))?);
            let material = usize::try_from(version)
                .ok()
                .and_then(|v| versions.get(v))
                .ok_or_else(|| self.invalid("unknown key version"))?;
            let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| self.invalid("nonce"))?;
            let mut plaintext = Zeroizing::new([0u8; KEY_LEN]);
            AeadKey::new(material)
                .open_into(nonce, &aad, ciphertext, tag, plaintext.as_mut())
                .map_err(|_| {
                    self.invalid("eDEK does not authenticate under this key and context")
                })?;
            Dek::from_bytes(plaintext.as_ref()).map_err(|e| self.invalid(&e.to_string()))
        })
    }
}

impl std::fmt::Debug for MemoryKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryKek")
            .field("reference", &self.reference)
            .field("versions", &state.versions.len())
            .field("key_state", &state.key_state)
            .field("access", &state.access)
            .field("outage", &state.outage)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> EncryptionContext {
        EncryptionContext::new().with("ekm:project", "p")
    }

    #[tokio::test]
    async fn wraps_and_unwraps_across_rotation() {
        let kek = MemoryKek::new("k");
        let dek = Dek::generate().expect("rng");
        let old = kek.wrap(&dek, &ctx()).await.expect("wrap");
        kek.rotate();
        let new = kek.wrap(&dek, &ctx()).await.expect("wrap");
        assert_ne!(old.key_version, new.key_version);
        for wrapped in [old, new] {
            let back = kek
                .unwrap(&wrapped.edek, &wrapped.key_version, &ctx())
                .await
                .expect("unwrap");
            assert_eq!(back.expose_secret(), dek.expose_secret());
        }
        assert_eq!((kek.wrap_calls(), kek.unwrap_calls()), (2, 2));
    }

    #[tokio::test]
    async fn switches_fail_calls_with_the_matching_error() {
        let kek = MemoryKek::new("k");
        let dek = Dek::generate().expect("rng");
        let wrapped = kek.wrap(&dek, &ctx()).await.expect("wrap");
        let other = EncryptionContext::new().with("ekm:project", "q");
        assert!(matches!(
            kek.unwrap(&wrapped.edek, "", &other).await,
            Err(KmsError::InvalidCiphertext { .. })
        ));
        kek.throttle_next(1, Some(Duration::from_millis(1)));
        assert!(matches!(
            kek.wrap(&dek, &ctx()).await,
            Err(KmsError::Throttled { .. })
        ));
        kek.set_access(false);
        assert!(matches!(
            kek.wrap(&dek, &ctx()).await,
            Err(KmsError::AccessDenied { .. })
        ));
        kek.set_access(true);
        kek.set_state(MemoryKeyState::Disabled);
        assert!(matches!(
            kek.unwrap(&wrapped.edek, "", &ctx()).await,
            Err(KmsError::KeyDisabled { .. })
        ));
        kek.set_state(MemoryKeyState::Destroyed);
        assert!(matches!(
            kek.unwrap(&wrapped.edek, "", &ctx()).await,
            Err(KmsError::KeyDestroyed { .. })
        ));
        kek.set_outage(true);
        assert!(matches!(
            kek.unwrap(&wrapped.edek, "", &ctx()).await,
            Err(KmsError::Unavailable { .. })
        ));
    }
}
