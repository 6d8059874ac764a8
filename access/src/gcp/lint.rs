//! Least-privilege rules for GCP documents: EKM needs `useToEncrypt` and `useToDecrypt` on one
//! crypto key, granted to its federated identity, through a provider that admits only EKM.

use crate::gcp::federation::Provider;
use crate::gcp::iam::{IamPolicy, Member, USE_TO_DECRYPT, USE_TO_ENCRYPT, predefined_role};
use crate::lint::{Finding, Findings, Severity};

/// Lints an IAM policy set on `resource` (a project, key ring or crypto key name; `None` when
/// unknown, as for a file, which skips the level rule).
pub fn lint_policy(resource: Option<&str>, policy: &IamPolicy) -> Vec<Finding> {
    let document = match resource {
        Some(resource) => format!("IAM policy on {resource}"),
        None => "IAM policy".to_owned(),
    };
    let mut findings = Findings::new(&document);
    for (i, b) in policy.bindings.iter().enumerate() {
        let part = format!("bindings[{i}] {}", b.role);
        let perms = predefined_role(&b.role).unwrap_or_default();
        let crypto = perms.contains(&USE_TO_ENCRYPT) || perms.contains(&USE_TO_DECRYPT);
        for m in &b.members {
            match m {
                Member::AllUsers | Member::AllAuthenticatedUsers => findings.add(Severity::Danger, &part, "binds allUsers/allAuthenticatedUsers: anyone can use the key"),
                Member::PrincipalSet(set) if set.ends_with("/*") => findings.add(Severity::Warning, &part, format!("binds every identity in the pool ({set}); bind the one principal:// EKM signs in as")),
                _ => {}
            }
        }
        match b.role.as_str() {
            "roles/cloudkms.admin" => findings.add(Severity::Danger, &part, "roles/cloudkms.admin cannot encrypt or decrypt at all (it excludes crypto operations) and can change the key; grant roles/cloudkms.cryptoKeyEncrypterDecrypter"),
            "roles/cloudkms.cryptoOperator" => findings.add(Severity::Warning, &part, "roles/cloudkms.cryptoOperator also grants sign/verify; roles/cloudkms.cryptoKeyEncrypterDecrypter is enough"),
            _ => {}
        }
        if let Some(level) = resource.filter(|r| crypto && !r.contains("/cryptoKeys/")) {
            findings.add(Severity::Warning, &part, format!("grants crypto operations on every key under {level}; bind the role on the one crypto key"));
        }
    }
    findings.done()
}

/// Lints a workload-identity provider.
pub fn lint_provider(provider: &Provider) -> Vec<Finding> {
    let document = format!("provider {}", provider.name);
    let mut findings = Findings::new(&document);
    if provider.attribute_condition.is_none() {
        findings.add(Severity::Warning, "attributeCondition", "no attribute condition: every token the issuer signs for the audience is accepted; require EKM's subject or project (e.g. assertion.sub == '…')");
    }
    findings.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lint(resource: &str, doc: serde_json::Value) -> Vec<Finding> {
        lint_policy(Some(resource), &IamPolicy::from_value(&doc).unwrap())
    }

    #[test]
    fn a_key_level_encrypter_decrypter_for_one_principal_is_clean() {
        let f = lint(
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            json!({"bindings": [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": ["principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ekm/subject/ekm"]}]}),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn broad_grants_are_found() {
        let f = lint(
            "projects/p",
            json!({"bindings": [
                {"role": "roles/cloudkms.admin", "members": ["serviceAccount:ekm@p.iam.gserviceaccount.com"]},
                {"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": ["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ekm/*", "allUsers"]}
            ]}),
        );
        let text: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("cannot encrypt or decrypt")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("every identity in the pool")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("danger") && t.contains("allUsers")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("every key under projects/p")),
            "{text:?}"
        );
    }

    #[test]
    fn a_provider_without_condition_is_found() {
        let p = Provider::from_value(&json!({"name": "projects/1/locations/global/workloadIdentityPools/ekm/providers/o", "attributeMapping": {"google.subject": "assertion.sub"}, "oidc": {"issuerUri": "https://i"}})).unwrap();
        assert_eq!(lint_provider(&p).len(), 1);
    }
}
