//! The IAM role calls a customer edits EKM's role with, on the AWS endpoint (IAM's query
//! protocol: `Action=…&Version=2010-05-08` form bodies, SigV4 service `iam`, XML replies):
//! `GetRole` (the role with its URL-encoded `AssumeRolePolicyDocument`),
//! `UpdateAssumeRolePolicy` (the trust policy), `PutRolePolicy` / `GetRolePolicy` /
//! `DeleteRolePolicy` (inline permission policies). They read and edit the customer's AWS
//! documents ([`AwsAccess`](crate::access::AwsAccess)); the next `AssumeRole` or KMS call is
//! decided by them.
//!
//! Only the customer administrator may call them; anyone else is 403 `AccessDenied`. Errors are
//! IAM's: 404 `NoSuchEntity` (another role, a policy the role does not have), 400
//! `MalformedPolicyDocument` naming the JSON path of the problem (bad JSON, a grammar error, an
//! unknown condition operator, over 32 KiB), 400 `ValidationError` (a missing or malformed
//! parameter). The XML error envelope is the query protocol's, shared with STS.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ekm_access::aws::PolicyKind;
use serde_json::Value;

use super::{AwsError, AwsFront, Principal, Signer};
use crate::access::PolicyDocument;
use crate::error::StateError;
use ekm_vocab::CallKind;

/// The IAM actions served here, with what they do for the call log.
pub const ACTIONS: [(&str, CallKind); 5] = [
    ("GetRole", CallKind::Describe),
    ("GetRolePolicy", CallKind::Describe),
    ("UpdateAssumeRolePolicy", CallKind::Manage),
    ("PutRolePolicy", CallKind::Manage),
    ("DeleteRolePolicy", CallKind::Manage),
];

const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The customer role's unique id (`RoleId`, the `AROA…` prefix of its sessions' principal ids).
pub const ROLE_ID: &str = "AROAEKMLABROLE0000001";

/// The role's `MaxSessionDuration` (AWS's default).
const MAX_SESSION_SECONDS: u32 = 3600;

/// The kind of an IAM action, if it is one served here.
pub fn kind(action: &str) -> Option<CallKind> {
    ACTIONS
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, kind)| *kind)
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::bad("ValidationError", message)
}

