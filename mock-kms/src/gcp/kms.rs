//! Cloud KMS REST (`/v1/projects/P/locations/L/keyRings/R/cryptoKeys/K…`).
//!
//! - `POST …/cryptoKeys/K:encrypt` `{"plaintext","additionalAuthenticatedData"?,
//!   "plaintextCrc32c"?,"additionalAuthenticatedDataCrc32c"?}` → `{"name":
//!   ".../cryptoKeyVersions/N","ciphertext","ciphertextCrc32c","verifiedPlaintextCrc32c",
//!   "verifiedAdditionalAuthenticatedDataCrc32c","protectionLevel":"SOFTWARE"}`, under the
//!   primary version.
//! - `POST …/cryptoKeys/K:decrypt` `{"ciphertext","additionalAuthenticatedData"?,
//!   "ciphertextCrc32c"?,"additionalAuthenticatedDataCrc32c"?}` → `{"plaintext",
//!   "plaintextCrc32c","usedPrimary","protectionLevel"}`: the ciphertext names the version that
//!   made it, so rotated keys keep decrypting old ciphertexts.
//! - `GET …/cryptoKeys/K` (with its `primary` version): owner only. The versions' own routes
//!   are [`versions`](super::versions).
//!
//! Order of checks: bearer token (401 `UNAUTHENTICATED`), request body (400
//! `INVALID_ARGUMENT`, CRC32C mismatches included), the key (404 `NOT_FOUND`), injected faults,
//! IAM (403 `PERMISSION_DENIED`), key state (400 `FAILED_PRECONDITION`), then the cryptography
//! (a wrong AAD, a tampered or foreign ciphertext: 400 `INVALID_ARGUMENT`). JSON follows
//! protobuf's JSON mapping: bytes are base64 (standard or URL-safe, padding optional), int64 a
//! string or a number, unknown fields are refused. The `$alt=json;enum-encoding=int` query the
//! SDKs add is ignored: enums are answered by name, which every protobuf JSON parser accepts.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::{ApiError, Call, Gcp, admit_faults, answer, ekm, json_body};
use crate::error::StateError;
use crate::keys::{Key, KeyState, KeyVersion};
use crate::state::{KeyUse, VERSION_DESTROY_WINDOW};
use crate::xks::stores::EkmKey;
use ekm_vocab::{CallKind, Cloud};

/// The permission the service needs to encrypt.
pub const USE_TO_ENCRYPT: &str = "cloudkms.cryptoKeyVersions.useToEncrypt";
/// The permission the service needs to decrypt.
pub const USE_TO_DECRYPT: &str = "cloudkms.cryptoKeyVersions.useToDecrypt";
/// Reading a key's metadata (the owner's only).
const KEYS_GET: &str = "cloudkms.cryptoKeys.get";
/// Reading versions (the owner's only).
pub(super) const VERSIONS_GET: &str = "cloudkms.cryptoKeyVersions.get";
/// Listing versions (the owner's only).
pub(super) const VERSIONS_LIST: &str = "cloudkms.cryptoKeyVersions.list";

const ALGORITHM: &str = "GOOGLE_SYMMETRIC_ENCRYPTION";

/// Path of a cryptoKey route: project, location, key ring, key (possibly `K:verb`).
pub(super) type KeyPath = (String, String, String, String);
/// Path of a version route: the key's four segments and the version (possibly `N:verb`).
pub(super) type VersionPath = (String, String, String, String, String);

/// A protobuf int64 in JSON: a decimal string or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

