//! The two DEK caches, the only place the engine calls a KMS.
//!
//! **Encrypt path** ([`encrypt`]) — one *active* DEK per (project, KEK). A seal uses it until
//! `dek_rotation` after its creation, when a fresh DEK is generated and wrapped
//! ([`EventKind::DekRotated`]). Every `revalidate_after` the active DEK is re-validated before its
//! next use by **unwrapping its own eDEK again** and checking the result is the same key: that
//! proves the KEK still grants exactly what reading the data back needs (KMS Decrypt), and costs
//! no new eDEK. So after a revocation a project cannot encrypt either once its entries expire.
//! A rotation that fails with a transient error (an outage at rotation time) keeps the current
//! DEK serving until its re-validation is due ([`EventKind::RotationDeferred`]), retrying at most
//! once per [`ROTATION_RETRY`] of lab time.
//!
//! **Decrypt path** ([`decrypt`]) — eDEK → DEK entries, each live for `revalidate_after` from
//! the start of the KMS call that unwrapped it. An entry is keyed by the SHA-256 of the
//! envelope's header through the eDEK (provider, key, key version, project, [`DekId`], eDEK), so
//! it is reachable only by envelopes that carry exactly what it was unwrapped from: a forged
//! envelope (another eDEK under a known id) gets its own entry and harms no other envelope. Concurrent misses on one entry share **one** KMS flight
//! and its outcome, success or failure: N concurrent opens make at most one caller's attempts.
//! moka bounds the capacity; whether an entry is live is decided against the lab
//! [`Clock`](crate::clock::Clock), never by moka's timers (DESIGN.md §5).
//!
//! **Sweeping** — [`DekCache::sweep`] wipes (drops, so the [`Dek`](crate::Dek) zeroizes) every
//! entry past its expiry and reports each with [`EventKind::DekExpired`]; an expired active DEK
//! keeps only its public part (id, eDEK, creation time, a check value) so that re-validation can
//! get the same key back from the KMS. The engine runs the sweep every `sweep_every` (real time)
//! and before every [`Snapshot`](crate::Snapshot), so no snapshot shows an entry past its expiry.
//! A sweep visits the decrypt entries that are due (a queue of expiries, soonest first), not the
//! whole cache, so its cost follows the expiries, not the cache's size.
//!
//! **Failures** — revocation-class errors ([`KmsError::is_revocation`]) fail the operation; on the
//! encrypt path any KMS failure that retrying cannot fix (a revocation, a refused eDEK after an
//! alias swap, a failed authentication) drops the active DEK, so the next seal makes a fresh one
//! under whatever the registered key is now — or fails again. Transient ones
//! ([`KmsError::is_transient`]) are retried with jittered exponential backoff, honouring
//! `retry_after`, within a small real-time budget ([`RetryPolicy`]); retries only ever happen for
//! an entry that is already expired, so no entry is served past its TTL while the KMS is down.
//! Every timestamp an entry's lifetime counts from (`fetched_at`, `created_at`, `validated_at`)
//! is read from the clock *before* the successful KMS attempt started, so KMS latency never
//! stretches the revocation bound.

mod decrypt;
mod encrypt;

use std::time::Duration;

use rand::RngExt;
use time::OffsetDateTime;

pub(crate) use decrypt::DecryptCache;
pub(crate) use encrypt::EncryptCache;

use crate::clock::{SharedClock, Stopwatch};
use crate::engine::{EngineConfig, EngineError};
use crate::envelope::EncryptionContext;
use crate::events::{CacheEntryView, EventBus, EventKind};
use crate::provider::{KeyReference, KmsError, KmsFuture, KmsOp};

/// The wrap-context key naming the project: a DEK's KMS context is `{"ekm:project": <id>}`.
pub const WRAP_CONTEXT_PROJECT: &str = "ekm:project";

/// How often (lab time) a rotation that failed transiently is tried again while the current DEK
/// keeps serving.
pub const ROTATION_RETRY: Duration = Duration::from_secs(60);

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

fn kms_failed(op: KmsOp, key: &KeyReference, source: KmsError) -> EngineError {
    EngineError::Kms {
        op,
        key: key.clone(),
        source,
    }
}

/// Both caches and the KMS calls behind them.
pub(crate) struct DekCache {
    clock: SharedClock,
    events: EventBus,
    dek_rotation: Duration,
    revalidate_after: Duration,
    retry: RetryPolicy,
    encrypt: EncryptCache,
    decrypt: DecryptCache,
}

impl DekCache {
    pub(crate) fn new(config: &EngineConfig, clock: SharedClock, events: EventBus) -> Self {
        Self {
            decrypt: DecryptCache::new(config.cache_capacity, events.clone()),
            encrypt: EncryptCache::default(),
            clock,
            events,
            dek_rotation: config.dek_rotation,
            revalidate_after: config.revalidate_after,
            retry: config.retry,
        }
    }

    /// Calls the KMS, retrying transient failures per the [`RetryPolicy`], reporting each try.
    /// Returns the value and the lab time its (successful) attempt started.
    async fn call_kms<'k, T>(
        &self,
        key: &KeyReference,
        op: KmsOp,
        call: impl Fn() -> KmsFuture<'k, T>,
    ) -> Result<(T, OffsetDateTime), KmsError> {
        let mut slept = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let started_at = self.clock.now();
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
                Ok(value) => return Ok((value, started_at)),
                Err(error) => error,
            };
            let wait = self.retry.backoff(attempt, error.retry_after());
            let within_budget = slept
                .checked_add(wait)
                .is_some_and(|total| total <= self.retry.max_total_backoff);
            if !error.is_transient() || attempt >= self.retry.max_attempts || !within_budget {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
            slept += wait;
            attempt += 1;
        }
    }

    /// Wipes and removes every entry of both caches that is past its expiry now, reporting each.
    pub(crate) fn sweep(&self) {
        let now = self.clock.now();
        self.sweep_encrypt(now);
        self.sweep_decrypt(now);
    }

    /// Every live entry of both caches, as of now (after a sweep).
    pub(crate) fn snapshot(&self) -> (OffsetDateTime, Vec<CacheEntryView>) {
        self.sweep();
        let now = self.clock.now();
        let mut entries = self.encrypt_views(now);
        entries.extend(self.decrypt_views(now));
        entries.sort_by(|a, b| {
            (a.path, &a.key, a.created_at, a.dek).cmp(&(b.path, &b.key, b.created_at, b.dek))
        });
        (now, entries)
    }
}
