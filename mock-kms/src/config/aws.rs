//! `access.aws` of a `--config` file: the customer's AWS documents as the AWS CLI prints them,
//! each inline (YAML) or the path of a JSON file:
//!
//! ```yaml
//! access:
//!   aws:
//!     roles: [ ekm-demo-role.json ]          # aws iam get-role --role-name ekm-demo
//!     role_policies:                         # aws iam get-role-policy --role-name … --policy-name …
//!       - { RoleName: ekm-demo, PolicyName: deny-outside-project, PolicyDocument: { … } }
//!     key_policies:                          # by lab name, key id or key ARN
//!       aws-main: key-policy.json            # aws kms get-key-policy --key-id … (or the document)
//! ```
//!
//! - `roles`: `{"Role": {"RoleName", "Arn"?, "AssumeRolePolicyDocument", "MaxSessionDuration"?,
//!   …}}`. The lab has one role, the one EKM assumes (`tenant.aws.role_arn`): another
//!   `RoleName` is refused naming it. Its trust policy replaces the demo tenant's.
//!   `MaxSessionDuration` must allow the sessions the engine asks for (`tenant.sessions.aws`).
//!   The other printed fields (`Path`, `RoleId`, `CreateDate`, `Description`, `Tags`,
//!   `RoleLastUsed`) are read and change nothing; a `PermissionsBoundary` is refused (the lab's
//!   evaluator has none, so it would allow what the boundary denies).
//! - `role_policies`: the role's inline policies, `{"RoleName", "PolicyName", "PolicyDocument"}`;
//!   each puts its policy under its name. Attached managed policies are not modelled (the lab's
//!   role has inline policies only): paste a managed policy's document as an inline one.
//! - `key_policies`: each replaces the key's policy. `aws kms get-key-policy` prints the policy as
//!   a JSON *string* inside `{"Policy": "…", "PolicyName": "default"}`; that output and the
//!   policy document itself are both accepted, and a refusal names its path in what was given
//!   (`$.Policy.Statement[0].Effect`).
//!
//! A document that contradicts a key's switches is refused: a key policy for a key with
//! `access: false`, a role while an AWS key has `trust: false` — write the Deny in the document.

use std::collections::BTreeMap;
use std::path::Path;

use ekm_access::DocumentError;
use ekm_access::aws::PolicyKind;
use ekm_access::aws::policy::from_cli_output;
use ekm_access::document::{At, with_field};
use serde::Deserialize;
use serde_json::Value;

use super::{DocumentSource, KeyConfig};
use crate::access::PolicyDocument;
use crate::error::StateError;
use crate::state::{Kms, KmsState};
use crate::tenant::Tenant;
use ekm_vocab::Cloud;

/// AWS documents: the role EKM assumes, its inline policies, key policies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Roles as `aws iam get-role` prints them (each replaces its role's trust policy).
    #[serde(default)]
    pub roles: Vec<DocumentSource>,
    /// Inline role policies as `aws iam get-role-policy` prints them.
    #[serde(default)]
    pub role_policies: Vec<DocumentSource>,
    /// Key policies by lab key name, key id or key ARN (each replaces the key's policy).
    #[serde(default)]
    pub key_policies: BTreeMap<String, DocumentSource>,
}

/// The fields of `aws iam get-role`'s `Role` the lab accepts.
const ROLE_FIELDS: &[&str] = &[
    "Path",
    "RoleName",
    "RoleId",
    "Arn",
    "CreateDate",
    "AssumeRolePolicyDocument",
    "Description",
    "MaxSessionDuration",
    "Tags",
    "RoleLastUsed",
];

/// A role as `aws iam get-role` prints it: what the lab reads of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// `RoleName`.
    pub name: String,
    /// `Arn`, when printed.
    pub arn: Option<String>,
    /// `MaxSessionDuration` in seconds, when printed.
    pub max_session_duration: Option<u64>,
    /// `AssumeRolePolicyDocument`.
    pub trust_policy: PolicyDocument,
}