impl Int64 {
    fn value(&self, field: &str) -> Result<i64, ApiError> {
        match self {
            Int64::Number(n) => Ok(*n),
            Int64::Text(text) => text.trim().parse().map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Invalid value at '{field}' (TYPE_INT64), \"{text}\""
                ))
            }),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EncryptRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    plaintext: Option<String>,
    #[serde(default)]
    additional_authenticated_data: Option<String>,
    #[serde(default)]
    plaintext_crc32c: Option<Int64>,
    #[serde(default)]
    additional_authenticated_data_crc32c: Option<Int64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EncryptResponse {
    name: String,
    ciphertext: String,
    ciphertext_crc32c: String,
    verified_plaintext_crc32c: bool,
    verified_additional_authenticated_data_crc32c: bool,
    protection_level: &'static str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecryptRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    additional_authenticated_data: Option<String>,
    #[serde(default)]
    ciphertext_crc32c: Option<Int64>,
    #[serde(default)]
    additional_authenticated_data_crc32c: Option<Int64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DecryptResponse {
    plaintext: String,
    plaintext_crc32c: String,
    used_primary: bool,
    protection_level: &'static str,
}

/// A bytes field, decoded and checked against its optional CRC32C.
struct Checked {
    bytes: Vec<u8>,
    verified: bool,
}

/// Decodes base64 field `field` (absent = empty) and verifies its CRC32C if one was sent.
fn checked_bytes(
    field: &str,
    value: Option<&str>,
    crc_field: &str,
    crc: Option<&Int64>,
) -> Result<Checked, ApiError> {
    let text = value.unwrap_or_default();
    let bytes = STANDARD_PAD_INDIFFERENT
        .decode(text)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text))
        .map_err(|_| {
            ApiError::invalid_argument(format!(
                "Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed."
            ))
        })?;
    let verified = match crc {
        None => false,
        Some(expected) => {
            if expected.value(crc_field)? != i64::from(crc32c::crc32c(&bytes)) {
                return Err(ApiError::invalid_argument(format!(
                    "The checksum in field {crc_field} did not match the data in field {field}."
                )));
            }
            true
        }
    };
    Ok(Checked { bytes, verified })
}

/// The request names the key's resource `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
pub(super) fn resource_name(project: &str, location: &str, ring: &str, key: &str) -> String {
    format!("projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}")
}

/// The lab name of the GCP key named `resource`.
fn resolve(gcp: &Gcp, resource: &str) -> Result<String, ApiError> {
    gcp.lab
        .read(|state| {
            state
                .key_by_id(Cloud::Gcp, resource)
                .map(|key| key.name.clone())
        })
        .ok_or_else(|| ApiError::not_found(format!("CryptoKey {resource} not found.")))
}

/// A lab refusal in Google's words.
pub(super) fn lab_error(error: StateError, resource: &str, permission: &str) -> ApiError {
    let not_enabled = |state: &str| {
        ApiError::failed_precondition(format!(
            "{resource} is not enabled, current state is: {state}."
        ))
    };
    match error {
        StateError::KeyNotFound(_) => {
            ApiError::not_found(format!("CryptoKey {resource} not found."))
        }
        StateError::KeyDisabled(_) => not_enabled("DISABLED"),
        StateError::KeyPendingDeletion { deletion_date, .. } => {
            let when = deletion_date.format(&Rfc3339).unwrap_or_default();
            ApiError::failed_precondition(format!(
                "{resource} is scheduled for destruction at {when}, current state is: \
                 DESTROY_SCHEDULED."
            ))
        }
        StateError::KeyDestroyed(_) => not_enabled("DESTROYED"),
        StateError::VersionNotFound { version, .. } => ApiError::not_found(format!(
            "CryptoKeyVersion {resource}/cryptoKeyVersions/{version} not found."
        )),
        StateError::VersionNotEnabled { version, state, .. } => {
            ApiError::failed_precondition(format!(
                "{resource}/cryptoKeyVersions/{version} is not enabled, current state is: {}.",
                version_state_name(state)
            ))
        }
        StateError::VersionState {
            version,
            state,
            reason,
            ..
        } => ApiError::failed_precondition(format!(
            "{resource}/cryptoKeyVersions/{version} is in state {}: {reason}.",
            version_state_name(state)
        )),
        StateError::AccessDenied { .. } => ApiError::permission_denied(format!(
            "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
        )),
        StateError::InvalidCiphertext(_) | StateError::IncorrectKey { .. } => {
            ApiError::invalid_argument("Decryption failed: the ciphertext is invalid.")
        }
        StateError::UnsupportedOperation { reason, .. } => ApiError::failed_precondition(reason),
        StateError::AlreadyExists(what) => {
            ApiError::failed_precondition(format!("{what} already exists."))
        }
        StateError::InvalidState { reason, .. } => ApiError::failed_precondition(reason),
        StateError::InvalidRequest(message) => ApiError::invalid_argument(message),
        StateError::Internal(message) => ApiError::internal(message),
    }
}

