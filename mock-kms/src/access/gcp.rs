//! The customer's GCP documents, as built here:
//! - **workload-identity providers** by resource name (`projects/NUM/locations/global/
//!   workloadIdentityPools/POOL/providers/PROVIDER`), as `gcloud iam workload-identity-pools
//!   providers describe --format=json` prints them: the demo tenant's is an OIDC provider for
//!   the lab identity provider's issuer, allowing the customer's project id as audience,
//!   mapping `google.subject` to `assertion.sub` and admitting only EKM's service account
//!   (`attributeCondition: assertion.sub == '…'`);
//! - **IAM allow policies** by resource (the project, a key ring, a crypto key), inherited
//!   downward: the demo tenant binds `roles/cloudkms.cryptoKeyEncrypterDecrypter` on each crypto
//!   key to EKM's federated principal (`principal://…/subject/SERVICE_ACCOUNT_ID`) and to the
//!   service account it may impersonate; each policy keeps its `etag`;
//! - **custom roles** (`projects/P/roles/NAME` with `includedPermissions`).
//!
//! The control API's switches are edits of these documents: `revoke-access` removes EKM's
//! members from every binding of the key's own policy (and bindings left without members) and
//! `restore-access` puts the demo binding back; `revoke-trust` disables the tenant's provider
//! (`"disabled": true`, as `gcloud … providers update --disabled` does) — trust belongs to the
//! provider, so every GCP key of the tenant loses it — and `restore-trust` enables it again (or
//! puts the demo provider back if the customer deleted it). A key's `access` / `trust` in the
//! control API say what the documents decide for EKM's calls on it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ekm_access::gcp::{self as gcp_access, CustomRoles, Exchange, IamPolicy, Identity, Member};
use ekm_access::{Decision, DocumentError, Finding};
use serde_json::{Map, Value, json};

use crate::gcp::identity::ISSUER;
use crate::tenant::Tenant;

/// The predefined role the demo binding grants.
pub const DEMO_ROLE: &str = "roles/cloudkms.cryptoKeyEncrypterDecrypter";

/// A workload-identity provider as the customer wrote it, and its parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderDocument {
    json: Value,
    provider: gcp_access::Provider,
}

impl ProviderDocument {
    /// Reads a provider; a malformed one is refused with the JSON path of the problem.
    pub fn new(json: Value) -> Result<Self, DocumentError> {
        let provider = gcp_access::Provider::from_value(&json)?;
        Ok(Self { json, provider })
    }

    /// The document as the customer wrote it.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Its resource name.
    pub fn name(&self) -> &str {
        &self.provider.name
    }
}

/// An IAM policy as the customer set it (without its etag), and its etag.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    json: Value,
    etag: String,
}

impl PolicyDocument {
    /// The policy as `getIamPolicy` answers it: the customer's JSON with the current `etag`
    /// and `version` (1 unless set).
    pub fn rendered(&self) -> Value {
        let mut json = self.json.clone();
        if json.get("version").is_none_or(Value::is_null) {
            json["version"] = json!(1);
        }
        json["etag"] = Value::String(self.etag.clone());
        json
    }

    /// The stored JSON (without `etag`).
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The current etag.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// The etag of a resource without a policy (what GCP answers for an empty policy).
pub const EMPTY_POLICY_ETAG: &str = "ACAB";

/// The GCP documents of the customer's organisation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GcpAccess {
    providers: BTreeMap<String, ProviderDocument>,
    policy_docs: BTreeMap<String, PolicyDocument>,
    policies: BTreeMap<String, IamPolicy>,
    custom_role_docs: Vec<Value>,
    custom_roles: CustomRoles,
    revision: u64,
}

/// Why an IAM policy could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetPolicyError {
    /// The policy document is malformed.
    #[error("{0}")]
    Invalid(DocumentError),
    /// The request's etag is not the policy's current one.
    #[error("the policy changed since etag {0} was read")]
    Stale(String),
    /// The resource cannot hold a policy here.
    #[error("{0}")]
    Resource(String),
}

/// Whether `name` is a project, key ring or crypto key resource name (what holds IAM policies
/// on EKM's path).
pub fn is_policy_resource(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let named = parts.iter().skip(1).step_by(2).all(|p| !p.is_empty());
    let shape = matches!(
        parts.as_slice(),
        ["projects", _]
            | ["projects", _, "locations", _, "keyRings", _]
            | [
                "projects",
                _,
                "locations",
                _,
                "keyRings",
                _,
                "cryptoKeys",
                _
            ]
    );
    shape && named
}

