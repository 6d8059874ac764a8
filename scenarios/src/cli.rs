//! `ekm scenario …`: the command-line surface the `ekm` binary mounts as a subcommand.
//!
//! - `run [FILE|DIR]... [--json] [--junit PATH] [--report DIR] [--audit-logs DIR]
//!   [--shard I/N [--durations REPORT]]`
//!   — runs the scenarios in parallel and prints each timeline (colour only when stdout is a
//!   terminal; a progress bar on stderr when it is a terminal), or one JSON report with `--json`;
//!   `--junit` also writes JUnit XML; `--report` writes the shareable HTML page and Markdown
//!   summary ([`crate::report::write_report`]); `--audit-logs` writes each scenario's audit
//!   records as each cloud logs them, JSON lines per cloud
//!   ([`crate::report::write_audit_logs`]); `--shard` runs only part I of N of them
//!   ([`crate::shard`]), balanced by the wall times of a previous `--json` report when
//!   `--durations` names one (an invalid file is reported by shard 1 only).
//! - `validate [FILE|DIR]...` — checks the files without running them.
//! - `list [DIR]` — names, providers and stories of the scenarios in a directory.
//!
//! Without paths, `./scenarios` is used. Every file is validated before anything runs. `run`
//! still runs the valid files when some are invalid, and reports each invalid one as a failed
//! case (JUnit, JSON, the HTML report) with its problems. Exit codes ([`EXIT_CODES`]): 0 all
//! passed (or valid), 1 an expectation failed (or a run broke), 2 a file is invalid or
//! unreadable (2 wins over 1).

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::report::{ScenarioReport, Style, Trace, render_json, render_junit, render_timeline};
use crate::runner::{LoadedScenario, run_all};
use crate::schema::Scenario;
use crate::shard::{Durations, Shard, partition};
use crate::validate::{self, ScenarioError};

/// The exit codes, as `--help` prints them.
pub const EXIT_CODES: &str = "Exit codes: 0 every scenario passed (or is valid); 1 an \
expectation failed or a run broke; 2 a file is invalid or unreadable (valid files still run; each \
invalid one is a failed case in the JSON, JUnit and HTML reports).";

/// `ekm scenario` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScenarioCommand {
    /// Run scenarios on simulated time and print their timelines.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// Scenario files, or directories of `*.yaml` files (default: ./scenarios).
        paths: Vec<PathBuf>,
        /// Print one machine-readable JSON report instead of timelines.
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report (one test case per scenario) to PATH.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Run only shard I of N (1-based) of the scenarios: a deterministic partition in which
        /// every scenario belongs to exactly one shard.
        #[arg(long, value_name = "I/N")]
        shard: Option<Shard>,
        /// Balance the shards by the wall times in this previous `--json` report.
        #[arg(long, value_name = "REPORT", requires = "shard")]
        durations: Option<PathBuf>,
        /// Also write a shareable report to DIR: `index.html` (one self-contained page with
        /// readability lanes, key events, KMS calls per minute, cache occupancy and every check)
        /// and `summary.md` (for tickets).
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Also write each scenario's audit logs as the customer sees them — CloudTrail events,
        /// Cloud Audit Logs entries, Key Vault AuditEvents — to DIR/<scenario>/{aws,gcp,azure}.jsonl.
        #[arg(long, value_name = "DIR")]
        audit_logs: Option<PathBuf>,
    },
    /// Check scenario files without running them.
    #[command(after_help = EXIT_CODES)]
    Validate {
        /// Scenario files, or directories of `*.yaml` files (default: ./scenarios).
        paths: Vec<PathBuf>,
    },
    /// List the scenarios in a directory: name, providers, steps, file and the story's first
    /// sentence.
    List {
        /// The directory (default: ./scenarios).
        dir: Option<PathBuf>,
    },
}

/// Exit code: everything passed.
pub const EXIT_PASSED: u8 = 0;
/// Exit code: an expectation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: a file is invalid.
pub const EXIT_INVALID: u8 = 2;

/// Runs `command`, printing to stdout/stderr, and returns the process exit code.
pub async fn run(command: ScenarioCommand) -> ExitCode {
    let code = match command {
        ScenarioCommand::Run {
            paths,
            json,
            junit,
            shard,
            durations,
            report,
            audit_logs,
        } => {
            let shard = shard.map(|shard| (shard, durations));
            let outputs = Outputs {
                junit,
                report,
                audit_logs,
            };
            run_command(&paths, json, outputs, shard).await
        }
        ScenarioCommand::Validate { paths } => match load_all(&paths) {
            Ok(loaded) => {
                for scenario in &loaded {
                    println!("ok  {}", origin(scenario));
                }
                println!("{} scenario(s) valid", loaded.len());
                EXIT_PASSED
            }
            Err(code) => code,
        },
        ScenarioCommand::List { dir } => {
            let paths: Vec<PathBuf> = dir.into_iter().collect();
            match load_all(&paths) {
                Ok(loaded) => {
                    for scenario in &loaded {
                        print!("{}", describe(scenario));
                    }
                    EXIT_PASSED
                }
                Err(code) => code,
            }
        }
    };
    ExitCode::from(code)
}

