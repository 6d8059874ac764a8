//! The customer's AWS documents, as built here:
//! - the **role trust policy** of the customer role EKM assumes (`AwsTenant::role_arn`): the demo
//!   tenant's trusts the EKM service principal for `sts:AssumeRole` under
//!   `StringEquals sts:ExternalId` = the customer's project id;
//! - the **role policies** (identity policies) attached to that role, by name (none in the demo);
//! - one **key policy** per AWS key (lab name): the demo tenant's is KMS's default key policy
//!   (the account root, delegating to IAM) plus a statement `AllowEkmService` that lets the role
//!   `kms:Encrypt` and `kms:Decrypt`.
//!
//! The control API's switches are edits of these documents: `revoke-access` adds a Deny statement
//! `EkmLabAccessRevoked` for the role to the key's policy (an explicit Deny wins over any grant,
//! the customer's own included) and `restore-access` removes it and puts `AllowEkmService` back
//! if it is missing; `revoke-trust` on any AWS key adds a Deny statement `EkmLabTrustRevoked`
//! for the service principal to the role's trust policy (trust belongs to the role, so every
//! AWS key of the tenant loses it) and `restore-trust` removes it and puts `TrustEkmService`
//! back if it is missing. The key's `access` / `trust` in the control API say what the
//! documents decide for EKM's calls.

use std::collections::BTreeMap;

use ekm_access::aws::{self as aws_access, Caller, Context, Named, Policy, PolicyKind, Request};
use ekm_access::{Decision, DocumentError, Finding};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::StateError;
use crate::keys::Key;
use crate::state::Kms;
use crate::tenant::Tenant;
use ekm_vocab::Cloud;

/// Sid of the demo key policy's grant to the customer role.
pub const ALLOW_EKM_SID: &str = "AllowEkmService";
/// Sid of the Deny statement `revoke-access` adds to a key policy.
pub const ACCESS_REVOKED_SID: &str = "EkmLabAccessRevoked";
/// Sid of the demo trust policy's statement trusting the EKM service.
pub const TRUST_EKM_SID: &str = "TrustEkmService";
/// Sid of the Deny statement `revoke-trust` adds to the role's trust policy.
pub const TRUST_REVOKED_SID: &str = "EkmLabTrustRevoked";
/// The role policy revoke-sessions writes (the name the AWS console gives it).
pub const REVOKE_OLDER_SESSIONS: &str = "AWSRevokeOlderSessions";

/// One policy document: the JSON the customer wrote (kept as written) and its parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    json: Value,
    policy: Policy,
}

impl PolicyDocument {
    /// Reads a document of `kind`; a malformed one is refused with the JSON path of the problem.
    pub fn new(kind: PolicyKind, json: Value) -> Result<Self, DocumentError> {
        let policy = Policy::from_value(kind, &json)?;
        Ok(Self { json, policy })
    }

    /// The document as the customer wrote it.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The parsed policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn statements(&self) -> Vec<Value> {
        match &self.json["Statement"] {
            Value::Array(list) => list.clone(),
            Value::Null => Vec::new(),
            single => vec![single.clone()],
        }
    }

    /// The same document with `statement` added (when no statement has its Sid) or with every
    /// statement of Sid `sid` removed.
    fn edited(&self, add: Option<Value>, remove: Option<&str>) -> Result<Self, DocumentError> {
        let mut statements = self.statements();
        if let Some(sid) = remove {
            statements.retain(|st| st["Sid"] != sid);
        }
        if let Some(statement) = add
            && !statements.iter().any(|st| st["Sid"] == statement["Sid"])
        {
            statements.push(statement);
        }
        let mut json = self.json.clone();
        json["Statement"] = Value::Array(statements);
        Self::new(self.policy.kind, json)
    }
}

/// The AWS documents of the customer's account.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsAccess {
    /// The trust policy of the customer role EKM assumes.
    pub trust_policy: PolicyDocument,
    /// The role's permission (identity) policies by name.
    pub role_policies: BTreeMap<String, PolicyDocument>,
    /// Key policies by lab key name.
    pub key_policies: BTreeMap<String, PolicyDocument>,
}

fn document(kind: PolicyKind, json: Value) -> PolicyDocument {
    PolicyDocument::new(kind, json).expect("the lab's own documents are well formed")
}

