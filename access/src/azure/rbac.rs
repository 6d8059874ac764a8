//! Azure RBAC for Key Vault data actions, and the legacy access-policy model: role definitions
//! (the built-in Key Vault roles with their real ids and data actions, plus custom roles), role
//! assignments at subscription, resource group, vault or key scope (inherited downward), and the
//! vault's permission model — with `enableRbacAuthorization` on, access policies are ignored.
//!
//! Denials carry Key Vault's 403 shapes: `Forbidden` with inner code `ForbiddenByRbac` ("Caller
//! is not authorized to perform action on resource…", the text seen in public logs) or
//! `ForbiddenByPolicy` for access policies. Management-group scopes, deny assignments and ABAC
//! conditions on assignments are not modelled: such an assignment grants nothing here and the
//! trace says so.

use std::sync::LazyLock;

use serde_json::Value;

use crate::decision::{Decision, Tracer, Verdict};
use crate::document::{At, DocumentError, each, wildcard_match_ignore_case, with_field};

/// `encrypt`: what Key Vault's encrypt operation needs.
pub const ENCRYPT: &str = "Microsoft.KeyVault/vaults/keys/encrypt/action";
/// `decrypt`: what Key Vault's decrypt operation needs.
pub const DECRYPT: &str = "Microsoft.KeyVault/vaults/keys/decrypt/action";
/// `get key`: what reading the key (EKM's connect check) needs.
pub const READ: &str = "Microsoft.KeyVault/vaults/keys/read";

/// A role definition's data-plane permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// Its id (a GUID; assignments name it as the last segment of `roleDefinitionId`).
    pub id: String,
    /// Its display name (`Key Vault Crypto User`).
    pub name: String,
    /// Granted data actions (with `*` wildcards).
    pub data_actions: Vec<String>,
    /// Data actions removed from the grant.
    pub not_data_actions: Vec<String>,
}

const KEYS: &str = "Microsoft.KeyVault/vaults/keys";

/// The built-in Key Vault roles (Azure built-in roles, "Security").
pub fn built_in_roles() -> &'static [RoleDefinition] {
    static ROLES: LazyLock<Vec<RoleDefinition>> = LazyLock::new(built_in_role_list);
    &ROLES
}

fn built_in_role_list() -> Vec<RoleDefinition> {
    let role = |id: &str, name: &str, actions: Vec<String>| RoleDefinition {
        id: id.into(),
        name: name.into(),
        data_actions: actions,
        not_data_actions: Vec::new(),
    };
    let keys = |ops: &[&str]| {
        ops.iter()
            .map(|op| format!("{KEYS}/{op}"))
            .collect::<Vec<_>>()
    };
    vec![
        role(
            "12338af0-0e69-4776-bea7-57ae8d297424",
            "Key Vault Crypto User",
            keys(&[
                "read",
                "update/action",
                "backup/action",
                "encrypt/action",
                "decrypt/action",
                "wrap/action",
                "unwrap/action",
                "sign/action",
                "verify/action",
            ]),
        ),
        role(
            "e147488a-f6f5-4113-8e2d-b22465e65bf6",
            "Key Vault Crypto Service Encryption User",
            keys(&["read", "wrap/action", "unwrap/action"]),
        ),
        role(
            "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
            "Key Vault Crypto Officer",
            vec![
                format!("{KEYS}/*"),
                "Microsoft.KeyVault/vaults/keyrotationpolicies/*".into(),
            ],
        ),
        role(
            "00482a5a-887f-4fb3-b363-3b7fe8e74483",
            "Key Vault Administrator",
            vec!["Microsoft.KeyVault/vaults/*".into()],
        ),
        role(
            "21090545-7ca7-4776-b22c-e363652d74d2",
            "Key Vault Reader",
            vec!["Microsoft.KeyVault/vaults/*/read".into()],
        ),
    ]
}

impl RoleDefinition {
    /// Reads a custom role as `az role definition list` prints it.
    pub fn from_value(value: &Value) -> Result<RoleDefinition, DocumentError> {
        let root = At::root(value);
        let id = with_field(root, "name", |n| n.string().map(str::to_owned))?
            .ok_or_else(|| root.error("a role definition needs `name` (its GUID)"))?;
        let name = with_field(root, "roleName", |n| n.string().map(str::to_owned))?
            .unwrap_or_else(|| id.clone());
        let mut data_actions = Vec::new();
        let mut not_data_actions = Vec::new();
        with_field(root, "permissions", |list| {
            each(list, |p| {
                data_actions
                    .extend(with_field(p, "dataActions", strings_or_empty)?.unwrap_or_default());
                not_data_actions
                    .extend(with_field(p, "notDataActions", strings_or_empty)?.unwrap_or_default());
                Ok(())
            })
        })?;
        Ok(RoleDefinition {
            id,
            name,
            data_actions,
            not_data_actions,
        })
    }