impl Role {
    /// Reads an `aws iam get-role` output; a refusal names the JSON path in it.
    pub fn from_output(value: &Value) -> Result<Self, DocumentError> {
        let root = At::root(value);
        root.only_fields(&["Role"])?;
        let role = with_field(root, "Role", |role| {
            if role.object()?.contains_key("PermissionsBoundary") {
                return Err(DocumentError {
                    path: role.field_path("PermissionsBoundary"),
                    reason: "permissions boundaries are not modelled by the lab (it would allow \
                             what the boundary denies); remove it"
                        .into(),
                });
            }
            role.only_fields(ROLE_FIELDS)?;
            let name = with_field(role, "RoleName", |n| n.string().map(str::to_owned))?
                .ok_or_else(|| role.error("a role needs a `RoleName`"))?;
            let arn = with_field(role, "Arn", |a| a.string().map(str::to_owned))?;
            let max_session_duration = with_field(role, "MaxSessionDuration", |m| {
                m.value()
                    .as_u64()
                    .filter(|s| (3600..=43_200).contains(s))
                    .ok_or_else(|| m.error("must be a number of seconds from 3600 to 43200"))
            })?;
            Ok((name, arn, max_session_duration))
        })?
        .ok_or_else(|| {
            root.error("a role is what `aws iam get-role` prints: {\"Role\": {\"RoleName\", …}}")
        })?;
        let (name, arn, max_session_duration) = role;
        let (policy, at) = from_cli_output(value)?;
        let trust_policy =
            PolicyDocument::new(PolicyKind::Trust, policy).map_err(|e| e.within(at))?;
        Ok(Self {
            name,
            arn,
            max_session_duration,
            trust_policy,
        })
    }
}

/// An inline role policy as `aws iam get-role-policy` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct RolePolicy {
    /// `RoleName`.
    pub role: String,
    /// `PolicyName`.
    pub name: String,
    /// `PolicyDocument`.
    pub policy: PolicyDocument,
}

impl RolePolicy {
    /// Reads an `aws iam get-role-policy` output; a refusal names the JSON path in it.
    pub fn from_output(value: &Value) -> Result<Self, DocumentError> {
        let root = At::root(value);
        root.only_fields(&["RoleName", "PolicyName", "PolicyDocument"])?;
        let string = |field: &str| {
            with_field(root, field, |s| s.string().map(str::to_owned))?.ok_or_else(|| {
                root.error(format!(
                    "an `aws iam get-role-policy` output needs `{field}`"
                ))
            })
        };
        let (role, name) = (string("RoleName")?, string("PolicyName")?);
        if !value
            .as_object()
            .is_some_and(|o| o.contains_key("PolicyDocument"))
        {
            return Err(root.error("an `aws iam get-role-policy` output needs `PolicyDocument`"));
        }
        let (policy, at) = from_cli_output(value)?;
        let policy = PolicyDocument::new(PolicyKind::Identity, policy).map_err(|e| e.within(at))?;
        Ok(Self { role, name, policy })
    }
}

/// Reads a key policy: the document, or `aws kms get-key-policy`'s `{"Policy": "…"}` with the
/// document as its JSON text; a refusal names the JSON path in what was given.
pub fn key_policy(value: &Value) -> Result<PolicyDocument, DocumentError> {
    let (policy, at) = from_cli_output(value)?;
    match at {
        "$" => {}
        "$.Policy" => At::root(value).only_fields(&["Policy", "PolicyName"])?,
        role_output => {
            return Err(DocumentError {
                path: "$".into(),
                reason: format!(
                    "a key policy is the policy document or what `aws kms get-key-policy` \
                     prints ({{\"Policy\": \"…\"}}); this holds a role's document at {role_output}"
                ),
            });
        }
    }
    PolicyDocument::new(PolicyKind::Key, policy).map_err(|e| e.within(at))
}

/// A refusal of the document at `place` in the config file.
fn refused(place: &str, e: &dyn std::fmt::Display) -> StateError {
    StateError::InvalidRequest(format!("{place}: {e}"))
}

