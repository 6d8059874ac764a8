//! Reading a scenario file: YAML syntax and shape first (serde, which reports the line and
//! column), then the meaning — unknown objects, keys and providers, times going backwards,
//! impossible bounds — each problem with the file, line and column of the value at fault and a
//! suggestion when a name is a near miss. Never panics, whatever the input.
//!
//! # Layout
//! - this module: loading, the diagnostics and their rendering;
//! - `scenario`: the scenario as a whole (settings, keys, objects, the steps' times);
//! - `steps`: each step's action and expectation, and the bounds of counted expectations;
//! - `access`: the access documents and the names they and the access edits refer to;
//! - `names`: what a scenario can name, and the near-miss suggestions;
//! - `path`: field paths and where a path's value sits in the YAML text.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::schema::Scenario;

mod access;
mod names;
mod path;
mod scenario;
mod steps;

use names::{Names, unknown_name};
use path::{Seg, at, key, locate, render_path};
use scenario::check;
pub use steps::{call_bounds, hop_bounds};

/// The problems found: the path of each value at fault and what is wrong with it.
type Problems = Vec<(Vec<Seg>, String)>;

/// Where in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `<string>`).
    pub origin: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// The field path (`steps[3].expect.readable[0]`), when known.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: path: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(at) = self.location {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid scenario; every problem found.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and checks the scenario in `path`.
/// Documents given as `{file: PATH}` are read relative to the scenario's directory.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_in(&text, &path.display().to_string(), path.parent())
}

/// Parses and checks scenario text; `origin` names it in messages. Documents given as
/// `{file: PATH}` are read relative to the working directory.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    parse_in(text, origin, None)
}

/// [`parse`], reading documents given as `{file: PATH}` relative to `base`.
fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Scenario, ScenarioError> {
    let diagnostic = |location, path: &str, message: String| Diagnostic {
        origin: origin.to_owned(),
        location,
        path: path.to_owned(),
        message,
    };
    let blank = text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    if blank {
        return Err(ScenarioError::Invalid(vec![diagnostic(
            None,
            "",
            "the file is empty: a scenario needs `name:`, `description:` and `steps:`".into(),
        )]));
    }
    let mut scenario: Scenario = serde_yaml::from_str(text).map_err(|error| {
        let location = error.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        ScenarioError::Invalid(vec![diagnostic(location, "", serde_message(&error))])
    })?;
    let mut problems = access::load_documents(&mut scenario, base);
    problems.extend(check(&scenario));
    if problems.is_empty() {
        return Ok(scenario);
    }
    Err(ScenarioError::Invalid(
        problems
            .into_iter()
            .map(|(path, message)| diagnostic(locate(text, &path), &render_path(&path), message))
            .collect(),
    ))
}

/// serde_yaml's message without its trailing " at line L column C" (the diagnostic has it).
fn serde_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.location().is_some() => text[..at].to_owned(),
        _ => text,
    }
}
