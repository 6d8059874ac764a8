//! `ekm-lab`: a whole EKM lab in one process — the mock KMS on loopback port 0 with the demo
//! tenant, and an engine that reaches it through the real AWS, GCP and Azure SDKs, both on one
//! lab clock. The console (`ekm`), the scenario runner and end-to-end tests all start their lab
//! here, so they behave the same way.
//!
//! Each registered cloud gets its own engine project (`proj_demo/aws`, `proj_demo/gcp`,
//! `proj_demo/azure`): a customer project has one EKM registration, and the lab shows three side
//! by side. The mock's own API ([`MockKms::lab`]) changes keys, faults and time; the engine's
//! event stream and snapshot show what the engine makes of it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ekm_lab::LabError> {
//! use std::sync::Arc;
//! use ekm_engine::clock::ManualClock;
//! use ekm_engine::registration::Cloud;
//! use ekm_engine::EncryptionContext;
//! use ekm_lab::{EmbeddedLab, LabOptions};
//!
//! let lab = EmbeddedLab::start(LabOptions::new(Arc::new(ManualClock::default()))).await?;
//! let project = lab.project(Cloud::Aws).expect("the demo registers AWS");
//! let context = EncryptionContext::new().with("object", "hello.txt");
//! let envelope = lab.engine().seal(&project, &context, b"hello").await?;
//! # Ok(()) }
//! ```

mod mock;

pub use ekm_mock_kms::calls::{CallPage, CallRecord};
pub use ekm_mock_kms::keys::KeySpec;
pub use ekm_mock_kms::state::KeyInfo;
pub use ekm_mock_kms::xks::api::ErrorName as HopErrorName;
pub use ekm_mock_kms::xks::faults::HopFaults;
pub use ekm_mock_kms::xks::manager::{ExternalKeyAction, ExternalKeyInfo, HealthStatus};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ekm_engine::clock::SharedClock;
use ekm_engine::config::{Config, EngineSettings, MockEndpoints};
use ekm_engine::registration::{self, Cloud, SetupError};
use ekm_engine::{Engine, EngineError, FsStore, KeyReference, ProjectId, StoreError};
use ekm_mock_kms::error::StateError;
use ekm_mock_kms::server::{MockKms, Options, ServerError};

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab clock (a `ManualClock` for scenarios and tests, a scaled `SystemClock` for demos).
    pub clock: SharedClock,
    /// Engine timings; the defaults (24 h rotation, 1 h re-validation) when absent.
    pub engine: Option<EngineSettings>,
    /// Keep objects in this directory (`<dir>/<name>.ekm`) instead of in memory.
    pub store_dir: Option<PathBuf>,
}

impl LabOptions {
    /// The demo lab on `clock`, default timings, objects in memory.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            engine: None,
            store_dir: None,
        }
    }
}

