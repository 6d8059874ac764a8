//! The [`Engine`]: seal and open envelopes for projects whose KEKs are registered with it, and
//! keep named objects in an [`ObjectStore`].
//!
//! An engine is a cheap, cloneable handle (`Arc` inside): the console, the scenario runner and
//! background tasks share one. Each project has a keyring of KEK providers: the one registered
//! last seals, and every registered one can open the envelopes that name its
//! [`KeyReference`]. Registering a new key for a project ("switch-key") keeps the old one for
//! reading until it is [`unregister`](Engine::unregister)ed; after that, envelopes naming the old
//! key open only while their DEK is cached (at most `revalidate_after`), then fail with
//! [`EngineError::UnknownKey`] naming the key.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::clock::SharedClock;
use crate::dek::RngError;
use crate::dek_cache::{DekCache, RetryPolicy};
use crate::envelope::{
    self, EncryptionContext, EnvelopeError, EnvelopeHeader, Plaintext, ProjectId,
};
use crate::events::{EngineEvent, EventBus, EventKind, Operation, Snapshot};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsOp};
use crate::store::{MemoryStore, ObjectName, ObjectStore, StoreError};

/// Lifetimes, sizes and retry behaviour of an [`Engine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// How long an active encrypt-path DEK is used before a new one replaces it (default 24 h).
    pub dek_rotation: Duration,
    /// How long a DEK is used before the KMS confirms it again: decrypt-path entry lifetime and
    /// the active DEK's re-validation period (default 1 h).
    pub revalidate_after: Duration,
    /// Maximum number of decrypt-path entries (default 10 000).
    pub cache_capacity: u64,
    /// Frame length of new envelopes (default 64 KiB; 1 ..= 16 MiB).
    pub frame_len: u32,
    /// Retries of transient KMS failures.
    pub retry: RetryPolicy,
    /// Events buffered per subscriber before the slowest one lags (default 1024).
    pub event_capacity: usize,
    /// How often (real time) a background task sweeps expired DEKs out of memory (default
    /// 250 ms); see [`Engine::sweep`].
    pub sweep_every: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            dek_rotation: Duration::from_secs(24 * 3600),
            revalidate_after: Duration::from_secs(3600),
            cache_capacity: 10_000,
            frame_len: envelope::DEFAULT_FRAME_LEN,
            retry: RetryPolicy::default(),
            event_capacity: 1024,
            sweep_every: Duration::from_millis(250),
        }
    }
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The envelope is malformed, tampered with, or opened with the wrong context or DEK.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The project has no KEK to seal with.
    #[error("project {project} has no key encryption key registered")]
    NoProvider {
        /// The project.
        project: ProjectId,
    },
    /// No KEK registered for the envelope's project owns the key the envelope names.
    #[error("no key encryption key registered for project {project} is {key}")]
    UnknownKey {
        /// The envelope's project.
        project: String,
        /// The key the envelope names.
        key: KeyReference,
    },
    /// The KMS refused or failed (after retries, for transient errors).
    #[error("KMS {op} with {key}: {source}")]
    Kms {
        /// Wrap or unwrap.
        op: KmsOp,
        /// The KEK.
        key: KeyReference,
        /// The provider's error.
        #[source]
        source: KmsError,
    },
    /// The envelope belongs to another project than the one the caller acts for.
    #[error("the envelope belongs to project {envelope}, not to {caller}: refused")]
    WrongProject {
        /// The project the caller acts for.
        caller: ProjectId,
        /// The project the envelope names.
        envelope: String,
    },
    /// The object store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No randomness for a new DEK.
    #[error(transparent)]
    Rng(#[from] RngError),
}

impl EngineError {
    /// The KMS error behind this failure, if any.
    pub fn kms_error(&self) -> Option<&KmsError> {
        match self {
            Self::Kms { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The KMS said the key was revoked, disabled, deleted or destroyed.
    pub fn is_revocation(&self) -> bool {
        self.kms_error().is_some_and(KmsError::is_revocation)
    }
}

/// Builds an [`Engine`]; see [`Engine::builder`].
#[derive(Debug)]
pub struct EngineBuilder {
    clock: SharedClock,
    config: EngineConfig,
    store: Arc<dyn ObjectStore>,
    providers: Vec<(ProjectId, Arc<dyn KeyEncryptionKey>)>,
}

impl EngineBuilder {
    /// Replaces the default configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the default in-memory store.
    pub fn store(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.store = store;
        self
    }

    /// Registers `kek` for `project` (see [`Engine::register`]).
    pub fn provider(
        mut self,
        project: impl Into<ProjectId>,
        kek: Arc<dyn KeyEncryptionKey>,
    ) -> Self {
        self.providers.push((project.into(), kek));
        self
    }

    /// Builds the engine with the providers registered so far, its caches empty and its event
    /// bus started on the builder's clock.
    pub fn build(self) -> Engine {
        let events = EventBus::new(self.clock.clone(), self.config.event_capacity);
        let cache = DekCache::new(&self.config, self.clock.clone(), events.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                clock: self.clock,
                config: self.config,
                events,
                cache,
                store: self.store,
                projects: RwLock::new(HashMap::new()),
            }),
        };
        for (project, kek) in self.providers {
            engine.register(project, kek);
        }
        engine.spawn_sweeper();
        engine
    }
}

/// The envelope engine. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    clock: SharedClock,
    config: EngineConfig,
    events: EventBus,
    cache: DekCache,
    store: Arc<dyn ObjectStore>,
    projects: RwLock<HashMap<ProjectId, Keyring>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The KEKs of one project: `active` seals, all of `keys` open.
#[derive(Default)]
struct Keyring {
    active: Option<Arc<dyn KeyEncryptionKey>>,
    keys: Vec<Arc<dyn KeyEncryptionKey>>,
}

impl Engine {
    /// A builder with the default [`EngineConfig`], an in-memory store and no projects.
    pub fn builder(clock: SharedClock) -> EngineBuilder {
        EngineBuilder {
            clock,
            config: EngineConfig::default(),
            store: Arc::new(MemoryStore::new()),
            providers: Vec::new(),
        }
    }

