//! GCP IAM allow policies on the resource hierarchy EKM's key lives in (project → key ring →
//! crypto key; inherited downward, never set on a key version), the roles they bind, and the
//! decision for a Cloud KMS permission (`cloudkms.cryptoKeyVersions.useToEncrypt` for encrypt,
//! `useToDecrypt` for decrypt).
//!
//! Predefined roles carry their documented permissions; a role the lab does not know (a basic
//! role, another service's role) grants nothing here and the trace says so — define it as a
//! custom role with `includedPermissions` to model it. IAM Conditions on bindings are evaluated
//! with the lab's CEL subset over `resource.name`/`resource.type`/`resource.service`; a condition
//! outside it is refused when the policy is read. IAM deny policies are not modelled.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::decision::{Decision, Tracer, Verdict};
use crate::document::{At, DocumentError, each, with_field};
use crate::gcp::cel::Expr;

/// `useToEncrypt`: what `cryptoKeys.encrypt` needs.
pub const USE_TO_ENCRYPT: &str = "cloudkms.cryptoKeyVersions.useToEncrypt";
/// `useToDecrypt`: what `cryptoKeys.decrypt` needs.
pub const USE_TO_DECRYPT: &str = "cloudkms.cryptoKeyVersions.useToDecrypt";

const LOCATION_AND_PROJECT: [&str; 3] = [
    "cloudkms.locations.get",
    "cloudkms.locations.list",
    "resourcemanager.projects.get",
];

/// The predefined roles the lab knows, with their permissions (Cloud KMS "Permissions and
/// roles"; IAM "Workload identity federation").
pub fn predefined_role(name: &str) -> Option<Vec<&'static str>> {
    let with_basics = |perms: &[&'static str]| {
        let mut all = perms.to_vec();
        all.extend(LOCATION_AND_PROJECT);
        all
    };
    Some(match name {
        "roles/cloudkms.cryptoKeyEncrypterDecrypter" => {
            with_basics(&[USE_TO_ENCRYPT, USE_TO_DECRYPT])
        }
        "roles/cloudkms.cryptoKeyEncrypter" => with_basics(&[USE_TO_ENCRYPT]),
        "roles/cloudkms.cryptoKeyDecrypter" => with_basics(&[USE_TO_DECRYPT]),
        "roles/cloudkms.cryptoOperator" => with_basics(&[
            USE_TO_ENCRYPT,
            USE_TO_DECRYPT,
            "cloudkms.cryptoKeyVersions.useToSign",
            "cloudkms.cryptoKeyVersions.useToVerify",
            "cloudkms.cryptoKeyVersions.viewPublicKey",
        ]),
        "roles/cloudkms.admin" => with_basics(&[
            "cloudkms.cryptoKeys.create",
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeys.list",
            "cloudkms.cryptoKeys.update",
            "cloudkms.cryptoKeys.getIamPolicy",
            "cloudkms.cryptoKeys.setIamPolicy",
            "cloudkms.cryptoKeyVersions.create",
            "cloudkms.cryptoKeyVersions.destroy",
            "cloudkms.cryptoKeyVersions.restore",
            "cloudkms.cryptoKeyVersions.update",
            "cloudkms.cryptoKeyVersions.useToEncryptViaDelegation",
            "cloudkms.cryptoKeyVersions.useToDecryptViaDelegation",
            "cloudkms.keyRings.create",
            "cloudkms.keyRings.get",
            "cloudkms.keyRings.getIamPolicy",
            "cloudkms.keyRings.setIamPolicy",
        ]),
        "roles/cloudkms.viewer" => with_basics(&[
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeys.list",
            "cloudkms.cryptoKeyVersions.get",
            "cloudkms.keyRings.get",
        ]),
        "roles/iam.workloadIdentityUser" => vec![
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.getAccessToken",
            "iam.serviceAccounts.getOpenIdToken",
            "iam.serviceAccounts.list",
        ],
        _ => return None,
    })
}

/// Custom roles (`projects/P/roles/NAME`) → their `includedPermissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomRoles {
    roles: BTreeMap<String, Vec<String>>,
}

