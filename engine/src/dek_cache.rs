//! The two DEK caches, the only place the engine calls a KMS.
//!
//! **Encrypt path** — one *active* DEK per (project, KEK). A seal uses it until
//! `dek_rotation` after its creation, when a fresh DEK is generated and wrapped
//! ([`EventKind::DekRotated`]). Every `revalidate_after` the active DEK is re-validated before its
//! next use by **unwrapping its own eDEK again** and checking the result is the same key: that
//! proves the KEK still grants exactly what reading the data back needs (KMS Decrypt), and costs
//! no new eDEK. So after a revocation a project cannot encrypt either once its entries expire.
//!
//! **Decrypt path** — eDEK → DEK entries keyed by [`DekId`], each live for `revalidate_after`
//! from its unwrap. moka bounds the capacity and serializes loads per key (single flight: N
//! concurrent opens of one eDEK after expiry make exactly one unwrap); whether an entry is live is
//! decided against the lab [`Clock`](crate::clock::Clock) from its `fetched_at`, never by moka's
//! timers (DESIGN.md §5).
//!
//! **Failures** — revocation-class errors ([`KmsError::is_revocation`]) drop the entry at once and
//! fail the operation. On the encrypt path any KMS failure that retrying cannot fix (a revocation,
//! a refused eDEK after an alias swap, a failed authentication) drops the active DEK, so the next
//! seal makes a fresh one under whatever the registered key is now — or fails again. Transient ones ([`KmsError::is_transient`]) are retried with jittered
//! exponential backoff, honouring `retry_after`, within a small real-time budget
//! ([`RetryPolicy`]); retries only ever happen for an entry that is already expired, so no entry
//! is served past its TTL while the KMS is down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use rand::RngExt;
use time::OffsetDateTime;

use crate::clock::{SharedClock, Stopwatch};
use crate::crypto;
use crate::dek::{Dek, DekId};
use crate::engine::{EngineConfig, EngineError};
use crate::envelope::{EncryptionContext, EnvelopeHeader, ProjectId};
use crate::events::{CacheEntryView, CachePath, EventBus, EventKind, EvictionReason};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsFuture, KmsOp, WrappedDek};

/// The wrap-context key naming the project: a DEK's KMS context is `{"ekm:project": <id>}`.
pub const WRAP_CONTEXT_PROJECT: &str = "ekm:project";

/// How transient KMS failures are retried. The sleeps are real (`tokio::time::sleep`) and short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per operation, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per retry, jittered to 50–100 %.
    pub initial_backoff: Duration,
    /// Cap on one backoff (a longer `retry_after` still wins, within the budget).
    pub max_backoff: Duration,
    /// Cap on all backoff sleeps of one operation; a retry that would exceed it is not made.
    pub max_total_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 10 ms doubling to at most 80 ms, at most 200 ms of sleeping in total.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(80),
            max_total_backoff: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// The sleep before retry number `retry` (1-based), given the KMS's `retry_after`.
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max_backoff);
        let jittered = doubled.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// The wrap context of a project's DEKs, as sent to the KMS.
pub(crate) fn wrap_context(project: &str) -> EncryptionContext {
    EncryptionContext::new().with(WRAP_CONTEXT_PROJECT, project)
}

/// `at + after`, saturating at the largest representable time.
fn deadline(at: OffsetDateTime, after: Duration) -> OffsetDateTime {
    time::Duration::try_from(after)
        .ok()
        .and_then(|after| at.checked_add(after))
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
}

fn age(now: OffsetDateTime, since: OffsetDateTime) -> Duration {
    Duration::try_from(now - since).unwrap_or_default()
}

/// A DEK in use on the encrypt path.
pub(crate) struct ActiveDek {
    pub(crate) dek: Dek,
    pub(crate) dek_id: DekId,
    pub(crate) wrapped: WrappedDek,
    pub(crate) key: KeyReference,
    pub(crate) project: ProjectId,
    created_at: OffsetDateTime,
    uses: AtomicU64,
}

#[derive(Clone)]
struct SlotState {
    active: Arc<ActiveDek>,
    validated_at: OffsetDateTime,
}

/// The encrypt-path entry of one (project, KEK): the current state, and a lock that makes
/// creation, rotation and re-validation single-flight.
#[derive(Default)]
struct EncryptSlot {
    state: Mutex<Option<SlotState>>,
    refresh: tokio::sync::Mutex<()>,
}

