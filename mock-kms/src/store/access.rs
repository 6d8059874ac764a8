//! The customer's access documents in the state file (`access`): each document as the JSON the
//! customer wrote, read back through [`ekm_access`] at load so a malformed one is refused with
//! the field and the JSON path of the problem (`access.aws.key_policies.aws-demo:
//! $.Statement[0].Effect: …`).

use std::collections::BTreeMap;

use ekm_access::aws::PolicyKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{AwsAccess, PolicyDocument};
use crate::keys::Key;
use ekm_vocab::Cloud;

/// The `access` object of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredAccess {
    aws: StoredAws,
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

impl StoredAccess {
    pub(super) fn from_state(aws: &AwsAccess) -> Self {
        Self {
            aws: StoredAws {
                trust_policy: aws.trust_policy.json().clone(),
                role_policies: stored(&aws.role_policies),
                key_policies: stored(&aws.key_policies),
            },
        }
    }

    /// The documents, refused with the field and path of the first problem; a key policy must
    /// belong to an AWS key of the file.
    pub(super) fn into_state(self, keys: &BTreeMap<String, Key>) -> Result<AwsAccess, String> {
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
        Ok(AwsAccess {
            trust_policy,
            role_policies,
            key_policies,
        })
    }
}
