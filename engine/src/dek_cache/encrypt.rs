//! The encrypt path: one active DEK per (project, KEK), created, rotated, re-validated and swept
//! on the lab clock (see the [parent module](super)).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;

use super::{DekCache, ROTATION_RETRY, age, deadline, kms_failed, wrap_context};
use crate::crypto::{self, DIGEST_LEN};
use crate::dek::{Dek, DekId};
use crate::engine::EngineError;
use crate::envelope::{EnvelopeError, HeaderPrefix, ProjectId};
use crate::events::{CacheEntryView, CachePath, EventKind, EvictionReason};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsOp, WrappedDek};

/// The public facts of an active DEK, kept while its key material is wiped between validations.
pub(crate) struct Issued {
    pub(crate) dek_id: DekId,
    pub(crate) wrapped: WrappedDek,
    pub(crate) key: KeyReference,
    pub(crate) project: ProjectId,
    /// The start of the header of every envelope this DEK seals, encoded and hashed once (or
    /// why these fields cannot be written: every seal reports it).
    pub(crate) header: Result<HeaderPrefix, EnvelopeError>,
    created_at: OffsetDateTime,
    /// SHA-256 of a domain label and the DEK: re-validation must return this very key.
    check: [u8; DIGEST_LEN],
    uses: AtomicU64,
}

/// The key check value of `dek`.
fn check_value(dek: &Dek) -> [u8; DIGEST_LEN] {
    crypto::sha256(&[b"ekm-lab active DEK check\0", dek.expose_secret()])
}

/// A DEK in use on the encrypt path: its key material and public facts.
pub(crate) struct ActiveDek {
    pub(crate) dek: Dek,
    pub(crate) issued: Arc<Issued>,
}

#[derive(Clone)]
struct SlotState {
    issued: Arc<Issued>,
    /// `None` once swept: the key material is wiped until the next re-validation.
    dek: Option<Arc<ActiveDek>>,
    validated_at: OffsetDateTime,
    /// A rotation failed transiently: the current DEK keeps serving until then (and at most
    /// until its re-validation is due).
    rotation_retry_at: Option<OffsetDateTime>,
}

/// The encrypt-path entry of one (project, KEK): the current state, and a lock that makes
/// creation, rotation and re-validation single-flight.
#[derive(Default)]
pub(crate) struct EncryptSlot {
    state: Mutex<Option<SlotState>>,
    refresh: tokio::sync::Mutex<()>,
}

