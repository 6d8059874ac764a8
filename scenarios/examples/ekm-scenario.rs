//! `ekm scenario` without the console: the same subcommands the `ekm` binary mounts, for
//! measuring the runner alone.
//!
//! ```text
//! cargo run --release -p ekm-scenarios --example ekm-scenario -- run scenarios/
//! cargo run --release -p ekm-scenarios --example ekm-scenario -- run scenarios/examples/synthetic-day.yaml
//! ```

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
