//! `ekm check --explain`: beside each condition `ekm check` verified by calling, what the
//! customer's documents decide and which document part decided it, and the least-privilege lint
//! of the documents behind the registered key.
//!
//! The documents are read from the lab's mock KMS: the embedded one `ekm check` started, or a
//! `mock-kms` the registration's loopback endpoints lead to (found through its control API).
//! A real cloud's documents are not readable by `ekm`; for them the explanation says to run
//! `ekm lint` on what the cloud's own CLI prints.

use std::fmt::Write as _;

use ekm_access::{Decision, Explanation, SignInAs, Verdict};
use ekm_engine::config::Config;
use ekm_engine::registration::Cloud;
use ekm_lab::{EmbeddedLab, MockControl};

/// Where the customer's documents are read from.
#[derive(Debug)]
pub enum Documents<'a> {
    /// The embedded lab `ekm check` started.
    Embedded(&'a EmbeddedLab),
    /// A `mock-kms` in another process, behind the registration's endpoints.
    Remote(MockControl),
}

impl<'a> Documents<'a> {
    /// The lab's mock behind `config`: `lab` when `ekm check` started one, else a mock the
    /// registration's loopback endpoints lead to; `None` for a real cloud.
    pub async fn find(config: &Config, lab: Option<&'a EmbeddedLab>) -> Option<Documents<'a>> {
        match lab {
            Some(lab) => Some(Documents::Embedded(lab)),
            None => MockControl::find(config).await.map(Documents::Remote),
        }
    }

    /// The explanation of `cloud`'s conditions for the key `config` registers.
    pub async fn explain(&self, config: &Config, cloud: Cloud) -> Result<Explanation, String> {
        let (key, sign_in) = registered(config, cloud)
            .ok_or_else(|| format!("the registration has no {cloud} key"))?;
        match self {
            Documents::Embedded(lab) => lab
                .explain(cloud, &key, &sign_in)
                .map_err(|e| e.to_string()),
            Documents::Remote(control) => control
                .explain(cloud, &key, &sign_in)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// The key `config` registers for `cloud`, as the registration names it, and how EKM signs in.
fn registered(config: &Config, cloud: Cloud) -> Option<(String, SignInAs)> {
    let project = Some(config.project_id.clone());
    match cloud {
        Cloud::Aws => {
            let aws = config.aws.as_ref()?;
            let sign_in = SignInAs {
                external_id: Some(
                    aws.external_id
                        .clone()
                        .unwrap_or_else(|| config.project_id.clone()),
                ),
                project,
                ..SignInAs::default()
            };
            Some((aws.key_arn.clone(), sign_in))
        }
        Cloud::Gcp => {
            let gcp = config.gcp.as_ref()?;
            let sign_in = SignInAs {
                provider: Some(gcp.sts_audience()),
                audience: config.gcp_allowed_audience().map(str::to_owned),
                project,
                ..SignInAs::default()
            };
            Some((gcp.crypto_key_name(), sign_in))
        }
        _ => {
            let azure = config.azure.as_ref()?;
            let sign_in = SignInAs {
                app_id: config.service.azure.as_ref().map(|s| s.client_id.clone()),
                project,
                ..SignInAs::default()
            };
            Some((azure.key_name.clone(), sign_in))
        }
    }
}

/// The explanation as the indented block `ekm check --explain` prints under a cloud's verdicts:
/// each condition's deciding part (and, for a denial, every step looked at), then the lint.
pub fn render(explanation: &Explanation) -> String {
    let mut out = format!("  the customer's documents for key {}:\n", explanation.key);
    let labels = ["1. sign-in", "2+3. Encrypt", "2+3. Decrypt"];
    for (label, decision) in labels.iter().zip(explanation.decisions()) {
        let _ = writeln!(out, "    {label}: {}", decision.summary());
        if decision.verdict != Verdict::Allow {
            write_trace(&mut out, decision);
        }
    }
    if explanation.findings.is_empty() {
        out.push_str("  lint: nothing broader than EKM needs\n");
    } else {
        out.push_str("  lint:\n");
        for finding in &explanation.findings {
            let _ = writeln!(out, "    {finding}");
        }
    }
    out
}

fn write_trace(out: &mut String, decision: &Decision) {
    if let Some(message) = &decision.message {
        let _ = writeln!(out, "      the cloud answers: {message}");
    }
    for step in &decision.trace {
        let _ = writeln!(
            out,
            "      looked at {} {}: {}",
            step.document, step.part, step.note
        );
    }
}

/// What `--explain` prints for a registration whose endpoints are not the lab's mock.
pub fn unavailable(cloud: Cloud) -> String {
    format!(
        "  the customer's documents: not readable here ({cloud} is a real cloud, not the lab's \
         mock) — lint what the cloud's CLI prints with `ekm lint FILE…`\n"
    )
}
