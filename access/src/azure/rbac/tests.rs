//! Key Vault data-action decisions over the documented roles, scopes and permission models.

use super::*;
use serde_json::json;

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";
const VAULT: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/ekm/providers/Microsoft.KeyVault/vaults/ekm-vault";
const OID: &str = "11111111-2222-3333-4444-555555555555";

fn key() -> String {
    format!("{VAULT}/keys/ekm-kek")
}

fn vault(rbac: bool, policies: Value) -> Vault {
    Vault::from_value(&json!({"id": VAULT, "name": "ekm-vault", "properties": {"enableRbacAuthorization": rbac, "accessPolicies": policies, "tenantId": "t"}})).unwrap()
}

fn assign(role: &str, scope: &str) -> Assignment {
    Assignment::from_value(&json!({
        "principalId": OID,
        "principalType": "ServicePrincipal",
        "roleDefinitionId": format!("{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "roleDefinitionName": "x",
        "scope": scope
    }))
    .unwrap()
}

const CRYPTO_USER: &str = "12338af0-0e69-4776-bea7-57ae8d297424";
const SERVICE_ENCRYPTION: &str = "e147488a-f6f5-4113-8e2d-b22465e65bf6";
const OFFICER: &str = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603";
const ADMIN: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
const READER: &str = "21090545-7ca7-4776-b22c-e363652d74d2";

#[test]
fn built_in_roles_grant_their_data_actions() {
    let table = [
        (CRYPTO_USER, true, true),
        // wrap/unwrap only: EKM's encrypt/decrypt are refused
        (SERVICE_ENCRYPTION, false, true),
        (OFFICER, true, true),
        (ADMIN, true, true),
        (READER, false, true),
    ];
    let v = vault(true, json!([]));
    for (role, crypt, read) in table {
        let a = [assign(role, VAULT)];
        assert_eq!(
            authorize(&v, &a, &[], OID, ENCRYPT, &key())
                .decision
                .allowed(),
            crypt,
            "{role}"
        );
        assert_eq!(
            authorize(&v, &a, &[], OID, DECRYPT, &key())
                .decision
                .allowed(),
            crypt,
            "{role}"
        );
        assert_eq!(
            authorize(&v, &a, &[], OID, READ, &key()).decision.allowed(),
            read,
            "{role}"
        );
    }
}

#[test]
fn scopes_are_inherited_downward_only() {
    let v = vault(true, json!([]));
    let rg = format!("{SUB}/resourceGroups/ekm");
    for scope in [
        SUB.to_owned(),
        rg.clone(),
        VAULT.to_owned(),
        key(),
        key().to_ascii_uppercase(),
    ] {
        assert!(
            authorize(
                &v,
                &[assign(CRYPTO_USER, &scope)],
                &[],
                OID,
                ENCRYPT,
                &key()
            )
            .decision
            .allowed(),
            "{scope}"
        );
    }
    for scope in [
        format!("{VAULT}/keys/other"),
        format!("{SUB}/resourceGroups/ekm2"),
        format!("{VAULT}2"),
    ] {
        let d = authorize(
            &v,
            &[assign(CRYPTO_USER, &scope)],
            &[],
            OID,
            ENCRYPT,
            &key(),
        );
        assert_eq!(d.inner, Some("ForbiddenByRbac"), "{scope}");
        assert!(
            d.decision
                .message
                .unwrap()
                .starts_with("Caller is not authorized to perform action on resource.\r\n")
        );
    }
}

#[test]
fn another_principal_or_an_abac_condition_grants_nothing() {
    let v = vault(true, json!([]));
    let mut other = assign(CRYPTO_USER, VAULT);
    other.principal_id = "someone-else".into();
    assert!(
        !authorize(&v, &[other], &[], OID, ENCRYPT, &key())
            .decision
            .allowed()
    );
    let mut conditioned = assign(CRYPTO_USER, VAULT);
    conditioned.condition = Some("@Resource[x] == 'y'".into());
    let d = authorize(&v, &[conditioned], &[], OID, ENCRYPT, &key());
    assert!(
        d.decision
            .explain()
            .contains("ABAC conditions are not evaluated")
    );
}

#[test]
fn custom_roles_with_not_data_actions() {
    let custom = RoleDefinition::from_value(&json!({
        "name": "aaaaaaaa-0000-0000-0000-000000000000",
        "roleName": "EKM keys minus decrypt",
        "permissions": [{"actions": [], "notActions": [], "dataActions": ["Microsoft.KeyVault/vaults/keys/*"], "notDataActions": ["Microsoft.KeyVault/vaults/keys/decrypt/action"]}]
    }))
    .unwrap();
    let v = vault(true, json!([]));
    let a = [assign(&custom.id, VAULT)];
    assert!(
        authorize(&v, &a, &[&custom], OID, ENCRYPT, &key())
            .decision
            .allowed()
    );
    assert!(
        !authorize(&v, &a, &[&custom], OID, DECRYPT, &key())
            .decision
            .allowed()
    );
}

#[test]
fn access_policies_decide_only_without_rbac() {
    let policies = json!([{"tenantId": "t", "objectId": OID, "permissions": {"keys": ["Get", "Encrypt"], "secrets": []}}]);
    let legacy = vault(false, policies.clone());
    assert!(
        authorize(&legacy, &[], &[], OID, ENCRYPT, &key())
            .decision
            .allowed()
    );
    let d = authorize(&legacy, &[], &[], OID, DECRYPT, &key());
    assert_eq!(d.inner, Some("ForbiddenByPolicy"));
    assert!(
        d.decision
            .message
            .unwrap()
            .contains("does not have keys decrypt permission on key vault 'ekm-vault'")
    );
    // with RBAC on, the same access policy is ignored
    let rbac = vault(true, policies);
    assert!(
        !authorize(&rbac, &[], &[], OID, ENCRYPT, &key())
            .decision
            .allowed()
    );
}

#[test]
fn malformed_documents_are_refused_with_the_path() {
    assert_eq!(
        Assignment::from_value(
            &json!({"principalId": OID, "roleDefinitionId": "x", "scope": "subscriptions/x"})
        )
        .unwrap_err()
        .path,
        "$.scope"
    );
    assert_eq!(
        Assignment::from_value(&json!({"principalId": OID, "scope": "/x"}))
            .unwrap_err()
            .path,
        "$"
    );
    assert_eq!(
        Vault::from_value(&json!({"id": VAULT, "properties": {"enableRbacAuthorization": "yes"}}))
            .unwrap_err()
            .path,
        "$.properties.enableRbacAuthorization"
    );
    assert_eq!(
        RoleDefinition::from_value(&json!({"name": "g", "permissions": [{"dataActions": [1]}]}))
            .unwrap_err()
            .path,
        "$.permissions[0].dataActions[0]"
    );
}

#[test]
fn the_traceless_answer_is_the_traced_one() {
    let custom = RoleDefinition::from_value(&json!({
        "name": "bbbbbbbb-0000-0000-0000-000000000000",
        "roleName": "EKM encrypt only",
        "permissions": [{"dataActions": ["Microsoft.KeyVault/vaults/keys/encrypt/action"]}]
    }))
    .unwrap();
    let roles = [
        CRYPTO_USER,
        SERVICE_ENCRYPTION,
        OFFICER,
        ADMIN,
        READER,
        &custom.id,
    ];
    let scopes = [
        SUB.to_owned(),
        VAULT.to_owned(),
        key(),
        format!("{VAULT}/keys/other"),
    ];
    let models = [
        vault(true, json!([])),
        vault(
            false,
            json!([{"objectId": OID, "tenantId": "t", "permissions": {"keys": ["encrypt"]}}]),
        ),
        vault(
            false,
            json!([{"objectId": OID, "tenantId": "t", "permissions": {"keys": ["all"]}}]),
        ),
    ];
    let mut allowed = 0;
    for v in &models {
        for role in roles {
            for scope in &scopes {
                let a = [assign(role, scope)];
                for action in [ENCRYPT, DECRYPT, READ] {
                    let traced = authorize(v, &a, &[&custom], OID, action, &key());
                    let quiet = allows(v, &a, &[&custom], OID, action, &key());
                    assert_eq!(
                        quiet,
                        traced.decision.allowed(),
                        "{role} at {scope}: {action}"
                    );
                    assert!(quiet || !traced.decision.trace.is_empty() || !v.rbac);
                    allowed += usize::from(quiet);
                }
            }
        }
    }
    assert!(allowed > 0 && allowed < models.len() * roles.len() * scopes.len() * 3);
}