fn no_such_entity(message: String) -> AwsError {
    AwsError::new(StatusCode::NOT_FOUND, "NoSuchEntity", message)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A policy document as IAM returns it: URL-encoded JSON, XML-escaped.
fn encoded(policy: &Value) -> String {
    let text = policy.to_string();
    xml_escape(
        &percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    )
}

fn reply(action: &str, result: Option<String>) -> Response {
    let result = result
        .map(|inner| format!("<{action}Result>{inner}</{action}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"{XMLNS}\">{result}<ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></{action}Response>",
        uuid::Uuid::new_v4()
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

/// A policy document parameter, read as `kind`; refused as `MalformedPolicyDocument`.
fn policy_parameter(text: &str, kind: PolicyKind) -> Result<PolicyDocument, AwsError> {
    let malformed = |e: ekm_access::DocumentError| {
        AwsError::bad(
            "MalformedPolicyDocument",
            format!("{}: {}", e.path, e.reason),
        )
    };
    let json = ekm_access::document::parse_json(text).map_err(malformed)?;
    PolicyDocument::new(kind, json).map_err(malformed)
}

/// A `PolicyName`: 1–128 of `[\w+=,.@-]`.
fn policy_name(name: Option<&str>) -> Result<&str, AwsError> {
    let name = name.ok_or_else(|| validation("PolicyName is required"))?;
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'policyName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )))
    }
}

/// Serves IAM `action` for `signer`.
pub(super) async fn serve(
    front: &AwsFront,
    signer: &Signer,
    action: &str,
    form: &HashMap<String, String>,
    call: &crate::pipeline::Call,
) -> Result<Response, AwsError> {
    let field = |name: &str| form.get(name).map(String::as_str);
    let tenant = front.lab.tenant();
    let role_arn = &tenant.aws.role_arn;
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let asked = field("RoleName").ok_or_else(|| validation("RoleName is required"))?;
    if signer.principal != Principal::Owner {
        return Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: iam:{action} on resource: role {asked} \
                 because no identity-based policy allows the iam:{action} action",
                signer.access_key_id
            ),
        ));
    }
    if asked != role_name {
        return Err(no_such_entity(format!(
            "The role with name {asked} cannot be found."
        )));
    }
    call.admit_faults()
        .await
        .map_err(|failure| AwsError::fault(super::Protocol::Sts, failure))?;
    let lab = &front.lab;
    match action {
        "GetRole" => {
            let trust = lab.read(|s| s.aws_access.trust_policy.json().clone());
            let role = format!(
                "<Role><Path>/</Path><RoleName>{role_name}</RoleName><RoleId>{ROLE_ID}</RoleId>\
                 <Arn>{}</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
                 <AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>\
                 <MaxSessionDuration>{MAX_SESSION_SECONDS}</MaxSessionDuration></Role>",
                xml_escape(role_arn),
                encoded(&trust)
            );
            Ok(reply(action, Some(role)))
        }
        "GetRolePolicy" => {
            let name = policy_name(field("PolicyName"))?;
            let policy = lab
                .read(|s| {
                    s.aws_access
                        .role_policies
                        .get(name)
                        .map(|p| p.json().clone())
                })
                .ok_or_else(|| {
                    no_such_entity(format!("The role policy with name {name} cannot be found."))
                })?;
            let result = format!(
                "<RoleName>{role_name}</RoleName><PolicyName>{name}</PolicyName>\
                 <PolicyDocument>{}</PolicyDocument>",
                encoded(&policy)
            );
            Ok(reply(action, Some(result)))
        }
        "UpdateAssumeRolePolicy" => {
            let text =
                field("PolicyDocument").ok_or_else(|| validation("PolicyDocument is required"))?;
            let trust = policy_parameter(text, PolicyKind::Trust)?;
            lab.write(|s| {
                s.aws_access.trust_policy = trust;
                Ok(())
            })?;
            Ok(reply(action, None))
        }
        "PutRolePolicy" => {
            let name = policy_name(field("PolicyName"))?.to_owned();
            let text =
                field("PolicyDocument").ok_or_else(|| validation("PolicyDocument is required"))?;
            let policy = policy_parameter(text, PolicyKind::Identity)?;
            lab.write(|s| {
                s.aws_access.role_policies.insert(name, policy);
                Ok(())
            })?;
            Ok(reply(action, None))
        }
        "DeleteRolePolicy" => {
            let name = policy_name(field("PolicyName"))?;
            let removed = lab.write(|s| {
                Ok::<_, StateError>(s.aws_access.role_policies.remove(name).is_some())
            })?;
            if removed {
                Ok(reply(action, None))
            } else {
                Err(no_such_entity(format!(
                    "The role policy with name {name} cannot be found."
                )))
            }
        }
        other => Err(AwsError::bad(
            "InvalidAction",
            format!("Could not find operation {other} for version 2010-05-08"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_and_documents_are_checked() {
        assert!(policy_name(Some("EkmEncrypt_1")).is_ok());
        for bad in [None, Some(""), Some("has space"), Some("slash/no")] {
            assert!(policy_name(bad).is_err(), "{bad:?}");
        }
        let unknown = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringLikeish":{"aws:PrincipalArn":"x"}}}]}"#;
        let error = policy_parameter(unknown, PolicyKind::Identity).unwrap_err();
        assert_eq!(error.code, "MalformedPolicyDocument");
        assert!(
            error.message.starts_with("$.Statement[0].Condition"),
            "{}",
            error.message
        );
        let big = format!("{{\"Version\":\"{}\"}}", "x".repeat(40 * 1024));
        assert_eq!(
            policy_parameter(&big, PolicyKind::Trust).unwrap_err().code,
            "MalformedPolicyDocument"
        );
        assert_eq!(
            policy_parameter("{", PolicyKind::Trust).unwrap_err().code,
            "MalformedPolicyDocument"
        );
        assert!(encoded(&serde_json::json!({"a": "b c"})).starts_with("%7B%22a%22"));
    }
}