impl GcpAccess {
    /// The demo tenant's documents without key policies (each key gets
    /// [`GcpAccess::demo_key_policy`]): the workload-identity provider.
    pub fn demo(tenant: &Tenant) -> Self {
        let mut access = Self::default();
        let provider = ProviderDocument::new(demo_provider(tenant))
            .expect("the lab's own provider is well formed");
        access
            .providers
            .insert(provider.name().to_owned(), provider);
        access
    }

    /// The documents the per-key switches of an older state file (or a `--config` seed) stand
    /// for: the demo documents, access revoked on each GCP key whose `access` is off, and the
    /// provider disabled when the tenant has GCP keys and none of them keeps `trust`.
    pub fn from_switches<'k>(
        tenant: &Tenant,
        keys: impl IntoIterator<Item = (&'k str, bool, bool)>,
    ) -> Self {
        let mut access = Self::demo(tenant);
        let mut trust = Vec::new();
        for (resource, has_access, trusted) in keys {
            access.put_demo_key_policy(tenant, resource);
            if !has_access {
                access.set_access(tenant, resource, true);
            }
            trust.push(trusted);
        }
        if !super::trust_kept(trust) {
            access.set_trust(tenant, true);
        }
        access
    }

    /// Gives crypto key `resource` the demo binding (a new key of the tenant).
    pub fn put_demo_key_policy(&mut self, tenant: &Tenant, resource: &str) {
        self.put_policy(resource, demo_key_policy(tenant), None)
            .expect("the lab's own policy is well formed");
    }