fn allow_ekm(tenant: &Tenant) -> Value {
    json!({"Sid": ALLOW_EKM_SID, "Effect": "Allow",
        "Principal": {"AWS": tenant.aws.role_arn}, "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "*"})
}

/// KMS's default key policy: the account root, delegating to IAM.
fn default_key_policy(tenant: &Tenant) -> Value {
    json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", tenant.aws.account_id)},
        "Action": "kms:*", "Resource": "*"}]})
}

fn trust_ekm(tenant: &Tenant) -> Value {
    json!({"Sid": TRUST_EKM_SID, "Effect": "Allow",
        "Principal": {"AWS": tenant.aws.service_principal_arn}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": tenant.project_id}}})
}

impl Default for AwsAccess {
    /// No documents: a trust policy that trusts no one, no role or key policies.
    fn default() -> Self {
        let trust = json!({"Version": "2012-10-17", "Statement": []});
        Self {
            trust_policy: document(PolicyKind::Trust, trust),
            role_policies: BTreeMap::new(),
            key_policies: BTreeMap::new(),
        }
    }
}

impl AwsAccess {
    /// The documents the per-key switches of an older state file (or a `--config` seed) stand
    /// for: the demo documents, access revoked on each AWS key whose `access` is off, and trust
    /// revoked when the account has AWS keys and none of them keeps `trust`.
    pub fn from_switches<'k>(tenant: &Tenant, keys: impl IntoIterator<Item = &'k Key>) -> Self {
        let mut access = Self::demo(tenant);
        let mut trust = Vec::new();
        for key in keys.into_iter().filter(|k| k.provider == Cloud::Aws) {
            access
                .key_policies
                .insert(key.name.clone(), Self::demo_key_policy(tenant));
            if !key.access {
                access.set_access(tenant, &key.name, true);
            }
            trust.push(key.trust);
        }
        if !super::trust_kept(trust) {
            access.set_trust(tenant, true);
        }
        access
    }

    /// The demo tenant's documents (no key policies yet: each key gets [`AwsAccess::demo_key_policy`]).
    pub fn demo(tenant: &Tenant) -> Self {
        let trust = json!({"Version": "2012-10-17", "Statement": [trust_ekm(tenant)]});
        Self {
            trust_policy: document(PolicyKind::Trust, trust),
            role_policies: BTreeMap::new(),
            key_policies: BTreeMap::new(),
        }
    }

    /// The key policy a new key gets: KMS's default key policy and the grant to the role.
    pub fn demo_key_policy(tenant: &Tenant) -> PolicyDocument {
        let mut policy = default_key_policy(tenant);
        policy["Statement"]
            .as_array_mut()
            .expect("the default key policy has a statement list")
            .push(allow_ekm(tenant));
        document(PolicyKind::Key, policy)
    }

    /// `revoke-access` (`revoke` true) or `restore-access` on key `name`'s policy.
    pub fn set_access(&mut self, tenant: &Tenant, name: &str, revoke: bool) {
        let current = self.key_policy_or_demo(tenant, name);
        let deny = json!({"Sid": ACCESS_REVOKED_SID, "Effect": "Deny",
            "Principal": {"AWS": tenant.aws.role_arn}, "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*"});
        let edited = if revoke {
            current.edited(Some(deny), None)
        } else {
            current.edited(Some(allow_ekm(tenant)), Some(ACCESS_REVOKED_SID))
        };
        self.key_policies.insert(
            name.to_owned(),
            edited.expect("lab edits keep a policy well formed"),
        );
    }

    /// `revoke-trust` (`revoke` true) or `restore-trust`: a Deny statement `EkmLabTrustRevoked`
    /// for the service principal in the role's trust policy, so `AssumeRole` is refused;
    /// restoring removes it and puts `TrustEkmService` back if it is missing.
    pub fn set_trust(&mut self, tenant: &Tenant, revoke: bool) {
        let deny = json!({"Sid": TRUST_REVOKED_SID, "Effect": "Deny",
            "Principal": {"AWS": tenant.aws.service_principal_arn}, "Action": "sts:AssumeRole"});
        let trust = if revoke {
            self.trust_policy.edited(Some(deny), None)
        } else {
            self.trust_policy
                .edited(Some(trust_ekm(tenant)), Some(TRUST_REVOKED_SID))
        };
        self.trust_policy = trust.expect("lab edits keep a policy well formed");
    }

    /// revoke-sessions: the role policy the AWS console's "Revoke active sessions" writes,
    /// `AWSRevokeOlderSessions` — Deny `*` when `aws:TokenIssueTime` is before `now` (lab
    /// time) — so every session issued before it is refused from its next call, and new ones
    /// work while the trust policy lets the service in.
    pub fn revoke_older_sessions(&mut self, now: OffsetDateTime) {
        let issued_before = now.format(&Rfc3339).unwrap_or_default();
        let policy = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}}}]});
        self.role_policies.insert(
            REVOKE_OLDER_SESSIONS.to_owned(),
            document(PolicyKind::Identity, policy),
        );
    }

    fn key_policy_or_demo(&self, tenant: &Tenant, name: &str) -> PolicyDocument {
        self.key_policies
            .get(name)
            .cloned()
            .unwrap_or_else(|| Self::demo_key_policy(tenant))
    }

    /// What the documents decide for EKM on AWS key `key`: whether a session of the role may
    /// encrypt and decrypt with EKM's encryption context (`access`), and whether the service
    /// may assume the role with the customer's ExternalId (`trust`).
    pub fn service_allowed(&self, tenant: &Tenant, key: &Key) -> (bool, bool) {
        let context = BTreeMap::from([("ekm:project".to_owned(), tenant.project_id.clone())]);
        let role = role_caller(tenant, None);
        let access = ["kms:Encrypt", "kms:Decrypt"].iter().all(|action| {
            let call = KmsCall {
                name: &key.name,
                key_arn: &key.id,
                action,
                caller: &role,
                encryption_context: &context,
                token_issued: None,
            };
            self.kms_call(tenant, &call).is_ok()
        });
        let service = service_caller(tenant);
        let trust = self
            .assume_role(&tenant.aws.role_arn, &service, Some(&tenant.project_id))
            .allowed();
        (access, trust)
    }

    /// Decides `sts:AssumeRole` of role `role_arn` by `caller` with `external_id`.
    pub fn assume_role(
        &self,
        role_arn: &str,
        caller: &Caller,
        external_id: Option<&str>,
    ) -> Decision {
        let mut context = Context::new().with("aws:PrincipalArn", caller.arn.clone());
        if let Some(external_id) = external_id {
            context = context.with("sts:ExternalId", external_id);
        }
        let name = format!("trust policy of {}", short_role(role_arn));
        let trust = Named {
            name: &name,
            policy: self.trust_policy.policy(),
        };
        aws_access::assume_role(
            trust,
            &Request {
                action: "sts:AssumeRole",
                resource: role_arn,
                caller,
                context: &context,
            },
        )
    }

    /// Decides a KMS call by a session of the role: `Ok` when the documents allow it (decided
    /// without building a trace), else the decision with its trace and AWS's message.
    pub fn kms_call(&self, tenant: &Tenant, call: &KmsCall<'_>) -> Result<(), Box<Decision>> {
        if self.with_documents(tenant, call, false, aws_access::kms_allows) {
            Ok(())
        } else {
            Err(Box::new(self.kms_decision(tenant, call)))
        }
    }

    /// Decides a KMS call by a session of the role with its whole trace, allowed or not
    /// (`ekm check --explain`).
    pub fn kms_decision(&self, tenant: &Tenant, call: &KmsCall<'_>) -> Decision {
        self.with_documents(tenant, call, true, aws_access::kms_call)
    }

    /// Runs `decide` on the documents that take part in `call`: the key's policy (KMS's default
    /// key policy when the key has none), the role's policies and the request's condition keys.
    /// What only a trace or a condition reads is made only then: the documents' names when
    /// `traced`, the request context when a statement has a condition.
    fn with_documents<R>(
        &self,
        tenant: &Tenant,
        call: &KmsCall<'_>,
        traced: bool,
        decide: impl FnOnce(Named<'_>, &[Named<'_>], &Request<'_>) -> R,
    ) -> R {
        let fallback;
        let key_policy = match self.key_policies.get(call.name) {
            Some(document) => document.policy(),
            None => {
                fallback = document(PolicyKind::Key, default_key_policy(tenant));
                fallback.policy()
            }
        };
        let conditional = key_policy.has_conditions()
            || self
                .role_policies
                .values()
                .any(|d| d.policy().has_conditions());
        let context = if conditional {
            request_context(call)
        } else {
            Context::new()
        };
        let (key_name, names) = if traced {
            let names = self.role_policies.keys();
            let names = names.map(|n| format!("role policy {n}")).collect();
            (format!("key policy of {}", call.name), names)
        } else {
            (String::new(), vec![String::new(); self.role_policies.len()])
        };
        let identity: Vec<Named<'_>> = self
            .role_policies
            .values()
            .zip(&names)
            .map(|(document, name)| Named {
                name,
                policy: document.policy(),
            })
            .collect();
        let key = Named {
            name: &key_name,
            policy: key_policy,
        };
        let request = Request {
            action: call.action,
            resource: call.key_arn,
            caller: call.caller,
            context: &context,
        };
        decide(key, &identity, &request)
    }

    /// The least-privilege lint of the documents EKM's calls on key `name` meet: the role's
    /// trust policy, the key's policy and the role's policies.
    pub fn lint(&self, tenant: &Tenant, name: &str) -> Vec<Finding> {
        let role = short_role(&tenant.aws.role_arn);
        let mut found = aws_access::lint::lint(
            &format!("trust policy of {role}"),
            self.trust_policy.policy(),
        );
        let fallback = document(PolicyKind::Key, default_key_policy(tenant));
        let key_policy = self.key_policies.get(name).unwrap_or(&fallback);
        found.extend(aws_access::lint::lint(
            &format!("key policy of {name}"),
            key_policy.policy(),
        ));
        for (policy_name, document) in &self.role_policies {
            found.extend(aws_access::lint::lint(
                &format!("role policy {policy_name}"),
                document.policy(),
            ));
        }
        found
    }
}

