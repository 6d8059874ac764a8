//! Cloud KMS's IAM mixin on key rings and crypto keys:
//! `GET|POST /v1/{resource}:getIamPolicy` (`options.requestedPolicyVersion` in the query or
//! `{"options":{"requestedPolicyVersion"}}` in the body) → `{version, bindings, etag}`, and
//! `POST /v1/{resource}:setIamPolicy` `{"policy", "updateMask"?}` → the policy as set, with its
//! new etag. Policies live in the customer's GCP documents ([`GcpAccess`]) and decide the
//! service's next call.
//!
//! As GCP does: a `setIamPolicy` whose policy carries an `etag` other than the current one is
//! refused with 409 `ABORTED` (read-modify-write), one without an etag overwrites; a resource
//! with no policy answers the empty policy's etag `ACAB`; a policy with conditional bindings read
//! at `requestedPolicyVersion` 0 or 1 answers version 1 with each conditional binding's role
//! renamed `ROLE_withcond_HASH` and its condition left out (the hash is the lab's own). A
//! malformed policy is 400 `INVALID_ARGUMENT` naming the JSON path; a policy over the lab's
//! document limit ([`MAX_DOCUMENT_BYTES`]) too. `updateMask` may name only `bindings`, `etag`
//! and `auditConfigs`.
//!
//! Who may: the customer administrator always; the service only as its IAM roles allow
//! (`cloudkms.cryptoKeys.getIamPolicy` / `setIamPolicy`, `cloudkms.keyRings.*` on key rings),
//! the denial's trace in the call log.
//!
//! [`GcpAccess`]: crate::access::GcpAccess

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use ekm_access::document::MAX_DOCUMENT_BYTES;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::kms::{resource_name, unknown_call};
use super::{ApiError, Call, Gcp, admit_faults, answer, json_body};
use crate::access::gcp::SetPolicyError;
use crate::error::StateError;
use ekm_vocab::{CallKind, Cloud};

/// What the IAM call is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    KeyRing,
    CryptoKey,
}

