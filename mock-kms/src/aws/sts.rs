//! AWS STS `AssumeRole` (query protocol: form body in, XML out): the caller must be the EKM
//! service and the role the customer's; the role's trust policy then decides
//! ([`AwsAccess::assume_role`](crate::access::AwsAccess::assume_role): the principal and the
//! `sts:ExternalId` condition; an explicit Deny — what revoke-trust adds — wins). A denial is
//! 403 `AccessDenied` with AWS's message, and its trace goes to the call log.
//!
//! Sessions are `ASIA…` keys with a random secret and token, remembered with their lab-clock
//! life ([`LabLife`]: `DurationSeconds`, or the tenant's `sessions.aws` when absent) and the
//! wall-clock expiry the answer carries (the SDKs cache credentials on real time, DESIGN.md §5).
//! A later trust removal does not end them: they live to their expiry, unless the role's
//! `AWSRevokeOlderSessions` policy (revoke-sessions) denies sessions issued before it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{AwsError, AwsFront, Principal, Protocol, Session, Signer};
use crate::access;
use crate::error::StateError;
use crate::pipeline::Call;
use crate::sessions::LabLife;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escapes text for an XML element.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

pub(super) fn error_response(error: &AwsError) -> Response {
    let kind = if error.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        error.code,
        xml_escape(&error.message),
        uuid::Uuid::new_v4()
    );
    xml_response(error.status, body)
}

/// `count` random characters from `alphabet`.
fn random_string(alphabet: &[u8], count: usize) -> Result<String, StateError> {
    let mut bytes = vec![0u8; count];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| StateError::Internal("the random number generator failed".into()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::bad("ValidationError", message)
}

fn denied(message: String) -> AwsError {
    AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

/// `Action=AssumeRole`.
pub(super) async fn assume_role(
    front: &AwsFront,
    signer: &Signer,
    form: &HashMap<String, String>,
    call: &Call,
) -> Result<Response, AwsError> {
    let field = |name: &str| form.get(name).map(String::as_str);
    let role_arn = field("RoleArn").ok_or_else(|| validation("RoleArn is required"))?;
    let session_name =
        field("RoleSessionName").ok_or_else(|| validation("RoleSessionName is required"))?;
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if !name_ok {
        return Err(validation(
            "RoleSessionName must be 2-64 characters of [\\w+=,.@-]",
        ));
    }
    let duration = match field("DurationSeconds") {
        None => i64::from(front.lab.tenant().sessions.aws),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|d| (900..=43_200).contains(d))
            .ok_or_else(|| validation("DurationSeconds must be between 900 and 43200"))?,
    };
    let lab = &front.lab;
    call.admit_faults()
        .await
        .map_err(|failure| AwsError::fault(Protocol::Sts, failure))?;

    let tenant = lab.tenant();
    if signer.principal != Principal::ServiceKey || role_arn != tenant.aws.role_arn {
        return Err(denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            signer.access_key_id
        )));
    }
    let service = access::service_caller(tenant);
    let decision = lab.read(|s| {
        s.aws_access
            .assume_role(role_arn, &service, field("ExternalId"))
    });
    if !decision.allowed() {
        call.denied_by(access::short_trace(&decision));
        return Err(denied(decision.message.unwrap_or_default()));
    }

    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let access_key_id = format!("ASIA{}", random_string(UPPER, 16)?);
    let secret = random_string(SECRET, 40)?;
    let mut token_bytes = [0u8; 96];
    aws_lc_rs::rand::fill(&mut token_bytes)
        .map_err(|_| StateError::Internal("the random number generator failed".into()))?;
    let token = B64.encode(token_bytes);
    let life = LabLife::starting(lab.now(), Duration::from_secs(duration.unsigned_abs()));
    let now = ekm_clock::wall_time();
    let expires = (now + time::Duration::seconds(duration))
        .replace_nanosecond(0)
        .unwrap_or(now);
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let role_id = super::iam::ROLE_ID;
    let assumed_arn = format!(
        "arn:aws:sts::{}:assumed-role/{role_name}/{session_name}",
        tenant.aws.account_id
    );
    {
        let mut sessions = front.sessions();
        sessions.retain(|_, s| s.expires > now && !s.life.expired_at(life.issued));
        sessions.insert(
            access_key_id.clone(),
            Arc::new(Session {
                secret: secret.clone(),
                token: token.clone(),
                caller: access::role_caller(tenant, Some(&assumed_arn)),
                arn: assumed_arn.clone(),
                life,
                expires,
            }),
        );
    }

    let expiration = expires.format(&Rfc3339).unwrap_or_default();
    call.response(json!({
        "credentials": {"accessKeyId": access_key_id, "expiration": expiration},
        "assumedRoleUser": {"assumedRoleId": format!("{role_id}:{session_name}"), "arn": assumed_arn},
    }));
    let body = format!(
        "<AssumeRoleResponse xmlns=\"{XMLNS}\"><AssumeRoleResult>\
         <AssumedRoleUser><AssumedRoleId>{role_id}:{session}</AssumedRoleId><Arn>{arn}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{access_key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
         <PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        session = xml_escape(session_name),
        arn = xml_escape(&assumed_arn),
        secret = xml_escape(&secret),
        request_id = uuid::Uuid::new_v4(),
    );
    Ok(xml_response(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
