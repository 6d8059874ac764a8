//! Least-privilege rules for AWS documents. EKM assumes one role with an ExternalId and calls
//! `kms:Encrypt` and `kms:Decrypt` on one key; anything a document grants beyond that is a
//! finding.

use crate::aws::policy::{Effect, Policy, PolicyKind, Principal, PrincipalName, Statement};
use crate::lint::{Finding, Findings, Severity};

/// The KMS actions a grant might cover; EKM needs the first two (and `DescribeKey` for
/// `ekm check`).
const KMS_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
];
const NEEDED: &[&str] = &["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"];

/// Lints one policy document named `document`.
pub fn lint(document: &str, policy: &Policy) -> Vec<Finding> {
    let mut findings = Findings::new(document);
    for st in policy
        .statements
        .iter()
        .filter(|st| st.effect == Effect::Allow)
    {
        match policy.kind {
            PolicyKind::Trust => trust_rules(st, &mut findings),
            PolicyKind::Key | PolicyKind::Identity => kms_rules(policy.kind, st, &mut findings),
        }
        if st.actions.negated {
            findings.add(Severity::Warning, &st.label, "an Allow with NotAction grants every action it does not list; list the actions instead");
        }
    }
    findings.done()
}

fn has_condition(st: &Statement, key: &str, operators: &[&str]) -> bool {
    st.conditions
        .iter()
        .any(|c| c.key.eq_ignore_ascii_case(key) && operators.iter().any(|op| c.written == *op))
}

fn trust_rules(st: &Statement, findings: &mut Findings<'_>) {
    if !st.actions.matches("sts:AssumeRole", true) {
        return;
    }
    if st.principal == Some(Principal::Anyone) {
        findings.add(Severity::Danger, &st.label, "Principal \"*\" lets any AWS account assume this role; name the EKM service's account or role");
    }
    if !has_condition(st, "sts:ExternalId", &["StringEquals"]) {
        findings.add(
            Severity::Danger,
            &st.label,
            "no StringEquals condition on sts:ExternalId: any other customer of the same service could have it act on this role (confused deputy); add {\"StringEquals\": {\"sts:ExternalId\": \"<your project id>\"}}",
        );
    }
}

fn kms_rules(kind: PolicyKind, st: &Statement, findings: &mut Findings<'_>) {
    let granted: Vec<&str> = KMS_ACTIONS
        .iter()
        .copied()
        .filter(|a| st.actions.matches(a, true))
        .collect();
    if granted.is_empty() {
        return;
    }
    let delegation_only = kind == PolicyKind::Key
        && matches!(&st.principal, Some(Principal::Named(n)) if n.iter().all(|p| matches!(p, PrincipalName::Account(_))));
    let extra: Vec<&str> = granted
        .iter()
        .copied()
        .filter(|a| !NEEDED.contains(a))
        .collect();
    if delegation_only {
        findings.add(Severity::Note, &st.label, "delegates the key to the account's IAM policies (the default key policy); the role's own policy then decides");
    } else if !extra.is_empty() {
        let wildcard = st.actions.patterns.iter().any(|p| p.contains('*'));
        findings.add(
            Severity::Warning,
            &st.label,
            format!(
                "grants {} beyond what EKM needs{}; grant only kms:Encrypt and kms:Decrypt",
                extra.join(", "),
                if wildcard {
                    " (through a wildcard)"
                } else {
                    ""
                }
            ),
        );
    }
    if granted.iter().any(|a| a.starts_with("kms:GenerateDataKey")) && !delegation_only {
        findings.add(
            Severity::Warning,
            &st.label,
            "EKM never calls GenerateDataKey: it generates its own data keys and only wraps them",
        );
    }
    if kind == PolicyKind::Key
        && st.principal == Some(Principal::Anyone)
        && !has_condition(st, "kms:CallerAccount", &["StringEquals"])
    {
        findings.add(Severity::Danger, &st.label, "Principal \"*\" without a kms:CallerAccount condition lets any AWS account use the key");
    }
    if kind == PolicyKind::Identity
        && st
            .resources
            .as_ref()
            .is_some_and(|r| !r.negated && r.patterns.iter().any(|p| p == "*"))
    {
        findings.add(
            Severity::Warning,
            &st.label,
            "Resource \"*\" covers every key in the account; name the one key's ARN",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(kind: PolicyKind, text: &str) -> Vec<Finding> {
        lint("doc", &Policy::parse(kind, text).unwrap())
    }

    #[test]
    fn a_trust_policy_without_external_id_is_a_confused_deputy() {
        let f = findings(
            PolicyKind::Trust,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ekm"},"Action":"sts:AssumeRole"}}"#,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Danger);
        assert!(f[0].message.contains("confused deputy"));
    }

    #[test]
    fn the_recommended_trust_policy_is_clean() {
        let f = findings(
            PolicyKind::Trust,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ekm"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"proj_demo"}}}}"#,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn kms_star_and_generate_data_key_are_broader_than_needed() {
        let f = findings(
            PolicyKind::Identity,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/k"},{"Effect":"Allow","Action":"kms:GenerateDataKey*","Resource":"*"}]}"#,
        );
        let text: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("through a wildcard"), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("never calls GenerateDataKey")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("every key in the account")),
            "{text:?}"
        );
    }

    #[test]
    fn the_default_key_policy_is_a_note_and_a_limited_policy_is_clean() {
        let f = lint(
            "key policy",
            &crate::aws::default_key_policy("111122223333"),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Note);
        let limited = findings(
            PolicyKind::Identity,
            r#"{"Statement":{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/k"}}"#,
        );
        assert!(limited.is_empty(), "{limited:?}");
    }

    #[test]
    fn a_public_key_policy_is_dangerous() {
        let f = findings(
            PolicyKind::Key,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
        );
        assert!(
            f.iter()
                .any(|x| x.severity == Severity::Danger && x.message.contains("kms:CallerAccount")),
            "{f:?}"
        );
    }
}
