//! The decrypt path: eDEK → DEK entries bound to the eDEK, key and project they were unwrapped
//! from, loaded by one shared KMS flight per entry (see the [parent module](super)).
//!
//! Each entry's expiry also goes into a queue, soonest first, so a sweep visits only the entries
//! that are due, not the whole cache: a fleet's replica holds thousands of entries and sweeps
//! four times a second.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::{DekCache, age, deadline, kms_failed, wrap_context};
use crate::crypto::DIGEST_LEN;
use crate::dek::{Dek, DekId};
use crate::engine::EngineError;
use crate::envelope::{EnvelopeHeader, ProjectId};
use crate::events::{CacheEntryView, CachePath, EventBus, EventKind, EvictionReason};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsOp};

/// Which decrypt entry an envelope may use: the SHA-256 of its header through the eDEK
/// ([`EnvelopeHeader::binding`]), which covers the provider, key, key version, project, DEK id
/// and eDEK. An envelope reaches an entry only if it carries exactly what the entry was
/// unwrapped from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EntryKey([u8; DIGEST_LEN]);

impl EntryKey {
    fn of(header: &EnvelopeHeader<'_>) -> Self {
        Self(*header.binding())
    }
}

/// A decrypt-path entry.
pub(crate) struct CachedDek {
    pub(crate) dek: Dek,
    dek_id: DekId,
    key: KeyReference,
    project: ProjectId,
    fetched_at: OffsetDateTime,
    uses: AtomicU64,
}

/// Why a shared load failed; every caller waiting on the flight gets a copy.
#[derive(Clone)]
enum LoadFailure {
    UnknownKey { project: String, key: KeyReference },
    Kms { key: KeyReference, source: KmsError },
}

impl From<LoadFailure> for EngineError {
    fn from(failure: LoadFailure) -> Self {
        match failure {
            LoadFailure::UnknownKey { project, key } => Self::UnknownKey { project, key },
            LoadFailure::Kms { key, source } => kms_failed(KmsOp::Unwrap, &key, source),
        }
    }
}

type Outcome = Result<Arc<CachedDek>, LoadFailure>;

/// When an entry expires, and which; the queue's order is soonest first.
type Expiry = Reverse<(OffsetDateTime, EntryKey)>;

/// The decrypt-path entries, the loads in flight and the entries' expiries.
pub(crate) struct DecryptCache {
    entries: Cache<EntryKey, Arc<CachedDek>>,
    flights: Mutex<HashMap<EntryKey, Arc<OnceCell<Outcome>>>>,
    /// One expiry per load, soonest first. An entry since evicted or loaded again leaves its
    /// old expiry behind; the sweep finds nothing expired there and drops it.
    expiries: Mutex<BinaryHeap<Expiry>>,
    /// Past this many queued expiries (stale ones of evicted entries pile up while the cache
    /// is full), the queue is rebuilt from the entries.
    expiries_limit: usize,
}

impl DecryptCache {
    pub(crate) fn new(capacity: u64, events: EventBus) -> Self {
        let entries = Cache::builder()
            .max_capacity(capacity)
            .eviction_listener(move |_, entry: Arc<CachedDek>, cause| {
                if cause == RemovalCause::Size {
                    events.emit(|| EventKind::DekEvicted {
                        path: CachePath::Decrypt,
                        dek: entry.dek_id,
                        key: entry.key.clone(),
                        reason: EvictionReason::Capacity,
                    });
                }
            })
            .build();
        Self {
            entries,
            flights: Mutex::new(HashMap::new()),
            expiries: Mutex::new(BinaryHeap::new()),
            expiries_limit: usize::try_from(capacity)
                .unwrap_or(usize::MAX)
                .saturating_mul(2)
                .saturating_add(1024),
        }
    }

    fn flights(&self) -> MutexGuard<'_, HashMap<EntryKey, Arc<OnceCell<Outcome>>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expiries(&self) -> MutexGuard<'_, BinaryHeap<Expiry>> {
        self.expiries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the expiry of the entry just loaded at `key`; rebuilds the queue from the
    /// entries (one expiry each) once stale expiries make it too long.
    fn queue_expiry(&self, key: EntryKey, at: OffsetDateTime, revalidate_after: Duration) {
        let mut expiries = self.expiries();
        expiries.push(Reverse((at, key)));
        if expiries.len() > self.expiries_limit {
            *expiries = self
                .entries
                .iter()
                .map(|(key, entry)| Reverse((deadline(entry.fetched_at, revalidate_after), *key)))
                .collect();
        }
    }

    /// Takes every queued expiry due at `now`.
    fn due(&self, now: OffsetDateTime) -> Vec<EntryKey> {
        let mut expiries = self.expiries();
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = expiries.peek() {
            if *at > now {
                break;
            }
            due.push(*key);
            expiries.pop();
        }
        due
    }
}

impl DekCache {
    fn live_entry(&self, key: &EntryKey) -> Option<Arc<CachedDek>> {
        let entry = self.decrypt.entries.get(key)?;
        (self.clock.now() < deadline(entry.fetched_at, self.revalidate_after)).then_some(entry)
    }

