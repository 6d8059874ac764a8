//! The customer's access documents in a run: the documents a scenario starts with, the other
//! projects it declares, and the edits its steps make — each a change of the documents the mock
//! keeps (through the lab's `access_documents` / `set_access_documents`, the control API's
//! shape), so the next call is decided by what the customer wrote. An edit that takes EKM's
//! access or trust away from a key is a revocation the `revocation_effective_within` invariant
//! watches; one that gives it back undoes it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Playback;
use super::documents::put_documents;
use super::outcome::Done;
use super::timers::RevocationCause;
use crate::report::trace::MarkerKind;
use crate::schema::{
    AccessDocuments, AccessEdit, Assignment, AzureScope, Binding, Cloud, ErrorKind, PolicyWord,
    PutStatement, RemoveStatement, demo_key,
};

/// What an edit did to EKM's access and trust, per key.
pub(super) type Grants = BTreeMap<String, (bool, bool)>;

impl Playback {
    /// Performs an access edit.
    pub(super) fn access_edit(&mut self, edit: &AccessEdit) -> Done {
        let result = match edit {
            AccessEdit::PutStatement(put) => self.put_statement(put),
            AccessEdit::RemoveStatement(remove) => self.remove_statement(remove),
            AccessEdit::PutBinding(binding) => self.edit_binding(binding, true),
            AccessEdit::RemoveBinding(binding) => self.edit_binding(binding, false),
            AccessEdit::PutAssignment(assignment) => self.edit_assignment(assignment, true),
            AccessEdit::RemoveAssignment(assignment) => self.edit_assignment(assignment, false),
            AccessEdit::DeleteServicePrincipal(delete) => {
                let app = delete.app_id.clone().unwrap_or_else(|| self.service_app());
                self.lab
                    .delete_service_principal(&app)
                    .map(|id| format!("service principal {id} of application {app} deleted"))
                    .map_err(|e| e.to_string())
            }
            AccessEdit::PutAccess(documents) => put_documents(&self.lab, documents)
                .map(|()| format!("{} documents replaced", clouds(documents)))
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(detail) => Done::ok(detail),
            Err(error) => Done::failed(ErrorKind::Refused, error),
        }
    }

    /// Each key's EKM access and trust, as the documents decide them now.
    pub(super) fn grants(&self) -> Grants {
        self.lab
            .keys()
            .into_iter()
            .map(|info| (info.name, (info.access, info.trust)))
            .collect()
    }

    /// After an access edit: a key that lost EKM's access or trust since `before` is revoked,
    /// one that got it back is restored; the changes join `done`'s detail. Answers the marker
    /// the edit leaves in the trace, if any.
    pub(super) fn settle_access(&mut self, before: Grants, done: &mut Done) -> Option<MarkerKind> {
        if done.outcome.is_err() {
            return None;
        }
        let mut marker = None;
        for (key, (access, trust)) in self.grants() {
            let Some(&(had_access, had_trust)) = before.get(&key) else {
                continue;
            };
            for (what, had, has, cause) in [
                ("access", had_access, access, RevocationCause::Access),
                ("trust", had_trust, trust, RevocationCause::Trust),
            ] {
                if had && !has {
                    self.revoke(&key, cause, &format!("{what} to {key} taken away"));
                    marker = Some(MarkerKind::Revoke);
                } else if !had && has {
                    self.undo(&key, cause);
                    marker = marker.or(Some(MarkerKind::Restore));
                } else {
                    continue;
                }
                let now = if has { "on" } else { "off" };
                done.detail.push_str(&format!("; {key}: {what} {now}"));
            }
        }
        marker
    }

    /// EKM's application id on Azure.
    fn service_app(&self) -> String {
        self.lab
            .config()
            .service
            .azure
            .as_ref()
            .map(|azure| azure.client_id.clone())
            .unwrap_or_default()
    }

    fn put_statement(&self, put: &PutStatement) -> Result<String, String> {
        let statement = put.statement.json.clone();
        let sid = statement["Sid"].as_str().map(str::to_owned);
        self.edit_policy(
            put.policy,
            put.key.as_deref(),
            put.name.as_deref(),
            |statements| {
                if let Some(sid) = &sid {
                    statements.retain(|s| s["Sid"].as_str() != Some(sid));
                }
                statements.push(statement);
                Ok(format!(
                    "statement {} put",
                    sid.as_deref().unwrap_or("(no Sid)")
                ))
            },
        )
    }