/// A version state's name in Cloud KMS (`CryptoKeyVersionState`).
pub(super) fn version_state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "ENABLED",
        KeyState::Disabled => "DISABLED",
        KeyState::PendingDeletion { .. } => "DESTROY_SCHEDULED",
        KeyState::Destroyed => "DESTROYED",
    }
}

fn rfc3339(time: OffsetDateTime) -> Result<String, ApiError> {
    time.format(&Rfc3339)
        .map_err(|e| ApiError::internal(format!("Could not format a timestamp: {e}")))
}

pub(super) fn version_json(
    key: &Key,
    version: &KeyVersion,
    ekm: Option<&EkmKey>,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let created = rfc3339(version.created)?;
    let mut json = json!({
        "name": format!("{}/cryptoKeyVersions/{}", key.id, version.id),
        "protectionLevel": ekm::protection_level(None),
        "algorithm": ALGORITHM,
        "createTime": created,
        "generateTime": created,
    });
    let state = key.version_state_at(version, now);
    if let KeyState::PendingDeletion { deletion_date } = state {
        json["destroyTime"] = Value::String(rfc3339(deletion_date)?);
    }
    json["state"] = Value::String(version_state_name(state).to_owned());
    if let Some(ekm) = ekm {
        ekm::version_fields(ekm, &mut json);
    }
    Ok(json)
}

fn crypto_key_json(
    key: &Key,
    ekm: Option<&EkmKey>,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let mut json = json!({
        "name": key.id,
        "primary": version_json(key, key.primary(), ekm, now)?,
        "purpose": "ENCRYPT_DECRYPT",
        "createTime": rfc3339(key.created)?,
        "versionTemplate": {
            "protectionLevel": ekm::protection_level(None),
            "algorithm": ALGORITHM,
        },
        "destroyScheduledDuration": format!("{}s", VERSION_DESTROY_WINDOW.as_secs()),
    });
    if let Some(ekm) = ekm {
        ekm::crypto_key_fields(ekm, &key.id, &mut json);
    }
    Ok(json)
}

/// Resolves the key, names it in the call log and admits the call past the fault rules: what
/// every key route does once the caller and the request are known to be well-formed.
pub(super) async fn enter(gcp: &Gcp, call: &Call, resource: &str) -> Result<String, ApiError> {
    let name = resolve(gcp, resource)?;
    call.key(&name);
    admit_faults(call).await?;
    Ok(name)
}

