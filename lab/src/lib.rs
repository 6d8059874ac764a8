//! `ekm-lab`: a whole EKM lab in one process — the mock KMS on loopback port 0 with the demo
//! tenant, and an engine that reaches it through the real AWS, GCP and Azure SDKs, both on one
//! lab clock. The console (`ekm`), the scenario runner and end-to-end tests all start their lab
//! here, so they behave the same way.
//!
//! Each registered cloud gets its own engine project (`proj_demo/aws`, `proj_demo/gcp`,
//! `proj_demo/azure`): a customer project has one EKM registration, and the lab shows three side
//! by side. The lab's API is the only way in to the mock for its users: key actions, aliases,
//! faults and the call log (`mock.rs`), the customer's access documents and other projects on the
//! same service (`access.rs`), which key wrapped an envelope and the key owner's DEK
//! recovery (`owner.rs`), the listeners' addresses and CA for clients that speak the wire; a lab
//! mock in another process is held the same way through its control API (`remote.rs`); the
//! engine's event stream and snapshot show what the engine makes of it. The mock's modules,
//! ciphertext format and state lock stay behind it.
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

mod access;
mod mock;
mod owner;
mod remote;

// The mock's own answers, re-exported as part of the lab's API so its users need no
// dependency on the mock: a key as the lab shows it, the spec of a key to create, a page of
// the call log and a page of a cloud's audit records.
pub use access::OtherProject;
pub use ekm_mock_kms::audit::AuditPage;
pub use ekm_mock_kms::calls::{CallPage, CallRecord};
pub use ekm_mock_kms::keys::KeySpec;
pub use ekm_mock_kms::state::{KeyInfo, VersionInfo};
pub use ekm_mock_kms::xks::api::ErrorName as HopErrorName;
pub use ekm_mock_kms::xks::faults::HopFaults;
pub use ekm_mock_kms::xks::manager::ExternalKeyInfo;
pub use ekm_vocab::{ExternalKeyAction, HealthStatus, VersionAction};
pub use owner::WrappingKey;
pub use remote::{MockControl, RemoteError};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ekm_engine::clock::SharedClock;
use ekm_engine::config::{Config, ConfigError, EngineSettings};
use ekm_engine::envelope::EnvelopeError;
use ekm_engine::registration::{self, Cloud, SetupError};
use ekm_engine::{
    Engine, EngineError, FsStore, KeyEncryptionKey, KeyReference, KmsError, ProjectId, StoreError,
};
use ekm_mock_kms::error::StateError;
use ekm_mock_kms::registration::ekm_yaml;
use ekm_mock_kms::server::{Limits, MockKms, Options, ServerError};
use ekm_mock_kms::tenant::Tenant;

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab clock (a `ManualClock` for scenarios and tests, a scaled `SystemClock` for demos).
    pub clock: SharedClock,
    /// Engine timings; the defaults (24 h rotation, 1 h re-validation) when absent.
    pub engine: Option<EngineSettings>,
    /// Keep objects in this directory (`<dir>/<name>.ekm`) instead of in memory.
    pub store_dir: Option<PathBuf>,
    /// Register every demo cloud's key with the engine (true by default). Connecting a
    /// provider may sign in at once (GCP exchanges its token), so harnesses that build their
    /// own engines and count every KMS call turn it off.
    pub register_demo_keys: bool,
    /// Connections the mock serves at once on each listener; its default (1,024) when absent.
    /// A fleet's providers each hold connections of their own (one SDK client per replica and
    /// project), so a fleet of thousands raises it: a real KMS endpoint does not make a fleet
    /// wait for other replicas' idle connections to close.
    pub max_connections: Option<usize>,
}