impl EncryptSlot {
    fn state(&self) -> MutexGuard<'_, Option<SlotState>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A decrypt-path entry.
pub(crate) struct CachedDek {
    pub(crate) dek: Dek,
    dek_id: DekId,
    key: KeyReference,
    project: ProjectId,
    edek: Vec<u8>,
    fetched_at: OffsetDateTime,
    uses: AtomicU64,
}

impl CachedDek {
    /// Whether `header` names this very eDEK; a different eDEK under the same id is forged.
    fn check_matches(&self, header: &EnvelopeHeader<'_>) -> Result<(), EngineError> {
        if header.names_key(&self.key)
            && header.project() == self.project.as_str()
            && crypto::constant_time_eq(header.edek(), &self.edek)
        {
            Ok(())
        } else {
            Err(EngineError::DekConflict {
                dek: header.dek_id(),
            })
        }
    }
}

type SlotKey = (ProjectId, KeyReference);

/// Both caches and the KMS calls behind them.
pub(crate) struct DekCache {
    clock: SharedClock,
    events: EventBus,
    dek_rotation: Duration,
    revalidate_after: Duration,
    retry: RetryPolicy,
    encrypt: Mutex<HashMap<SlotKey, Arc<EncryptSlot>>>,
    decrypt: Cache<DekId, Arc<CachedDek>>,
}

impl DekCache {
    pub(crate) fn new(config: &EngineConfig, clock: SharedClock, events: EventBus) -> Self {
        let listener_events = events.clone();
        let decrypt = Cache::builder()
            .max_capacity(config.cache_capacity)
            .eviction_listener(move |id: Arc<DekId>, entry: Arc<CachedDek>, cause| {
                if cause == RemovalCause::Size {
                    listener_events.emit(|| EventKind::DekEvicted {
                        path: CachePath::Decrypt,
                        dek: *id,
                        key: entry.key.clone(),
                        reason: EvictionReason::Capacity,
                    });
                }
            })
            .build();
        Self {
            clock,
            events,
            dek_rotation: config.dek_rotation,
            revalidate_after: config.revalidate_after,
            retry: config.retry,
            encrypt: Mutex::new(HashMap::new()),
            decrypt,
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<SlotKey, Arc<EncryptSlot>>> {
        self.encrypt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, project: &ProjectId, key: &KeyReference) -> Arc<EncryptSlot> {
        self.slots()
            .entry((project.clone(), key.clone()))
            .or_default()
            .clone()
    }

    fn is_live(&self, state: &SlotState, now: OffsetDateTime) -> bool {
        now < deadline(state.active.created_at, self.dek_rotation)
            && now < deadline(state.validated_at, self.revalidate_after)
    }

    /// The active DEK to seal with for `project` under `kek`: cached, created, rotated or
    /// re-validated as the lab clock requires.
    pub(crate) async fn active_dek(
        &self,
        project: &ProjectId,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Arc<ActiveDek>, EngineError> {
        let key = kek.key_reference();
        let slot = self.slot(project, key);
        if let Some(active) = self.use_live(&slot) {
            return Ok(active);
        }
        let _refresh = slot.refresh.lock().await;
        if let Some(active) = self.use_live(&slot) {
            return Ok(active);
        }
        let current = slot.state().clone();
        let now = self.clock.now();
        let result = match &current {
            Some(state) if now < deadline(state.active.created_at, self.dek_rotation) => {
                self.revalidate(&slot, state, kek).await
            }
            _ => self.create(&slot, current.as_ref(), project, kek).await,
        };
        if let Err(error) = &result
            && error.kms_error().is_some_and(|e| !e.is_transient())
            && let Some(state) = slot.state().take()
        {
            self.events.emit(|| EventKind::DekEvicted {
                path: CachePath::Encrypt,
                dek: state.active.dek_id,
                key: key.clone(),
                reason: EvictionReason::Revoked,
            });
        }
        result
    }

    /// The active DEK if it is live now, counting the use.
    fn use_live(&self, slot: &EncryptSlot) -> Option<Arc<ActiveDek>> {
        let now = self.clock.now();
        let state = slot.state();
        let state = state.as_ref().filter(|s| self.is_live(s, now))?;
        state.active.uses.fetch_add(1, Ordering::Relaxed);
        let active = state.active.clone();
        self.events.emit(|| EventKind::CacheHit {
            path: CachePath::Encrypt,
            dek: active.dek_id,
            key: active.key.clone(),
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
        let wrapped = self
            .call_kms(key, KmsOp::Wrap, || kek.wrap(&dek, &context))
            .await?;
        let now = self.clock.now();
        let active = Arc::new(ActiveDek {
            dek,
            dek_id,
            wrapped,
            key: key.clone(),
            project: project.clone(),
            created_at: now,
            uses: AtomicU64::new(1),
        });
        *slot.state() = Some(SlotState {
            active: active.clone(),
            validated_at: now,
        });
        self.events.emit(|| match previous {
            Some(old) => EventKind::DekRotated {
                project: project.clone(),
                key: key.clone(),
                old: old.active.dek_id,
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

    /// Confirms the active DEK with the KMS by unwrapping its eDEK again.
    async fn revalidate(
        &self,
        slot: &EncryptSlot,
        state: &SlotState,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Arc<ActiveDek>, EngineError> {
        let active = &state.active;
        self.events.emit(|| EventKind::DekExpired {
            path: CachePath::Encrypt,
            dek: active.dek_id,
            key: active.key.clone(),
        });
        let context = wrap_context(active.project.as_str());
        let confirmed = self
            .call_kms(&active.key, KmsOp::Unwrap, || {
                kek.unwrap(&active.wrapped.edek, &active.wrapped.key_version, &context)
            })
            .await?;
        if !crypto::constant_time_eq(confirmed.expose_secret(), active.dek.expose_secret()) {
            return Err(EngineError::Kms {
                op: KmsOp::Unwrap,
                key: active.key.clone(),
                source: KmsError::InvalidCiphertext {
                    message: format!(
                        "re-validation of DEK {} returned a different key",
                        active.dek_id
                    ),
                },
            });
        }
        active.uses.fetch_add(1, Ordering::Relaxed);
        *slot.state() = Some(SlotState {
            active: active.clone(),
            validated_at: self.clock.now(),
        });
        self.events.emit(|| EventKind::DekRevalidated {
            path: CachePath::Encrypt,
            dek: active.dek_id,
            key: active.key.clone(),
        });
        Ok(active.clone())
    }

    /// Forgets the active DEK of (`project`, `key`), e.g. when the key is unregistered.
    pub(crate) fn remove_active(&self, project: &ProjectId, key: &KeyReference) {
        let slot = self.slots().remove(&(project.clone(), key.clone()));
        if let Some(state) = slot.and_then(|slot| slot.state().take()) {
            self.events.emit(|| EventKind::DekEvicted {
                path: CachePath::Encrypt,
                dek: state.active.dek_id,
                key: key.clone(),
                reason: EvictionReason::Unregistered,
            });
        }
    }

    /// The DEK that opens the envelope with `header`: a live cached entry, or one unwrap by the
    /// KEK `resolve` finds (called only on a miss).
    pub(crate) async fn dek_for(
        &self,
        header: &EnvelopeHeader<'_>,
        resolve: impl Fn() -> Result<Arc<dyn KeyEncryptionKey>, EngineError>,
    ) -> Result<Arc<CachedDek>, EngineError> {
        let id = header.dek_id();
        loop {
            if let Some(entry) = self.decrypt.get(&id).await {
                entry.check_matches(header)?;
                if self.clock.now() < deadline(entry.fetched_at, self.revalidate_after) {
                    return Ok(self.decrypt_hit(entry));
                }
            }
            let computed = self
                .decrypt
                .entry(id)
                .and_try_compute_with(|existing| self.load(header, existing, &resolve))
                .await;
            match computed {
                Ok(result) => {
                    if let Some(entry) = result.into_entry() {
                        return Ok(entry.into_value());
                    }
                }
                Err(error) => {
                    if error.is_revocation() {
                        self.drop_expired(header).await;
                    }
                    return Err(error);
                }
            }
        }
    }

    fn decrypt_hit(&self, entry: Arc<CachedDek>) -> Arc<CachedDek> {
        entry.uses.fetch_add(1, Ordering::Relaxed);
        self.events.emit(|| EventKind::CacheHit {
            path: CachePath::Decrypt,
            dek: entry.dek_id,
            key: entry.key.clone(),
        });
        entry
    }

    /// The single-flight body run under moka's per-key lock: keep an entry another open just
    /// loaded, or unwrap the eDEK.
    async fn load(
        &self,
        header: &EnvelopeHeader<'_>,
        existing: Option<moka::Entry<DekId, Arc<CachedDek>>>,
        resolve: &impl Fn() -> Result<Arc<dyn KeyEncryptionKey>, EngineError>,
    ) -> Result<Op<Arc<CachedDek>>, EngineError> {
        let id = header.dek_id();
        let expired = match existing.map(moka::Entry::into_value) {
            Some(entry) => {
                entry.check_matches(header)?;
                if self.clock.now() < deadline(entry.fetched_at, self.revalidate_after) {
                    self.decrypt_hit(entry);
                    return Ok(Op::Nop);
                }
                self.events.emit(|| EventKind::DekExpired {
                    path: CachePath::Decrypt,
                    dek: id,
                    key: entry.key.clone(),
                });
                true
            }
            None => false,
        };
        let key = header.key_reference();
        self.events.emit(|| EventKind::CacheMiss {
            path: CachePath::Decrypt,
            dek: Some(id),
            key: key.clone(),
        });
        let kek = resolve()?;
        let context = wrap_context(header.project());
        let dek = self
            .call_kms(&key, KmsOp::Unwrap, || {
                kek.unwrap(header.edek(), header.key_version(), &context)
            })
            .await?;
        if expired {
            self.events.emit(|| EventKind::DekRevalidated {
                path: CachePath::Decrypt,
                dek: id,
                key: key.clone(),
            });
        }
        Ok(Op::Put(Arc::new(CachedDek {
            dek,
            dek_id: id,
            key,
            project: ProjectId::from(header.project()),
            edek: header.edek().to_vec(),
            fetched_at: self.clock.now(),
            uses: AtomicU64::new(1),
        })))
    }

    /// Drops the decrypt entry for `header` unless another open has just refreshed it.
    async fn drop_expired(&self, header: &EnvelopeHeader<'_>) {
        let now = self.clock.now();
        let revalidate_after = self.revalidate_after;
        let removed = self
            .decrypt
            .entry(header.dek_id())
            .and_compute_with(|existing| async move {
                match existing {
                    Some(entry) if now >= deadline(entry.value().fetched_at, revalidate_after) => {
                        Op::Remove
                    }
                    _ => Op::Nop,
                }
            })
            .await;
        if let moka::ops::compute::CompResult::Removed(entry) = removed {
            self.events.emit(|| EventKind::DekEvicted {
                path: CachePath::Decrypt,
                dek: header.dek_id(),
                key: entry.value().key.clone(),
                reason: EvictionReason::Revoked,
            });
        }
    }

    /// Calls the KMS, retrying transient failures per the [`RetryPolicy`], reporting each try.
    async fn call_kms<'k, T>(
        &self,
        key: &KeyReference,
        op: KmsOp,
        call: impl Fn() -> KmsFuture<'k, T>,
    ) -> Result<T, EngineError> {
        let mut slept = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let stopwatch = Stopwatch::start();
            let result = call().await;
            let latency = stopwatch.elapsed();
            self.events.emit(|| EventKind::KmsCall {
                op,
                key: key.clone(),
                outcome: result.as_ref().map(drop).map_err(Clone::clone),
                latency,
            });
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = self.retry.backoff(attempt, error.retry_after());
            let within_budget = slept
                .checked_add(wait)
                .is_some_and(|total| total <= self.retry.max_total_backoff);
            if !error.is_transient() || attempt >= self.retry.max_attempts || !within_budget {
                return Err(EngineError::Kms {
                    op,
                    key: key.clone(),
                    source: error,
                });
            }
            tokio::time::sleep(wait).await;
            slept += wait;
            attempt += 1;
        }
    }

    /// Every entry of both caches, as of now.
    pub(crate) fn snapshot(&self) -> (OffsetDateTime, Vec<CacheEntryView>) {
        let now = self.clock.now();
        let states: Vec<SlotState> = self
            .slots()
            .values()
            .filter_map(|slot| slot.state().clone())
            .collect();
        let mut entries: Vec<CacheEntryView> = states
            .into_iter()
            .map(|state| {
                let active = &state.active;
                let expires_at = deadline(state.validated_at, self.revalidate_after);
                CacheEntryView {
                    path: CachePath::Encrypt,
                    dek: active.dek_id,
                    key: active.key.clone(),
                    project: active.project.clone(),
                    created_at: active.created_at,
                    fetched_at: state.validated_at,
                    age: age(now, active.created_at),
                    uses: active.uses.load(Ordering::Relaxed),
                    expires_at,
                    next_rotation: Some(deadline(active.created_at, self.dek_rotation)),
                    expired: now >= expires_at,
                }
            })
            .collect();
        entries.extend(self.decrypt.iter().map(|(id, entry)| {
            let expires_at = deadline(entry.fetched_at, self.revalidate_after);
            CacheEntryView {
                path: CachePath::Decrypt,
                dek: *id,
                key: entry.key.clone(),
                project: entry.project.clone(),
                created_at: entry.fetched_at,
                fetched_at: entry.fetched_at,
                age: age(now, entry.fetched_at),
                uses: entry.uses.load(Ordering::Relaxed),
                expires_at,
                next_rotation: None,
                expired: now >= expires_at,
            }
        }));
        entries.sort_by(|a, b| {
            (a.path, &a.key, a.created_at, a.dek).cmp(&(b.path, &b.key, b.created_at, b.dek))
        });
        (now, entries)
    }
}
