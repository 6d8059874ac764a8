//! `ekm`: the EKM Lab console and command line (see the `ekm_console` crate docs).

use std::process::ExitCode;

use clap::Parser;
use ekm_console::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None | Some(Command::Console) => ekm_console::runtime::run(cli.console.options())
            .await
            .map_err(anyhow::Error::from),
        Some(Command::Play { file }) => {
            let options = ekm_console::runtime::Options {
                source: ekm_console::runtime::Source::Play(file),
                ..cli.console.options()
            };
            ekm_console::runtime::run(options)
                .await
                .map_err(anyhow::Error::from)
        }
        Some(Command::Encrypt(args)) => ekm_console::commands::encrypt(args).await,
        Some(Command::Decrypt(args)) => ekm_console::commands::decrypt(args).await,
        Some(Command::Scenario(command)) => return ekm_scenarios::cli::run(command).await,
        Some(Command::Check(args)) => match ekm_console::commands::check(args).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ekm: {error:#}");
            ExitCode::FAILURE
        }
    }
}
