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

use crate::access::azure::Written;
use crate::access::gcp::{ProviderDocument, SetPolicyError};
use crate::access::{AwsAccess, AzureAccess, GcpAccess, PolicyDocument};
use crate::error::StateError;
use crate::keys::Key;
use crate::state::{Kms, KmsState};
use ekm_vocab::Cloud;

/// The `access` object of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredAccess {
    aws: StoredAws,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gcp: Option<StoredGcp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    azure: Option<StoredAzure>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAzure {
    service_principals: Vec<Value>,
    #[serde(default)]
    role_definitions: Vec<Value>,
    #[serde(default)]
    role_assignments: Vec<Value>,
    vault: Value,
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
    /// Absent when the customer writes the policy (control API, hand-edited file): a fresh one
    /// is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

/// The documents a state file holds: AWS's always, GCP's and Azure's when the file has them.
pub(super) struct LoadedAccess {
    pub(super) aws: AwsAccess,
    pub(super) gcp: Option<GcpAccess>,
    pub(super) azure: Option<AzureAccess>,
}

/// Reads each document of `field` with `parse`, refused naming `access.azure.FIELD[i]`.
fn read_each<T>(
    field: &str,
    documents: Vec<Value>,
    parse: fn(&Value) -> Result<T, ekm_access::DocumentError>,
) -> Result<Vec<Written<T>>, String> {
    documents
        .into_iter()
        .enumerate()
        .map(|(i, json)| {
            Written::new(json, parse).map_err(|e| format!("access.azure.{field}[{i}]: {e}"))
        })
        .collect()
}

impl StoredAzure {
    fn from_state(azure: &AzureAccess) -> Self {
        let jsons = |docs: &mut dyn Iterator<Item = &Value>| docs.cloned().collect::<Vec<_>>();
        Self {
            service_principals: jsons(&mut azure.service_principals.values().map(Written::json)),
            role_definitions: jsons(&mut azure.role_definitions.iter().map(Written::json)),
            role_assignments: jsons(&mut azure.role_assignments.iter().map(Written::json)),
            vault: azure.vault.json().clone(),
        }
    }

    fn into_state(self) -> Result<AzureAccess, String> {
        use ekm_access::azure::{Assignment, RoleDefinition, ServicePrincipal, Vault};
        let principals = read_each(
            "service_principals",
            self.service_principals,
            ServicePrincipal::from_value,
        )?;
        Ok(AzureAccess {
            service_principals: principals
                .into_iter()
                .map(|sp| (sp.parsed().object_id.clone(), sp))
                .collect(),
            role_definitions: read_each(
                "role_definitions",
                self.role_definitions,
                RoleDefinition::from_value,
            )?,
            role_assignments: read_each(
                "role_assignments",
                self.role_assignments,
                Assignment::from_value,
            )?,
            vault: Written::new(self.vault, Vault::from_value)
                .map_err(|e| format!("access.azure.vault: {e}"))?,
        })
    }
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
                        etag: Some(doc.etag().to_owned()),
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
        gcp.set_revision(self.revision);
        for (resource, stored) in self.policies {
            let place = |e: &dyn std::fmt::Display| format!("access.gcp.policies.{resource}: {e}");
            match stored.etag {
                Some(etag) => gcp.restore_policy(&resource, stored.policy, etag),
                None => gcp
                    .put_policy(&resource, stored.policy, None)
                    .map(drop)
                    .map_err(|e| match e {
                        SetPolicyError::Invalid(e) => e,
                        other => ekm_access::DocumentError {
                            path: "$".into(),
                            reason: other.to_string(),
                        },
                    }),
            }
            .map_err(|e| place(&e))?;
        }
        for (i, role) in self.custom_roles.into_iter().enumerate() {
            gcp.add_custom_role(role)
                .map_err(|e| format!("access.gcp.custom_roles[{i}]: {e}"))?;
        }
        Ok(gcp)
    }
}

impl StoredAws {
    fn from_state(aws: &AwsAccess) -> Self {
        Self {
            trust_policy: aws.trust_policy.json().clone(),
            role_policies: stored(&aws.role_policies),
            key_policies: stored(&aws.key_policies),
        }
    }

