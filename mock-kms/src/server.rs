//! Starting and stopping the mock: binds the two listeners (plain HTTP for AWS, GCP and the
//! control API; HTTPS for Azure), seeds the lab, and serves until shut down.
//!
//! Used by the `mock-kms` binary and in-process by tests, the scenario runner and the console:
//!
//! ```no_run
//! # async fn demo() -> Result<(), ekm_mock_kms::server::ServerError> {
//! use ekm_mock_kms::server::{MockKms, Options};
//! let mock = MockKms::start(Options::ephemeral()).await?; // port 0, demo tenant
//! println!("{:?}", mock.start_line());
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ekm_clock::{SharedClock, SystemClock};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::access::{AwsAccess, AzureAccess, GcpAccess};
use crate::config::LabConfig;
use crate::error::StateError;
pub use crate::listener::Limits;
use crate::listener::{self, Serving};
use crate::state::Kms;
use crate::store::{SavedClock, StateFile, StoreError};
use crate::tenant::Tenant;
use crate::tls::{LabTls, TlsError};
use crate::{aws, azure, control, gcp, xks};
use ekm_vocab::Cloud;

/// Largest request body any route accepts (AWS KMS caps requests far below this).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How to start the mock.
#[derive(Debug, Clone)]
pub struct Options {
    /// Plain-HTTP listener (AWS, GCP, control API). Loopback only; port 0 picks a free port.
    pub http: SocketAddr,
    /// HTTPS listener (Azure). Loopback only; port 0 picks a free port.
    pub https: SocketAddr,
    /// Where to write the CA certificate (PEM); `None` keeps it in memory only.
    pub ca_cert: Option<PathBuf>,
    /// Identities and resource names.
    pub tenant: Tenant,
    /// Seed the tenant's demo keys (`aws-demo`, `gcp-demo`, `azure-demo`).
    pub seed_demo_keys: bool,
    /// The lab clock (share a `ManualClock` with the engine for simulated time).
    pub clock: SharedClock,
    /// A `--config` file: its tenant replaces `tenant` and its keys the demo keys.
    pub config: Option<LabConfig>,
    /// `--state FILE`: load the lab from it when it exists, and save every change to it.
    pub state_file: Option<PathBuf>,
    /// Read timeouts and the connection cap of both listeners.
    pub limits: Limits,
}

impl Options {
    /// Port 0 on 127.0.0.1 for both listeners, the demo tenant and keys, real time.
    pub fn ephemeral() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            https: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_cert: None,
            tenant: Tenant::default(),
            seed_demo_keys: true,
            clock: Arc::new(SystemClock::new()),
            config: None,
            state_file: None,
            limits: Limits::default(),
        }
    }

    /// The same, on the given clock.
    pub fn ephemeral_with_clock(clock: SharedClock) -> Self {
        Self {
            clock,
            ..Self::ephemeral()
        }
    }
}

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener address is not a loopback address: the lab never listens beyond this machine.
    #[error("refusing to listen on {0}: the mock KMS listens on loopback addresses only")]
    NotLoopback(SocketAddr),
    /// Binding a listener failed.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the CA certificate failed.
    #[error("could not write the CA certificate to {path}: {source}")]
    CaCert {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Seeding the lab failed.
    #[error("could not seed the lab: {0}")]
    Seed(#[from] StateError),
    /// The state file could not be loaded or written.
    #[error(transparent)]
    State(#[from] StoreError),
}

/// The start line printed on stdout (contract: DESIGN.md §4).
#[derive(Debug, Clone, Serialize)]
pub struct StartLine {
    /// Bound plain-HTTP address.
    pub http: SocketAddr,
    /// Bound HTTPS address.
    pub https: SocketAddr,
    /// Absolute path of the CA certificate, if written.
    pub ca_cert: Option<PathBuf>,
}

/// What the two listeners serve, without the listeners: [`MockKms::start`] serves exactly these,
/// and in-process drivers (the fuzz targets, `tower::ServiceExt::oneshot`) call them directly.
#[derive(Debug, Clone)]
pub struct Routers {
    /// The plain-HTTP listener's routes: control API, GCP, AWS.
    pub http: Router,
    /// The HTTPS listener's routes: Azure Key Vault and Entra ID, and the XKS proxy.
    pub https: Router,
}

impl Routers {
    /// The routes of a mock serving `kms`.
    pub fn new(kms: &Arc<Kms>) -> Self {
        let http = Router::new()
            .merge(control::router(kms.clone()))
            .merge(gcp::router(kms.clone()))
            .merge(aws::router(kms.clone()))
            .merge(xks::control::router(kms.clone()))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
        let https = azure::router(kms.clone())
            .layer(axum::middleware::from_fn_with_state(
                xks::proxy::router(kms.clone()),
                xks::proxy::intercept,
            ))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
        Self { http, https }
    }
}

/// A running mock KMS.
#[derive(Debug)]
pub struct MockKms {
    lab: Arc<Kms>,
    start: StartLine,
    ca_pem: String,
    http: Serving,
    https: Serving,
    sweeper: JoinHandle<()>,
}

fn bind(addr: SocketAddr) -> Result<StdTcpListener, ServerError> {
    if !addr.ip().is_loopback() {
        return Err(ServerError::NotLoopback(addr));
    }
    let listener =
        StdTcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok(listener)
}

/// How often the lab clock is checked for passed deletion dates (real time).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Destroys keys whose deletion date passed on the lab clock, within [`SWEEP_EVERY`] of real
/// time, even when no request comes to do it.
async fn sweep_deletions(lab: Arc<Kms>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticks.tick().await;
        lab.settle_deletions();
    }
}

/// Moves a clock that is behind the saved one to where the saved one would be now (its offset
/// from wall time applied again), so lab time never goes back across a restart. A clock
/// already at or past the saved time (one shared in-process) is left alone.
fn resume_clock(lab: &Kms, saved: SavedClock) -> Result<(), ServerError> {
    let now = lab.now();
    if now < saved.lab_time {
        let by = std::time::Duration::try_from(saved.resume_at(ekm_clock::wall_time()) - now)
            .unwrap_or_default();
        lab.advance_clock(by)?;
    }
    Ok(())
}

fn local_addr(listener: &StdTcpListener, addr: SocketAddr) -> Result<SocketAddr, ServerError> {
    listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })
}

