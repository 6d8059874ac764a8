//! The scripting surface of `ekm` (issue: engine providers): `ekm encrypt` / `ekm decrypt` seal
//! and open a file through a registration, and `ekm check` walks the seed's three access
//! conditions for every configured provider by trying the calls.
//!
//! Without `--config` these commands run against an embedded lab (the mock KMS with the demo
//! tenant, started for the command): handy to try them, but the embedded lab's keys live only as
//! long as the command — to encrypt in one run and decrypt in another, run the standalone
//! `mock-kms --state lab-state.json` and point an `ekm.yaml` at it (see `ekm.example.yaml`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use ekm_engine::clock::SystemClock;
use ekm_engine::config::Config;
use ekm_engine::registration::{self, Cloud};
use ekm_engine::{Dek, EncryptionContext, Engine, KmsError, ProjectId};
use ekm_lab::{EmbeddedLab, LabOptions};

/// `ekm encrypt` / `ekm decrypt`.
#[derive(Debug, Args)]
pub struct CryptArgs {
    /// Input file (`-` for stdin).
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Output file (`-` for stdout); written atomically.
    #[arg(long = "out", value_name = "FILE")]
    output: PathBuf,
    /// Encryption context pair, repeatable: `--context tenant=acme --context doc=42`.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Provider to seal with when the registration has several (`aws`, `gcp`, `azure`).
    #[arg(long)]
    provider: Option<Cloud>,
    /// The registration (`ekm.yaml`); without it, an embedded demo lab.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// `ekm check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The registration (`ekm.yaml`); without it, the embedded demo lab.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// The registration to use: the given file, or the embedded lab's demo registration (the lab
/// is returned so it keeps running while the command needs it).
async fn registration(config: Option<&Path>) -> anyhow::Result<(Config, Option<EmbeddedLab>)> {
    match config {
        Some(path) => Ok((Config::from_file(path)?, None)),
        None => {
            let lab = EmbeddedLab::start(LabOptions::new(Arc::new(SystemClock::new())))
                .await
                .context("starting the embedded demo lab")?;
            Ok((lab.config().clone(), Some(lab)))
        }
    }
}

/// An engine with every configured provider registered under the config's project (the one
/// named by `--provider`, or the only one, seals).
async fn engine_for(
    config: &Config,
    seal_with: Option<Cloud>,
) -> anyhow::Result<(Engine, ProjectId)> {
    let project = ProjectId::from(config.project_id.as_str());
    let engine = Engine::builder(Arc::new(SystemClock::new()))
        .config(config.engine.engine_config())
        .build();
    let configured: Vec<Cloud> = Cloud::ALL
        .into_iter()
        .filter(|c| c.is_configured(config))
        .collect();
    let sealer = match (seal_with, configured.as_slice()) {
        (Some(cloud), _) if configured.contains(&cloud) => cloud,
        (Some(cloud), _) => bail!("{cloud} is not configured in this registration"),
        (None, [only]) => *only,
        (None, _) => bail!(
            "the registration has several providers ({}); choose one with --provider",
            configured
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // The sealing provider is registered last: the newest registration seals.
    for cloud in configured
        .iter()
        .copied()
        .filter(|c| *c != sealer)
        .chain([sealer])
    {
        engine.register(project.clone(), registration::connect(config, cloud).await?);
    }
    Ok((engine, project))
}

fn context_of(pairs: &[(String, String)]) -> EncryptionContext {
    pairs.iter().fold(EncryptionContext::new(), |ctx, (k, v)| {
        ctx.with(k.clone(), v.clone())
    })
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut data).context("reading stdin")?;
        Ok(data)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Writes `data` to `path` atomically (temp file in the same directory, fsync, rename).
fn write_output(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(data).context("writing stdout")?;
        return stdout.flush().context("writing stdout");
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(data)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// `ekm encrypt`: seals the input into an envelope.
pub async fn encrypt(args: CryptArgs) -> anyhow::Result<()> {
    let (config, _lab) = registration(args.config.as_deref()).await?;
    let (engine, project) = engine_for(&config, args.provider).await?;
    let plaintext = read_input(&args.input)?;
    let envelope = engine
        .seal(&project, &context_of(&args.context), &plaintext)
        .await
        .context("sealing")?;
    write_output(&args.output, &envelope)
}

/// `ekm decrypt`: opens an envelope made by `ekm encrypt` with the same context.
pub async fn decrypt(args: CryptArgs) -> anyhow::Result<()> {
    let (config, _lab) = registration(args.config.as_deref()).await?;
    let (engine, project) =
        engine_for(&config, args.provider.or_else(|| first_configured(&config))).await?;
    let envelope = read_input(&args.input)?;
    let plaintext = engine
        .open(&project, &envelope, &context_of(&args.context))
        .await
        .context("opening")?;
    write_output(&args.output, &plaintext)
}

fn first_configured(config: &Config) -> Option<Cloud> {
    Cloud::ALL.into_iter().find(|c| c.is_configured(config))
}

/// The outcome of one access condition.
enum Step {
    Pass(String),
    Fail(String),
    Unknown,
}

/// `ekm check`: for each configured provider, the seed's three conditions — (1) the service
/// identity is trusted, (2) a policy with Encrypt/Decrypt exists, (3) it is assigned to that
/// identity — checked by trying the calls: authenticating, wrapping a throwaway DEK, unwrapping
/// it. Returns whether everything passed.
pub async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let (config, _lab) = registration(args.config.as_deref()).await?;
    let context = EncryptionContext::new().with("ekm:check", config.project_id.as_str());
    let mut all_ok = true;
    for cloud in Cloud::ALL.into_iter().filter(|c| c.is_configured(&config)) {
        let steps = check_cloud(&config, cloud, &context).await;
        println!("{cloud}");
        let labels = [
            "1. the service identity is trusted",
            "2. a policy allowing Encrypt exists and 3. is assigned",
            "2. a policy allowing Decrypt exists and 3. is assigned",
        ];
        for (label, step) in labels.iter().zip(&steps) {
            match step {
                Step::Pass(detail) => println!("  ✓ {label} — {detail}"),
                Step::Fail(detail) => {
                    all_ok = false;
                    println!("  ✗ {label} — {detail}");
                }
                Step::Unknown => println!("  · {label} — not checked (an earlier step failed)"),
            }
        }
    }
    Ok(all_ok)
}

async fn check_cloud(config: &Config, cloud: Cloud, context: &EncryptionContext) -> [Step; 3] {
    let kek = match registration::connect(config, cloud).await {
        Ok(kek) => kek,
        Err(error) => return [Step::Fail(error.to_string()), Step::Unknown, Step::Unknown],
    };
    let dek = match Dek::generate() {
        Ok(dek) => dek,
        Err(error) => return [Step::Fail(error.to_string()), Step::Unknown, Step::Unknown],
    };
    let wrapped = match kek.wrap(&dek, context).await {
        Ok(wrapped) => wrapped,
        Err(error) => return failed_call(&error, "Encrypt"),
    };
    let trusted = Step::Pass("authenticated".into());
    let encrypt = Step::Pass(format!("Encrypt with {}", wrapped.key_version));
    match kek
        .unwrap(&wrapped.edek, &wrapped.key_version, context)
        .await
    {
        Ok(_) => [trusted, encrypt, Step::Pass("Decrypt round trip".into())],
        Err(error) if error.is_authentication() => {
            [Step::Fail(error.to_string()), encrypt, Step::Unknown]
        }
        Err(error) => [trusted, encrypt, Step::Fail(explain(&error, "Decrypt"))],
    }
}

/// The steps a failed call reveals: an authentication failure is condition 1; anything else
/// means the identity was trusted and condition 2/3 (or the key itself) failed.
fn failed_call(error: &KmsError, call: &str) -> [Step; 3] {
    if error.is_authentication() {
        [Step::Fail(error.to_string()), Step::Unknown, Step::Unknown]
    } else {
        [
            Step::Pass("authenticated".into()),
            Step::Fail(explain(error, call)),
            Step::Unknown,
        ]
    }
}

fn explain(error: &KmsError, call: &str) -> String {
    match error {
        KmsError::AccessDenied { .. } => format!(
            "{call} denied: the policy is missing or not assigned to the service identity ({error})"
        ),
        _ => format!("{call} failed: {error}"),
    }
}