    /// The documents; a key policy must belong to an AWS key of `keys`.
    fn into_state(self, keys: &BTreeMap<String, Key>) -> Result<AwsAccess, String> {
        let trust_policy = PolicyDocument::new(PolicyKind::Trust, self.trust_policy)
            .map_err(|e| format!("access.aws.trust_policy: {e}"))?;
        let role_policies = read(PolicyKind::Identity, "role_policies", self.role_policies)?;
        let key_policies = read(PolicyKind::Key, "key_policies", self.key_policies)?;
        if let Some(name) = key_policies
            .keys()
            .find(|name| keys.get(*name).is_none_or(|k| k.provider != Cloud::Aws))
        {
            return Err(format!(
                "access.aws.key_policies.{name}: there is no AWS key named `{name}`"
            ));
        }
        Ok(AwsAccess {
            trust_policy,
            role_policies,
            key_policies,
        })
    }
}

impl StoredAccess {
    pub(super) fn from_state(aws: &AwsAccess, gcp: &GcpAccess, azure: &AzureAccess) -> Self {
        Self {
            aws: StoredAws::from_state(aws),
            gcp: Some(StoredGcp::from_state(gcp)),
            azure: Some(StoredAzure::from_state(azure)),
        }
    }

    /// The documents, refused with the field and path of the first problem.
    pub(super) fn into_state(self, keys: &BTreeMap<String, Key>) -> Result<LoadedAccess, String> {
        Ok(LoadedAccess {
            aws: self.aws.into_state(keys)?,
            gcp: self.gcp.map(StoredGcp::into_state).transpose()?,
            azure: self.azure.map(StoredAzure::into_state).transpose()?,
        })
    }
}

/// The documents of `cloud` as the state file keeps them (the control API's
/// `GET /_mock/v1/access/{cloud}`).
pub(crate) fn documents(state: &KmsState, cloud: Cloud) -> Value {
    let json = match cloud {
        Cloud::Aws => serde_json::to_value(StoredAws::from_state(&state.aws_access)),
        Cloud::Gcp => serde_json::to_value(StoredGcp::from_state(&state.gcp_access)),
        Cloud::Azure => serde_json::to_value(StoredAzure::from_state(&state.azure_access)),
    };
    json.unwrap_or_default()
}

/// Replaces the documents of `cloud` with `json`, in the state file's shape (the control API's
/// `PUT /_mock/v1/access/{cloud}`); refused naming the field and the JSON path of the problem.
pub(crate) fn replace_documents(
    state: &mut KmsState,
    cloud: Cloud,
    json: Value,
) -> Result<(), String> {
    let shape = |e: serde_json::Error| format!("access.{cloud}: {e}");
    match cloud {
        Cloud::Aws => {
            let stored: StoredAws = serde_json::from_value(json).map_err(shape)?;
            state.aws_access = stored.into_state(&state.keys)?;
        }
        Cloud::Gcp => {
            let stored: StoredGcp = serde_json::from_value(json).map_err(shape)?;
            let revision = state.gcp_access.revision();
            let mut gcp = stored.into_state()?;
            gcp.set_revision(gcp.revision().max(revision));
            state.gcp_access = gcp;
        }
        Cloud::Azure => {
            let stored: StoredAzure = serde_json::from_value(json).map_err(shape)?;
            state.azure_access = stored.into_state()?;
        }
    }
    Ok(())
}

/// The most the documents of one cloud may weigh in the state file's shape: sixteen documents at
/// the clouds' own limit.
const MAX_DOCUMENTS_BYTES: usize = 16 * ekm_access::document::MAX_DOCUMENT_BYTES;

impl Kms {
    /// The customer's documents of `cloud`, in the state file's shape (the control API's
    /// `GET /_mock/v1/access/{cloud}`).
    pub fn access_documents(&self, cloud: Cloud) -> Value {
        self.read(|state| documents(state, cloud))
    }

    /// Replaces the customer's documents of `cloud` (the shape [`Kms::access_documents`]
    /// answers), in effect for the next call; a malformed one (or more than sixteen documents'
    /// worth of bytes) is refused naming its field and JSON path, and nothing changes.
    pub fn replace_access_documents(&self, cloud: Cloud, json: Value) -> Result<(), StateError> {
        let size = json.to_string().len();
        if size > MAX_DOCUMENTS_BYTES {
            return Err(StateError::InvalidRequest(format!(
                "the documents are {size} bytes; the limit is {MAX_DOCUMENTS_BYTES}"
            )));
        }
        self.write(|state| {
            replace_documents(state, cloud, json).map_err(StateError::InvalidRequest)
        })
    }
}
