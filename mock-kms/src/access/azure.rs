//! The customer's Azure documents, as built here:
//! - the tenant's **service principals** (as Microsoft Graph returns them: `{"id", "appId", …}`):
//!   the demo tenant holds one for EKM's multi-tenant app, created and deleted with Graph's
//!   `POST` / `DELETE /v1.0/servicePrincipals` ([`graph`](crate::azure::graph));
//! - **custom role definitions** (`az role definition list`); the built-in Key Vault roles are
//!   known with their real ids and data actions ([`ekm_access::azure::rbac`]);
//! - **role assignments** (`az role assignment list` entries) at subscription, resource group,
//!   vault or key scope: the demo tenant assigns "Key Vault Crypto User" to EKM's service
//!   principal on each key;
//! - the **vault** (`az keyvault show`): its permission model (`enableRbacAuthorization`) and
//!   its legacy access policies.
//!
//! The control API's switches are edits of these documents: `revoke-access` removes the
//! service principal's assignments scoped to the key and its access policy's key permissions,
//! `restore-access` puts the demo assignment back; `revoke-trust` deletes the service principal
//! (trust belongs to it, so every Azure key of the tenant loses it) and `restore-trust` creates
//! it again with the demo object id. A key's `access` / `trust` in the control API say what the
//! documents decide for EKM's calls on it.

use std::collections::BTreeMap;

use ekm_access::azure::rbac::{DECRYPT, ENCRYPT};
use ekm_access::azure::{
    self as azure_access, Assignment, RoleDefinition, ServicePrincipal, Vault,
};
use ekm_access::{Decision, DocumentError, Finding};
use serde_json::{Value, json};

use crate::error::StateError;
use crate::state::Kms;
use crate::tenant::Tenant;

/// The built-in "Key Vault Crypto User" role the demo assignment grants.
pub const CRYPTO_USER: &str = "12338af0-0e69-4776-bea7-57ae8d297424";

/// A document as the customer wrote it and its parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    json: Value,
    parsed: T,
}

impl<T> Written<T> {
    /// Reads `json` with `parse`; a malformed one is refused with the JSON path of the problem.
    pub fn new(
        json: Value,
        parse: fn(&Value) -> Result<T, DocumentError>,
    ) -> Result<Self, DocumentError> {
        let parsed = parse(&json)?;
        Ok(Self { json, parsed })
    }

    /// The document as the customer wrote it.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Its parsed form.
    pub fn parsed(&self) -> &T {
        &self.parsed
    }
}

/// The Azure documents of the customer's tenant and subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct AzureAccess {
    /// Service principals by object id.
    pub service_principals: BTreeMap<String, Written<ServicePrincipal>>,
    /// Custom role definitions.
    pub role_definitions: Vec<Written<RoleDefinition>>,
    /// Role assignments.
    pub role_assignments: Vec<Written<Assignment>>,
    /// The vault.
    pub vault: Written<Vault>,
}

fn written<T>(json: Value, parse: fn(&Value) -> Result<T, DocumentError>) -> Written<T> {
    Written::new(json, parse).expect("the lab's own documents are well formed")
}

impl AzureAccess {
    /// The demo tenant's documents without key assignments (each key gets
    /// [`AzureAccess::assign_demo_role`]): EKM's service principal and an RBAC vault.
    pub fn demo(tenant: &Tenant) -> Self {
        let sp = demo_service_principal(tenant);
        Self {
            service_principals: BTreeMap::from([(sp.parsed.object_id.clone(), sp)]),
            role_definitions: Vec::new(),
            role_assignments: Vec::new(),
            vault: written(demo_vault(tenant), Vault::from_value),
        }
    }

    /// The documents the per-key switches of an older state file (or a `--config` seed) stand
    /// for: the demo documents, no assignment on each Azure key whose `access` is off, and no
    /// service principal when the tenant has Azure keys and none of them keeps `trust`.
    pub fn from_switches<'k>(
        tenant: &Tenant,
        keys: impl IntoIterator<Item = (&'k str, bool, bool)>,
    ) -> Self {
        let mut access = Self::demo(tenant);
        let mut trust = Vec::new();
        for (vault_key, has_access, trusted) in keys {
            if has_access {
                access.assign_demo_role(tenant, vault_key);
            }
            trust.push(trusted);
        }
        if !super::trust_kept(trust) {
            access.set_trust(tenant, true);
        }
        access
    }