impl Target {
    fn permission(self, verb: &str) -> String {
        match self {
            Target::KeyRing => format!("cloudkms.keyRings.{verb}"),
            Target::CryptoKey => format!("cloudkms.cryptoKeys.{verb}"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetRequest {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    options: Option<GetOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetOptions {
    #[serde(default)]
    requested_policy_version: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetRequest {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    policy: Option<Value>,
    #[serde(default)]
    update_mask: Option<String>,
}

/// `…/keyRings/{R}:getIamPolicy|setIamPolicy`.
#[allow(clippy::too_many_arguments)]
pub async fn key_ring(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: OriginalUri,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    query: RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path((project, location, ring))) = path else {
        return unknown_call(&call, &method, &uri);
    };
    let Some((ring, verb)) = ring.split_once(':') else {
        return unknown_call(&call, &method, &uri);
    };
    let resource = format!("projects/{project}/locations/{location}/keyRings/{ring}");
    let request = Request {
        target: Target::KeyRing,
        resource: &resource,
        headers: &headers,
        query: query.0.as_deref(),
    };
    serve(&gcp, &call, &method, &uri, verb, request, body).await
}

/// The key route's IAM verbs (`…/cryptoKeys/{K}:getIamPolicy|setIamPolicy`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn crypto_key(
    gcp: &Gcp,
    call: &Call,
    method: &Method,
    uri: &OriginalUri,
    verb: &str,
    (project, location, ring, key): (&str, &str, &str, &str),
    headers: &HeaderMap,
    query: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let resource = resource_name(project, location, ring, key);
    let request = Request {
        target: Target::CryptoKey,
        resource: &resource,
        headers,
        query,
    };
    serve(gcp, call, method, uri, verb, request, body).await
}

/// One IAM request: what on, and how it came.
struct Request<'a> {
    target: Target,
    resource: &'a str,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
}

async fn serve(
    gcp: &Gcp,
    call: &Call,
    method: &Method,
    uri: &OriginalUri,
    verb: &str,
    request: Request<'_>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match (method, verb) {
        (&Method::GET | &Method::POST, "getIamPolicy") => {
            call.name("getIamPolicy", CallKind::Describe);
            answer(get(gcp, call, method, &request, body).await)
        }
        (&Method::POST, "setIamPolicy") => {
            call.name("setIamPolicy", CallKind::Manage);
            answer(set(gcp, call, &request, body).await)
        }
        _ => unknown_call(call, method, uri),
    }
}

/// Resolves the resource (404 when it does not exist), names its key in the call log, admits
/// the call past the faults and checks the caller holds `permission` on it.
async fn enter(
    gcp: &Gcp,
    call: &Call,
    request: &Request<'_>,
    permission: &str,
) -> Result<(), ApiError> {
    let principal = gcp.admit(call, request.headers)?;
    let resource = request.resource;
    let key = gcp.lab.read(|state| match request.target {
        Target::CryptoKey => state
            .key_by_id(Cloud::Gcp, resource)
            .map(|k| Some(k.name.clone()))
            .ok_or_else(|| ApiError::not_found(format!("CryptoKey {resource} not found."))),
        Target::KeyRing => {
            let tenant = &gcp.lab.tenant().gcp;
            let own = format!(
                "projects/{}/locations/{}/keyRings/{}",
                tenant.kms_project, tenant.location, tenant.key_ring
            );
            let prefix = format!("{resource}/cryptoKeys/");
            let holds_keys = state
                .keys
                .values()
                .any(|k| k.provider == Cloud::Gcp && k.id.starts_with(&prefix));
            (resource == own || holds_keys)
                .then_some(None)
                .ok_or_else(|| ApiError::not_found(format!("KeyRing {resource} not found.")))
        }
    })?;
    if let Some(key) = key {
        call.key(&key);
    }
    admit_faults(call).await?;
    gcp.lab
        .read(|state| principal.check_iam(state, call, permission, resource))
}

async fn get(
    gcp: &Gcp,
    call: &Call,
    method: &Method,
    request: &Request<'_>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    let version = if method == Method::POST {
        let body: GetRequest = json_body(request.headers, body)?;
        check_resource(body.resource.as_deref(), request.resource)?;
        body.options.and_then(|o| o.requested_policy_version)
    } else {
        requested_version(request.query)?
    };
    let version = match version {
        None | Some(0 | 1) => 1,
        Some(3) => 3,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid requested_policy_version {other}: use 0, 1 or 3."
            )));
        }
    };
    enter(
        gcp,
        call,
        request,
        &request.target.permission("getIamPolicy"),
    )
    .await?;
    let policy = gcp
        .lab
        .read(|state| state.gcp_access.policy(request.resource));
    Ok(if version < 3 {
        without_conditions(policy)
    } else {
        policy
    })
}

/// `options.requestedPolicyVersion=N` from a GET's query (the SDKs' form).
fn requested_version(query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    for (name, value) in pairs {
        if name == "options.requestedPolicyVersion" {
            return value.parse().map(Some).map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Invalid value at 'options.requested_policy_version' (TYPE_INT32), \"{value}\""
                ))
            });
        }
    }
    Ok(None)
}

/// A body's `resource`, when sent, must be the resource of the URL.
fn check_resource(sent: Option<&str>, resource: &str) -> Result<(), ApiError> {
    match sent {
        Some(sent) if !sent.is_empty() && sent != resource => Err(ApiError::invalid_argument(
            format!("The resource in the body ({sent}) does not match the URL ({resource})."),
        )),
        _ => Ok(()),
    }
}