async fn encrypt(
    gcp: &Gcp,
    call: &Call,
    headers: &HeaderMap,
    resource: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<EncryptResponse, ApiError> {
    let principal = gcp.admit(call, headers)?;
    let request: EncryptRequest = json_body(headers, body)?;
    let plaintext = checked_bytes(
        "plaintext",
        request.plaintext.as_deref(),
        "plaintext_crc32c",
        request.plaintext_crc32c.as_ref(),
    )?;
    let aad = checked_bytes(
        "additional_authenticated_data",
        request.additional_authenticated_data.as_deref(),
        "additional_authenticated_data_crc32c",
        request.additional_authenticated_data_crc32c.as_ref(),
    )?;
    check_name(request.name.as_deref(), resource)?;
    let name = enter(gcp, call, resource).await?;
    let now = gcp.lab.now();
    let (sealed, ekm) = gcp.lab.read(|state| {
        principal.check_iam(state, call, USE_TO_ENCRYPT, resource)?;
        let sealed = state
            .authorize(&name, principal.caller, KeyUse::Encrypt, USE_TO_ENCRYPT)
            .and_then(|key| key.encrypt_blob(now, &aad.bytes, &plaintext.bytes))
            .map_err(|e| lab_error(e, resource, USE_TO_ENCRYPT))?;
        Ok::<_, ApiError>((sealed, state.xks.stores.ekm_keys.get(&name).cloned()))
    })?;
    let ciphertext = match &ekm {
        Some(ekm) => {
            let who = ekm::Who {
                name: &name,
                resource,
                caller: &principal.name,
            };
            ekm::seal(gcp, ekm, who, &sealed.ciphertext, &aad.bytes).await?
        }
        None => sealed.ciphertext,
    };
    Ok(EncryptResponse {
        name: format!("{resource}/cryptoKeyVersions/{}", sealed.version),
        ciphertext: STANDARD.encode(&ciphertext),
        ciphertext_crc32c: crc32c::crc32c(&ciphertext).to_string(),
        verified_plaintext_crc32c: plaintext.verified,
        verified_additional_authenticated_data_crc32c: aad.verified,
        protection_level: ekm::protection_level(ekm.as_ref()),
    })
}

async fn decrypt(
    gcp: &Gcp,
    call: &Call,
    headers: &HeaderMap,
    resource: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<DecryptResponse, ApiError> {
    let principal = gcp.admit(call, headers)?;
    let request: DecryptRequest = json_body(headers, body)?;
    let ciphertext = checked_bytes(
        "ciphertext",
        request.ciphertext.as_deref(),
        "ciphertext_crc32c",
        request.ciphertext_crc32c.as_ref(),
    )?;
    if ciphertext.bytes.is_empty() {
        return Err(ApiError::invalid_argument("The ciphertext is required."));
    }
    let aad = checked_bytes(
        "additional_authenticated_data",
        request.additional_authenticated_data.as_deref(),
        "additional_authenticated_data_crc32c",
        request.additional_authenticated_data_crc32c.as_ref(),
    )?;
    check_name(request.name.as_deref(), resource)?;
    let name = enter(gcp, call, resource).await?;
    let now = gcp.lab.now();
    // An EKM key: the caller's rights and the key's state first, then the hop.
    let ekm = gcp.lab.read(|state| {
        principal.check_iam(state, call, USE_TO_DECRYPT, resource)?;
        state
            .authorize(&name, principal.caller, KeyUse::Decrypt, USE_TO_DECRYPT)
            .and_then(|key| key.ensure_usable(now))
            .map_err(|e| lab_error(e, resource, USE_TO_DECRYPT))?;
        Ok::<_, ApiError>(state.xks.stores.ekm_keys.get(&name).cloned())
    })?;
    let inner = match &ekm {
        Some(ekm) => {
            let who = ekm::Who {
                name: &name,
                resource,
                caller: &principal.name,
            };
            ekm::open(gcp, ekm, who, &ciphertext.bytes, &aad.bytes).await?
        }
        None => Zeroizing::new(ciphertext.bytes),
    };
    let (plaintext, used_primary) = gcp.lab.read(|state| {
        principal.check_iam(state, call, USE_TO_DECRYPT, resource)?;
        let opened = state
            .authorize(&name, principal.caller, KeyUse::Decrypt, USE_TO_DECRYPT)
            .and_then(|key| {
                let (plaintext, version) = key.decrypt_blob(now, &inner, &aad.bytes)?;
                Ok((plaintext, version == key.primary().id))
            })
            .map_err(|e| lab_error(e, resource, USE_TO_DECRYPT))?;
        Ok::<_, ApiError>(opened)
    })?;
    Ok(DecryptResponse {
        plaintext: STANDARD.encode(plaintext.as_slice()),
        plaintext_crc32c: crc32c::crc32c(&plaintext).to_string(),
        used_primary,
        protection_level: ekm::protection_level(ekm.as_ref()),
    })
}

/// A body's `name`, when sent, must be the resource of the URL.
pub(super) fn check_name(name: Option<&str>, resource: &str) -> Result<(), ApiError> {
    match name {
        Some(name) if !name.is_empty() && name != resource => Err(ApiError::invalid_argument(
            format!("The name in the body ({name}) does not match the URL ({resource})."),
        )),
        _ => Ok(()),
    }
}

/// Reads key metadata after checking the caller may (`permission`): the owner only.
pub(super) async fn read_metadata<T>(
    gcp: &Gcp,
    call: &Call,
    headers: &HeaderMap,
    resource: &str,
    permission: &str,
    view: impl FnOnce(&Key, Option<&EkmKey>, OffsetDateTime) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let principal = gcp.admit(call, headers)?;
    let name = enter(gcp, call, resource).await?;
    let now = gcp.lab.now();
    gcp.lab.read(|state| {
        let key = state
            .authorize(&name, principal.caller, KeyUse::Manage, permission)
            .map_err(|e| lab_error(e, resource, permission))?;
        view(key, state.xks.stores.ekm_keys.get(&name), now)
    })
}

pub(super) fn method_not_found(method: &Method, uri: &OriginalUri) -> ApiError {
    ApiError::not_found(format!("Method not found: {method} {}", uri.path()))
}

/// `…/cryptoKeys/{K}` (`GET`), `…/cryptoKeys/{K}:encrypt|decrypt` (`POST`) and the IAM verbs
/// ([`iam_policy`](super::iam_policy)).
#[allow(clippy::too_many_arguments)]
pub async fn crypto_key(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: OriginalUri,
    path: Result<Path<KeyPath>, PathRejection>,
    headers: HeaderMap,
    query: RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path((project, location, ring, key))) = path else {
        return unknown_call(&call, &method, &uri);
    };
    let (key, verb) = match key.split_once(':') {
        Some((key, verb)) => (key, Some(verb)),
        None => (key.as_str(), None),
    };
    if let Some(verb @ ("getIamPolicy" | "setIamPolicy")) = verb {
        let at = (project.as_str(), location.as_str(), ring.as_str(), key);
        let query = query.0.as_deref();
        return super::iam_policy::crypto_key(
            &gcp, &call, &method, &uri, verb, at, &headers, query, body,
        )
        .await;
    }
    let resource = resource_name(&project, &location, &ring, key);
    match (&method, verb) {
        (&Method::POST, Some("encrypt")) => {
            call.name("encrypt", CallKind::Wrap);
            let result = encrypt(&gcp, &call, &headers, &resource, body).await;
            answer(result)
        }
        (&Method::POST, Some("decrypt")) => {
            call.name("decrypt", CallKind::Unwrap);
            let result = decrypt(&gcp, &call, &headers, &resource, body).await;
            answer(result)
        }
        (&Method::GET, None) => {
            call.name("getCryptoKey", CallKind::Describe);
            let result =
                read_metadata(&gcp, &call, &headers, &resource, KEYS_GET, crypto_key_json).await;
            answer(result)
        }
        _ => unknown_call(&call, &method, &uri),
    }
}

/// Any other path under `/v1/`.
pub async fn unknown(
    Extension(call): Extension<Call>,
    method: Method,
    uri: OriginalUri,
) -> Response {
    unknown_call(&call, &method, &uri)
}

pub(super) fn unknown_call(call: &Call, method: &Method, uri: &OriginalUri) -> Response {
    call.name("unknown", CallKind::Other);
    answer::<Value, _>(Err(method_not_found(method, uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_fields_accept_protobuf_json_base64_and_check_crc32c() {
        let crc = |n: u32| Int64::Text(n.to_string());
        let data = b"hello?>";
        let good = crc32c::crc32c(data);
        for text in ["aGVsbG8/Pg==", "aGVsbG8/Pg", "aGVsbG8_Pg=="] {
            let checked = checked_bytes("p", Some(text), "p_crc", Some(&crc(good))).unwrap();
            assert_eq!(checked.bytes, data);
            assert!(checked.verified);
        }
        assert!(!checked_bytes("p", None, "c", None).unwrap().verified);
        let wrong = checked_bytes("p", Some("aGVsbG8/Pg=="), "p_crc", Some(&crc(good ^ 1)));
        assert_eq!(wrong.err().map(|e| e.status()), Some("INVALID_ARGUMENT"));
        assert!(checked_bytes("p", Some("***"), "c", None).is_err());
        let number = Int64::Number(i64::from(good));
        assert!(checked_bytes("p", Some("aGVsbG8/Pg=="), "c", Some(&number)).is_ok());
        assert!(checked_bytes("p", Some(""), "c", Some(&Int64::Text("x".into()))).is_err());
    }

    #[test]
    fn lab_errors_map_to_google_statuses() {
        let cases = [
            (StateError::KeyNotFound("k".into()), "NOT_FOUND"),
            (StateError::KeyDisabled("k".into()), "FAILED_PRECONDITION"),
            (StateError::KeyDestroyed("k".into()), "FAILED_PRECONDITION"),
            (
                StateError::AccessDenied {
                    key: "k".into(),
                    action: "a".into(),
                },
                "PERMISSION_DENIED",
            ),
            (
                StateError::InvalidCiphertext("x".into()),
                "INVALID_ARGUMENT",
            ),
        ];
        for (error, status) in cases {
            assert_eq!(lab_error(error, "r", "p").status(), status);
        }
    }
}
