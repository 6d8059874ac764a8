//! `ekm lint FILE…`: the least-privilege lint ([`ekm_access::lint`]) on documents a customer is
//! about to apply to a real account — an AWS trust, key or role policy, a GCP IAM policy or
//! workload-identity provider, Azure role assignments or a vault — as the clouds' own CLIs print
//! them. Each finding is one line: severity, file, document part, what is wrong and what to write.
//!
//! Exit status: 0 when no file has a warning or danger, 1 when one does, 2 when a file cannot be
//! read or is not a document the lint knows (named with its JSON path).

use std::path::PathBuf;
use std::process::ExitCode;

use ekm_access::{Finding, Severity, lint::lint_document};

/// Arguments of `ekm lint`.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// The documents (JSON), e.g. `aws iam get-role` or `gcloud kms keys get-iam-policy
    /// --format=json` output.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the findings as JSON (one array) instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// What linting the files found, and the files that could not be linted.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
    /// `FILE: why` for each file that could not be read or understood.
    pub errors: Vec<String>,
}

impl Report {
    /// Lints each file.
    pub fn of(files: &[PathBuf]) -> Report {
        let mut report = Report::default();
        for file in files {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(error) => {
                    report
                        .errors
                        .push(format!("{name}: cannot read it: {error}"));
                    continue;
                }
            };
            match lint_document(&name, &text) {
                Ok(found) => report.findings.extend(found),
                Err(error) => report.errors.push(format!("{name}: {error}")),
            }
        }
        report
    }

    /// The exit status: 2 for unreadable files, 1 for warnings or dangers, else 0.
    pub fn status(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self
            .findings
            .iter()
            .any(|f| f.severity >= Severity::Warning)
        {
            1
        } else {
            0
        }
    }

    /// The one-line summary (`2 findings: 1 danger, 1 warning, 0 notes`).
    pub fn summary(&self, files: usize) -> String {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        format!(
            "{} finding(s) in {files} file(s): {} danger, {} warning, {} note",
            self.findings.len(),
            count(Severity::Danger),
            count(Severity::Warning),
            count(Severity::Note)
        )
    }
}

/// Runs `ekm lint`.
pub fn run(args: &LintArgs) -> ExitCode {
    let report = Report::of(&args.files);
    if args.json {
        match serde_json::to_string_pretty(&report.findings) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("ekm lint: cannot print the findings: {error}"),
        }
    } else {
        for finding in &report.findings {
            println!("{finding}");
        }
        println!("{}", report.summary(args.files.len()));
    }
    for error in &report.errors {
        eprintln!("ekm lint: {error}");
    }
    ExitCode::from(report.status())
}
