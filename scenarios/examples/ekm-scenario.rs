//! `ekm scenario` without the console: the same subcommands the `ekm` binary mounts, for
//! measuring the runner alone.
//!
//! ```text
//! cargo run --release -p ekm-scenarios --example ekm-scenario -- run scenarios/
//! cargo run --release -p ekm-scenarios --example ekm-scenario -- run scenarios/examples/synthetic-day.yaml
//! ```
//!
//! Measured on the 2-core development machine (shared, release build): the synthetic day —
//! 24 simulated hours, 100,000 operations — runs in 0.41–0.45 s of wall time, lab start-up
//! included; the whole library (11 scenarios in parallel) in 1.8–2.1 s, each scenario's lab
//! start (mock listeners, TLS, SDK clients, RSA keys for Azure) dominating its ~1 s.

use std::process::ExitCode;

use clap::Parser;
use ekm_scenarios::cli::ScenarioCommand;

/// Run, validate or list EKM Lab scenarios.
#[derive(Debug, Parser)]
#[command(name = "ekm-scenario")]
struct Args {
    #[command(subcommand)]
    command: ScenarioCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    ekm_scenarios::cli::run(Args::parse().command).await
}