/// The files `run` writes besides stdout.
struct Outputs {
    junit: Option<PathBuf>,
    report: Option<PathBuf>,
    audit_logs: Option<PathBuf>,
}

async fn run_command(
    paths: &[PathBuf],
    json: bool,
    outputs: Outputs,
    shard: Option<(Shard, Option<PathBuf>)>,
) -> u8 {
    let (mut loaded, mut invalid) = match load_each(paths) {
        Ok(found) => found,
        Err(code) => return code,
    };
    if let Some((shard, durations)) = shard {
        loaded = match take_shard(loaded, shard, durations.as_deref()) {
            Ok(part) => part,
            Err(code) => return code,
        };
        // An invalid file is one failed case of the whole run: the first shard reports it.
        if shard.index() != 1 {
            invalid.clear();
        }
    }
    let progress = (std::io::stderr().is_terminal() && loaded.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(loaded.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} scenarios {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let invalid_count = invalid.len();
    let mut reports = invalid;
    let ran = run_all(loaded, |report| {
        if let Some(bar) = &progress {
            bar.set_message(report.name.clone());
            bar.inc(1);
        }
    })
    .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    reports.extend(ran);
    let mut stdout = std::io::stdout().lock();
    if json {
        let _ = writeln!(stdout, "{}", render_json(&reports));
    } else {
        let style = Style {
            color: std::io::stdout().is_terminal(),
        };
        for report in &reports {
            let _ = writeln!(stdout, "{}", render_timeline(report, style));
        }
        let passed = reports.iter().filter(|r| r.passed()).count();
        let _ = writeln!(stdout, "{passed} of {} scenario(s) passed", reports.len());
    }
    if let Some(path) = outputs.junit {
        let written = render_junit(&reports)
            .map_err(|e| e.to_string())
            .and_then(|xml| std::fs::write(&path, xml).map_err(|e| e.to_string()));
        if let Err(error) = written {
            eprintln!(
                "error: cannot write the JUnit report {}: {error}",
                path.display()
            );
            return EXIT_FAILED;
        }
    }
    if let Some(dir) = outputs.audit_logs {
        match crate::report::write_audit_logs(&dir, &reports) {
            Ok(written) => eprintln!(
                "audit logs: {} scenario(s) in {}",
                written.len(),
                dir.display()
            ),
            Err(error) => {
                eprintln!("error: {}", one_line(&error));
                return EXIT_FAILED;
            }
        }
    }
    if let Some(dir) = outputs.report {
        match crate::report::write_report(&dir, &reports) {
            Ok(files) => eprintln!(
                "report: {} and {}",
                files.html.display(),
                files.markdown.display()
            ),
            Err(error) => {
                eprintln!("error: {}", one_line(&error));
                return EXIT_FAILED;
            }
        }
    }
    if invalid_count > 0 {
        EXIT_INVALID
    } else if reports.iter().all(|r| r.passed()) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

/// The scenarios of `shard`, saying on stderr how many of how many.
fn take_shard(
    loaded: Vec<LoadedScenario>,
    shard: Shard,
    durations: Option<&Path>,
) -> Result<Vec<LoadedScenario>, u8> {
    let durations = match durations {
        Some(path) => Durations::load(path).map_err(|error| {
            eprintln!("error: {error}");
            EXIT_INVALID
        })?,
        None => Durations::default(),
    };
    let names: Vec<&str> = loaded.iter().map(|l| l.scenario.name.as_str()).collect();
    let mine = partition(&names, shard, &durations);
    let total = loaded.len();
    let part: Vec<LoadedScenario> = loaded
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mine.binary_search(i).is_ok())
        .map(|(_, l)| l)
        .collect();
    eprintln!("shard {shard}: {} of {total} scenario(s)", part.len());
    Ok(part)
}

/// An error and its causes on one line, for people (`cannot write r/index.html: Permission
/// denied`). Most of the lab's error types already print their cause (`cannot read ekm.yaml: No
/// such file or directory (os error 2)`) and also return it as their `source()`; a cause whose
/// text the line already holds is not repeated, so no layer is ever printed twice.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// An error's whole chain, a layer a line, for `-v`: each layer's own words, without the text
/// of the cause it already printed (`embedded lab`, `mock KMS`, `Address in use (os error 98)`),
/// so the chain reads the same whichever convention a layer follows.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        texts.push(cause.to_string());
        source = cause.source();
    }
    let mut layers = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let own = match texts.get(i + 1) {
            Some(cause) if !cause.is_empty() => text
                .strip_suffix(cause.as_str())
                .and_then(|head| head.strip_suffix(": "))
                .unwrap_or(text),
            _ => text,
        };
        if !own.is_empty() {
            layers.push(own.to_owned());
        }
    }
    layers
}