/// A KMS call to decide ([`AwsAccess::kms_call`]).
#[derive(Debug, Clone, Copy)]
pub struct KmsCall<'a> {
    /// The key's lab name.
    pub name: &'a str,
    /// The key's ARN.
    pub key_arn: &'a str,
    /// `kms:Encrypt` or `kms:Decrypt`.
    pub action: &'a str,
    /// The session of the role (see [`role_caller`]).
    pub caller: &'a Caller,
    /// The request's encryption context.
    pub encryption_context: &'a BTreeMap<String, String>,
    /// The session's issue time (`aws:TokenIssueTime`), lab time.
    pub token_issued: Option<OffsetDateTime>,
}

/// The condition keys of a KMS call by a session of the role.
fn request_context(call: &KmsCall<'_>) -> Context {
    let context = Context::new()
        .with("aws:PrincipalArn", call.caller.arn.clone())
        .with("kms:CallerAccount", call.caller.account.clone())
        .with_encryption_context(
            call.encryption_context
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    match call.token_issued.and_then(|t| t.format(&Rfc3339).ok()) {
        Some(issued) => context.with("aws:TokenIssueTime", issued),
        None => context,
    }
}

/// The EKM service principal as the caller of `AssumeRole`.
pub fn service_caller(tenant: &Tenant) -> Caller {
    let arn = &tenant.aws.service_principal_arn;
    Caller {
        account: account_of(arn).to_owned(),
        arn: arn.clone(),
        session: None,
    }
}

/// A session (`session`: its assumed-role ARN) of the customer role as the caller of KMS.
pub fn role_caller(tenant: &Tenant, session: Option<&str>) -> Caller {
    Caller {
        account: tenant.aws.account_id.clone(),
        arn: tenant.aws.role_arn.clone(),
        session: session.map(str::to_owned),
    }
}

/// The account id of an ARN (`arn:aws:iam::ACCOUNT:…`).
fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// `role/NAME` of a role ARN.
fn short_role(arn: &str) -> &str {
    arn.split_once(':')
        .and_then(|_| arn.rsplit(':').next())
        .unwrap_or(arn)
}

impl Kms {
    /// The policy of AWS key `name`, as the customer wrote it.
    pub fn aws_key_policy(&self, name: &str) -> Result<Value, StateError> {
        self.read(|state| {
            let key = state.key(name)?;
            if key.provider != Cloud::Aws {
                return Err(StateError::KeyNotFound(name.to_owned()));
            }
            Ok(state.aws_access.key_policies.get(name).map_or_else(
                || default_key_policy(self.tenant()),
                |document| document.json().clone(),
            ))
        })
    }

    /// Replaces the policy of AWS key `name` (saved first when the lab has a state file, then
    /// in effect for the next call).
    pub fn put_aws_key_policy(&self, name: &str, policy: PolicyDocument) -> Result<(), StateError> {
        self.write(|state| {
            if state.key(name)?.provider != Cloud::Aws {
                return Err(StateError::KeyNotFound(name.to_owned()));
            }
            state
                .aws_access
                .key_policies
                .insert(name.to_owned(), policy);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
