//! Least-privilege rules for Azure: EKM needs encrypt, decrypt and read on one key, through
//! "Key Vault Crypto User" (or a custom role with just those) assigned at the key or vault.

use crate::azure::rbac::{Assignment, DECRYPT, ENCRYPT, RoleDefinition, Vault, built_in_roles};
use crate::lint::{Finding, Findings, Severity};

/// Lints role assignments (with any custom roles they use) and the vault's permission model.
pub fn lint(
    vault: Option<&Vault>,
    assignments: &[Assignment],
    custom: &[RoleDefinition],
) -> Vec<Finding> {
    let mut findings = Findings::new("role assignments");
    let roles = built_in_roles();
    for (i, a) in assignments.iter().enumerate() {
        let Some(role) = roles
            .iter()
            .chain(custom)
            .find(|r| r.id.eq_ignore_ascii_case(&a.role))
        else {
            continue;
        };
        let part = format!("[{i}] {} at {}", role.name, a.scope);
        let crypt = role.grants(ENCRYPT) && role.grants(DECRYPT);
        match role.name.as_str() {
            "Key Vault Crypto Service Encryption User" => findings.add(Severity::Danger, &part, "this role grants wrap/unwrap only, and EKM calls encrypt/decrypt: it cannot work; assign \"Key Vault Crypto User\""),
            "Key Vault Crypto Officer" | "Key Vault Administrator" => findings.add(Severity::Warning, &part, format!("{} can also create, delete and purge keys; \"Key Vault Crypto User\" is enough", role.name)),
            _ if crypt && role.data_actions.iter().any(|d| d.contains('*')) => findings.add(Severity::Warning, &part, "a wildcard data action grants more than encrypt/decrypt; list the actions"),
            _ => {}
        }
        let depth = a.scope.trim_end_matches('/').split('/').count();
        if crypt
            && !a
                .scope
                .to_ascii_lowercase()
                .contains("/providers/microsoft.keyvault/vaults/")
            && depth <= 5
        {
            findings.add(Severity::Warning, &part, "assigned at a subscription or resource group: it covers every vault under it; assign at the key (or vault)");
        }
    }
    let mut found = findings.done();
    if let Some(v) = vault.filter(|v| !v.rbac) {
        let mut legacy = Findings::new("vault access policies");
        legacy.add(Severity::Note, &v.id, "the vault uses legacy access policies (vault-wide, no key scope); Azure recommends RBAC");
        for (i, (oid, keys)) in v.access_policies.iter().enumerate() {
            let extra: Vec<&String> = keys
                .iter()
                .filter(|k| {
                    !["encrypt", "decrypt", "get"].contains(&k.to_ascii_lowercase().as_str())
                })
                .collect();
            if !extra.is_empty() {
                legacy.add(
                    Severity::Warning,
                    &format!("accessPolicies[{i}] {oid}"),
                    format!("grants keys {extra:?} beyond encrypt, decrypt and get"),
                );
            }
        }
        found.extend(legacy.done());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assignment(role: &str, scope: &str) -> Assignment {
        Assignment::from_value(&json!({"principalId": "oid", "roleDefinitionId": format!("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}"), "scope": scope})).unwrap()
    }

    const VAULT: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v";

    #[test]
    fn crypto_user_on_the_vault_is_clean() {
        assert!(
            lint(
                None,
                &[assignment("12338af0-0e69-4776-bea7-57ae8d297424", VAULT)],
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn wrong_and_broad_roles_are_found() {
        let f = lint(
            None,
            &[
                assignment("e147488a-f6f5-4113-8e2d-b22465e65bf6", VAULT),
                assignment("14b46e9e-c2b7-41b4-b07b-48a6ebf60603", VAULT),
                assignment("12338af0-0e69-4776-bea7-57ae8d297424", "/subscriptions/s"),
            ],
            &[],
        );
        let text: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert!(
            text[0].starts_with("danger") && text[0].contains("cannot work"),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("Crypto Officer can also create")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("every vault under it")),
            "{text:?}"
        );
    }

    #[test]
    fn legacy_access_policies_are_noted_and_broad_ones_found() {
        let v = Vault::from_value(&json!({"id": VAULT, "properties": {"enableRbacAuthorization": false, "accessPolicies": [{"objectId": "oid", "permissions": {"keys": ["get", "encrypt", "decrypt", "purge"]}}]}})).unwrap();
        let f = lint(Some(&v), &[], &[]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[1].message.contains("purge"));
    }
}