impl CustomRoles {
    /// Reads a custom role as `gcloud iam roles describe --format=json` prints it and adds it.
    pub fn add(&mut self, value: &Value) -> Result<(), DocumentError> {
        let root = At::root(value);
        root.only_fields(&[
            "name",
            "title",
            "description",
            "includedPermissions",
            "stage",
            "etag",
            "deleted",
        ])?;
        let name = with_field(root, "name", |n| n.string().map(str::to_owned))?
            .ok_or_else(|| root.error("a custom role needs its `name`"))?;
        if !(name.starts_with("projects/") || name.starts_with("organizations/"))
            || !name.contains("/roles/")
        {
            return Err(DocumentError {
                path: "$.name".into(),
                reason: "must be projects/P/roles/NAME or organizations/O/roles/NAME".into(),
            });
        }
        let permissions =
            with_field(root, "includedPermissions", |p| p.strings())?.unwrap_or_default();
        self.roles.insert(name, permissions);
        Ok(())
    }

    fn permissions(&self, role: &str) -> Option<Vec<&str>> {
        self.roles
            .get(role)
            .map(|p| p.iter().map(String::as_str).collect())
    }
}

/// A member of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// `allUsers`: anyone on the internet.
    AllUsers,
    /// `allAuthenticatedUsers`: any Google identity.
    AllAuthenticatedUsers,
    /// `serviceAccount:EMAIL`.
    ServiceAccount(String),
    /// `principal://…` (one federated identity).
    Principal(String),
    /// `principalSet://…` (a pool, a group, or an attribute value).
    PrincipalSet(String),
    /// `user:`, `group:`, `domain:` and the like: people, never EKM.
    Other(String),
}

impl Member {
    fn parse(text: &str) -> Option<Member> {
        Some(match text {
            "allUsers" => Member::AllUsers,
            "allAuthenticatedUsers" => Member::AllAuthenticatedUsers,
            _ if text.starts_with("principal://") => Member::Principal(text.into()),
            _ if text.starts_with("principalSet://") => Member::PrincipalSet(text.into()),
            _ => {
                let (kind, rest) = text.split_once(':')?;
                match kind {
                    "serviceAccount" => Member::ServiceAccount(rest.into()),
                    "user" | "group" | "domain" | "deleted" => Member::Other(text.into()),
                    _ => return None,
                }
            }
        })
    }
}

/// One binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The role (`roles/cloudkms.cryptoKeyEncrypterDecrypter`).
    pub role: String,
    /// Who it binds.
    pub members: Vec<Member>,
    /// Its IAM Condition (title, expression).
    pub condition: Option<(String, Expr)>,
}

/// An IAM allow policy as `getIamPolicy` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct IamPolicy {
    /// The policy version (1 or 3; conditions need 3).
    pub version: u32,
    /// Its bindings.
    pub bindings: Vec<Binding>,
}

impl IamPolicy {
    /// Reads a policy (`{"version", "bindings": [{role, members, condition?}], "etag"}`).
    pub fn from_value(value: &Value) -> Result<IamPolicy, DocumentError> {
        let root = At::root(value);
        root.only_fields(&["version", "bindings", "etag", "auditConfigs"])?;
        let version = with_field(root, "version", |v| match v.value().as_u64() {
            Some(n @ (0 | 1 | 3)) => Ok(n.max(1) as u32),
            _ => Err(v.error("must be 1 or 3")),
        })?
        .unwrap_or(1);
        let bindings = with_field(root, "bindings", |list| each(list, |b| binding(b, version)))?
            .unwrap_or_default();
        Ok(IamPolicy { version, bindings })
    }
}

fn binding(at: At<'_>, version: u32) -> Result<Binding, DocumentError> {
    at.only_fields(&["role", "members", "condition"])?;
    let role = with_field(at, "role", |r| {
        let role = r.string()?;
        let shaped = role.starts_with("roles/") || role.contains("/roles/");
        if shaped {
            Ok(role.to_owned())
        } else {
            Err(r.error(format!(
                "`{role}` is not a role name (roles/…, projects/P/roles/…)"
            )))
        }
    })?
    .ok_or_else(|| at.error("a binding needs a `role`"))?;
    let members = with_field(at, "members", |m| {
        let texts = m.strings()?;
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Member::parse(t).ok_or_else(|| DocumentError { path: format!("{}[{i}]", m.path()), reason: format!("`{t}` is not a member (serviceAccount:, principal://, principalSet://, user:, group:, …)") }))
            .collect()
    })?
    .ok_or_else(|| at.error("a binding needs `members`"))?;
    let condition = with_field(at, "condition", |c| {
        if version != 3 {
            return Err(c.error("a binding with a condition needs policy version 3"));
        }
        c.only_fields(&["title", "description", "expression"])?;
        let title = with_field(c, "title", |t| t.string().map(str::to_owned))?.unwrap_or_default();
        let expr = with_field(c, "expression", |e| {
            Expr::parse(e.string()?, &["resource"]).map_err(|why| e.error(why))
        })?
        .ok_or_else(|| c.error("a condition needs an `expression`"))?;
        Ok((title, expr))
    })?;
    Ok(Binding {
        role,
        members,
        condition,
    })
}

