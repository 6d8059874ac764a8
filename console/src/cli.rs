//! The command line: `ekm` alone opens the console on the embedded lab; options and
//! subcommands are one clap tree ([`Cli`], [`Command`]) that other parts of the lab add to.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::model::DEFAULT_LOG_CAPACITY;
use crate::runtime::{Options, Source, Timings};

/// EKM Lab: envelope encryption under customer-managed keys, live in a terminal.
/// New here? Run `ekm demo`.
///
/// Options belong to the command that uses them and come after it (`ekm demo --fps 30`,
/// `ekm console --speed 120`); the console's options may also stand alone (`ekm --speed 120`).
#[derive(Debug, Parser)]
#[command(name = "ekm", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; without one, the console opens.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The console's options, for `ekm` without a subcommand.
    #[command(flatten)]
    pub console: ConsoleArgs,
    /// On failure, print the error's whole chain of causes, one per line (also when RUST_LOG
    /// is set); otherwise it is one line.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// Options of the live console (`ekm`, `ekm console`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Lab-time speed: 60 runs an hour a minute.
    #[arg(long, default_value_t = 60.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Use the registration in this ekm.yaml instead of the embedded lab. When its endpoints
    /// are a lab mock-kms on loopback, the console holds it through its control API (keys, call
    /// log, key and fault actions as in the embedded lab); against real clouds the keys are the
    /// customer's: the call log shows the engine's own KMS calls and key actions are off.
    #[arg(long, value_name = "EKM_YAML")]
    pub config: Option<PathBuf>,
    /// Do not run the demo workload.
    #[arg(long)]
    pub no_workload: bool,
    /// Encrypt-path DEK rotation period in lab time (default 24h; e.g. `1h` for a quicker
    /// rotation demo). Overrides the registration's `engine.dek_rotation`.
    #[arg(long, value_name = "DURATION", value_parser = parse_period)]
    pub dek_rotation: Option<Duration>,
    /// How long a cached DEK is used before the KMS is asked again, in lab time (default 1h).
    /// Overrides the registration's `engine.revalidate_after`.
    #[arg(long, value_name = "DURATION", value_parser = parse_period)]
    pub revalidate_after: Option<Duration>,
    /// How the screen is drawn.
    #[command(flatten)]
    pub view: ViewArgs,
}

/// How the console draws, for every full-screen command (`ekm`, `console`, `demo`, `play`).
#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// How many KMS calls the log keeps.
    #[arg(long, default_value_t = DEFAULT_LOG_CAPACITY as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_capacity: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,
}

impl ConsoleArgs {
    /// The runtime options these arguments ask for.
    pub fn options(&self) -> Options {
        Options {
            source: match &self.config {
                Some(path) => Source::Config(path.clone()),
                None => Source::Embedded,
            },
            speed: self.speed,
            workload: !self.no_workload,
            timings: Timings {
                dek_rotation: self.dek_rotation,
                revalidate_after: self.revalidate_after,
            },
            ..self.view.options(Source::Embedded)
        }
    }
}

impl ViewArgs {
    /// Runtime options for telling `source` (a story runs on its own clock, without the
    /// demo workload, with the scenario's own engine timings).
    pub fn options(&self, source: Source) -> Options {
        Options {
            source,
            speed: 60.0,
            fps: self.fps,
            log_capacity: usize::try_from(self.log_capacity).unwrap_or(usize::MAX),
            workload: false,
            timings: Timings::default(),
        }
    }
}

/// For options written before a subcommand that takes them (`ekm --config x.yaml check`), the
/// command line with them moved after it (`ekm check --config x.yaml`); `None` when that is not
/// the problem.
pub fn misplaced(args: &[String]) -> Option<String> {
    let cli = Cli::command();
    let (at, sub) = args
        .iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, arg)| cli.find_subcommand(arg).map(|sub| (i, sub)))?;
    let before = &args[1..at];
    let takes = |token: &String| {
        let name = token.strip_prefix("--")?.split('=').next()?;
        sub.get_arguments().find(|a| a.get_long() == Some(name))
    };
    let options: Vec<_> = before.iter().filter(|t| t.starts_with('-')).collect();
    if options.is_empty() || !options.iter().all(|t| takes(t).is_some()) {
        return None;
    }
    let words: Vec<&str> = std::iter::once("ekm")
        .chain(std::iter::once(sub.get_name()))
        .chain(args[at + 1..].iter().map(String::as_str))
        .chain(before.iter().map(String::as_str))
        .collect();
    Some(words.join(" "))
}