    fn remove_statement(&self, remove: &RemoveStatement) -> Result<String, String> {
        let sid = &remove.sid;
        self.edit_policy(
            remove.policy,
            remove.key.as_deref(),
            remove.name.as_deref(),
            |statements| {
                let before = statements.len();
                statements.retain(|s| s["Sid"].as_str() != Some(sid));
                if statements.len() == before {
                    return Err(format!("no statement has Sid `{sid}`"));
                }
                Ok(format!("statement {sid} removed"))
            },
        )
    }

    /// Edits the statements of one AWS policy: the role's trust policy, a key's policy, or a
    /// role policy (created empty when missing).
    fn edit_policy(
        &self,
        policy: PolicyWord,
        key: Option<&str>,
        name: Option<&str>,
        edit: impl FnOnce(&mut Vec<Value>) -> Result<String, String>,
    ) -> Result<String, String> {
        let mut documents = self.lab.access_documents(Cloud::Aws);
        let key = key.unwrap_or(demo_key(Cloud::Aws));
        let (pointer, label) = match policy {
            PolicyWord::Trust => (
                "/trust_policy".to_owned(),
                "the role's trust policy".to_owned(),
            ),
            PolicyWord::Key => (
                format!("/key_policies/{}", pointer_segment(key)),
                format!("the key policy of {key}"),
            ),
            PolicyWord::Role => {
                let name = name.unwrap_or_default();
                let policies = &mut documents["role_policies"];
                if policies.get(name).is_none() {
                    policies[name] = json!({"Version": "2012-10-17", "Statement": []});
                }
                (
                    format!("/role_policies/{}", pointer_segment(name)),
                    format!("the role policy {name}"),
                )
            }
        };
        let document = documents
            .pointer_mut(&pointer)
            .ok_or_else(|| format!("{label} is not among the AWS documents"))?;
        let mut statements = match document["Statement"].take() {
            Value::Array(list) => list,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        let done = edit(&mut statements).map_err(|e| format!("{label}: {e}"))?;
        document["Statement"] = Value::Array(statements);
        self.lab
            .set_access_documents(Cloud::Aws, documents)
            .map_err(|e| e.to_string())?;
        Ok(format!("{label}: {done}"))
    }

    /// Adds a binding's members to the resource's policy (`put`) or takes them (every member
    /// when none are named) out of the role's bindings.
    fn edit_binding(&self, binding: &Binding, put: bool) -> Result<String, String> {
        let resource = match (&binding.resource, &binding.key) {
            (Some(resource), _) => resource.clone(),
            (None, key) => {
                let key = key.as_deref().unwrap_or(demo_key(Cloud::Gcp));
                self.lab.key(key).map_err(|e| e.to_string())?.id
            }
        };
        let members: Vec<Value> = binding
            .members
            .as_ref()
            .map_or_else(Vec::new, |m| m.0.iter().map(|m| json!(m)).collect());
        let mut documents = self.lab.access_documents(Cloud::Gcp);
        let entry = &mut documents["policies"][resource.as_str()];
        if entry.is_null() {
            *entry = json!({"policy": {"bindings": []}});
        }
        // A changed policy gets a new etag, as setIamPolicy gives it.
        entry.as_object_mut().map(|o| o.remove("etag"));
        let policy = &mut entry["policy"];
        let mut bindings = match policy["bindings"].take() {
            Value::Array(list) => list,
            _ => Vec::new(),
        };
        let role = binding.role.as_str();
        let detail = if put {
            let condition = binding.condition.as_ref().map(|c| c.json.clone());
            let same = bindings
                .iter_mut()
                .find(|b| b["role"] == role && b.get("condition").cloned() == condition);
            match same {
                Some(existing) => {
                    let list = existing["members"].as_array_mut();
                    let list =
                        list.ok_or_else(|| format!("a {role} binding has no members list"))?;
                    for member in members {
                        if !list.contains(&member) {
                            list.push(member);
                        }
                    }
                }
                None => {
                    let mut new = json!({"role": role, "members": members});
                    if let Some(condition) = condition {
                        new["condition"] = condition;
                        policy["version"] = json!(3);
                    }
                    bindings.push(new);
                }
            }
            format!("{role} granted on {resource}")
        } else {
            let before = bindings.clone();
            for b in bindings.iter_mut().filter(|b| b["role"] == role) {
                if let Some(list) = b["members"].as_array_mut() {
                    list.retain(|m| !members.is_empty() && !members.contains(m));
                }
            }
            bindings.retain(|b| b["members"].as_array().is_none_or(|m| !m.is_empty()));
            if bindings == before {
                return Err(format!("no {role} binding on {resource} has those members"));
            }
            format!("{role} taken away on {resource}")
        };
        policy["bindings"] = Value::Array(bindings);
        self.lab
            .set_access_documents(Cloud::Gcp, documents)
            .map_err(|e| e.to_string())?;
        Ok(detail)
    }

    /// Adds a role assignment (refused if it exists) or removes the matching ones.
    fn edit_assignment(&self, assignment: &Assignment, put: bool) -> Result<String, String> {
        let mut documents = self.lab.access_documents(Cloud::Azure);
        let vault = documents["vault"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let scope = match (&assignment.scope, &assignment.key) {
            (Some(scope), _) => scope_id(&vault, scope),
            (None, key) => {
                let key = key.as_deref().unwrap_or(demo_key(Cloud::Azure));
                let info = self.lab.key(key).map_err(|e| e.to_string())?;
                let name = info.id.rsplit_once("/keys/").map_or("", |(_, name)| name);
                format!(
                    "{vault}/keys/{}",
                    name.split('/').next().unwrap_or_default()
                )
            }
        };
        let (role_id, role_name) = role_of(&assignment.role);
        let principal = match &assignment.principal {
            Some(principal) => principal.clone(),
            None => service_object_id(&documents, &self.service_app())?,
        };
        let matches = |a: &Value| {
            a["principalId"].as_str() == Some(principal.as_str())
                && a["scope"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&scope))
                && a["roleDefinitionId"].as_str().is_some_and(|r| {
                    r.to_ascii_lowercase()
                        .ends_with(&role_id.to_ascii_lowercase())
                })
        };
        let list = documents["role_assignments"]
            .as_array_mut()
            .ok_or_else(|| "the Azure documents have no role assignments list".to_owned())?;
        let label = format!("{role_name} for {principal} at {scope}");
        if put {
            if list.iter().any(matches) {
                return Err(format!("the assignment exists: {label}"));
            }
            let subscription = vault.split('/').take(3).collect::<Vec<_>>().join("/");
            list.push(json!({
                "principalId": principal,
                "principalType": "ServicePrincipal",
                "roleDefinitionId": format!(
                    "{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"
                ),
                "roleDefinitionName": role_name,
                "scope": scope,
            }));
        } else {
            let before = list.len();
            list.retain(|a| !matches(a));
            if list.len() == before {
                return Err(format!("no assignment of {label}"));
            }
        }
        self.lab
            .set_access_documents(Cloud::Azure, documents)
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{label} {}",
            if put { "assigned" } else { "removed" }
        ))
    }
}

