//! Cloud Audit Logs entries of the GCP front-end's calls: Cloud KMS (`cloudkms.googleapis.com`),
//! STS (`sts.googleapis.com`) and IAM credentials (`iamcredentials.googleapis.com`), as
//! `LogEntry`s whose `protoPayload` is an `AuditLog` (Cloud Logging "LogEntry" and "AuditLog";
//! KMS docs "Cloud KMS audit logging"; DESIGN.md §9.2).
//!
//! - `logName`: `projects/P/logs/cloudaudit.googleapis.com%2Fdata_access` for crypto and read
//!   calls (Data Access logs, off by default on a real project), `%2Factivity` for changes
//!   (`setIamPolicy`, version changes: Admin Activity);
//! - `authenticationInfo`: a federated caller by `principalSubject` (`principal://…`), anyone
//!   else by `principalEmail`; a failed token exchange has no authenticated principal;
//! - `authorizationInfo`: the permission checked on the crypto key, `granted` false for a
//!   `PERMISSION_DENIED`;
//! - `status`: `{}` when allowed, `{code, message}` (google.rpc.Code) when refused;
//! - `request`: its `@type` and `name` only — Cloud KMS logs neither plaintext, ciphertext nor
//!   the additional authenticated data (the encryption context GCP has no field for).

use serde_json::{Value, json};

use super::{error_message, path, record_id, timestamp};
use crate::calls::CallRecord;
use crate::state::Kms;
use ekm_vocab::CallKind;

/// The permission each Cloud KMS method checks on its resource.
const PERMISSIONS: [(&str, &str); 10] = [
    ("encrypt", "cloudkms.cryptoKeyVersions.useToEncrypt"),
    ("decrypt", "cloudkms.cryptoKeyVersions.useToDecrypt"),
    ("getCryptoKey", "cloudkms.cryptoKeys.get"),
    ("listCryptoKeyVersions", "cloudkms.cryptoKeyVersions.list"),
    ("getCryptoKeyVersion", "cloudkms.cryptoKeyVersions.get"),
    (
        "updateCryptoKeyVersion",
        "cloudkms.cryptoKeyVersions.update",
    ),
    (
        "destroyCryptoKeyVersion",
        "cloudkms.cryptoKeyVersions.destroy",
    ),
    (
        "restoreCryptoKeyVersion",
        "cloudkms.cryptoKeyVersions.restore",
    ),
    ("getIamPolicy", "cloudkms.cryptoKeys.getIamPolicy"),
    ("setIamPolicy", "cloudkms.cryptoKeys.setIamPolicy"),
];

/// google.rpc.Code numbers of the statuses and OAuth errors the front-end answers.
const CODES: [(&str, u8); 16] = [
    ("CANCELLED", 1),
    ("UNKNOWN", 2),
    ("INVALID_ARGUMENT", 3),
    ("invalid_request", 3),
    ("invalid_grant", 3),
    ("invalid_target", 3),
    ("unsupported_grant_type", 3),
    ("DEADLINE_EXCEEDED", 4),
    ("NOT_FOUND", 5),
    ("PERMISSION_DENIED", 7),
    ("unauthorized_client", 7),
    ("RESOURCE_EXHAUSTED", 8),
    ("FAILED_PRECONDITION", 9),
    ("INTERNAL", 13),
    ("UNAVAILABLE", 14),
    ("UNAUTHENTICATED", 16),
];

/// What a call is in Cloud Audit Logs' terms.
struct Method {
    service: &'static str,
    name: String,
    resource_name: String,
    resource: Value,
    permission: Option<&'static str>,
    project: String,
}

/// The call as a Cloud Audit Logs entry, or `None` when Google would not log it (the lab
/// identity provider, unknown routes, an unauthenticated KMS request).
pub fn entry(lab: &Kms, call: &CallRecord) -> Option<Value> {
    let method = method(lab, call)?;
    let detail = &call.detail;
    let refusal = error_message(call);
    let log = if call.kind == CallKind::Manage {
        "activity"
    } else {
        "data_access"
    };
    let status = refusal.map_or_else(
        || json!({}),
        |message| json!({"code": code(&call.outcome), "message": message}),
    );
    let time = timestamp(call.time);
    let mut payload = json!({
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": status,
        "authenticationInfo": authentication(&call.caller),
        "requestMetadata": {
            "callerIp": detail.source_ip,
            "callerSuppliedUserAgent": detail.user_agent,
            "requestAttributes": {"time": time, "auth": {}},
            "destinationAttributes": {},
        },
        "serviceName": method.service,
        "methodName": method.name,
        "resourceName": method.resource_name,
        "request": {
            "@type": format!("type.googleapis.com/{}Request", request_type(&method)),
            "name": method.resource_name,
        },
    });
    if let Some(permission) = method.permission {
        payload["authorizationInfo"] = json!([{
            "resource": method.resource_name,
            "permission": permission,
            "granted": call.outcome != "PERMISSION_DENIED",
            "resourceAttributes": {},
        }]);
    }
    Some(json!({
        "protoPayload": payload,
        "insertId": record_id(detail).simple().to_string(),
        "resource": method.resource,
        "timestamp": time,
        "severity": if refusal.is_some() { "ERROR" } else { "INFO" },
        "logName": format!("projects/{}/logs/cloudaudit.googleapis.com%2F{log}", method.project),
        "receiveTimestamp": time,
    }))
}