/// The name of the tenant's role (`role/NAME` or `role/PATH/NAME` of its ARN).
fn role_name(tenant: &Tenant) -> &str {
    let arn = &tenant.aws.role_arn;
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Refuses a `RoleName` other than the tenant's role, at `path` of the document at `place`.
fn check_role(tenant: &Tenant, place: &str, path: &str, name: &str) -> Result<(), StateError> {
    let ours = role_name(tenant);
    if name == ours {
        return Ok(());
    }
    Err(refused(
        place,
        &format!(
            "{path}: there is no role named `{name}`; the lab's role is `{ours}` \
             (tenant.aws.role_arn {})",
            tenant.aws.role_arn
        ),
    ))
}

impl AwsConfig {
    /// Puts the documents in `lab`, each refused naming its place in the config file and its
    /// JSON path; `keys` are the configured keys, whose switches a document may not contradict.
    pub(super) fn seed(
        &self,
        base: Option<&Path>,
        lab: &Kms,
        keys: &[KeyConfig],
    ) -> Result<(), StateError> {
        let tenant = lab.tenant();
        let trust = self.role(base, tenant, keys)?;
        let mut role_policies = BTreeMap::new();
        for (i, source) in self.role_policies.iter().enumerate() {
            let place = format!("access.aws.role_policies[{i}]");
            let json = source.load(base, &place)?;
            let policy = RolePolicy::from_output(&json).map_err(|e| refused(&place, &e))?;
            check_role(tenant, &place, "$.RoleName", &policy.role)?;
            if let Some(earlier) =
                role_policies.insert(policy.name.clone(), (place.clone(), policy))
            {
                return Err(refused(
                    &place,
                    &format!("$.PolicyName: also given at {}", earlier.0),
                ));
            }
        }
        let mut key_policies = Vec::new();
        for (key, source) in &self.key_policies {
            let place = format!("access.aws.key_policies.{key}");
            let json = source.load(base, &place)?;
            let policy = key_policy(&json).map_err(|e| refused(&place, &e))?;
            key_policies.push((key, place, policy));
        }
        lab.write(|state| {
            let mut named = BTreeMap::new();
            for (key, place, policy) in key_policies {
                let name = aws_key(state, tenant, key).map_err(|e| refused(&place, &e))?;
                if keys.iter().any(|k| k.name == name && !k.access) {
                    return Err(refused(
                        &place,
                        &format!(
                            "key `{name}` says `access: false` and this policy says what its \
                             access is; drop one (a Deny statement revokes access)"
                        ),
                    ));
                }
                if let Some((earlier, _)) = named.insert(name.clone(), (place.clone(), policy)) {
                    return Err(refused(
                        &place,
                        &format!("key `{name}` also has a policy at {earlier}"),
                    ));
                }
            }
            let access = &mut state.aws_access;
            if let Some(trust) = trust {
                access.trust_policy = trust;
            }
            for (name, (_, policy)) in role_policies {
                access.role_policies.insert(name, policy.policy);
            }
            for (name, (_, policy)) in named {
                access.key_policies.insert(name, policy);
            }
            Ok(())
        })
    }

    /// The trust policy of the role given in `roles`, if any, checked against the tenant.
    fn role(
        &self,
        base: Option<&Path>,
        tenant: &Tenant,
        keys: &[KeyConfig],
    ) -> Result<Option<PolicyDocument>, StateError> {
        let mut given: Option<(String, PolicyDocument)> = None;
        for (i, source) in self.roles.iter().enumerate() {
            let place = format!("access.aws.roles[{i}]");
            let json = source.load(base, &place)?;
            let role = Role::from_output(&json).map_err(|e| refused(&place, &e))?;
            check_role(tenant, &place, "$.Role.RoleName", &role.name)?;
            let earlier = given.as_ref().map(|(earlier, _)| earlier.as_str());
            if let Some(why) = role_problem(&role, earlier, tenant, keys) {
                return Err(refused(&place, &why));
            }
            given = Some((place, role.trust_policy));
        }
        Ok(given.map(|(_, trust)| trust))
    }
}

/// Why `role` cannot be the lab's role: given before (at `earlier`), another ARN, a
/// `MaxSessionDuration` shorter than the engine's sessions, or a key's `trust: false` beside it.
fn role_problem(
    role: &Role,
    earlier: Option<&str>,
    tenant: &Tenant,
    keys: &[KeyConfig],
) -> Option<String> {
    if let Some(earlier) = earlier {
        return Some(format!(
            "$.Role.RoleName: `{}` is also given at {earlier}",
            role.name
        ));
    }
    if let Some(arn) = role.arn.as_ref().filter(|a| **a != tenant.aws.role_arn) {
        return Some(format!(
            "$.Role.Arn: `{arn}` is not the lab's role ARN {} (tenant.aws.role_arn)",
            tenant.aws.role_arn
        ));
    }
    let engine = u64::from(tenant.sessions.aws);
    if let Some(max) = role.max_session_duration.filter(|max| *max < engine) {
        return Some(format!(
            "$.Role.MaxSessionDuration: {max} s is shorter than the sessions the engine asks for \
             (tenant.sessions.aws: {engine} s), so AssumeRole would refuse it"
        ));
    }
    let key = keys.iter().find(|k| k.provider == Cloud::Aws && !k.trust)?;
    Some(format!(
        "key `{}` says `trust: false` and this role's trust policy says who may assume it; drop \
         one (a Deny statement revokes trust)",
        key.name
    ))
}

/// The lab name of the AWS key `key` names: its lab name, key id (UUID) or key ARN.
fn aws_key(state: &KmsState, tenant: &Tenant, key: &str) -> Result<String, String> {
    if let Some(found) = state.keys.get(key) {
        return match found.provider {
            Cloud::Aws => Ok(key.to_owned()),
            other => Err(format!("key `{key}` is a {other} key, not an AWS key")),
        };
    }
    crate::aws::kms::resolve(state, &tenant.aws, key)
        .map_err(|_| format!("there is no AWS key `{key}` (give its lab name, key id or key ARN)"))
}

#[cfg(test)]
mod tests;
