//! The customer's access documents in the state file (`access`): each document as the JSON the
//! customer wrote, read back through [`ekm_access`] at load so a malformed one is refused with
//! the field and the JSON path of the problem (`access.aws.key_policies.aws-demo:
//! $.Statement[0].Effect: …`, `access.gcp.policies.projects/p: $.bindings[0].role: …`). GCP's
//! documents (`gcp`) are absent in files written before they were kept; the keys' switches then
//! stand for them.

use std::collections::BTreeMap;

use ekm_access::aws::PolicyKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::gcp::ProviderDocument;
use crate::access::{AwsAccess, GcpAccess, PolicyDocument};
use crate::keys::Key;
use ekm_vocab::Cloud;

/// The `access` object of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredAccess {
    aws: StoredAws,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gcp: Option<StoredGcp>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredGcp {
    /// Workload-identity providers by resource name.
    #[serde(default)]
    providers: BTreeMap<String, Value>,
    /// IAM policies by resource name, with their etags.
    #[serde(default)]
    policies: BTreeMap<String, StoredPolicy>,
    #[serde(default)]
    custom_roles: Vec<Value>,
    /// The etag counter.
    #[serde(default)]
    revision: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPolicy {
    policy: Value,
    etag: String,
}

/// The documents a state file holds: AWS's always, GCP's when the file has them.
pub(super) struct LoadedAccess {
    pub(super) aws: AwsAccess,
    pub(super) gcp: Option<GcpAccess>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAws {
    trust_policy: Value,
    #[serde(default)]
    role_policies: BTreeMap<String, Value>,
    #[serde(default)]
    key_policies: BTreeMap<String, Value>,
}

fn stored(documents: &BTreeMap<String, PolicyDocument>) -> BTreeMap<String, Value> {
    documents
        .iter()
        .map(|(name, document)| (name.clone(), document.json().clone()))
        .collect()
}

fn read(
    kind: PolicyKind,
    field: &str,
    documents: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, PolicyDocument>, String> {
    documents
        .into_iter()
        .map(|(name, json)| {
            PolicyDocument::new(kind, json)
                .map(|document| (name.clone(), document))
                .map_err(|e| format!("access.aws.{field}.{name}: {e}"))
        })
        .collect()
}

impl StoredGcp {
    fn from_state(gcp: &GcpAccess) -> Self {
        Self {
            providers: gcp
                .providers()
                .map(|p| (p.name().to_owned(), p.json().clone()))
                .collect(),
            policies: gcp
                .policies()
                .iter()
                .map(|(resource, doc)| {
                    let stored = StoredPolicy {
                        policy: doc.json().clone(),
                        etag: doc.etag().to_owned(),
                    };
                    (resource.clone(), stored)
                })
                .collect(),
            custom_roles: gcp.custom_roles().to_vec(),
            revision: gcp.revision(),
        }
    }

    fn into_state(self) -> Result<GcpAccess, String> {
        let mut gcp = GcpAccess::default();
        for (name, json) in self.providers {
            let provider = ProviderDocument::new(json)
                .map_err(|e| format!("access.gcp.providers.{name}: {e}"))?;
            if provider.name() != name {
                return Err(format!(
                    "access.gcp.providers.{name}: $.name: `{}` is not the provider's key",
                    provider.name()
                ));
            }
            gcp.put_provider(provider);
        }
        for (resource, stored) in self.policies {
            gcp.restore_policy(&resource, stored.policy, stored.etag)
                .map_err(|e| format!("access.gcp.policies.{resource}: {e}"))?;
        }
        for (i, role) in self.custom_roles.into_iter().enumerate() {
            gcp.add_custom_role(role)
                .map_err(|e| format!("access.gcp.custom_roles[{i}]: {e}"))?;
        }
        gcp.set_revision(self.revision);
        Ok(gcp)
    }
}

impl StoredAccess {
    pub(super) fn from_state(aws: &AwsAccess, gcp: &GcpAccess) -> Self {
        Self {
            aws: StoredAws {
                trust_policy: aws.trust_policy.json().clone(),
                role_policies: stored(&aws.role_policies),
                key_policies: stored(&aws.key_policies),
            },
            gcp: Some(StoredGcp::from_state(gcp)),
        }
    }

    /// The documents, refused with the field and path of the first problem; a key policy must
    /// belong to an AWS key of the file.
    pub(super) fn into_state(self, keys: &BTreeMap<String, Key>) -> Result<LoadedAccess, String> {
        let aws = self.aws;
        let trust_policy = PolicyDocument::new(PolicyKind::Trust, aws.trust_policy)
            .map_err(|e| format!("access.aws.trust_policy: {e}"))?;
        let role_policies = read(PolicyKind::Identity, "role_policies", aws.role_policies)?;
        let key_policies = read(PolicyKind::Key, "key_policies", aws.key_policies)?;
        if let Some(name) = key_policies
            .keys()
            .find(|name| keys.get(*name).is_none_or(|k| k.provider != Cloud::Aws))
        {
            return Err(format!(
                "access.aws.key_policies.{name}: there is no AWS key named `{name}`"
            ));
        }
        Ok(LoadedAccess {
            aws: AwsAccess {
                trust_policy,
                role_policies,
                key_policies,
            },
            gcp: self.gcp.map(StoredGcp::into_state).transpose()?,
        })
    }
}