fn clouds(documents: &AccessDocuments) -> String {
    let clouds: Vec<&str> = documents.clouds().iter().map(|c| c.as_str()).collect();
    clouds.join(", ")
}

/// A JSON pointer segment for `name` (`~` and `/` escaped).
fn pointer_segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The resource id of an Azure scope word, from the vault's id
/// (`/subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/V`).
fn scope_id(vault: &str, scope: &AzureScope) -> String {
    let segments = |n: usize| vault.split('/').take(n).collect::<Vec<_>>().join("/");
    match scope {
        AzureScope::Vault => vault.to_owned(),
        AzureScope::ResourceGroup => segments(5),
        AzureScope::Subscription => segments(3),
        AzureScope::Id(id) => id.clone(),
    }
}

/// A role's definition id and display name: a built-in role by name, or an id as given.
fn role_of(role: &str) -> (String, String) {
    let built_in = ekm_access::azure::rbac::built_in_roles();
    if let Some(found) = built_in.iter().find(|r| r.name == role) {
        return (found.id.clone(), found.name.clone());
    }
    let id = role.rsplit('/').next().unwrap_or(role).to_owned();
    let name = built_in
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(&id))
        .map_or_else(|| id.clone(), |r| r.name.clone());
    (id, name)
}

/// The object id of application `app`'s service principal in the documents.
fn service_object_id(documents: &Value, app: &str) -> Result<String, String> {
    documents["service_principals"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|sp| sp["appId"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(app)))
        .and_then(|sp| sp["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "the tenant has no service principal for application {app}: name the assignee with `principal:`"
            )
        })
}