/// Why a lab could not start or change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The mock KMS did not start.
    #[error("mock KMS: {0}")]
    Mock(#[from] ServerError),
    /// A provider could not be set up.
    #[error("provider: {0}")]
    Setup(#[from] SetupError),
    /// The object store or the CA file could not be prepared.
    #[error("{what}: {source}")]
    Io {
        /// What was being prepared.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The object store directory is unusable.
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The mock refused a key change, a fault or a lookup (unknown key, invalid request).
    #[error(transparent)]
    Refused(#[from] StateError),
    /// A key named in a request does not exist in the mock or is of another cloud.
    #[error("{0}")]
    UnknownKey(String),
}

/// A running lab.
#[derive(Debug)]
pub struct EmbeddedLab {
    clock: SharedClock,
    mock: MockKms,
    config: Config,
    engine: Engine,
    projects: BTreeMap<Cloud, ProjectId>,
    _ca_dir: tempfile::TempDir,
}

impl EmbeddedLab {
    /// Starts the mock KMS (demo tenant) and an engine with every demo provider registered.
    pub async fn start(options: LabOptions) -> Result<Self, LabError> {
        let ca_dir = tempfile::tempdir().map_err(|source| LabError::Io {
            what: "temporary directory for the mock's CA certificate",
            source,
        })?;
        let ca_file = ca_dir.path().join("ekm-lab-ca.pem");
        let mock = MockKms::start(Options {
            ca_cert: Some(ca_file.clone()),
            ..Options::ephemeral_with_clock(options.clock.clone())
        })
        .await?;
        let mut config = Config::demo(&MockEndpoints {
            http: mock.http_addr(),
            https: mock.https_addr(),
            ca_file,
        });
        if let Some(engine) = options.engine {
            config.engine = engine;
        }
        let mut builder =
            Engine::builder(options.clock.clone()).config(config.engine.engine_config());
        if let Some(dir) = options.store_dir {
            std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
                what: "object store directory",
                source,
            })?;
            builder = builder.store(Arc::new(FsStore::open(dir)?));
        }
        let engine = builder.build();
        let mut projects = BTreeMap::new();
        for (cloud, kek) in registration::connect_all(&config).await? {
            let project = ProjectId::from(format!("{}/{cloud}", config.project_id).as_str());
            engine.register(project.clone(), kek);
            projects.insert(cloud, project);
        }
        Ok(Self {
            clock: options.clock,
            mock,
            config,
            engine,
            projects,
            _ca_dir: ca_dir,
        })
    }

    /// The lab clock shared by the mock and the engine.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The mock KMS: `mock().lab()` changes keys, faults and reads the call log in-process;
    /// `mock().http_url()` serves the same over the control API.
    pub fn mock(&self) -> &MockKms {
        &self.mock
    }

    /// The registration the engine was built from (the demo tenant against the mock).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The clouds with a registered key, in display order.
    pub fn clouds(&self) -> impl Iterator<Item = Cloud> + '_ {
        self.projects.keys().copied()
    }

    /// The engine project registered with `cloud`'s key.
    pub fn project(&self, cloud: Cloud) -> Option<ProjectId> {
        self.projects.get(&cloud).cloned()
    }

    /// Re-registers `cloud`'s project on the mock key `key_name` (the seed's "switching the KMS
    /// identifier"): new data is sealed under it; data under the old key stays readable only
    /// while its DEK is cached, then never again.
    pub async fn switch_key(&self, cloud: Cloud, key_name: &str) -> Result<KeyReference, LabError> {
        let project = self.project(cloud).ok_or_else(|| {
            LabError::UnknownKey(format!("{cloud} is not registered in this lab"))
        })?;
        let key = self
            .mock
            .lab()
            .key_info(key_name)
            .map_err(|e| LabError::UnknownKey(e.to_string()))?;
        let config = registration_on(&self.config, cloud, &key)?;
        let kek = registration::connect(&config, cloud).await?;
        let reference = kek.key_reference().clone();
        let old = self.engine.active_key(&project);
        self.engine.register(project.clone(), kek);
        if let Some(old) = old.filter(|old| *old != reference) {
            self.engine.unregister(&project, &old);
        }
        Ok(reference)
    }

    /// Stops the mock KMS.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}

/// Every outcome word the call log gives a failed hop to the external key manager (`timeout`,
/// `unreachable`, `malformed-response`, each XKS error name, …).
pub fn hop_failure_outcomes() -> Vec<&'static str> {
    ekm_mock_kms::xks::hop::HopFailure::all()
        .into_iter()
        .map(|failure| failure.outcome())
        .collect()
}

/// `config` with `cloud`'s registration moved to the mock key `key`.
pub fn registration_on(config: &Config, cloud: Cloud, key: &KeyInfo) -> Result<Config, LabError> {
    let mismatch = || {
        LabError::UnknownKey(format!(
            "key `{}` is a {} key, not {cloud}",
            key.name, key.provider
        ))
    };
    if key.provider != cloud {
        return Err(mismatch());
    }
    let last_segment = key.id.rsplit('/').next().unwrap_or(&key.id).to_owned();
    let mut config = config.clone();
    match cloud {
        Cloud::Aws => config.aws.as_mut().ok_or_else(mismatch)?.key_arn = key.id.clone(),
        Cloud::Gcp => config.gcp.as_mut().ok_or_else(mismatch)?.key_name = last_segment,
        Cloud::Azure => config.azure.as_mut().ok_or_else(mismatch)?.key_name = last_segment,
    }
    Ok(config)
}