/// The service, method and resource of `call`.
fn method(lab: &Kms, call: &CallRecord) -> Option<Method> {
    let gcp = &lab.tenant().gcp;
    let path = path(&call.detail);
    match call.operation.as_str() {
        "token" => Some(Method {
            service: "sts.googleapis.com",
            name: "google.identity.sts.v1.SecurityTokenService.ExchangeToken".into(),
            resource_name: gcp.provider_name(),
            resource: json!({"type": "audited_resource", "labels": {
                "service": "sts.googleapis.com",
                "method": "google.identity.sts.v1.SecurityTokenService.ExchangeToken",
                "project_id": gcp.wif_project_number}}),
            permission: None,
            project: gcp.wif_project_number.clone(),
        }),
        "generateAccessToken" => {
            let name = path.strip_prefix("/v1/")?.split(':').next()?.to_owned();
            Some(Method {
                service: "iamcredentials.googleapis.com",
                name: "GenerateAccessToken".into(),
                resource: json!({"type": "service_account", "labels": {
                    "project_id": gcp.kms_project,
                    "email_id": name.rsplit('/').next().unwrap_or_default()}}),
                resource_name: name,
                permission: Some("iam.serviceAccounts.getAccessToken"),
                project: gcp.kms_project.clone(),
            })
        }
        _ if call.caller == "anonymous" => None,
        operation => {
            let permission = PERMISSIONS
                .iter()
                .find(|(name, _)| *name == operation)
                .map(|(_, permission)| *permission);
            if permission.is_none() && call.kind == CallKind::Other {
                return None;
            }
            let name = path.strip_prefix("/v1/")?.split(':').next()?.to_owned();
            let labels: Vec<&str> = name.split('/').collect();
            let label = |at: usize| labels.get(at).copied().unwrap_or_default();
            Some(Method {
                service: "cloudkms.googleapis.com",
                name: pascal_case(operation),
                resource: json!({"type": "cloudkms_cryptokey", "labels": {
                    "project_id": label(1), "location": label(3),
                    "key_ring_id": label(5), "crypto_key_id": label(7)}}),
                project: label(1).to_owned(),
                resource_name: name,
                permission,
            })
        }
    }
}

/// `authenticationInfo` of `caller`: `principal://…` is a federated subject.
fn authentication(caller: &str) -> Value {
    if caller == "anonymous" {
        json!({})
    } else if caller.starts_with("principal://") {
        json!({"principalSubject": caller})
    } else {
        json!({"principalEmail": caller.strip_prefix("serviceAccount:").unwrap_or(caller)})
    }
}

/// The request message's name (`google.cloud.kms.v1.EncryptRequest`).
fn request_type(method: &Method) -> String {
    let package = match method.service {
        "sts.googleapis.com" => "google.identity.sts.v1",
        "iamcredentials.googleapis.com" => "google.iam.credentials.v1",
        _ => "google.cloud.kms.v1",
    };
    let short = method.name.rsplit('.').next().unwrap_or_default();
    format!("{package}.{short}")
}

/// `getCryptoKey` → `GetCryptoKey`.
fn pascal_case(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// The google.rpc.Code of an outcome (2, UNKNOWN, for one the table lacks).
fn code(outcome: &str) -> u8 {
    CODES
        .iter()
        .find(|(name, _)| *name == outcome)
        .map_or(2, |(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_authenticate_by_subject_or_email() {
        let subject = "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s";
        assert_eq!(
            authentication(subject),
            json!({"principalSubject": subject})
        );
        assert_eq!(
            authentication("serviceAccount:a@b.iam.gserviceaccount.com"),
            json!({"principalEmail": "a@b.iam.gserviceaccount.com"})
        );
        assert_eq!(authentication("anonymous"), json!({}));
    }

    #[test]
    fn outcomes_map_to_rpc_codes_and_methods_to_pascal_case() {
        assert_eq!(code("PERMISSION_DENIED"), 7);
        assert_eq!(code("invalid_grant"), 3);
        assert_eq!(code("invalid_target"), 3);
        assert_eq!(code("something-new"), 2);
        assert_eq!(pascal_case("getCryptoKey"), "GetCryptoKey");
    }
}
