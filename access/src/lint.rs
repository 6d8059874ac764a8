//! The least-privilege lint's findings, shared by every cloud's rules: what the seeds call a
//! custom *limited* policy being broader than EKM needs, a trust open to a confused deputy, or a
//! grant that cannot work at all.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{DocumentError, parse_json};
use crate::{aws, azure, gcp};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Lints one document given as JSON text (`ekm lint FILE…`), recognising it by its shape:
/// - AWS: a policy (`Statement`; a trust policy when it grants `sts:AssumeRole`, a key policy when
///   it names principals, else a role policy), `aws iam get-role` output, or
///   `aws kms get-key-policy` output;
/// - GCP: an IAM policy (`bindings`) or a workload-identity provider (`oidc`);
/// - Azure: `az role assignment list` output, one assignment, or `az keyvault show` output.
///
/// `name` is how findings name the document (the file's path).
pub fn lint_document(name: &str, text: &str) -> Result<Vec<Finding>, DocumentError> {
    let value = parse_json(text)?;
    let mut found = match &value {
        Value::Object(o) if o.contains_key("Role") => cli_policy(aws::PolicyKind::Trust, &value)?,
        Value::Object(o) if o.contains_key("PolicyName") && o.contains_key("Policy") => {
            cli_policy(aws::PolicyKind::Key, &value)?
        }
        Value::Object(o) if o.contains_key("Statement") => aws_policy(aws_kind(&value), &value)?,
        Value::Object(o) if o.contains_key("bindings") => {
            gcp::lint::lint_policy(None, &gcp::IamPolicy::from_value(&value)?)
        }
        Value::Object(o) if o.contains_key("oidc") => {
            gcp::lint::lint_provider(&gcp::Provider::from_value(&value)?)
        }
        Value::Object(o) if o.contains_key("roleDefinitionId") => {
            azure::lint::lint(None, &[azure::Assignment::from_value(&value)?], &[])
        }
        Value::Array(items) if items.iter().all(|i| i.get("roleDefinitionId").is_some()) => {
            let assignments = items
                .iter()
                .map(azure::Assignment::from_value)
                .collect::<Result<Vec<_>, _>>()?;
            azure::lint::lint(None, &assignments, &[])
        }
        Value::Object(o)
            if o.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.contains("/Microsoft.KeyVault/vaults/")) =>
        {
            azure::lint::lint(Some(&azure::Vault::from_value(&value)?), &[], &[])
        }
        _ => return Err(unknown_shape("not a document the lint knows")),
    };
    for f in &mut found {
        f.document = format!("{name}: {}", f.document);
    }
    Ok(found)
}

fn unknown_shape(why: &str) -> DocumentError {
    DocumentError {
        path: "$".into(),
        reason: format!(
            "{why} (expected an AWS trust/key/role policy, a GCP IAM policy or workload-identity provider, or Azure role assignments or a vault)"
        ),
    }
}

fn aws_kind(value: &Value) -> aws::PolicyKind {
    let statements: Vec<&Value> = match &value["Statement"] {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let assumes = statements.iter().any(|s| {
        let actions = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        actions
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("sts:assumerole"))
    });
    let principals = statements.iter().any(|s| s.get("Principal").is_some());
    match (assumes, principals) {
        (true, _) => aws::PolicyKind::Trust,
        (false, true) => aws::PolicyKind::Key,
        (false, false) => aws::PolicyKind::Identity,
    }
}

/// Lints the policy inside an AWS CLI output (`aws iam get-role`, `aws kms get-key-policy`).
fn cli_policy(kind: aws::PolicyKind, value: &Value) -> Result<Vec<Finding>, DocumentError> {
    let (policy, at) = aws::policy::from_cli_output(value)?;
    aws_policy(kind, &policy).map_err(|e| e.within(at))
}

fn aws_policy(kind: aws::PolicyKind, value: &Value) -> Result<Vec<Finding>, DocumentError> {
    let what = match kind {
        aws::PolicyKind::Trust => "trust policy",
        aws::PolicyKind::Key => "key policy",
        aws::PolicyKind::Identity => "role policy",
    };
    Ok(aws::lint::lint(
        what,
        &aws::Policy::from_value(kind, value)?,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_recognised_by_shape() {
        let cases = [
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ekm"},"Action":"sts:AssumeRole"}]}"#,
                "trust policy",
            ),
            (
                r#"{"Role":{"RoleName":"r","AssumeRolePolicyDocument":{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}}}"#,
                "trust policy",
            ),
            (
                r#"{"PolicyName":"default","Policy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}}"}"#,
                "key policy",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
                "role policy",
            ),
            (
                r#"{"bindings":[{"role":"roles/cloudkms.admin","members":["allUsers"]}]}"#,
                "IAM policy",
            ),
            (
                r#"{"name":"projects/1/locations/global/workloadIdentityPools/p/providers/o","attributeMapping":{"google.subject":"assertion.sub"},"oidc":{"issuerUri":"https://i"}}"#,
                "provider",
            ),
            (
                r#"[{"principalId":"o","roleDefinitionId":"/x/e147488a-f6f5-4113-8e2d-b22465e65bf6","scope":"/subscriptions/s"}]"#,
                "role assignments",
            ),
        ];
        for (text, document) in cases {
            let found = lint_document("f.json", text).unwrap();
            assert!(!found.is_empty(), "{text}");
            assert!(
                found[0].document.starts_with("f.json: ") && found[0].document.contains(document),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn unknown_and_malformed_documents_are_errors() {
        assert!(
            lint_document("f", r#"{"hello": 1}"#)
                .unwrap_err()
                .reason
                .contains("not a document the lint knows")
        );
        assert_eq!(
            lint_document(
                "f",
                r#"{"Statement":[{"Effect":"Maybe","Action":"kms:*","Resource":"*"}]}"#
            )
            .unwrap_err()
            .path,
            "$.Statement[0].Effect"
        );
        assert!(
            lint_document("f", "{")
                .unwrap_err()
                .reason
                .contains("not valid JSON")
        );
    }
}
