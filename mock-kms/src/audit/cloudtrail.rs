//! CloudTrail events of the AWS front-end's calls: KMS (`kms.amazonaws.com`), STS `AssumeRole`
//! (`sts.amazonaws.com`) and the IAM role calls (`iam.amazonaws.com`), as the customer's trail in
//! account `recipientAccountId` records them (CloudTrail UG "CloudTrail record contents",
//! "userIdentity element"; KMS DG "Logging AWS KMS API calls"; DESIGN.md §9.1).
//!
//! - `userIdentity`: a role session is `AssumedRole` with its `sessionContext` (issuer role,
//!   creation date); the customer administrator's key is the account's `Root`; the EKM
//!   operator's own key, from another account, is `AWSAccount` with that account's id.
//! - `requestParameters`: the request's logged fields in CloudTrail's camelCase (`keyId`,
//!   `encryptionContext`, `encryptionAlgorithm` — `SYMMETRIC_DEFAULT` when the request left it
//!   out —, `roleArn`, `roleSessionName`, `externalId`, `durationSeconds`, …).
//! - `responseElements`: `null` for KMS; an `AssumeRole`'s new access key id and expiry and the
//!   assumed-role user (never the secret key or the session token).
//! - a refusal adds `errorCode` (the cloud's, e.g. `AccessDeniedException`, `AccessDenied`) and
//!   `errorMessage`; a call on a key in an external key store adds `additionalEventData`
//!   (`customKeyStoreId`, `xksKeyId`).
//! - `eventVersion` is `1.11`; `eventID` is derived from the request id, so it reads the same
//!   every time.

use serde_json::{Map, Value, json};

use super::{error_message, key_id, record_id, timestamp};
use crate::aws::iam;
use crate::calls::CallRecord;
use crate::state::Kms;
use ekm_vocab::CallKind;

/// The CloudTrail record format version the events follow.
const EVENT_VERSION: &str = "1.11";

/// KMS operations whose requests name an encryption algorithm, `SYMMETRIC_DEFAULT` by default.
const ALGORITHM_OPERATIONS: [&str; 2] = ["Encrypt", "Decrypt"];

/// The call as a CloudTrail event, or `None` when no identity was established (CloudTrail does
/// not record requests with a missing or bad signature).
pub fn event(lab: &Kms, call: &CallRecord) -> Option<Value> {
    let detail = &call.detail;
    let principal = detail.principal.as_deref()?;
    let aws = &lab.tenant().aws;
    let (source, region) = if call.operation == "AssumeRole" {
        ("sts.amazonaws.com", aws.region.as_str())
    } else if iam::ACTIONS.iter().any(|(name, _)| *name == call.operation) {
        ("iam.amazonaws.com", "us-east-1")
    } else {
        ("kms.amazonaws.com", aws.region.as_str())
    };
    let mut event = json!({
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(lab, call, principal),
        "eventTime": timestamp(call.time.replace_nanosecond(0).unwrap_or(call.time)),
        "eventSource": source,
        "eventName": call.operation,
        "awsRegion": region,
        "sourceIPAddress": detail.source_ip,
        "userAgent": detail.user_agent,
        "requestParameters": request_parameters(call),
        "responseElements": detail.response,
        "requestID": detail.request_id,
        "eventID": record_id(detail).to_string(),
        "readOnly": call.kind != CallKind::Manage,
        "resources": resources(lab, call),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": aws.account_id,
        "eventCategory": "Management",
    });
    if let Some(message) = error_message(call) {
        event["errorCode"] = call.outcome.clone().into();
        event["errorMessage"] = message.into();
    }
    if let Some(external) = external_key(lab, call) {
        event["additionalEventData"] = external;
    }
    Some(event)
}

/// `additionalEventData` of a call on a key in an external key store: the store and the
/// external key backing the KMS key.
fn external_key(lab: &Kms, call: &CallRecord) -> Option<Value> {
    let name = call.key.as_deref()?;
    lab.xks_read(|xks| {
        xks.stores.bindings.get(name).map(
            |binding| json!({"customKeyStoreId": binding.store, "xksKeyId": binding.xks_key_id}),
        )
    })
}

/// `userIdentity` for the signer `principal` (an ARN).
fn user_identity(lab: &Kms, call: &CallRecord, principal: &str) -> Value {
    let aws = &lab.tenant().aws;
    let access_key = call.caller.as_str();
    if let Some(role_session) = principal
        .strip_prefix(&format!("arn:aws:sts::{}:assumed-role/", aws.account_id))
        .and_then(|rest| rest.split_once('/'))
    {
        let (role, session) = role_session;
        let creation = call.detail.session_start.map(timestamp);
        return json!({
            "type": "AssumedRole",
            "principalId": format!("{}:{session}", iam::ROLE_ID),
            "arn": principal,
            "accountId": aws.account_id,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": iam::ROLE_ID,
                    "arn": format!("arn:aws:iam::{}:role/{role}", aws.account_id),
                    "accountId": aws.account_id,
                    "userName": role,
                },
                "attributes": {"creationDate": creation, "mfaAuthenticated": "false"},
            },
        });
    }
    if principal == format!("arn:aws:iam::{}:root", aws.account_id) {
        return json!({
            "type": "Root",
            "principalId": aws.account_id,
            "arn": principal,
            "accountId": aws.account_id,
            "accessKeyId": access_key,
        });
    }
    let account = principal.split(':').nth(4).unwrap_or_default();
    json!({
        "type": "AWSAccount",
        "principalId": access_key,
        "accountId": account,
        "accessKeyId": access_key,
    })
}

/// The request's logged fields in CloudTrail's spelling, or `null` when there are none.
fn request_parameters(call: &CallRecord) -> Value {
    let mut parameters: Map<String, Value> = call
        .detail
        .parameters
        .iter()
        .map(|(name, value)| (camel_case(name), value.clone()))
        .collect();
    if ALGORITHM_OPERATIONS.contains(&call.operation.as_str()) {
        parameters
            .entry("encryptionAlgorithm")
            .or_insert_with(|| "SYMMETRIC_DEFAULT".into());
    }
    if parameters.is_empty() {
        Value::Null
    } else {
        Value::Object(parameters)
    }
}

/// `KeyId` → `keyId`.
fn camel_case(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// `resources`: the KMS key the call used, or the role an STS or IAM call named.
fn resources(lab: &Kms, call: &CallRecord) -> Value {
    let aws = &lab.tenant().aws;
    if let Some(arn) = key_id(lab, call) {
        return json!([{"accountId": aws.account_id, "type": "AWS::KMS::Key", "ARN": arn}]);
    }
    match call.detail.parameters.get("RoleArn") {
        Some(Value::String(arn)) => {
            json!([{"accountId": aws.account_id, "type": "AWS::IAM::Role", "ARN": arn}])
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_fields_take_cloudtrails_spelling() {
        assert_eq!(camel_case("EncryptionContext"), "encryptionContext");
        assert_eq!(camel_case("KeyId"), "keyId");
        assert_eq!(camel_case(""), "");
    }
}