    /// Whether the role grants `action`.
    pub fn grants(&self, action: &str) -> bool {
        let hit = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| wildcard_match_ignore_case(p, action))
        };
        hit(&self.data_actions) && !hit(&self.not_data_actions)
    }
}

fn strings_or_empty(at: At<'_>) -> Result<Vec<String>, DocumentError> {
    match at.value() {
        Value::Array(items) if items.is_empty() => Ok(Vec::new()),
        _ => at.strings(),
    }
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The assignee's object id.
    pub principal_id: String,
    /// The role definition's GUID.
    pub role: String,
    /// Where it applies (`/subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/V`).
    pub scope: String,
    /// An ABAC condition, if any (not evaluated by the lab).
    pub condition: Option<String>,
}

impl Assignment {
    /// Reads one entry of `az role assignment list`.
    pub fn from_value(value: &Value) -> Result<Assignment, DocumentError> {
        let root = At::root(value);
        let text = |field: &str| with_field(root, field, |f| f.string().map(str::to_owned));
        let principal_id =
            text("principalId")?.ok_or_else(|| root.error("an assignment needs `principalId`"))?;
        let role_id = text("roleDefinitionId")?
            .ok_or_else(|| root.error("an assignment needs `roleDefinitionId`"))?;
        let role = role_id.rsplit('/').next().unwrap_or_default().to_owned();
        let scope = text("scope")?.ok_or_else(|| root.error("an assignment needs `scope`"))?;
        if !scope.starts_with('/') {
            return Err(DocumentError {
                path: "$.scope".into(),
                reason: "must be a resource id (/subscriptions/…)".into(),
            });
        }
        let condition = with_field(root, "condition", |c| {
            Ok(c.value().as_str().map(str::to_owned))
        })?
        .flatten();
        Ok(Assignment {
            principal_id,
            role,
            scope,
            condition,
        })
    }
}

/// A vault's permission model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    /// The vault's resource id.
    pub id: String,
    /// `enableRbacAuthorization`: RBAC decides and access policies are ignored.
    pub rbac: bool,
    /// Legacy access policies: object id → key permissions (`encrypt`, `decrypt`, `get`, …).
    pub access_policies: Vec<(String, Vec<String>)>,
}

impl Vault {
    /// Reads a vault as `az keyvault show` prints it (`id`, `properties.enableRbacAuthorization`,
    /// `properties.accessPolicies`).
    pub fn from_value(value: &Value) -> Result<Vault, DocumentError> {
        let root = At::root(value);
        let id = with_field(root, "id", |i| i.string().map(str::to_owned))?
            .ok_or_else(|| root.error("a vault needs its `id`"))?;
        let (rbac, access_policies) = with_field(root, "properties", |p| {
            let rbac = with_field(p, "enableRbacAuthorization", |r| {
                r.value()
                    .as_bool()
                    .ok_or_else(|| r.error("must be a boolean"))
            })?
            .unwrap_or(false);
            let policies = with_field(p, "accessPolicies", |list| {
                each(list, |ap| {
                    let oid = with_field(ap, "objectId", |o| o.string().map(str::to_owned))?
                        .ok_or_else(|| ap.error("an access policy needs `objectId`"))?;
                    let keys = with_field(ap, "permissions", |perm| {
                        Ok(with_field(perm, "keys", strings_or_empty)?.unwrap_or_default())
                    })?
                    .unwrap_or_default();
                    Ok((oid, keys))
                })
            })?
            .unwrap_or_default();
            Ok((rbac, policies))
        })?
        .unwrap_or((true, Vec::new()));
        Ok(Vault {
            id,
            rbac,
            access_policies,
        })
    }

    fn name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or(&self.id)
    }
}

/// Whether `scope` covers `resource` (equal, or an ancestor on a segment boundary).
pub fn covers(scope: &str, resource: &str) -> bool {
    let (scope, resource) = (
        scope.trim_end_matches('/').to_ascii_lowercase(),
        resource.to_ascii_lowercase(),
    );
    resource == scope || resource.starts_with(&format!("{scope}/"))
}

/// A Key Vault data-plane decision: `inner` is the 403's inner error code on a denial.
#[derive(Debug, Clone, PartialEq)]
pub struct DataDecision {
    /// Allowed or denied, with the trace and Key Vault's message.
    pub decision: Decision,
    /// `ForbiddenByRbac` or `ForbiddenByPolicy` on a denial.
    pub inner: Option<&'static str>,
}