impl EncryptSlot {
    fn state(&self) -> MutexGuard<'_, Option<SlotState>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The slots of one project, by KEK.
type ProjectSlots = HashMap<KeyReference, Arc<EncryptSlot>>;

/// The slots of every (project, KEK) that sealed, by project then KEK, so a seal finds its slot
/// with borrowed names (no allocation on the hot path).
#[derive(Default)]
pub(crate) struct EncryptCache {
    slots: Mutex<HashMap<ProjectId, ProjectSlots>>,
}

impl DekCache {
    fn slots(&self) -> MutexGuard<'_, HashMap<ProjectId, ProjectSlots>> {
        self.encrypt
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot of (`project`, `key`), created if missing. The engine calls it while it holds
    /// the project's keyring, so a seal racing [`remove_active`](Self::remove_active) never
    /// re-creates the slot of a key being unregistered.
    pub(crate) fn slot(&self, project: &ProjectId, key: &KeyReference) -> Arc<EncryptSlot> {
        let mut slots = self.slots();
        if let Some(slot) = slots.get(project).and_then(|keys| keys.get(key)) {
            return slot.clone();
        }
        slots
            .entry(project.clone())
            .or_default()
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Every slot, of every project.
    fn all_slots(&self) -> Vec<Arc<EncryptSlot>> {
        self.slots()
            .values()
            .flat_map(ProjectSlots::values)
            .cloned()
            .collect()
    }

    fn rotation_due(&self, state: &SlotState, now: OffsetDateTime) -> bool {
        now >= deadline(state.issued.created_at, self.dek_rotation)
            && state.rotation_retry_at.is_none_or(|at| now >= at)
    }

    fn validation_expired(&self, state: &SlotState, now: OffsetDateTime) -> bool {
        now >= deadline(state.validated_at, self.revalidate_after)
    }

    /// The active DEK to seal with in `slot` (of `project` under `kek`): cached, created,
    /// rotated or re-validated as the lab clock requires.
    pub(crate) async fn active_dek(
        &self,
        slot: &EncryptSlot,
        project: &ProjectId,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Arc<ActiveDek>, EngineError> {
        if let Some(active) = self.use_live(slot) {
            return Ok(active);
        }
        let _refresh = slot.refresh.lock().await;
        if let Some(active) = self.use_live(slot) {
            return Ok(active);
        }
        let current = slot.state().clone();
        let now = self.clock.now();
        let result = match &current {
            Some(state) if !self.rotation_due(state, now) => {
                self.revalidate(slot, state, kek).await
            }
            _ => match self.create(slot, current.as_ref(), project, kek).await {
                Err(error) if error.kms_error().is_some_and(KmsError::is_transient) => self
                    .defer_rotation(slot, current.as_ref(), now)
                    .ok_or(error),
                other => other,
            },
        };
        if let Err(error) = &result
            && error.kms_error().is_some_and(|e| !e.is_transient())
            && let Some(state) = slot.state().take()
        {
            self.events.emit(|| EventKind::DekEvicted {
                path: CachePath::Encrypt,
                dek: state.issued.dek_id,
                key: state.issued.key.clone(),
                reason: EvictionReason::Revoked,
            });
        }
        result
    }

    /// The active DEK if it is live now, counting the use.
    fn use_live(&self, slot: &EncryptSlot) -> Option<Arc<ActiveDek>> {
        let now = self.clock.now();
        let state = slot.state();
        let state = state
            .as_ref()
            .filter(|s| !self.rotation_due(s, now) && !self.validation_expired(s, now))?;
        let active = state.dek.clone()?;
        active.issued.uses.fetch_add(1, Ordering::Relaxed);
        self.events.emit(|| EventKind::CacheHit {
            path: CachePath::Encrypt,
            dek: active.issued.dek_id,
            key: active.issued.key.clone(),
        });
        Some(active)
    }

    /// After a rotation failed transiently: keeps `current` serving while its validation holds,
    /// trying the rotation again after [`ROTATION_RETRY`].
    fn defer_rotation(
        &self,
        slot: &EncryptSlot,
        current: Option<&SlotState>,
        now: OffsetDateTime,
    ) -> Option<Arc<ActiveDek>> {
        let current = current.filter(|s| !self.validation_expired(s, now))?;
        let active = current.dek.clone()?;
        let until = deadline(now, ROTATION_RETRY)
            .min(deadline(current.validated_at, self.revalidate_after));
        *slot.state() = Some(SlotState {
            rotation_retry_at: Some(until),
            ..current.clone()
        });
        active.issued.uses.fetch_add(1, Ordering::Relaxed);
        self.events.emit(|| EventKind::RotationDeferred {
            project: active.issued.project.clone(),
            key: active.issued.key.clone(),
            dek: active.issued.dek_id,
            until,
        });
        Some(active)
    }

    /// Generates and wraps a new active DEK, replacing `previous` (rotation) if any.
    async fn create(
        &self,
        slot: &EncryptSlot,
        previous: Option<&SlotState>,
        project: &ProjectId,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Arc<ActiveDek>, EngineError> {
        let key = kek.key_reference();
        self.events.emit(|| EventKind::CacheMiss {
            path: CachePath::Encrypt,
            dek: None,
            key: key.clone(),
        });
        let dek = Dek::generate()?;
        let dek_id = DekId::generate()?;
        let context = wrap_context(project.as_str());
        let (wrapped, started_at) = self
            .call_kms(key, KmsOp::Wrap, || kek.wrap(&dek, &context))
            .await
            .map_err(|e| kms_failed(KmsOp::Wrap, key, e))?;
        let issued = Arc::new(Issued {
            header: HeaderPrefix::new(key, &wrapped, dek_id, project),
            dek_id,
            wrapped,
            key: key.clone(),
            project: project.clone(),
            created_at: started_at,
            check: check_value(&dek),
            uses: AtomicU64::new(1),
        });
        let active = Arc::new(ActiveDek {
            dek,
            issued: issued.clone(),
        });
        *slot.state() = Some(SlotState {
            issued,
            dek: Some(active.clone()),
            validated_at: started_at,
            rotation_retry_at: None,
        });
        self.events.emit(|| match previous {
            Some(old) => EventKind::DekRotated {
                project: project.clone(),
                key: key.clone(),
                old: old.issued.dek_id,
                new: dek_id,
            },
            None => EventKind::DekCreated {
                project: project.clone(),
                key: key.clone(),
                dek: dek_id,
            },
        });
        Ok(active)
    }

    /// Confirms the active DEK with the KMS by unwrapping its eDEK again (which also restores
    /// its key material after a sweep).
    async fn revalidate(
        &self,
        slot: &EncryptSlot,
        state: &SlotState,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Arc<ActiveDek>, EngineError> {
        let issued = &state.issued;
        let key = &issued.key;
        if state.dek.is_some() {
            self.events.emit(|| EventKind::DekExpired {
                path: CachePath::Encrypt,
                dek: issued.dek_id,
                key: key.clone(),
            });
        }
        let context = wrap_context(issued.project.as_str());
        let (dek, started_at) = self
            .call_kms(key, KmsOp::Unwrap, || {
                kek.unwrap(&issued.wrapped.edek, &issued.wrapped.key_version, &context)
            })
            .await
            .map_err(|e| kms_failed(KmsOp::Unwrap, key, e))?;
        if !crypto::constant_time_eq(&check_value(&dek), &issued.check) {
            return Err(kms_failed(
                KmsOp::Unwrap,
                key,
                KmsError::InvalidCiphertext {
                    message: format!(
                        "re-validation of DEK {} returned a different key",
                        issued.dek_id
                    ),
                },
            ));
        }
        issued.uses.fetch_add(1, Ordering::Relaxed);
        let active = Arc::new(ActiveDek {
            dek,
            issued: issued.clone(),
        });
        *slot.state() = Some(SlotState {
            issued: issued.clone(),
            dek: Some(active.clone()),
            validated_at: started_at,
            rotation_retry_at: state.rotation_retry_at,
        });
        self.events.emit(|| EventKind::DekRevalidated {
            path: CachePath::Encrypt,
            dek: issued.dek_id,
            key: key.clone(),
        });
        Ok(active)
    }

    /// Forgets the active DEK of (`project`, `key`), e.g. when the key is unregistered.
    pub(crate) fn remove_active(&self, project: &ProjectId, key: &KeyReference) {
        let slot = {
            let mut slots = self.slots();
            let removed = slots.get_mut(project).and_then(|keys| keys.remove(key));
            if slots.get(project).is_some_and(HashMap::is_empty) {
                slots.remove(project);
            }
            removed
        };
        if let Some(state) = slot.and_then(|slot| slot.state().take()) {
            self.events.emit(|| EventKind::DekEvicted {
                path: CachePath::Encrypt,
                dek: state.issued.dek_id,
                key: key.clone(),
                reason: EvictionReason::Unregistered,
            });
        }
    }

    /// Wipes the key material of every active DEK whose validation has expired.
    pub(super) fn sweep_encrypt(&self, now: OffsetDateTime) {
        for slot in self.all_slots() {
            let wiped = {
                let mut state = slot.state();
                match state.as_mut() {
                    Some(s) if s.dek.is_some() && self.validation_expired(s, now) => {
                        s.dek = None;
                        Some(s.issued.clone())
                    }
                    _ => None,
                }
            };
            if let Some(issued) = wiped {
                self.events.emit(|| EventKind::DekExpired {
                    path: CachePath::Encrypt,
                    dek: issued.dek_id,
                    key: issued.key.clone(),
                });
            }
        }
    }

    /// The live active DEKs.
    pub(super) fn encrypt_views(&self, now: OffsetDateTime) -> Vec<CacheEntryView> {
        let states: Vec<SlotState> = self
            .all_slots()
            .iter()
            .filter_map(|slot| slot.state().clone())
            .filter(|state| state.dek.is_some() && !self.validation_expired(state, now))
            .collect();
        states
            .into_iter()
            .map(|state| {
                let issued = &state.issued;
                CacheEntryView {
                    path: CachePath::Encrypt,
                    dek: issued.dek_id,
                    key: issued.key.clone(),
                    project: issued.project.clone(),
                    created_at: issued.created_at,
                    fetched_at: state.validated_at,
                    age: age(now, issued.created_at),
                    uses: issued.uses.load(Ordering::Relaxed),
                    expires_at: deadline(state.validated_at, self.revalidate_after),
                    next_rotation: Some(deadline(issued.created_at, self.dek_rotation)),
                    expired: false,
                }
            })
            .collect()
    }
}
