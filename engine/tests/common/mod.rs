//! A lab for engine tests: a manual clock, one in-memory KEK and an engine on them.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the lab"
)]

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock};
use ekm_engine::dek_cache::WRAP_CONTEXT_PROJECT;
use ekm_engine::envelope;
use ekm_engine::provider::memory::MemoryKek;
use ekm_engine::{
    Dek, EncryptionContext, Engine, EngineConfig, KeyEncryptionKey, ProjectId, RetryPolicy,
};

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
pub(crate) const SECOND: Duration = Duration::from_secs(1);

pub(crate) struct Lab {
    pub clock: Arc<ManualClock>,
    pub kek: Arc<MemoryKek>,
    pub engine: Engine,
    pub project: ProjectId,
    pub context: EncryptionContext,
}

impl Lab {
    pub(crate) fn new() -> Self {
        Self::with_config(EngineConfig::default())
    }

    pub(crate) fn with_config(config: EngineConfig) -> Self {
        let clock = Arc::new(ManualClock::default());
        let kek = Arc::new(MemoryKek::new("lab"));
        let project = ProjectId::from("proj_lab");
        let engine = Engine::builder(clock.clone())
            .config(config)
            .provider(project.clone(), kek.clone())
            .build();
        Self {
            clock,
            kek,
            engine,
            project,
            context: EncryptionContext::new().with("object", "notes.txt"),
        }
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub(crate) async fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        self.engine
            .seal(&self.project, &self.context, plaintext)
            .await
            .expect("seal")
    }

    pub(crate) async fn open(&self, envelope: &[u8]) -> Result<Vec<u8>, ekm_engine::EngineError> {
        self.engine
            .open(&self.project, envelope, &self.context)
            .await
            .map(|plaintext| plaintext.to_vec())
    }

    /// The DEK inside an envelope, recovered through the KEK as a test oracle.
    pub(crate) async fn dek_of(&self, envelope: &[u8]) -> Dek {
        let parsed = envelope::parse(envelope).expect("parse");
        let header = parsed.header();
        let context = EncryptionContext::new().with(WRAP_CONTEXT_PROJECT, header.project());
        self.kek
            .unwrap(header.edek(), header.key_version(), &context)
            .await
            .expect("oracle unwrap")
    }
}

/// A retry policy that never sleeps long, for tests that exhaust it.
pub(crate) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_total_backoff: Duration::from_millis(10),
    }
}

pub(crate) fn dek_id(envelope: &[u8]) -> ekm_engine::DekId {
    envelope::parse(envelope).expect("parse").header().dek_id()
}
