//! `GetKeyPolicy` and `PutKeyPolicy`: the customer administrator reads and replaces a key's
//! policy, the document the customer's access decisions for that key are made from
//! ([`crate::access`]). The only policy name is `default`, as on KMS. A malformed policy is
//! refused with `MalformedPolicyDocumentException` naming the JSON path of the problem.
//! KMS's lockout safety check (the new policy must let the caller put a policy again) is not
//! made: the administrator here is the account owner, whom the lab never locks out.

use ekm_access::aws::PolicyKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AwsError, Kms};
use crate::access::PolicyDocument;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetKeyPolicyRequest {
    key_id: String,
    policy_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutKeyPolicyRequest {
    key_id: String,
    policy: String,
    policy_name: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as KMS does; the lab makes no lockout check"
    )]
    bypass_policy_lockout_safety_check: Option<bool>,
}

fn check_policy_name(name: Option<&str>) -> Result<(), AwsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) => Err(AwsError::bad(
            "NotFoundException",
            format!("No such policy exists: {other}. The only valid name is default."),
        )),
    }
}

impl Kms<'_> {
    pub(super) async fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<Value, AwsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let name = self.key(&req.key_id).await?;
        self.require_owner("kms:GetKeyPolicy")?;
        let policy = self.front.lab.aws_key_policy(&name)?;
        Ok(json!({"Policy": policy.to_string(), "PolicyName": "default"}))
    }

    pub(super) async fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<Value, AwsError> {
        check_policy_name(req.policy_name.as_deref())?;
        let malformed = |e: ekm_access::DocumentError| {
            AwsError::bad("MalformedPolicyDocumentException", e.to_string())
        };
        let json = ekm_access::document::parse_json(&req.policy).map_err(malformed)?;
        let policy = PolicyDocument::new(PolicyKind::Key, json).map_err(malformed)?;
        let name = self.key(&req.key_id).await?;
        self.require_owner("kms:PutKeyPolicy")?;
        self.front.lab.put_aws_key_policy(&name, policy)?;
        Ok(json!({}))
    }
}