    /// Sweeps every `sweep_every` while the engine lives, if built inside a tokio runtime.
    fn spawn_sweeper(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::downgrade(&self.inner);
        let every = self.inner.config.sweep_every.max(Duration::from_millis(1));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match inner.upgrade() {
                    Some(inner) => inner.cache.sweep(),
                    None => break,
                }
            }
        });
    }

    /// Wipes and removes every cached DEK past its expiry on the lab clock now, reporting each
    /// with [`EventKind::DekExpired`]. A background task does this every
    /// [`EngineConfig::sweep_every`], and every [`snapshot`](Self::snapshot) does it first.
    pub fn sweep(&self) {
        self.inner.cache.sweep();
    }

    fn projects(&self) -> RwLockReadGuard<'_, HashMap<ProjectId, Keyring>> {
        self.inner
            .projects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn projects_mut(&self) -> RwLockWriteGuard<'_, HashMap<ProjectId, Keyring>> {
        self.inner
            .projects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `kek` the key `project` seals with, and adds it to the keys that open the
    /// project's envelopes (replacing a provider with the same [`KeyReference`]). Keys
    /// registered before stay usable for opening.
    pub fn register(&self, project: impl Into<ProjectId>, kek: Arc<dyn KeyEncryptionKey>) {
        let mut projects = self.projects_mut();
        let keyring = projects.entry(project.into()).or_default();
        keyring
            .keys
            .retain(|k| k.key_reference() != kek.key_reference());
        keyring.keys.push(kek.clone());
        keyring.active = Some(kek);
    }

    /// Removes the key `key` from `project`: its active DEK is dropped at once, and envelopes
    /// naming it open only while their DEK stays cached. Returns whether it was registered.
    pub fn unregister(&self, project: &ProjectId, key: &KeyReference) -> bool {
        let mut projects = self.projects_mut();
        let Some(keyring) = projects.get_mut(project) else {
            return false;
        };
        let before = keyring.keys.len();
        keyring.keys.retain(|k| k.key_reference() != key);
        if keyring
            .active
            .as_ref()
            .is_some_and(|k| k.key_reference() == key)
        {
            keyring.active = None;
        }
        let removed = keyring.keys.len() != before;
        if removed {
            // Under the keyring lock: a seal that found this key active got its slot before.
            self.inner.cache.remove_active(project, key);
        }
        removed
    }

    /// The key `project` seals with, if any.
    pub fn active_key(&self, project: &ProjectId) -> Option<KeyReference> {
        self.projects()
            .get(project)
            .and_then(|keyring| keyring.active.as_ref())
            .map(|kek| kek.key_reference().clone())
    }

    /// Seals `plaintext` for `project`, binding `context`, with the project's active DEK.
    pub async fn seal(
        &self,
        project: &ProjectId,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, EngineError> {
        let mut out = Vec::new();
        self.seal_into(project, context, plaintext, &mut out)
            .await
            .map(|()| out)
    }

    /// [`seal`](Self::seal) into `out`, replacing what it held and reusing its capacity (see
    /// [`envelope::seal_into`]). On error `out` is left empty.
    pub async fn seal_into(
        &self,
        project: &ProjectId,
        context: &EncryptionContext,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EngineError> {
        let sealed = self.seal_envelope(project, context, plaintext, out).await;
        if sealed.is_err() {
            out.clear();
        }
        self.report(Operation::Seal, Some(project), sealed)
    }

    /// Opens `envelope` for `project`, the project the caller acts for. The envelope must have
    /// been sealed for that project with exactly `context`; another project's envelope is refused
    /// with [`EngineError::WrongProject`] before any KMS call.
    pub async fn open(
        &self,
        project: &ProjectId,
        envelope: &[u8],
        context: &EncryptionContext,
    ) -> Result<Plaintext, EngineError> {
        let mut out = Plaintext::default();
        self.open_into(project, envelope, context, &mut out)
            .await
            .map(|()| out)
    }

    /// [`open`](Self::open) into `out`, replacing what it held and reusing its buffer (see
    /// [`Envelope::open_into`](envelope::Envelope::open_into)). On error `out` is wiped and
    /// left empty.
    pub async fn open_into(
        &self,
        project: &ProjectId,
        envelope: &[u8],
        context: &EncryptionContext,
        out: &mut Plaintext,
    ) -> Result<(), EngineError> {
        let opened = self.open_envelope(project, envelope, context, out).await;
        if opened.is_err() {
            out.clear();
        }
        self.report(Operation::Open, Some(project), opened)
    }

    /// Seals `plaintext` for `project` and stores the envelope as `name`.
    pub async fn put(
        &self,
        name: &ObjectName,
        project: &ProjectId,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<(), EngineError> {
        let stored = async {
            let mut envelope = Vec::new();
            self.seal_envelope(project, context, plaintext, &mut envelope)
                .await?;
            let name = name.clone();
            self.with_store(move |store| store.put(&name, &envelope))
                .await
        }
        .await;
        self.report(Operation::Put, Some(project), stored)
    }

    /// Reads the object `name` and opens it for `project` with `context` (see
    /// [`open`](Self::open)).
    pub async fn get(
        &self,
        name: &ObjectName,
        project: &ProjectId,
        context: &EncryptionContext,
    ) -> Result<Plaintext, EngineError> {
        let read = async {
            let name = name.clone();
            let envelope = self.with_store(move |store| store.get(&name)).await?;
            let mut plaintext = Plaintext::default();
            self.open_envelope(project, &envelope, context, &mut plaintext)
                .await
                .map(|()| plaintext)
        }
        .await;
        self.report(Operation::Get, Some(project), read)
    }

    /// A receiver of every [`EngineEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// Both DEK caches as of now (lab time).
    pub fn snapshot(&self) -> Snapshot {
        let (at, entries) = self.inner.cache.snapshot();
        Snapshot { at, entries }
    }

    /// The lab clock every time-based decision reads.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The timings and limits the engine was built with (rotation, revalidation, cache sizes).
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The object store behind [`put`](Self::put) and [`get`](Self::get).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    async fn seal_envelope(
        &self,
        project: &ProjectId,
        context: &EncryptionContext,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EngineError> {
        let (kek, slot) = {
            let projects = self.projects();
            let kek = projects
                .get(project)
                .and_then(|keyring| keyring.active.clone())
                .ok_or_else(|| EngineError::NoProvider {
                    project: project.clone(),
                })?;
            let slot = self.inner.cache.slot(project, kek.key_reference());
            (kek, slot)
        };
        let active = self
            .inner
            .cache
            .active_dek(&slot, project, kek.as_ref())
            .await?;
        let header = active.issued.header.as_ref().map_err(Clone::clone)?;
        Ok(envelope::seal_prefixed_into(
            &active.dek,
            header,
            context,
            self.inner.config.frame_len,
            plaintext,
            out,
        )?)
    }

    async fn open_envelope(
        &self,
        project: &ProjectId,
        envelope: &[u8],
        context: &EncryptionContext,
        out: &mut Plaintext,
    ) -> Result<(), EngineError> {
        let parsed = envelope::parse(envelope)?;
        let header = parsed.header();
        if header.project() != project.as_str() {
            return Err(EngineError::WrongProject {
                caller: project.clone(),
                envelope: header.project().to_owned(),
            });
        }
        parsed.check_context(context)?;
        let cached = self
            .inner
            .cache
            .dek_for(header, || self.kek_for(header))
            .await?;
        Ok(parsed.open_into(&cached.dek, context, out)?)
    }

    /// The registered KEK that owns the key `header` names, for the header's project.
    fn kek_for(&self, header: &EnvelopeHeader<'_>) -> Option<Arc<dyn KeyEncryptionKey>> {
        self.projects().get(header.project()).and_then(|keyring| {
            keyring
                .keys
                .iter()
                .find(|kek| header.names_key(kek.key_reference()))
                .cloned()
        })
    }

    async fn with_store<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn ObjectStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || op(store.as_ref()))
            .await
            .map_err(|e| StoreError::TaskFailed {
                message: e.to_string(),
            })?
            .map_err(EngineError::from)
    }

    /// Reports a failed operation on the event stream and passes the result through.
    fn report<T>(
        &self,
        op: Operation,
        project: Option<&ProjectId>,
        result: Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        if let Err(error) = &result {
            self.inner.events.emit(|| EventKind::OperationFailed {
                op,
                project: project.cloned(),
                error: error.to_string(),
            });
        }
        result
    }
}