impl MockKms {
    /// Binds both listeners, seeds the lab and starts serving. Must run inside a tokio runtime.
    pub async fn start(options: Options) -> Result<Self, ServerError> {
        let http_listener = bind(options.http)?;
        let https_listener = bind(options.https)?;
        let http_addr = local_addr(&http_listener, options.http)?;
        let https_addr = local_addr(&https_listener, options.https)?;

        let tls = LabTls::generate()?;
        let ca_cert = match options.ca_cert {
            Some(path) => {
                let path = std::path::absolute(&path).unwrap_or(path);
                std::fs::write(&path, &tls.ca_pem).map_err(|source| ServerError::CaCert {
                    path: path.clone(),
                    source,
                })?;
                Some(path)
            }
            None => None,
        };

        let tenant = match &options.config {
            Some(config) => config.tenant.clone(),
            None => options.tenant,
        };
        let lab = Arc::new(Kms::new(
            options.clock,
            tenant,
            format!("https://{https_addr}"),
        ));
        lab.xks().hop().trust_ca(&tls.ca_pem);
        let state_file = options.state_file.map(StateFile::new);
        let saved = match &state_file {
            Some(file) => file.load()?,
            None => None,
        };
        match (saved, &options.config) {
            (Some(saved), _) => {
                if let Some(clock) = saved.clock {
                    resume_clock(&lab, clock)?;
                }
                let mut state = saved.state;
                let tenant = lab.tenant();
                if !saved.has_access_documents {
                    state.aws_access = AwsAccess::from_switches(tenant, state.keys.values());
                }
                if !saved.has_gcp_documents {
                    let gcp_keys = state.keys.values().filter(|k| k.provider == Cloud::Gcp);
                    let switches = gcp_keys.map(|k| (k.id.as_str(), k.access, k.trust));
                    state.gcp_access = GcpAccess::from_switches(tenant, switches);
                }
                if !saved.has_azure_documents {
                    let azure_keys = state.keys.values().filter(|k| k.provider == Cloud::Azure);
                    let switches = azure_keys.map(|k| (k.id.as_str(), k.access, k.trust));
                    state.azure_access = AzureAccess::from_switches(tenant, switches);
                }
                lab.write(|current| {
                    *current = state;
                    Ok(())
                })?;
            }
            (None, Some(config)) => config.seed(&lab)?,
            (None, None) if options.seed_demo_keys => lab.seed_demo_keys()?,
            (None, None) => {}
        }
        if let Some(file) = state_file {
            // Deletion dates passed while the mock was down are applied (and their material
            // leaves the file) before anything is served.
            lab.read(|state| file.save(state, lab.now()))?;
            lab.observe_changes(Box::new(file))?;
        }
        let sweeper = tokio::spawn(sweep_deletions(lab.clone()));

        let Routers {
            http: http_router,
            https: https_router,
        } = Routers::new(&lab);

        let bind_error = |addr| move |source| ServerError::Bind { addr, source };
        let http = listener::serve(http_listener, http_router, None, options.limits)
            .map_err(bind_error(http_addr))?;
        let https = listener::serve(
            https_listener,
            https_router,
            Some(TlsAcceptor::from(tls.server_config)),
            options.limits,
        )
        .map_err(bind_error(https_addr))?;

        Ok(Self {
            lab,
            start: StartLine {
                http: http_addr,
                https: https_addr,
                ca_cert,
            },
            ca_pem: tls.ca_pem,
            http,
            https,
            sweeper,
        })
    }

    /// The shared lab state (keys, faults, call log, clock).
    pub fn lab(&self) -> &Arc<Kms> {
        &self.lab
    }

    /// The bound plain-HTTP address (AWS, GCP, control API).
    pub fn http_addr(&self) -> SocketAddr {
        self.start.http
    }

    /// The bound HTTPS address (Azure).
    pub fn https_addr(&self) -> SocketAddr {
        self.start.https
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.start.http)
    }

    /// `https://127.0.0.1:PORT` (the Azure vault URL).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.start.https)
    }

    /// The CA certificate clients must trust for the HTTPS listener (PEM).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The start line: bound addresses and the CA path.
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// Connections open now on the http and the https listener.
    pub fn open_connections(&self) -> (usize, usize) {
        (self.http.open_connections(), self.https.open_connections())
    }

    /// Stops both listeners, letting requests in flight finish for up to 5 s.
    pub async fn shutdown(self) {
        self.sweeper.abort();
        let grace = std::time::Duration::from_secs(5);
        tokio::join!(self.http.shutdown(grace), self.https.shutdown(grace));
    }
}