impl LabOptions {
    /// The demo lab on `clock`, default timings, objects in memory.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            engine: None,
            store_dir: None,
            register_demo_keys: true,
            max_connections: None,
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
    /// The registration the mock rendered for its tenant does not read as one (a bug between
    /// the mock and the engine, reported rather than papered over).
    #[error("the demo registration: {0}")]
    Registration(#[from] ConfigError),
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
    /// Another project cannot be connected the way it asks (a GCP subject without the lab
    /// identity provider).
    #[error("another project: {0}")]
    OtherProject(String),
    /// An envelope given to the key owner does not parse.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// An envelope's eDEK names no key of this lab.
    #[error("the eDEK does not name a key of this lab: {0}")]
    Foreign(String),
    /// An Azure eDEK's plaintext is not a DEK bound to the envelope's project.
    #[error("the Azure eDEK does not hold a DEK bound to the envelope's project: {0}")]
    Unbound(KmsError),
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
        let defaults = Options::ephemeral_with_clock(options.clock.clone());
        let mock = MockKms::start(Options {
            ca_cert: Some(ca_file.clone()),
            limits: Limits {
                max_connections: options
                    .max_connections
                    .unwrap_or(defaults.limits.max_connections),
                ..defaults.limits
            },
            ..defaults
        })
        .await?;
        let mut config = demo_registration(
            mock.lab().tenant(),
            mock.http_addr(),
            mock.https_addr(),
            &ca_file,
        )?;
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
        let keks = if options.register_demo_keys {
            registration::connect_all(&config, &options.clock).await?
        } else {
            Vec::new()
        };
        for (cloud, kek) in keks {
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

    /// The mock's plain-HTTP listener (AWS, GCP and the control API under `/_mock/v1/`).
    pub fn http_addr(&self) -> SocketAddr {
        self.mock.http_addr()
    }

    /// `http://127.0.0.1:PORT`: the base URL of the AWS and GCP endpoints and the control API,
    /// for clients that drive the mock over the wire as an outside script would.
    pub fn http_url(&self) -> String {
        self.mock.http_url()
    }

    /// The mock's HTTPS listener (Azure Key Vault and Entra).
    pub fn https_addr(&self) -> SocketAddr {
        self.mock.https_addr()
    }

    /// The CA certificate (PEM) a client must trust to reach the HTTPS listener.
    pub fn ca_cert_pem(&self) -> &str {
        self.mock.ca_cert_pem()
    }

    /// The demo registration as `ekm.yaml` text — what `mock-kms --write-config` writes — at
    /// this lab's listeners, trusting the CA certificate at `ca_file` (write
    /// [`ca_cert_pem`](Self::ca_cert_pem) there; a relative path is read beside the file).
    pub fn registration_yaml(&self, ca_file: &Path) -> String {
        ekm_yaml(
            self.mock.lab().tenant(),
            self.mock.http_addr(),
            self.mock.https_addr(),
            ca_file,
        )
    }

    /// The registration the engine was built from (the demo tenant against the mock).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine the lab registered on the mock (seal and open through it; its events and
    /// caches are what the console and the scenarios watch).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A new engine on the lab clock with the lab's timings and an in-memory store, with no
    /// project registered: another replica of the service, with DEK caches of its own (a
    /// fleet's replicas each register their projects on it with [`connect_on`](Self::connect_on)).
    pub fn replica(&self) -> Engine {
        Engine::builder(self.clock.clone())
            .config(self.config.engine.engine_config())
            .build()
    }

    /// Connects a provider of its own to the mock key `key` (a key of `cloud`) with the lab's
    /// registration — its own SDK client and sign-in session, as each replica of a service has.
    pub async fn connect_on(
        &self,
        cloud: Cloud,
        key: &KeyInfo,
    ) -> Result<Arc<dyn KeyEncryptionKey>, LabError> {
        let config = registration_on(&self.config, cloud, key)?;
        Ok(registration::connect(&config, cloud, &self.clock).await?)
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
        let kek = registration::connect(&config, cloud, &self.clock).await?;
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

/// The registration of `tenant` against a mock at `http` / `https` trusting `ca_file`: the mock's
/// own `ekm.yaml` rendering (what `mock-kms --write-config` writes), read by the engine's parser,
/// so the tenant's identities and secrets are written once, in the mock.
fn demo_registration(
    tenant: &Tenant,
    http: SocketAddr,
    https: SocketAddr,
    ca_file: &Path,
) -> Result<Config, ConfigError> {
    Config::from_yaml(
        &ekm_yaml(tenant, http, https, ca_file),
        "the mock's demo registration",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo tenant of DESIGN.md §6 as the engine reads it: valid, the project id as AWS
    /// ExternalId and GCP audience, the workload identity provider of the tenant.
    #[test]
    fn the_demo_registration_is_valid() {
        let config = demo_registration(
            &Tenant::default(),
            "127.0.0.1:4599".parse().unwrap(),
            "127.0.0.1:4600".parse().unwrap(),
            Path::new("/tmp/ca.pem"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.problems(), []);
        assert_eq!(config.project_id, "proj_demo");
        assert_eq!(config.aws_external_id(), Some("proj_demo"));
        assert_eq!(config.gcp_allowed_audience(), Some("proj_demo"));
        assert_eq!(
            config.gcp.as_ref().unwrap().sts_audience(),
            "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/providers/ekm-provider"
        );
        assert_eq!(config.engine, EngineSettings::default());
        for cloud in Cloud::ALL {
            assert!(config.registers(cloud), "{cloud}");
        }
        let azure = config.azure.as_ref().unwrap();
        assert_eq!(azure.vault_uri, "https://127.0.0.1:4600/");
        assert_eq!(azure.ca_file.as_deref(), Some(Path::new("/tmp/ca.pem")));
    }
}