/// Decides whether the principal `oid` may perform `action` on the key with resource id `key`
/// (`{vault id}/keys/NAME`), with the trace of every assignment or access policy looked at.
pub fn authorize<'a>(
    vault: &Vault,
    assignments: impl IntoIterator<Item = &'a Assignment>,
    custom: &[&RoleDefinition],
    oid: &str,
    action: &str,
    key: &str,
) -> DataDecision {
    decide(
        vault,
        assignments,
        custom,
        oid,
        action,
        key,
        Tracer::default(),
    )
}

/// Whether `oid` may perform `action` on `key`: [`authorize`]'s answer without building a trace
/// (the hot path of every allowed call).
pub fn allows<'a>(
    vault: &Vault,
    assignments: impl IntoIterator<Item = &'a Assignment>,
    custom: &[&RoleDefinition],
    oid: &str,
    action: &str,
    key: &str,
) -> bool {
    decide(
        vault,
        assignments,
        custom,
        oid,
        action,
        key,
        Tracer::quiet(),
    )
    .decision
    .allowed()
}

fn decide<'a>(
    vault: &Vault,
    assignments: impl IntoIterator<Item = &'a Assignment>,
    custom: &[&RoleDefinition],
    oid: &str,
    action: &str,
    key: &str,
    tracer: Tracer,
) -> DataDecision {
    if vault.rbac {
        decide_rbac(vault, assignments, custom, oid, action, key, tracer)
    } else {
        decide_access_policies(vault, oid, action, tracer)
    }
}

/// The legacy model: the vault's access policies, by object id and key permission.
fn decide_access_policies(
    vault: &Vault,
    oid: &str,
    action: &str,
    mut tracer: Tracer,
) -> DataDecision {
    let op = action
        .strip_prefix(KEYS)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(action);
    let op = op.strip_suffix("/action").unwrap_or(op);
    let doc = || format!("vault {}", vault.name());
    for (i, (who, keys)) in vault.access_policies.iter().enumerate() {
        if who != oid {
            continue;
        }
        let part = || format!("accessPolicies[{i}]");
        if keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case(op) || k.eq_ignore_ascii_case("all"))
        {
            let step = tracer.note_lazy(doc, part, || format!("grants keys {op} to {oid}"));
            return DataDecision {
                decision: tracer.allow(step),
                inner: None,
            };
        }
        tracer.note_lazy(doc, part, || {
            format!("names {oid} without keys {op} (has {keys:?})")
        });
    }
    let message = format!(
        "The user, group or application 'oid={oid}' does not have keys {op} permission on key vault '{}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
        vault.name()
    );
    DataDecision {
        decision: tracer.deny(Verdict::ImplicitDeny, None, message),
        inner: Some("ForbiddenByPolicy"),
    }
}

/// The RBAC model: role assignments covering the key, by the data actions of their roles.
fn decide_rbac<'a>(
    vault: &Vault,
    assignments: impl IntoIterator<Item = &'a Assignment>,
    custom: &[&RoleDefinition],
    oid: &str,
    action: &str,
    key: &str,
    mut tracer: Tracer,
) -> DataDecision {
    for (i, a) in assignments.into_iter().enumerate() {
        if a.principal_id != oid {
            continue;
        }
        let role = built_in_roles()
            .iter()
            .chain(custom.iter().copied())
            .find(|r| r.id.eq_ignore_ascii_case(&a.role));
        let part = || {
            format!(
                "roleAssignments[{i}] {}",
                role.map_or(a.role.as_str(), |r| r.name.as_str())
            )
        };
        let doc = || format!("scope {}", a.scope);
        if !covers(&a.scope, key) {
            tracer.note_lazy(doc, part, || "does not cover the key".into());
            continue;
        }
        let Some(role) = role else {
            tracer.note_lazy(doc, part, || {
                "grants nothing the lab knows: the role definition is not modelled".into()
            });
            continue;
        };
        if a.condition.is_some() {
            tracer.note_lazy(doc, part, || {
                "grants nothing the lab can prove: ABAC conditions are not evaluated".into()
            });
            continue;
        }
        if role.grants(action) {
            let step = tracer.note_lazy(doc, part, || format!("grants {action} to {oid}"));
            return DataDecision {
                decision: tracer.allow(step),
                inner: None,
            };
        }
        tracer.note_lazy(doc, part, || {
            format!("covers the key but {} lacks {action}", role.name)
        });
    }
    let message = format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: oid={oid}\r\nAction: '{action}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nVault: {};\r\n",
        key.to_ascii_lowercase(),
        vault.name()
    );
    DataDecision {
        decision: tracer.deny(Verdict::ImplicitDeny, None, message),
        inner: Some("ForbiddenByRbac"),
    }
}

#[cfg(test)]
mod tests;