    /// The resource id of vault key `vault_key` (`{vault id}/keys/NAME`).
    pub fn key_scope(&self, vault_key: &str) -> String {
        format!("{}/keys/{vault_key}", self.vault.parsed.id)
    }

    /// Assigns "Key Vault Crypto User" on vault key `vault_key` to EKM's service principal (a
    /// new key of the tenant), unless that assignment exists.
    pub fn assign_demo_role(&mut self, tenant: &Tenant, vault_key: &str) {
        let scope = self.key_scope(vault_key);
        let assignment = demo_assignment(tenant, &scope);
        if !self.role_assignments.iter().any(|a| a.json == assignment) {
            self.role_assignments
                .push(written(assignment, Assignment::from_value));
        }
    }

    /// `revoke-access` (`revoke` true) or `restore-access` on vault key `vault_key`.
    pub fn set_access(&mut self, tenant: &Tenant, vault_key: &str, revoke: bool) {
        if !revoke {
            self.assign_demo_role(tenant, vault_key);
            return;
        }
        let scope = self.key_scope(vault_key).to_ascii_lowercase();
        let oid = &tenant.azure.service_object_id;
        self.role_assignments.retain(|a| {
            a.parsed.principal_id != *oid || a.parsed.scope.to_ascii_lowercase() != scope
        });
    }

    /// `revoke-trust` (`revoke` true: EKM's service principal is deleted) or `restore-trust`.
    pub fn set_trust(&mut self, tenant: &Tenant, revoke: bool) {
        let app = &tenant.azure.service_app_id;
        self.service_principals
            .retain(|_, sp| !sp.parsed.app_id.eq_ignore_ascii_case(app));
        if !revoke {
            let sp = demo_service_principal(tenant);
            self.service_principals
                .insert(sp.parsed.object_id.clone(), sp);
        }
    }

    /// Adds a service principal (Graph `POST`); refused if the app already has one.
    pub fn add_service_principal(&mut self, sp: Written<ServicePrincipal>) -> Result<(), String> {
        let app = &sp.parsed.app_id;
        if self
            .service_principals
            .values()
            .any(|p| p.parsed.app_id.eq_ignore_ascii_case(app))
        {
            return Err(format!(
                "the tenant already has a service principal for app {app}"
            ));
        }
        self.service_principals
            .insert(sp.parsed.object_id.clone(), sp);
        Ok(())
    }

    /// Decides a client-credentials sign-in of the service app.
    pub fn sign_in(&self, tenant: &Tenant, app_id: &str) -> azure_access::SignIn {
        let principals: Vec<ServicePrincipal> = self
            .service_principals
            .values()
            .map(|sp| sp.parsed.clone())
            .collect();
        azure_access::sign_in(app_id, &tenant.azure.tenant_id, &principals, true)
    }

    /// Decides data action `action` on vault key `vault_key` for principal `oid`: `Ok` when the
    /// documents allow it, else the decision with its trace, Key Vault's message and the 403's
    /// inner code (`ForbiddenByRbac` or `ForbiddenByPolicy`).
    pub fn data_action(
        &self,
        oid: &str,
        action: &str,
        vault_key: &str,
    ) -> Result<(), (Box<Decision>, &'static str)> {
        let key = self.key_scope(vault_key);
        let custom = self.custom_roles();
        let assignments = self.role_assignments.iter().map(|a| &a.parsed);
        if azure_access::allows(&self.vault.parsed, assignments, &custom, oid, action, &key) {
            return Ok(());
        }
        let decided = self.decide(oid, action, vault_key);
        let inner = decided.inner.unwrap_or("ForbiddenByRbac");
        Err((Box::new(decided.decision), inner))
    }