    /// The DEK that opens the envelope with `header`: a live cached entry, or the outcome of the
    /// one unwrap by the KEK `resolve` finds (called only on a miss), shared by every concurrent
    /// miss on the same entry.
    pub(crate) async fn dek_for(
        &self,
        header: &EnvelopeHeader<'_>,
        resolve: impl FnOnce() -> Option<Arc<dyn KeyEncryptionKey>>,
    ) -> Result<Arc<CachedDek>, EngineError> {
        let key = EntryKey::of(header);
        if let Some(entry) = self.live_entry(&key) {
            return Ok(self.decrypt_hit(entry));
        }
        let flight = self.decrypt.flights().entry(key).or_default().clone();
        let mut led = false;
        let outcome = flight
            .get_or_init(|| {
                led = true;
                self.load(header, key, resolve)
            })
            .await
            .clone();
        {
            let mut flights = self.decrypt.flights();
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        match outcome {
            Ok(entry) if !led => Ok(self.decrypt_hit(entry)),
            Ok(entry) => Ok(entry),
            Err(failure) => Err(failure.into()),
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

    /// The body of one flight: an entry another flight just loaded, or one unwrap.
    async fn load(
        &self,
        header: &EnvelopeHeader<'_>,
        entry_key: EntryKey,
        resolve: impl FnOnce() -> Option<Arc<dyn KeyEncryptionKey>>,
    ) -> Outcome {
        if let Some(entry) = self.live_entry(&entry_key) {
            return Ok(self.decrypt_hit(entry));
        }
        self.remove_expired(entry_key, self.clock.now());
        let id = header.dek_id();
        let key = header.key_reference();
        self.events.emit(|| EventKind::CacheMiss {
            path: CachePath::Decrypt,
            dek: Some(id),
            key: key.clone(),
        });
        let kek = resolve().ok_or_else(|| LoadFailure::UnknownKey {
            project: header.project().to_owned(),
            key: key.clone(),
        })?;
        let context = wrap_context(header.project());
        let (dek, started_at) = self
            .call_kms(&key, KmsOp::Unwrap, || {
                kek.unwrap(header.edek(), header.key_version(), &context)
            })
            .await
            .map_err(|source| LoadFailure::Kms {
                key: key.clone(),
                source,
            })?;
        let entry = Arc::new(CachedDek {
            dek,
            dek_id: id,
            key,
            project: ProjectId::from(header.project()),
            fetched_at: started_at,
            uses: AtomicU64::new(1),
        });
        self.decrypt.entries.insert(entry_key, entry.clone());
        self.decrypt.queue_expiry(
            entry_key,
            deadline(started_at, self.revalidate_after),
            self.revalidate_after,
        );
        Ok(entry)
    }

    /// Removes the entry at `key` if it is expired at `now`, reporting it.
    fn remove_expired(&self, key: EntryKey, now: OffsetDateTime) {
        let revalidate_after = self.revalidate_after;
        let removed = self
            .decrypt
            .entries
            .entry(key)
            .and_compute_with(|existing| match existing {
                Some(entry) if now >= deadline(entry.value().fetched_at, revalidate_after) => {
                    Op::Remove
                }
                _ => Op::Nop,
            });
        if let CompResult::Removed(entry) = removed {
            let entry = entry.into_value();
            self.events.emit(|| EventKind::DekExpired {
                path: CachePath::Decrypt,
                dek: entry.dek_id,
                key: entry.key.clone(),
            });
        }
    }

    /// Wipes and removes every decrypt entry expired at `now`, visiting only the queued
    /// expiries that are due.
    pub(super) fn sweep_decrypt(&self, now: OffsetDateTime) {
        for key in self.decrypt.due(now) {
            self.remove_expired(key, now);
        }
    }

    /// The live decrypt entries.
    pub(super) fn decrypt_views(&self, now: OffsetDateTime) -> Vec<CacheEntryView> {
        self.decrypt
            .entries
            .iter()
            .filter_map(|(_, entry)| {
                let expires_at = deadline(entry.fetched_at, self.revalidate_after);
                (now < expires_at).then(|| CacheEntryView {
                    path: CachePath::Decrypt,
                    dek: entry.dek_id,
                    key: entry.key.clone(),
                    project: entry.project.clone(),
                    created_at: entry.fetched_at,
                    fetched_at: entry.fetched_at,
                    age: age(now, entry.fetched_at),
                    uses: entry.uses.load(Ordering::Relaxed),
                    expires_at,
                    next_rotation: None,
                    expired: false,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn entry(fetched_at: OffsetDateTime) -> (EntryKey, Arc<CachedDek>) {
        let dek_id = DekId::generate().expect("an id");
        let key = EntryKey(crate::crypto::random_array().expect("a binding"));
        let cached = CachedDek {
            dek: Dek::generate().expect("a DEK"),
            dek_id,
            key: KeyReference::new("memory", "k"),
            project: ProjectId::from("p"),
            fetched_at,
            uses: AtomicU64::new(1),
        };
        (key, Arc::new(cached))
    }

    /// Stale expiries (entries evicted or loaded again) never make the queue grow past its
    /// limit: it is rebuilt with one expiry per live entry, and those stay due on time.
    #[test]
    fn stale_expiries_are_dropped_when_the_queue_outgrows_the_cache() {
        let clock = Arc::new(ManualClock::default());
        let now = clock.now();
        let cache = DecryptCache::new(4, EventBus::new(clock, 16));
        let ttl = Duration::from_secs(3600);
        let live: Vec<EntryKey> = (0..2)
            .map(|_| {
                let (key, cached) = entry(now);
                cache.entries.insert(key, cached);
                key
            })
            .collect();
        for _ in 0..cache.expiries_limit {
            cache.queue_expiry(entry(now).0, deadline(now, ttl), ttl);
        }
        assert_eq!(cache.expiries().len(), cache.expiries_limit);
        cache.queue_expiry(entry(now).0, deadline(now, ttl), ttl);
        assert_eq!(
            cache.expiries().len(),
            live.len(),
            "rebuilt from the entries"
        );
        assert_eq!(cache.due(now), [], "nothing due before the expiry");
        let mut due = cache.due(deadline(now, ttl));
        due.sort();
        let mut expected = live;
        expected.sort();
        assert_eq!(due, expected);
        assert!(cache.expiries().is_empty());
    }
}