/// Who calls Cloud KMS: a federated principal (and its principal sets), or the service account
/// it impersonates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `principal://` or `serviceAccount:EMAIL` the call is made as.
    pub shown: String,
    /// Every member string that names this caller.
    pub names: Vec<Member>,
}

fn names_caller(member: &Member, who: &Identity) -> bool {
    matches!(member, Member::AllUsers | Member::AllAuthenticatedUsers) || who.names.contains(member)
}

/// The resources whose policies apply to `key`, from the top: the project, the key ring, the key.
pub fn ancestry(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut chain = Vec::new();
    if parts.len() >= 2 {
        chain.push(parts[..2].join("/"));
    }
    if parts.len() >= 6 {
        chain.push(parts[..6].join("/"));
    }
    if parts.len() >= 8 {
        chain.push(parts[..8].join("/"));
    }
    chain
}

/// Decides whether `who` holds `permission` on the crypto key `key`, given the policies set on
/// it and its ancestors (`policies`: resource name → policy).
pub fn authorize(
    policies: &BTreeMap<String, IamPolicy>,
    roles: &CustomRoles,
    who: &Identity,
    permission: &str,
    key: &str,
) -> Decision {
    decide(policies, roles, who, permission, key, Tracer::default())
}

/// Whether `who` holds `permission` on `key`: [`authorize`]'s answer without building a trace
/// (the hot path of every allowed call).
pub fn allows(
    policies: &BTreeMap<String, IamPolicy>,
    roles: &CustomRoles,
    who: &Identity,
    permission: &str,
    key: &str,
) -> bool {
    decide(policies, roles, who, permission, key, Tracer::quiet()).allowed()
}

fn decide(
    policies: &BTreeMap<String, IamPolicy>,
    roles: &CustomRoles,
    who: &Identity,
    permission: &str,
    key: &str,
    mut tracer: Tracer,
) -> Decision {
    let resource = json!({"name": key, "type": "cloudkms.googleapis.com/CryptoKey", "service": "cloudkms.googleapis.com"});
    for level in ancestry(key) {
        let doc = format!("IAM policy on {level}");
        let Some(policy) = policies.get(&level).filter(|p| !p.bindings.is_empty()) else {
            tracer.note_with(&doc, "bindings", || "none: grants nothing".into());
            continue;
        };
        for (i, b) in policy.bindings.iter().enumerate() {
            let part = format!("bindings[{i}] {}", b.role);
            if !b.members.iter().any(|m| names_caller(m, who)) {
                tracer.note_with(&doc, &part, || format!("does not name {}", who.shown));
                continue;
            }
            let perms = predefined_role(&b.role).or_else(|| roles.permissions(&b.role));
            let Some(perms) = perms else {
                tracer.note_with(&doc, &part, || "grants nothing the lab knows: the role is not modelled (define it as a custom role)".into());
                continue;
            };
            if !perms.contains(&permission) {
                tracer.note_with(&doc, &part, || {
                    format!("names {} but the role lacks {permission}", who.shown)
                });
                continue;
            }
            if let Some((title, expr)) = &b.condition {
                match expr.holds(&[("resource", &resource)]) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracer.note_with(&doc, &part, || {
                            format!("condition `{title}` is false for {key}")
                        });
                        continue;
                    }
                    Err(why) => {
                        tracer.note_with(&doc, &part, || {
                            format!("condition `{title}` grants nothing: {why}")
                        });
                        continue;
                    }
                }
            }
            let step = tracer.note_with(&doc, &part, || {
                format!("grants {permission} to {}", who.shown)
            });
            return tracer.allow(step);
        }
    }
    let message =
        format!("Permission '{permission}' denied on resource '{key}' (or it may not exist).");
    tracer.deny(Verdict::ImplicitDeny, None, message)
}

#[cfg(test)]
mod tests;