    /// EKM's sign-in as app `app_id`, encrypt and decrypt on vault key `vault_key` with their
    /// whole traces (`ekm check --explain`).
    pub fn service_decisions(
        &self,
        tenant: &Tenant,
        vault_key: &str,
        app_id: &str,
    ) -> [Decision; 3] {
        let oid = &tenant.azure.service_object_id;
        [
            self.sign_in(tenant, app_id).decision,
            self.decide(oid, ENCRYPT, vault_key).decision,
            self.decide(oid, DECRYPT, vault_key).decision,
        ]
    }

    /// The least-privilege lint of the vault's permission model, the role assignments and the
    /// custom roles.
    pub fn lint(&self) -> Vec<Finding> {
        let assignments: Vec<Assignment> = self
            .role_assignments
            .iter()
            .map(|a| a.parsed.clone())
            .collect();
        let custom: Vec<RoleDefinition> = self
            .role_definitions
            .iter()
            .map(|r| r.parsed.clone())
            .collect();
        azure_access::lint::lint(Some(&self.vault.parsed), &assignments, &custom)
    }

    /// [`data_action`](Self::data_action)'s decision with its whole trace.
    fn decide(&self, oid: &str, action: &str, vault_key: &str) -> azure_access::DataDecision {
        azure_access::authorize(
            &self.vault.parsed,
            self.role_assignments.iter().map(|a| &a.parsed),
            &self.custom_roles(),
            oid,
            action,
            &self.key_scope(vault_key),
        )
    }

    fn custom_roles(&self) -> Vec<&RoleDefinition> {
        self.role_definitions.iter().map(|r| &r.parsed).collect()
    }

    /// What the documents decide for EKM on vault key `vault_key`: whether its service principal
    /// may encrypt and decrypt (`access`), and whether the app may sign in (`trust`).
    pub fn service_allowed(&self, tenant: &Tenant, vault_key: &str) -> (bool, bool) {
        let oid = &tenant.azure.service_object_id;
        let access = [ENCRYPT, DECRYPT]
            .iter()
            .all(|action| self.data_action(oid, action, vault_key).is_ok());
        let trust = self
            .sign_in(tenant, &tenant.azure.service_app_id)
            .decision
            .allowed();
        (access, trust)
    }
}

impl Kms {
    /// Deletes the service principal of object id `id` (Graph's `DELETE
    /// /v1.0/servicePrincipals/{id}`): new sign-ins are refused, the tokens it holds live to
    /// their expiry, as with revoke-trust. Whether it existed.
    pub fn delete_service_principal(&self, id: &str) -> Result<bool, StateError> {
        self.write(|s| Ok(s.azure_access.service_principals.remove(id).is_some()))
    }
}

/// The vault's resource id.
pub fn vault_id(tenant: &Tenant) -> String {
    let azure = &tenant.azure;
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        azure.subscription_id, azure.resource_group, azure.vault_name
    )
}

fn demo_service_principal(tenant: &Tenant) -> Written<ServicePrincipal> {
    let azure = &tenant.azure;
    let json = json!({"id": azure.service_object_id, "appId": azure.service_app_id,
        "displayName": "Enterprise Key Management", "servicePrincipalType": "Application"});
    written(json, ServicePrincipal::from_value)
}

fn demo_vault(tenant: &Tenant) -> Value {
    json!({"id": vault_id(tenant), "name": tenant.azure.vault_name,
        "properties": {"enableRbacAuthorization": true, "tenantId": tenant.azure.tenant_id}})
}

/// The demo assignment of "Key Vault Crypto User" at `scope` to EKM's service principal.
fn demo_assignment(tenant: &Tenant, scope: &str) -> Value {
    let azure = &tenant.azure;
    json!({
        "principalId": azure.service_object_id,
        "principalType": "ServicePrincipal",
        "roleDefinitionId": format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{CRYPTO_USER}",
            azure.subscription_id
        ),
        "roleDefinitionName": "Key Vault Crypto User",
        "scope": scope,
    })
}

#[cfg(test)]
mod tests;
