//! The customer's audit logs of a run: each cloud's own records of the calls the run made —
//! CloudTrail events, Cloud Audit Logs entries, Key Vault `AuditEvent`s, rendered by the mock
//! ([`ekm_lab::EmbeddedLab::audit_record`]) as the runner reads the call log — and
//! [`write_audit_logs`], behind `ekm scenario run --audit-logs DIR`: one directory per scenario,
//! one JSON-lines file per cloud (`DIR/<scenario>/aws.jsonl`, `gcp.jsonl`, `azure.jsonl`; one
//! record a line, oldest first, an empty file for a cloud the run did not call) — what the
//! customer's log export would hold.
//!
//! A `fleet-traffic` step drains the mock's call log itself, past the runner: its calls are in
//! the step's volume report, not in these files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ekm_vocab::Cloud;
use serde_json::Value;

use super::ScenarioReport;
use super::html::ReportError;

/// One run's audit records, per cloud, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditLogs {
    records: BTreeMap<Cloud, Vec<Value>>,
}

impl AuditLogs {
    /// Appends `cloud`'s next record.
    pub fn add(&mut self, cloud: Cloud, record: Value) {
        self.records.entry(cloud).or_default().push(record);
    }

    /// `cloud`'s records, oldest first.
    pub fn records(&self, cloud: Cloud) -> &[Value] {
        self.records.get(&cloud).map_or(&[], Vec::as_slice)
    }

    /// `cloud`'s records as JSON lines (each line ending in `\n`).
    pub fn json_lines(&self, cloud: Cloud) -> String {
        self.records(cloud)
            .iter()
            .map(|record| format!("{record}\n"))
            .collect()
    }
}

/// Writes each report's audit logs under `dir` (created if missing): `DIR/<scenario>/<cloud>.jsonl`.
/// A scenario's directory is its name with anything but letters, digits, `.`, `_` and `-`
/// replaced by `-`, numbered (`name-2`) when two reports share it. Returns the directories
/// written, in report order.
pub fn write_audit_logs(
    dir: &Path,
    reports: &[ScenarioReport],
) -> Result<Vec<PathBuf>, ReportError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    let mut written: Vec<PathBuf> = Vec::with_capacity(reports.len());
    for report in reports {
        let base = directory_name(&report.name);
        let mut scenario_dir = dir.join(&base);
        let mut n = 1;
        while written.contains(&scenario_dir) {
            n += 1;
            scenario_dir = dir.join(format!("{base}-{n}"));
        }
        std::fs::create_dir_all(&scenario_dir).map_err(failed(&scenario_dir))?;
        for cloud in Cloud::ALL {
            let file = scenario_dir.join(format!("{cloud}.jsonl"));
            std::fs::write(&file, report.trace.audit_logs.json_lines(cloud))
                .map_err(failed(&file))?;
        }
        written.push(scenario_dir);
    }
    Ok(written)
}

/// A scenario name as a directory name.
fn directory_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        "scenario".to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_directory_names() {
        assert_eq!(
            directory_name("rotation-vs-revocation"),
            "rotation-vs-revocation"
        );
        assert_eq!(directory_name("a b/../c"), "a-b-..-c");
        assert_eq!(directory_name(".."), "scenario");
        assert_eq!(directory_name(""), "scenario");
    }

    #[test]
    fn records_keep_their_order_per_cloud() {
        let mut logs = AuditLogs::default();
        logs.add(Cloud::Gcp, serde_json::json!({"n": 1}));
        logs.add(Cloud::Gcp, serde_json::json!({"n": 2}));
        assert_eq!(logs.json_lines(Cloud::Gcp), "{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(logs.json_lines(Cloud::Aws), "");
    }
}