fn parse_period(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(period) if !period.is_zero() => Ok(period),
        Ok(_) => Err("must be longer than zero".into()),
        Err(error) => Err(format!("{error} (e.g. 1h, 30m, 2h30m)")),
    }
}

fn parse_speed(text: &str) -> Result<f64, String> {
    let speed: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if speed.is_finite() && (0.25..=3600.0).contains(&speed) {
        Ok(speed)
    } else {
        Err("speed must be between 0.25 and 3600".into())
    }
}

/// `ekm`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start here: rotation against revocation on three clouds, told beat by beat (n next,
    /// b back, R restart, space autoplay).
    Demo(ViewArgs),
    /// Open the console (the same as no subcommand).
    Console(ConsoleArgs),
    /// Tell a scenario file as a story, like `ekm demo`: the file is checked first (exit 2 and
    /// FILE:LINE:COL when it is invalid).
    Play {
        /// The scenario file (`scenarios/*.yaml`).
        file: PathBuf,
        /// How the screen is drawn.
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Seal a file into an envelope through the registration's KMS.
    Encrypt(crate::commands::CryptArgs),
    /// Open an envelope made by `ekm encrypt` (same context).
    Decrypt(crate::commands::CryptArgs),
    /// Walk the three access conditions (trust, policy, assignment) for every provider.
    Check(crate::commands::CheckArgs),
    /// Lint access documents (AWS trust/key/role policies, GCP IAM policies and providers, Azure
    /// role assignments) for privilege EKM does not need; exit 1 on a warning, 2 on a bad file.
    Lint(crate::lint::LintArgs),
    /// Forecast a fleet's KMS request volume from its parameters, in milliseconds, with the
    /// assumptions printed and each cloud beside its published quota and price.
    Forecast(crate::forecast::ForecastArgs),
    /// Run, validate or list scenarios (YAML timelines on simulated time).
    #[command(subcommand)]
    Scenario(ekm_scenarios::cli::ScenarioCommand),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_open_the_embedded_console_at_60x() {
        let cli = Cli::try_parse_from(["ekm"]).unwrap();
        assert!(cli.command.is_none());
        let options = cli.console.options();
        assert!(matches!(options.source, Source::Embedded));
        assert_eq!(options.speed, 60.0);
        assert_eq!(options.log_capacity, DEFAULT_LOG_CAPACITY);
        assert!(Cli::try_parse_from(["ekm", "--speed", "0"]).is_err());
        assert_eq!(options.timings, Timings::default());
    }

    #[test]
    fn options_come_after_the_command_that_uses_them() {
        let Some(Command::Console(console)) =
            Cli::try_parse_from(["ekm", "console", "--speed", "120", "--fps", "30"])
                .unwrap()
                .command
        else {
            panic!("console");
        };
        assert_eq!((console.speed, console.view.fps), (120.0, 30));
        let Some(Command::Demo(view)) = Cli::try_parse_from(["ekm", "demo", "--fps", "30"])
            .unwrap()
            .command
        else {
            panic!("demo");
        };
        assert_eq!(view.fps, 30);
        let play = Cli::try_parse_from(["ekm", "play", "a.yaml", "--log-capacity", "5"]).unwrap();
        assert!(matches!(play.command, Some(Command::Play { view, .. }) if view.log_capacity == 5));
        // An option the command would ignore is refused, never dropped.
        for args in [
            &["ekm", "--speed", "120", "demo"][..],
            &["ekm", "demo", "--speed", "120"],
            &["ekm", "--config", "ekm.yaml", "check"],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err().to_string();
            assert!(
                error.contains("--speed") || error.contains("--config"),
                "{args:?}: {error}"
            );
        }
        let argv = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            misplaced(&argv("ekm --config x.yaml check")).as_deref(),
            Some("ekm check --config x.yaml")
        );
        assert_eq!(
            misplaced(&argv("ekm --fps 30 play a.yaml")).as_deref(),
            Some("ekm play a.yaml --fps 30")
        );
        assert_eq!(
            misplaced(&argv("ekm --speed 120 demo")),
            None,
            "demo has no speed"
        );
        assert_eq!(misplaced(&argv("ekm demo")), None);
    }

    #[test]
    fn engine_timings_can_be_shortened_for_demos() {
        let cli = Cli::try_parse_from(["ekm", "--dek-rotation", "1h", "--revalidate-after", "15m"])
            .unwrap();
        let settings = cli.console.options().timings.apply(Default::default());
        assert_eq!(settings.dek_rotation, Duration::from_secs(3600));
        assert_eq!(settings.revalidate_after, Duration::from_secs(900));
        for bad in ["0s", "soon", "-1h"] {
            assert!(
                Cli::try_parse_from(["ekm", "--dek-rotation", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
