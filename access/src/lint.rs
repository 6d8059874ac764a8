//! The least-privilege lint's findings, shared by every cloud's rules: what the seeds call a
//! custom *limited* policy being broader than EKM needs, a trust open to a confused deputy, or a
//! grant that cannot work at all.

use std::fmt;

use serde::Serialize;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; not a risk by itself (the default key policy's delegation to IAM).
    Note,
    /// Broader than EKM needs.
    Warning,
    /// Lets someone other than EKM in, or cannot work at all.
    Danger,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Danger => "danger",
        })
    }
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// The document (`trust policy`, `IAM policy on projects/p`).
    pub document: String,
    /// The part of it (`Statement[0]`, `bindings[2]`).
    pub part: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.severity, self.document, self.part, self.message
        )
    }
}

/// Collects findings for one document.
#[derive(Debug)]
pub(crate) struct Findings<'a> {
    document: &'a str,
    found: Vec<Finding>,
}

impl<'a> Findings<'a> {
    pub(crate) fn new(document: &'a str) -> Self {
        Findings {
            document,
            found: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, severity: Severity, part: &str, message: impl Into<String>) {
        self.found.push(Finding {
            severity,
            document: self.document.to_owned(),
            part: part.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn done(self) -> Vec<Finding> {
        self.found
    }
}
