//! `ekm`: the EKM Lab console and command line (see the `ekm_console` crate docs).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use ekm_console::cli::{Cli, Command, ViewArgs};
use ekm_console::runtime::Source;
use ekm_scenarios::runner::LoadedScenario;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {
        command,
        console,
        verbose,
    } = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let args: Vec<String> = std::env::args().collect();
            match ekm_console::cli::misplaced(&args) {
                Some(fixed) if error.kind() == ErrorKind::ArgumentConflict => {
                    eprintln!("ekm: options go after the command that uses them: {fixed}");
                    return ExitCode::from(2);
                }
                _ => error.exit(),
            }
        }
    };
    let result = match command {
        None => ekm_console::runtime::run(console.options())
            .await
            .map_err(anyhow::Error::from),
        Some(Command::Console(console)) => ekm_console::runtime::run(console.options())
            .await
            .map_err(anyhow::Error::from),
        Some(Command::Demo(view)) => {
            let scenario = ekm_scenarios::validate::parse(
                ekm_console::story::DEMO_SCENARIO,
                "rotation-vs-revocation.yaml",
            );
            match scenario {
                Ok(scenario) => {
                    play(
                        &view,
                        LoadedScenario {
                            file: None,
                            scenario,
                        },
                    )
                    .await
                }
                Err(error) => Err(anyhow::Error::from(error)),
            }
        }
        Some(Command::Play { file, view }) => match ekm_scenarios::validate::load(&file) {
            Ok(scenario) => {
                let file = Some(file);
                play(&view, LoadedScenario { file, scenario }).await
            }
            Err(error) => {
                eprintln!("ekm: {error}");
                return ExitCode::from(2);
            }
        },
        Some(Command::Encrypt(args)) => ekm_console::commands::encrypt(args).await,
        Some(Command::Decrypt(args)) => ekm_console::commands::decrypt(args).await,
        Some(Command::Scenario(command)) => return ekm_scenarios::cli::run(command).await,
        Some(Command::Lint(args)) => return ekm_console::lint::run(&args),
        Some(Command::Forecast(args)) => ekm_console::forecast::run(&args),
        Some(Command::Check(args)) => match ekm_console::commands::check(args).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if verbose || std::env::var_os("RUST_LOG").is_some() => {
            let mut layers = ekm_scenarios::cli::chain(error.as_ref()).into_iter();
            eprintln!("ekm: {}", layers.next().unwrap_or_default());
            for cause in layers {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("ekm: {}", ekm_scenarios::cli::one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Tells `loaded` as a story in the console.
async fn play(view: &ViewArgs, loaded: LoadedScenario) -> anyhow::Result<()> {
    let options = view.options(Source::Play(Box::new(loaded)));
    Ok(ekm_console::runtime::run(options).await?)
}
