//! Azure Monitor `AuditEvent` records of the Key Vault calls (the `/keys` routes), as a vault's
//! diagnostic setting exports them (azure-docs key-vault/general/logging "Interpret your Key
//! Vault logs"; DESIGN.md §9.3).
//!
//! - `operationName`: `KeyEncrypt`, `KeyDecrypt`, `KeyWrap`, `KeyUnwrap`, `KeyGet`, `KeyCreate`,
//!   `KeyRotate`, `KeyUpdate`; `operationVersion` the request's `api-version`;
//! - `resultType` `Success` (2xx) or `Failure`; `resultSignature` the HTTP status's reason
//!   (`OK`, `Forbidden`, `Unauthorized`); `resultDescription` the error message (empty when
//!   allowed); `durationMs` a string of whole milliseconds, as the published sample shows;
//! - `identity.claim`: the token's `appid`, `oid` and its long form
//!   (`http://schemas.microsoft.com/identity/claims/objectidentifier`) and `tid`; `null` for the
//!   unauthenticated challenge request Key Vault answers 401 (logged too);
//! - `properties`: `id` (the key URL, with its version when the request named one),
//!   `clientInfo` (user agent), `requestUri`, `httpStatusCode`, and `isRbacAuthorized` on an
//!   RBAC vault or `isAccessPolicyMatch` on an access-policy vault.
//!
//! Entra sign-ins and Microsoft Graph calls are not Key Vault's: they are not rendered.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{error_message, path, query, timestamp};
use crate::calls::CallRecord;
use crate::state::Kms;

/// The mock's Key Vault operations and their `operationName`s.
const OPERATIONS: [(&str, &str); 8] = [
    ("encrypt", "KeyEncrypt"),
    ("decrypt", "KeyDecrypt"),
    ("wrapkey", "KeyWrap"),
    ("unwrapkey", "KeyUnwrap"),
    ("get", "KeyGet"),
    ("create", "KeyCreate"),
    ("rotate", "KeyRotate"),
    ("update", "KeyUpdate"),
];

/// The long form of the object id claim.
const OBJECT_ID_CLAIM: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// The call as an `AuditEvent`, or `None` for calls outside Key Vault.
pub fn audit_event(lab: &Kms, call: &CallRecord) -> Option<Value> {
    let detail = &call.detail;
    let path = path(detail);
    if !path.starts_with("/keys/") {
        return None;
    }
    let operation = OPERATIONS
        .iter()
        .find(|(name, _)| *name == call.operation)
        .map(|(_, operation)| *operation)?;
    let (vault_id, rbac) = lab.read(|state| {
        let vault = &state.azure_access.vault.parsed();
        (vault.id.to_ascii_uppercase(), vault.rbac)
    });
    let status = StatusCode::from_u16(detail.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let host = detail.uri.split('/').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let key_url = match segments.as_slice() {
        ["keys", name, version, ..] if !OPERATIONS.iter().any(|(op, _)| op == version) => {
            format!("https://{host}/keys/{name}/{version}")
        }
        ["keys", name, ..] => format!("https://{host}/keys/{name}"),
        _ => format!("https://{host}/keys"),
    };
    let authenticated = call.caller != "anonymous";
    let mut properties = json!({
        "id": key_url,
        "clientInfo": detail.user_agent,
        "requestUri": format!("https://{}", detail.uri),
        "httpStatusCode": detail.status,
    });
    if authenticated {
        let allowed = !call.outcome.starts_with("ForbiddenBy");
        let field = if rbac {
            "isRbacAuthorized"
        } else {
            "isAccessPolicyMatch"
        };
        properties[field] = allowed.into();
    }
    Some(json!({
        "time": timestamp(call.time),
        "resourceId": vault_id,
        "operationName": operation,
        "operationVersion": query(detail, "api-version").unwrap_or_default(),
        "category": "AuditEvent",
        "resultType": if status.is_success() { "Success" } else { "Failure" },
        "resultSignature": status.canonical_reason().unwrap_or_default(),
        "resultDescription": error_message(call).unwrap_or_default(),
        "durationMs": whole_milliseconds(call.latency_ms).to_string(),
        "callerIpAddress": detail.source_ip,
        "correlationId": "",
        "identity": authenticated.then(|| identity(lab, call)),
        "properties": properties,
    }))
}

/// A latency rounded to whole milliseconds (saturating: `as` clamps to `u64`'s range).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole_milliseconds(latency_ms: f64) -> u64 {
    latency_ms.round() as u64
}

/// `identity.claim` of the caller's token.
fn identity(lab: &Kms, call: &CallRecord) -> Value {
    let mut claim = json!({
        "appid": call.caller,
        "http://schemas.microsoft.com/identity/claims/tenantid": lab.tenant().azure.tenant_id,
    });
    if let Some(oid) = &call.detail.principal {
        claim["oid"] = oid.as_str().into();
        claim[OBJECT_ID_CLAIM] = oid.as_str().into();
    }
    json!({ "claim": claim })
}
