//! `mock-kms`: the EKM Lab mock KMS as a process (contract: DESIGN.md §4).
//!
//! Prints one JSON line with the bound addresses on stdout
//! (`{"http":"127.0.0.1:P","https":"127.0.0.1:Q","ca_cert":"PATH"}`), then serves until Ctrl-C or
//! SIGTERM. Logs go to stderr, filtered by `RUST_LOG` (default `info`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ekm_mock_kms::config::LabConfig;
use ekm_mock_kms::server::{Limits, MockKms, Options};

/// A local AWS KMS / Google Cloud KMS / Azure Key Vault for rehearsing key management.
#[derive(Debug, Parser)]
#[command(name = "mock-kms", version)]
struct Cli {
    /// Plain-HTTP listener: AWS KMS + STS, GCP KMS + STS, the control API (port 0 = any free).
    #[arg(long, default_value = "127.0.0.1:4599")]
    http: SocketAddr,
    /// HTTPS listener: Azure Key Vault + Entra ID (port 0 = any free).
    #[arg(long, default_value = "127.0.0.1:4600")]
    https: SocketAddr,
    /// Where to write the HTTPS listener's CA certificate (PEM) [default: a file in the temp
    /// directory, removed at exit].
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// YAML file seeding tenants, identities, keys, aliases and access documents instead of the
    /// demo tenant.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Persist the key store to this file (loaded at start when it exists).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Write a ready `ekm.yaml` for this mock (its tenant, bound ports and CA file) to PATH
    /// once listening: `ekm check --config PATH` then works as is.
    #[arg(long, value_name = "PATH")]
    write_config: Option<PathBuf>,
    /// Seconds a client has to finish the TLS handshake and then start its first request.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..), default_value_t = Limits::default().header_read_timeout.as_secs())]
    header_timeout: u64,
    /// Seconds a client has to send a request body, from the end of its head.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..), default_value_t = Limits::default().body_read_timeout.as_secs())]
    body_timeout: u64,
    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..), default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Connections served at once per listener; more wait until others close.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();

    let default_ca = cli.ca_cert.is_none();
    let ca_cert = cli.ca_cert.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ekm-mock-kms-ca-{}.pem", std::process::id()))
    });
    let config = cli
        .config
        .as_deref()
        .map(LabConfig::from_file)
        .transpose()?;
    let options = Options {
        http: cli.http,
        https: cli.https,
        ca_cert: Some(ca_cert.clone()),
        config,
        state_file: cli.state,
        limits: Limits {
            header_read_timeout: Duration::from_secs(cli.header_timeout),
            body_read_timeout: Duration::from_secs(cli.body_timeout),
            idle_timeout: Duration::from_secs(cli.idle_timeout),
            max_connections: cli.max_connections,
        },
        ..Options::ephemeral()
    };
    let mock = MockKms::start(options).await?;
    // The handlers exist before the start line: a caller may signal as soon as it reads it.
    let shutdown = ShutdownSignal::install()?;
    if let Some(path) = &cli.write_config {
        let ca = std::path::absolute(&ca_cert).unwrap_or_else(|_| ca_cert.clone());
        let yaml = ekm_mock_kms::registration::ekm_yaml(
            mock.lab().tenant(),
            mock.http_addr(),
            mock.https_addr(),
            &ca,
        );
        std::fs::write(path, yaml)
            .with_context(|| format!("cannot write the registration {}", path.display()))?;
    }
    let line = serde_json::to_string(mock.start_line())?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}").context("writing the start line")?;
        stdout.flush().context("writing the start line")?;
    }
    tracing::info!(http = %mock.http_addr(), https = %mock.https_addr(), "mock KMS serving");

    shutdown.recv().await?;
    tracing::info!("shutting down");
    mock.shutdown().await;
    if default_ca {
        let _ = std::fs::remove_file(&ca_cert);
    }
    Ok(())
}

/// Ctrl-C or (on Unix) SIGTERM, with the handlers installed up front.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                interrupt: signal(SignalKind::interrupt())
                    .context("installing the Ctrl-C handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves when one of the signals arrives.
    async fn recv(mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        Ok(())
    }
}