/// A conditional policy as a version-1 reader sees it: version 1, each conditional binding's
/// role suffixed `_withcond_HASH`, no conditions.
fn without_conditions(mut policy: Value) -> Value {
    let Some(bindings) = policy["bindings"].as_array_mut() else {
        return policy;
    };
    let mut conditional = false;
    for binding in bindings.iter_mut() {
        let Some(condition) = binding.as_object_mut().and_then(|b| b.remove("condition")) else {
            continue;
        };
        conditional = true;
        let digest = sha2::Sha256::digest(condition.to_string().as_bytes());
        let hash: String = hex::encode(digest).chars().take(20).collect();
        let role = binding["role"].as_str().unwrap_or_default();
        binding["role"] = json!(format!("{role}_withcond_{hash}"));
    }
    if conditional {
        policy["version"] = json!(1);
    }
    policy
}

async fn set(
    gcp: &Gcp,
    call: &Call,
    request: &Request<'_>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    let body: SetRequest = json_body(request.headers, body)?;
    check_resource(body.resource.as_deref(), request.resource)?;
    if let Some(mask) = body.update_mask.as_deref()
        && let Some(field) = mask
            .split(',')
            .map(str::trim)
            .find(|f| !matches!(*f, "bindings" | "etag" | "auditConfigs" | ""))
    {
        return Err(ApiError::invalid_argument(format!(
            "Invalid update_mask: `{field}` is not a field of the policy (bindings, etag, auditConfigs)."
        )));
    }
    let policy = body
        .policy
        .ok_or_else(|| ApiError::invalid_argument("The policy is required."))?;
    let size = policy.to_string().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(ApiError::invalid_argument(format!(
            "The policy is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}."
        )));
    }
    if !policy.is_object() {
        return Err(ApiError::invalid_argument(
            "Invalid policy: $: must be a JSON object",
        ));
    }
    let etag = match policy.get("etag") {
        None | Some(Value::Null) => None,
        Some(Value::String(etag)) => Some(etag.clone()),
        Some(_) => {
            return Err(ApiError::invalid_argument(
                "Invalid value at 'policy.etag' (TYPE_BYTES): must be a base64 string.",
            ));
        }
    };
    enter(
        gcp,
        call,
        request,
        &request.target.permission("setIamPolicy"),
    )
    .await?;
    let resource = request.resource;
    let outcome = gcp.lab.write(|state| {
        Ok::<_, StateError>(
            state
                .gcp_access
                .put_policy(resource, policy, etag.as_deref()),
        )
    });
    match outcome {
        Ok(Ok(_)) => Ok(gcp.lab.read(|state| state.gcp_access.policy(resource))),
        Ok(Err(SetPolicyError::Stale(_))) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ABORTED",
            "There were concurrent policy changes. Please retry the whole read-modify-write \
             with exponential backoff.",
        )),
        Ok(Err(SetPolicyError::Invalid(error))) => Err(ApiError::invalid_argument(format!(
            "Invalid policy: {error}"
        ))),
        Ok(Err(SetPolicyError::Resource(why))) => Err(ApiError::invalid_argument(why)),
        Err(error) => Err(super::kms::lab_error(error, resource, "setIamPolicy")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_one_readers_see_conditional_roles_renamed() {
        let policy = json!({"version": 3, "etag": "x", "bindings": [
            {"role": "roles/a", "members": ["user:a"]},
            {"role": "roles/b", "members": ["user:b"], "condition": {"title": "t", "expression": "true"}}]});
        let seen = without_conditions(policy);
        assert_eq!(seen["version"], 1);
        assert_eq!(seen["bindings"][0]["role"], "roles/a");
        let renamed = seen["bindings"][1]["role"].as_str().unwrap();
        assert!(renamed.starts_with("roles/b_withcond_"), "{renamed}");
        assert!(seen["bindings"][1].get("condition").is_none());
    }

    #[test]
    fn requested_versions_come_from_the_query() {
        assert_eq!(requested_version(None), Ok(None));
        assert_eq!(
            requested_version(Some("$alt=json&options.requestedPolicyVersion=3")),
            Ok(Some(3))
        );
        assert!(requested_version(Some("options.requestedPolicyVersion=three")).is_err());
    }
}
