//! The Azure documents of the demo tenant, the switches as edits of them, the decisions.

use super::*;
use crate::access::short_trace;

const KEY: &str = "ekm-key";

fn demo() -> (Tenant, AzureAccess) {
    let tenant = Tenant::default();
    let access = AzureAccess::from_switches(&tenant, [(KEY, true, true)]);
    (tenant, access)
}

#[test]
fn the_demo_documents_let_ekm_in_and_the_switches_edit_them() {
    let (tenant, mut access) = demo();
    assert_eq!(access.service_allowed(&tenant, KEY), (true, true));
    access.set_access(&tenant, KEY, true);
    assert_eq!(access.service_allowed(&tenant, KEY), (false, true));
    assert!(access.role_assignments.is_empty());
    access.set_access(&tenant, KEY, false);
    access.set_access(&tenant, KEY, false);
    assert_eq!(access.role_assignments.len(), 1);
    access.set_trust(&tenant, true);
    assert_eq!(access.service_allowed(&tenant, KEY), (true, false));
    let refused = access.sign_in(&tenant, &tenant.azure.service_app_id);
    assert_eq!(refused.error, Some((401, "invalid_client", 7_000_229)));
    access.set_trust(&tenant, false);
    assert_eq!(access, demo().1, "restoring gives back the documents");
}

fn assign(access: &mut AzureAccess, tenant: &Tenant, role: &str, scope: &str) {
    let json = json!({"principalId": tenant.azure.service_object_id,
        "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "scope": scope});
    access
        .role_assignments
        .push(Written::new(json, Assignment::from_value).unwrap());
}

#[test]
fn roles_and_scopes_decide_and_the_trace_says_which() {
    let (tenant, mut access) = demo();
    access.set_access(&tenant, KEY, true);
    let oid = tenant.azure.service_object_id.clone();
    // Wrap/unwrap only: the role that cannot work for encrypt/decrypt.
    let scope = access.key_scope(KEY);
    assign(
        &mut access,
        &tenant,
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        &scope,
    );
    let (denied, inner) = access.data_action(&oid, ENCRYPT, KEY).unwrap_err();
    assert_eq!(inner, "ForbiddenByRbac");
    assert!(
        short_trace(&denied).contains("lacks Microsoft.KeyVault/vaults/keys/encrypt/action"),
        "{denied:?}"
    );
    assert!(
        denied
            .message
            .unwrap()
            .starts_with("Caller is not authorized to perform action on resource.")
    );
    // Crypto User on the resource group covers the key; on another vault it does not.
    let other = scope.replace("vaults/ekm-demo", "vaults/other");
    assign(&mut access, &tenant, CRYPTO_USER, &other);
    assert!(access.data_action(&oid, ENCRYPT, KEY).is_err());
    let group = format!(
        "/subscriptions/{}/resourceGroups/{}",
        tenant.azure.subscription_id, tenant.azure.resource_group
    );
    assign(&mut access, &tenant, CRYPTO_USER, &group);
    assert_eq!(access.data_action(&oid, DECRYPT, KEY), Ok(()));
}

#[test]
fn a_vault_with_access_policies_ignores_rbac() {
    let (tenant, mut access) = demo();
    let oid = tenant.azure.service_object_id.clone();
    let vault = json!({"id": vault_id(&tenant), "properties": {"enableRbacAuthorization": false,
        "accessPolicies": [{"tenantId": tenant.azure.tenant_id, "objectId": oid,
            "permissions": {"keys": ["get", "encrypt"]}}]}});
    access.vault = Written::new(vault, Vault::from_value).unwrap();
    assert_eq!(access.data_action(&oid, ENCRYPT, KEY), Ok(()));
    let (_, inner) = access.data_action(&oid, DECRYPT, KEY).unwrap_err();
    assert_eq!(inner, "ForbiddenByPolicy");
}

#[test]
fn a_second_service_principal_for_the_app_is_refused() {
    let (tenant, mut access) = demo();
    let sp = json!({"id": "another", "appId": tenant.azure.service_app_id});
    let sp = Written::new(sp, ServicePrincipal::from_value).unwrap();
    assert!(access.add_service_principal(sp).is_err());
    assert!(Written::new(json!({"id": "x"}), ServicePrincipal::from_value).is_err());
}