fn origin(loaded: &LoadedScenario) -> String {
    loaded
        .file
        .as_ref()
        .map_or_else(|| loaded.scenario.name.clone(), |f| f.display().to_string())
}

fn describe(loaded: &LoadedScenario) -> String {
    let scenario: &Scenario = &loaded.scenario;
    let providers = scenario_providers(scenario).join(", ");
    let text = scenario
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let story = match text.find(". ") {
        Some(end) => &text[..=end],
        None => &text,
    };
    format!(
        "{}  [{providers}]  {} step(s)  {}\n    {story}\n",
        scenario.name,
        scenario.steps.len(),
        origin(loaded),
    )
}

/// The providers a scenario covers: its `providers:`, else those its objects name.
fn scenario_providers(scenario: &Scenario) -> Vec<String> {
    let mut providers: Vec<_> = match &scenario.providers {
        Some(declared) => declared.clone(),
        None => scenario.objects.values().map(|o| o.provider).collect(),
    };
    providers.sort();
    providers.dedup();
    providers.iter().map(ToString::to_string).collect()
}

/// The scenario files `paths` name: files as given, directories' `*.yaml` / `*.yml` sorted;
/// `./scenarios` when `paths` is empty.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let default = [PathBuf::from("scenarios")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let read_error = |source| ScenarioError::Read {
                path: path.clone(),
                source,
            };
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_error)?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.is_file() && is_yaml(p))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Loads every scenario `paths` name, printing every problem to stderr: the valid ones, and a
/// failed report for each invalid one. `Err(2)` when no file could be listed.
fn load_each(paths: &[PathBuf]) -> Result<(Vec<LoadedScenario>, Vec<ScenarioReport>), u8> {
    let files = scenario_files(paths).map_err(|error| {
        eprintln!("error: {}", one_line(&error));
        EXIT_INVALID
    })?;
    if files.is_empty() {
        eprintln!("error: no scenario files (*.yaml) found");
        return Err(EXIT_INVALID);
    }
    let mut loaded = Vec::new();
    let mut invalid = Vec::new();
    for file in files {
        match validate::load(&file) {
            Ok(scenario) => loaded.push(LoadedScenario {
                file: Some(file),
                scenario,
            }),
            Err(error) => {
                let text = one_line(&error);
                eprintln!("error: {text}");
                invalid.push(ScenarioReport {
                    name: file.file_stem().map_or_else(
                        || file.display().to_string(),
                        |s| s.to_string_lossy().into(),
                    ),
                    file: Some(file),
                    description: String::new(),
                    steps: Vec::new(),
                    error: Some(format!("invalid scenario file: {text}")),
                    wall: Duration::ZERO,
                    trace: Trace::default(),
                });
            }
        }
    }
    Ok((loaded, invalid))
}

/// Loads every scenario `paths` name, printing every problem to stderr; `Err(2)` if any.
fn load_all(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, u8> {
    let (loaded, invalid) = load_each(paths)?;
    if !invalid.is_empty() {
        eprintln!("{} invalid scenario file(s)", invalid.len());
        return Err(EXIT_INVALID);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read ekm.yaml: {source}")]
    struct Read {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("registration")]
    struct Context {
        source: Read,
    }

    #[test]
    fn the_chain_gives_each_layer_its_own_words_once() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let said = missing.to_string();
        let error = Context {
            source: Read { source: missing },
        };
        assert_eq!(
            super::chain(&error),
            ["registration", "cannot read ekm.yaml", said.as_str()]
        );
    }

    #[test]
    fn a_cause_the_line_already_says_is_not_repeated() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let said = missing.to_string();
        let error = Context {
            source: Read { source: missing },
        };
        let line = one_line(&error);
        assert_eq!(line, format!("registration: cannot read ekm.yaml: {said}"));
        assert_eq!(line.matches(&said).count(), 1, "{line}");
    }
}