    /// The providers.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderDocument> {
        self.providers.values()
    }

    /// The policies by resource.
    pub fn policies(&self) -> &BTreeMap<String, PolicyDocument> {
        &self.policy_docs
    }

    /// The custom roles as written.
    pub fn custom_roles(&self) -> &[Value] {
        &self.custom_role_docs
    }

    /// The policy on `resource`, as `getIamPolicy` answers it.
    pub fn policy(&self, resource: &str) -> Value {
        self.policy_docs.get(resource).map_or_else(
            || json!({"version": 1, "etag": EMPTY_POLICY_ETAG}),
            PolicyDocument::rendered,
        )
    }

    /// Whether the policy on `resource` binds with a condition (readable only at version 3).
    pub fn has_conditions(&self, resource: &str) -> bool {
        self.policies
            .get(resource)
            .is_some_and(|p| p.bindings.iter().any(|b| b.condition.is_some()))
    }

    /// Adds or replaces a provider.
    pub fn put_provider(&mut self, provider: ProviderDocument) {
        self.providers.insert(provider.name().to_owned(), provider);
    }

    /// Adds a custom role (`gcloud iam roles describe --format=json`).
    pub fn add_custom_role(&mut self, role: Value) -> Result<(), DocumentError> {
        self.custom_roles.add(&role)?;
        self.custom_role_docs.push(role);
        Ok(())
    }

    /// Sets the policy on `resource` (`setIamPolicy`): refused when `etag` is given and is not
    /// the current one (GCP's read-modify-write check). Answers the new etag.
    pub fn put_policy(
        &mut self,
        resource: &str,
        mut json: Value,
        etag: Option<&str>,
    ) -> Result<String, SetPolicyError> {
        if !is_policy_resource(resource) {
            return Err(SetPolicyError::Resource(format!(
                "`{resource}` is not a project, key ring or crypto key"
            )));
        }
        let current = self
            .policy_docs
            .get(resource)
            .map_or(EMPTY_POLICY_ETAG, |d| d.etag.as_str());
        if let Some(etag) = etag.filter(|e| !e.is_empty())
            && etag != current
        {
            return Err(SetPolicyError::Stale(etag.to_owned()));
        }
        if let Some(object) = json.as_object_mut() {
            object.remove("etag");
        }
        let policy = IamPolicy::from_value(&json).map_err(SetPolicyError::Invalid)?;
        self.revision += 1;
        let etag = B64.encode([b"BwY".as_slice(), &self.revision.to_be_bytes()].concat());
        self.policies.insert(resource.to_owned(), policy);
        self.policy_docs.insert(
            resource.to_owned(),
            PolicyDocument {
                json,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    /// Restores a stored policy with its etag (loading a state file).
    pub fn restore_policy(
        &mut self,
        resource: &str,
        json: Value,
        etag: String,
    ) -> Result<(), DocumentError> {
        if !is_policy_resource(resource) {
            return Err(DocumentError {
                path: "$".into(),
                reason: format!("`{resource}` is not a project, key ring or crypto key"),
            });
        }
        let policy = IamPolicy::from_value(&json)?;
        self.policies.insert(resource.to_owned(), policy);
        self.policy_docs
            .insert(resource.to_owned(), PolicyDocument { json, etag });
        Ok(())
    }

    /// The etag counter (persisted so etags stay unique across restarts).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Sets the etag counter (loading a state file).
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    /// `revoke-access` (`revoke` true) or `restore-access` on crypto key `resource`'s policy.
    pub fn set_access(&mut self, tenant: &Tenant, resource: &str, revoke: bool) {
        let ekm = service_members(tenant);
        let mut policy = self.policy(resource);
        let etag = policy["etag"].as_str().map(str::to_owned);
        let bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
        let kept: Vec<Value> = if revoke {
            bindings
                .into_iter()
                .filter_map(|mut b| {
                    let members = b["members"].as_array()?.clone();
                    let left: Vec<Value> = members
                        .into_iter()
                        .filter(|m| !m.as_str().is_some_and(|m| ekm.iter().any(|e| e == m)))
                        .collect();
                    b["members"] = Value::Array(left.clone());
                    (!left.is_empty()).then_some(b)
                })
                .collect()
        } else {
            let mut bindings = bindings;
            let demo = &demo_key_policy(tenant)["bindings"][0];
            if !bindings.iter().any(|b| b == demo) {
                bindings.push(demo.clone());
            }
            bindings
        };
        policy["bindings"] = Value::Array(kept);
        self.put_policy(resource, policy, etag.as_deref())
            .expect("lab edits keep a policy well formed");
    }

    /// `revoke-trust` (`revoke` true) or `restore-trust`: disables or enables the tenant's
    /// provider (restoring puts the demo provider back if it is gone).
    pub fn set_trust(&mut self, tenant: &Tenant, revoke: bool) {
        let name = tenant.gcp.provider_name();
        let mut json = self
            .providers
            .get(&name)
            .map_or_else(|| demo_provider(tenant), |p| p.json.clone());
        json["disabled"] = Value::Bool(revoke);
        if !revoke && json.get("state").is_some() {
            json["state"] = json!("ACTIVE");
        }
        let provider = ProviderDocument::new(json).expect("lab edits keep a provider well formed");
        self.put_provider(provider);
    }

    /// Decides a token exchange at STS for a subject token with `claims`.
    pub fn exchange(&self, audience: &str, claims: &Map<String, Value>) -> Exchange {
        let providers: Vec<gcp_access::Provider> = self
            .providers
            .values()
            .map(|p| p.provider.clone())
            .collect();
        gcp_access::exchange(audience, &providers, claims)
    }

    /// Decides `permission` on crypto key `key` for `who`: `Ok` when the policies allow it
    /// (decided without building a trace), else the decision with its trace and GCP's message.
    pub fn kms_call(
        &self,
        who: &Identity,
        permission: &str,
        key: &str,
    ) -> Result<(), Box<Decision>> {
        if gcp_access::allows(&self.policies, &self.custom_roles, who, permission, key) {
            Ok(())
        } else {
            Err(Box::new(gcp_access::authorize(
                &self.policies,
                &self.custom_roles,
                who,
                permission,
                key,
            )))
        }
    }

    /// EKM's sign-in, encrypt and decrypt on crypto key `key` with their whole traces: the STS
    /// exchange at workload-identity provider `provider` of an ID token for `audience`, then
    /// the federated identity's permissions (`ekm check --explain`).
    pub fn service_decisions(
        &self,
        tenant: &Tenant,
        key: &str,
        provider: &str,
        audience: &str,
    ) -> [Decision; 3] {
        let mut claims = service_claims(tenant);
        claims.insert("aud".to_owned(), Value::String(audience.to_owned()));
        let exchange = self.exchange(provider, &claims);
        let who = exchange
            .federated
            .as_ref()
            .map_or_else(|| federated_identity(tenant), Identity::from);
        let decide = |permission| {
            gcp_access::authorize(&self.policies, &self.custom_roles, &who, permission, key)
        };
        [
            exchange.decision,
            decide(gcp_access::iam::USE_TO_ENCRYPT),
            decide(gcp_access::iam::USE_TO_DECRYPT),
        ]
    }

    /// The least-privilege lint of the workload-identity providers and of the IAM policies
    /// crypto key `key` inherits (its project's, its key ring's and its own).
    pub fn lint(&self, key: &str) -> Vec<Finding> {
        let mut found: Vec<Finding> = self
            .providers
            .values()
            .flat_map(|p| gcp_access::lint::lint_provider(&p.provider))
            .collect();
        for (resource, policy) in &self.policies {
            if key == resource || key.starts_with(&format!("{resource}/")) {
                found.extend(gcp_access::lint::lint_policy(Some(resource), policy));
            }
        }
        found
    }

    /// What the documents decide for EKM on crypto key `key`: whether its federated identity may
    /// encrypt and decrypt (`access`), and whether STS exchanges its lab ID token (`trust`).
    pub fn service_allowed(&self, tenant: &Tenant, key: &str) -> (bool, bool) {
        let exchange = self.exchange(&tenant.gcp.sts_audience(), &service_claims(tenant));
        let who = exchange
            .federated
            .as_ref()
            .map_or_else(|| federated_identity(tenant), Identity::from);
        let access = [
            gcp_access::iam::USE_TO_ENCRYPT,
            gcp_access::iam::USE_TO_DECRYPT,
        ]
        .iter()
        .all(|permission| self.kms_call(&who, permission, key).is_ok());
        (access, exchange.decision.allowed())
    }
}

/// The federated principal of EKM's service account.
pub fn service_principal(tenant: &Tenant) -> String {
    format!(
        "principal://iam.googleapis.com/{}/subject/{}",
        tenant.gcp.pool_name(),
        tenant.gcp.service_account_id
    )
}

/// EKM's identity when it calls Cloud KMS with a federated token (no attributes mapped).
pub fn federated_identity(tenant: &Tenant) -> Identity {
    let principal = service_principal(tenant);
    Identity {
        names: vec![
            Member::Principal(principal.clone()),
            Member::PrincipalSet(format!(
                "principalSet://iam.googleapis.com/{}/*",
                tenant.gcp.pool_name()
            )),
        ],
        shown: principal,
    }
}

/// EKM's identity when it calls Cloud KMS as the service account it impersonates.
pub fn service_account_identity(email: &str) -> Identity {
    Identity {
        shown: email.to_owned(),
        names: vec![Member::ServiceAccount(email.to_owned())],
    }
}

/// The member strings that name EKM (what `revoke-access` removes).
fn service_members(tenant: &Tenant) -> [String; 2] {
    [
        service_principal(tenant),
        format!("serviceAccount:{}", tenant.gcp.service_account_email),
    ]
}

/// The claims of the lab ID token EKM presents (for the control API's `trust`).
fn service_claims(tenant: &Tenant) -> Map<String, Value> {
    let claims =
        json!({"iss": ISSUER, "aud": tenant.project_id, "sub": tenant.gcp.service_account_id});
    claims.as_object().cloned().unwrap_or_default()
}

/// The demo tenant's workload-identity provider.
pub fn demo_provider(tenant: &Tenant) -> Value {
    json!({
        "name": tenant.gcp.provider_name(),
        "displayName": "Enterprise Key Management",
        "disabled": false,
        "attributeMapping": {"google.subject": "assertion.sub"},
        "attributeCondition": format!("assertion.sub == '{}'", tenant.gcp.service_account_id),
        "oidc": {"issuerUri": ISSUER, "allowedAudiences": [tenant.project_id]},
    })
}

/// The demo binding on a crypto key: encrypt and decrypt for EKM's federated principal and the
/// service account it may impersonate.
pub fn demo_key_policy(tenant: &Tenant) -> Value {
    json!({"version": 1, "bindings": [{"role": DEMO_ROLE, "members": service_members(tenant)}]})
}

#[cfg(test)]
mod tests;
