//! What the engine reports: a stream of [`EngineEvent`]s (KMS calls, cache hits and misses, DEK
//! lifecycle, failures), each stamped with lab time, and a [`Snapshot`] of both DEK caches for UIs.
//!
//! Events go out on a `tokio::sync::broadcast` channel ([`Engine::subscribe`]); a slow subscriber
//! loses the oldest events (`RecvError::Lagged`) rather than slowing the engine. When nobody
//! subscribes, events are not even built.
//!
//! [`Engine::subscribe`]: crate::Engine::subscribe

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::clock::SharedClock;
use crate::dek::DekId;
use crate::envelope::ProjectId;
use crate::provider::{KeyReference, KmsError, KmsOp};

/// One thing that happened in the engine, at a lab time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// Lab time ([`Clock::now`](crate::clock::Clock::now)) when it happened.
    pub at: OffsetDateTime,
    /// What happened, with the project, KEK and DEK it concerns.
    pub kind: EventKind,
}

/// The kinds of engine event: KMS calls, DEK cache hits and misses, DEK creation, rotation,
/// revalidation, expiry and eviction, failed operations: what the console's panes and the
/// scenario reports are drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// One KMS round trip (each retry is its own event). The provider kind is `key.provider()`.
    KmsCall {
        /// Wrap or unwrap.
        op: KmsOp,
        /// The KEK called.
        key: KeyReference,
        /// `Ok` or the provider's error.
        outcome: Result<(), KmsError>,
        /// Real (wall-clock) latency of the call.
        latency: Duration,
    },
    /// A seal found a usable active DEK, or an open a live decrypt entry.
    CacheHit {
        /// Which cache.
        path: CachePath,
        /// The DEK used.
        dek: DekId,
        /// Its KEK.
        key: KeyReference,
    },
    /// No usable entry: a KMS call follows. `dek` is `None` on the encrypt path (no DEK yet).
    CacheMiss {
        /// Which cache.
        path: CachePath,
        /// The DEK looked up (decrypt path).
        dek: Option<DekId>,
        /// The KEK that will be called.
        key: KeyReference,
    },
    /// A new active DEK for a project was wrapped (encrypt path, first use).
    DekCreated {
        /// The project.
        project: ProjectId,
        /// The KEK that wrapped it.
        key: KeyReference,
        /// The new DEK.
        dek: DekId,
    },
    /// The active DEK reached `dek_rotation` and was replaced.
    DekRotated {
        /// The project.
        project: ProjectId,
        /// The KEK.
        key: KeyReference,
        /// The retired DEK (its data stays readable through the decrypt path).
        old: DekId,
        /// The new active DEK.
        new: DekId,
    },
    /// An entry older than `revalidate_after` was confirmed with the KMS (a fresh unwrap).
    DekRevalidated {
        /// Which cache.
        path: CachePath,
        /// The DEK.
        dek: DekId,
        /// Its KEK.
        key: KeyReference,
    },
    /// The KMS failed transiently when the active DEK was due for rotation: the current DEK
    /// keeps sealing (it was validated less than `revalidate_after` ago) and the rotation is
    /// tried again at `until` at the latest.
    RotationDeferred {
        /// The project.
        project: ProjectId,
        /// The KEK.
        key: KeyReference,
        /// The DEK that keeps sealing.
        dek: DekId,
        /// When the rotation is tried again.
        until: OffsetDateTime,
    },
    /// An entry reached its lab-time TTL: its key material was wiped (decrypt entries are
    /// removed; an active DEK keeps its public part until the next seal re-validates it).
    DekExpired {
        /// Which cache.
        path: CachePath,
        /// The DEK.
        dek: DekId,
        /// Its KEK.
        key: KeyReference,
    },
    /// An entry left a cache.
    DekEvicted {
        /// Which cache.
        path: CachePath,
        /// The DEK.
        dek: DekId,
        /// Its KEK.
        key: KeyReference,
        /// Why.
        reason: EvictionReason,
    },
    /// A public engine operation failed.
    OperationFailed {
        /// Which operation.
        op: Operation,
        /// The project, when known.
        project: Option<ProjectId>,
        /// The error, rendered.
        error: String,
    },
}

/// The two DEK caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CachePath {
    /// Active DEKs used to seal, one per (project, KEK).
    Encrypt,
    /// eDEK → DEK entries used to open.
    Decrypt,
}

impl fmt::Display for CachePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
        })
    }
}

/// Why an entry left a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvictionReason {
    /// The decrypt cache was full.
    Capacity,
    /// The KMS answered with a revocation-class error.
    Revoked,
    /// The KEK was unregistered from the project.
    Unregistered,
}

/// The engine's public operations, as named in [`EventKind::OperationFailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// [`Engine::seal`](crate::Engine::seal).
    Seal,
    /// [`Engine::open`](crate::Engine::open).
    Open,
    /// [`Engine::put`](crate::Engine::put).
    Put,
    /// [`Engine::get`](crate::Engine::get).
    Get,
}

/// Both DEK caches at one lab time, for UIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The lab time of the snapshot.
    pub at: OffsetDateTime,
    /// Encrypt-path entries first, then decrypt-path; each group by key, then creation time.
    pub entries: Vec<CacheEntryView>,
}

impl Snapshot {
    /// The entries of one cache.
    pub fn path(&self, path: CachePath) -> impl Iterator<Item = &CacheEntryView> {
        self.entries.iter().filter(move |e| e.path == path)
    }
}

/// One cached DEK as a UI shows it. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntryView {
    /// Which cache.
    pub path: CachePath,
    /// The DEK's id (`dek.short()` for display).
    pub dek: DekId,
    /// Its KEK.
    pub key: KeyReference,
    /// The project it belongs to.
    pub project: ProjectId,
    /// When the DEK was created (encrypt) or first fetched into this entry (decrypt).
    pub created_at: OffsetDateTime,
    /// When the KMS last confirmed it: last wrap or re-validation (encrypt), the unwrap (decrypt).
    pub fetched_at: OffsetDateTime,
    /// `at - created_at`.
    pub age: Duration,
    /// Seals (encrypt) or opens (decrypt) served by this entry.
    pub uses: u64,
    /// When it must be re-validated with the KMS: `fetched_at + revalidate_after`.
    pub expires_at: OffsetDateTime,
    /// Encrypt path: when the DEK will be replaced, `created_at + dek_rotation`.
    pub next_rotation: Option<OffsetDateTime>,
    /// Whether `at >= expires_at` (waiting for its next use to re-validate).
    pub expired: bool,
}

/// The sending side of the event stream: stamps events with lab time.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<EngineEvent>,
    clock: SharedClock,
}

impl EventBus {
    pub(crate) fn new(clock: SharedClock, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender, clock }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.sender.subscribe()
    }

    /// Sends the event `kind()` builds, if anyone listens.
    pub(crate) fn emit(&self, kind: impl FnOnce() -> EventKind) {
        if self.sender.receiver_count() > 0 {
            // Err only means every receiver was dropped meanwhile: nobody to tell.
            let _ = self.sender.send(EngineEvent {
                at: self.clock.now(),
                kind: kind(),
            });
        }
    }
}
