//! The scripting surface of `ekm`: `ekm encrypt` / `ekm decrypt` seal and open a file through a
//! registration, and `ekm check` walks the seed's three access conditions for every configured
//! provider ([`crate::check`]).
//!
//! `ekm check` without `--config` runs against an embedded lab (the mock KMS with the demo
//! tenant, started for the command). `ekm encrypt` refuses to run without `--config`: the
//! embedded lab's keys live only as long as the command, so what it seals could never be opened
//! again — unless asked for with `--ephemeral`, which says so. To encrypt in one run and decrypt
//! in another, run the standalone `mock-kms --state lab-state.json --write-config ekm.yaml` and
//! pass `--config ekm.yaml`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use ekm_engine::clock::{SharedClock, SystemClock};
use ekm_engine::config::Config;
use ekm_engine::registration::{self, Cloud};
use ekm_engine::{EncryptionContext, Engine, ProjectId};

use crate::check::Verdict;
use crate::explain::{self, Documents};
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
    /// The registration (`ekm.yaml`). Required, unless `--ephemeral`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Without `--config`: seal under a throw-away embedded lab whose keys vanish when the
    /// command ends — the output can never be opened again (for trying the command only).
    #[arg(long, conflicts_with = "config")]
    ephemeral: bool,
}

/// `ekm check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The registration (`ekm.yaml`); without it, the embedded demo lab.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also print, from the lab mock's copy of the customer's documents, which document part
    /// decided each condition, and the least-privilege lint of those documents.
    #[arg(long)]
    explain: bool,
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
    let clock: SharedClock = Arc::new(SystemClock::new());
    let engine = Engine::builder(clock.clone())
        .config(config.engine.engine_config())
        .build();
    let configured: Vec<Cloud> = Cloud::ALL
        .into_iter()
        .filter(|c| config.registers(*c))
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
        engine.register(
            project.clone(),
            registration::connect(config, cloud, &clock).await?,
        );
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
    if args.config.is_none() && !args.ephemeral {
        bail!(
            "no registration: pass --config ekm.yaml (e.g. the one `mock-kms --write-config ekm.yaml` \
             writes); --ephemeral seals under a throw-away lab, and the file can never be opened again"
        );
    }
    if args.ephemeral {
        eprintln!(
            "ekm: --ephemeral: sealing under a throw-away lab; {} can never be opened again",
            args.output.display()
        );
    }
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
    if args.config.is_none() {
        bail!("no registration: pass --config ekm.yaml, the registration the file was sealed with");
    }
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
    Cloud::ALL.into_iter().find(|c| config.registers(*c))
}

/// `ekm check`: prints the three conditions per configured cloud; returns whether every one
/// was verified to hold.
pub async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let (config, lab) = registration(args.config.as_deref()).await?;
    let checks = crate::check::check_registration(&config).await;
    let documents = match args.explain {
        true => Documents::find(&config, lab.as_ref()).await,
        false => None,
    };
    for check in &checks {
        print!("{check}");
        match (&documents, args.explain) {
            (Some(documents), _) => match documents.explain(&config, check.cloud).await {
                Ok(explanation) => print!("{}", explain::render(&explanation)),
                Err(error) => println!("  the customer's documents: cannot be read: {error}"),
            },
            (None, true) => print!("{}", explain::unavailable(check.cloud)),
            (None, false) => {}
        }
    }
    Ok(checks.iter().all(|c| c.steps.iter().all(Verdict::passed)))
}
