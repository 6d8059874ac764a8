//! Cloud KMS key versions as their owner reads and manages them
//! (`/v1/projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions…`).
//!
//! - `GET …/cryptoKeyVersions` and `GET …/cryptoKeyVersions/N`: each version with its `state`
//!   (`ENABLED`, `DISABLED`, `DESTROY_SCHEDULED` with `destroyTime`, `DESTROYED`) as clients meet
//!   it: the key's lifecycle state when the key is not enabled, else the version's own.
//! - `PATCH …/cryptoKeyVersions/N?updateMask=state` with a CryptoKeyVersion body whose `state`
//!   is `ENABLED` or `DISABLED` (by name, or by protobuf number as the Rust client sends it: 1,
//!   2) — the only states the API lets a caller set.
//! - `POST …/cryptoKeyVersions/N:destroy`: an enabled or disabled version becomes
//!   `DESTROY_SCHEDULED`, destroyed [`VERSION_DESTROY_WINDOW`] (Cloud KMS's default 30 days) later
//!   on the lab clock, when its material leaves memory and the state file.
//! - `POST …/cryptoKeyVersions/N:restore`: a version scheduled for destruction comes back
//!   `DISABLED` (cloud.google.com/kms/docs/destroy-restore).
//!
//! Each answers the CryptoKeyVersion. The owner only: the service gets `403
//! PERMISSION_DENIED`. Encrypting under a primary version that is not enabled, or decrypting a
//! ciphertext of such a version, is `400 FAILED_PRECONDITION` "`…/cryptoKeyVersions/N` is not
//! enabled, current state is: DISABLED." ([`lab_error`]). Bad input answers Google's error
//! shape: a missing or other `updateMask` path, a state other than the two, an unknown enum
//! value — `400 INVALID_ARGUMENT`; an unknown version `404 NOT_FOUND`; a change the version's
//! state forbids (restoring an enabled version, destroying a destroyed one) `400
//! FAILED_PRECONDITION`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{Value, json};

use super::kms::{
    KeyPath, VERSIONS_GET, VERSIONS_LIST, VersionPath, check_name, enter, lab_error,
    method_not_found, read_metadata, resource_name, unknown_call, version_json,
};
use super::{ApiError, Call, Gcp, answer, json_body};
use crate::state::{KeyUse, VERSION_DESTROY_WINDOW};
use ekm_vocab::{CallKind, VersionAction};

/// Changing a version's state.
const VERSIONS_UPDATE: &str = "cloudkms.cryptoKeyVersions.update";
/// Scheduling a version's destruction.
const VERSIONS_DESTROY: &str = "cloudkms.cryptoKeyVersions.destroy";
/// Cancelling it.
const VERSIONS_RESTORE: &str = "cloudkms.cryptoKeyVersions.restore";

/// `GET …/cryptoKeys/{K}/cryptoKeyVersions`.
pub async fn versions(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: OriginalUri,
    path: Result<Path<KeyPath>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((project, location, ring, key))) = path else {
        return unknown_call(&call, &method, &uri);
    };
    if method != Method::GET {
        return unknown_call(&call, &method, &uri);
    }
    let resource = resource_name(&project, &location, &ring, &key);
    call.name("listCryptoKeyVersions", CallKind::Describe);
    let result = read_metadata(
        &gcp,
        &call,
        &headers,
        &resource,
        VERSIONS_LIST,
        |key, ekm, now| {
            let versions = key
                .versions
                .iter()
                .map(|version| version_json(key, version, ekm, now))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "totalSize": versions.len(), "cryptoKeyVersions": versions }))
        },
    )
    .await;
    answer(result)
}

/// What a request on one version asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionCall {
    Get,
    Update,
    Change(VersionAction),
    Crypto,
    Unknown,
}

impl VersionCall {
    fn of(method: &Method, verb: Option<&str>) -> Self {
        match (method, verb) {
            (&Method::GET, None) => Self::Get,
            (&Method::PATCH, None) => Self::Update,
            (&Method::POST, Some("destroy")) => Self::Change(VersionAction::Destroy),
            (&Method::POST, Some("restore")) => Self::Change(VersionAction::Restore),
            (&Method::POST, Some("encrypt" | "decrypt")) => Self::Crypto,
            _ => Self::Unknown,
        }
    }

    /// The call log's name and kind.
    fn logged(self, verb: Option<&str>) -> (&'static str, CallKind) {
        match self {
            Self::Get => ("getCryptoKeyVersion", CallKind::Describe),
            Self::Update => ("updateCryptoKeyVersion", CallKind::Manage),
            Self::Change(VersionAction::Restore) => ("restoreCryptoKeyVersion", CallKind::Manage),
            Self::Change(_) => ("destroyCryptoKeyVersion", CallKind::Manage),
            Self::Crypto if verb == Some("encrypt") => ("encrypt", CallKind::Wrap),
            Self::Crypto => ("decrypt", CallKind::Unwrap),
            Self::Unknown => ("unknown", CallKind::Other),
        }
    }
}

/// `…/cryptoKeys/{K}/cryptoKeyVersions/{N}` (`GET`, `PATCH`) and `…/{N}:destroy|restore`.
#[allow(clippy::too_many_arguments)]
pub async fn version(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: OriginalUri,
    path: Result<Path<VersionPath>, PathRejection>,
    headers: HeaderMap,
    query: RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path((project, location, ring, key, version))) = path else {
        return unknown_call(&call, &method, &uri);
    };
    let resource = resource_name(&project, &location, &ring, &key);
    let (id, verb) = match version.split_once(':') {
        Some((id, verb)) => (id, Some(verb)),
        None => (version.as_str(), None),
    };
    let request = VersionCall::of(&method, verb);
    let (operation, kind) = request.logged(verb);
    call.name(operation, kind);
    let target = Target {
        gcp: &gcp,
        call: &call,
        headers: &headers,
        resource: &resource,
        id,
    };
    let result = match request {
        VersionCall::Get => target.get().await,
        VersionCall::Update => target.update(query.0.as_deref(), body).await,
        VersionCall::Change(action) => {
            let permission = match action {
                VersionAction::Restore => VERSIONS_RESTORE,
                _ => VERSIONS_DESTROY,
            };
            target.change(action, permission).await
        }
        VersionCall::Crypto => Err(ApiError::invalid_argument(format!(
            "This lab encrypts and decrypts through the CryptoKey ({resource}), not through one \
             of its versions."
        ))),
        VersionCall::Unknown => Err(method_not_found(&method, &uri)),
    };
    answer(result)
}

/// One version named in a request, and the request around it.
struct Target<'a> {
    gcp: &'a Gcp,
    call: &'a Call,
    headers: &'a HeaderMap,
    resource: &'a str,
    id: &'a str,
}

impl Target<'_> {
    fn name(&self) -> String {
        format!("{}/cryptoKeyVersions/{}", self.resource, self.id)
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(format!("CryptoKeyVersion {} not found.", self.name()))
    }

    /// The version as `GET` answers it, after the owner-only check of `permission`.
    async fn view(&self, permission: &str) -> Result<Value, ApiError> {
        read_metadata(
            self.gcp,
            self.call,
            self.headers,
            self.resource,
            permission,
            |key, ekm, now| {
                let found = key.version(self.id).ok_or_else(|| self.not_found())?;
                version_json(key, found, ekm, now)
            },
        )
        .await
    }

    async fn get(&self) -> Result<Value, ApiError> {
        self.view(VERSIONS_GET).await
    }

    /// `PATCH`: the body and mask first, then the change.
    async fn update(
        &self,
        query: Option<&str>,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Value, ApiError> {
        let body: Value = json_body(self.headers, body)?;
        check_update_mask(query)?;
        check_name(body.get("name").and_then(Value::as_str), &self.name())?;
        let action = requested_state(body.get("state"))?;
        self.change(action, VERSIONS_UPDATE).await
    }

    /// Applies `action` as the owner (the service is refused `permission`) and answers the
    /// version.
    async fn change(&self, action: VersionAction, permission: &str) -> Result<Value, ApiError> {
        let principal = self.gcp.admit(self.call, self.headers)?;
        let name = enter(self.gcp, self.call, self.resource).await?;
        let lab = &self.gcp.lab;
        lab.read(|state| {
            state
                .authorize(&name, principal.caller, KeyUse::Manage, permission)
                .map(|_| ())
        })
        .and_then(|()| lab.apply_version(&name, self.id, action))
        .map_err(|e| lab_error(e, self.resource, permission))?;
        let now = lab.now();
        lab.read(|state| {
            let key = state
                .key(&name)
                .map_err(|e| lab_error(e, self.resource, permission))?;
            let found = key.version(self.id).ok_or_else(|| self.not_found())?;
            version_json(key, found, state.xks.stores.ekm_keys.get(&name), now)
        })
    }
}

/// `updateMask` must name `state`, the one field this lab updates (comma-separated paths, as
/// protobuf's JSON mapping writes a FieldMask).
fn check_update_mask(query: Option<&str>) -> Result<(), ApiError> {
    let paths: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "updateMask" || name == "update_mask")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(|path| path.trim().to_owned())
                .filter(|path| !path.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    if paths.is_empty() {
        return Err(ApiError::invalid_argument(
            "The update_mask is required: name the fields to update (`updateMask=state`).",
        ));
    }
    match paths.iter().find(|path| path.as_str() != "state") {
        Some(other) => Err(ApiError::invalid_argument(format!(
            "The update_mask path '{other}' cannot be updated here: a CryptoKeyVersion's \
             `state` is the field this lab updates."
        ))),
        None => Ok(()),
    }
}

/// The state a `PATCH` body asks for: `ENABLED` or `DISABLED`, by name or protobuf number.
fn requested_state(state: Option<&Value>) -> Result<VersionAction, ApiError> {
    let word = match state {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_argument(
                "The CryptoKeyVersion's `state` is required with updateMask=state.",
            ));
        }
        Some(Value::String(name)) => name.clone(),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(1) => "ENABLED".to_owned(),
            Some(2) => "DISABLED".to_owned(),
            Some(3) => "DESTROYED".to_owned(),
            Some(4) => "DESTROY_SCHEDULED".to_owned(),
            _ => number.to_string(),
        },
        Some(other) => other.to_string(),
    };
    match word.as_str() {
        "ENABLED" => Ok(VersionAction::Enable),
        "DISABLED" => Ok(VersionAction::Disable),
        "DESTROYED" | "DESTROY_SCHEDULED" => Err(ApiError::invalid_argument(format!(
            "The state of a CryptoKeyVersion can be updated to ENABLED or DISABLED only, not \
             {word}: use destroy and restore (scheduled destruction: {} days).",
            VERSION_DESTROY_WINDOW.as_secs() / 86_400
        ))),
        _ => Err(ApiError::invalid_argument(format!(
            "Invalid value at 'crypto_key_version.state' \
             (type.googleapis.com/google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState), \
             {word}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_mask_must_name_state_alone() {
        assert!(check_update_mask(Some("updateMask=state")).is_ok());
        assert!(
            check_update_mask(Some("$alt=json%3Benum-encoding%3Dint&updateMask=state")).is_ok()
        );
        for bad in [
            None,
            Some(""),
            Some("updateMask="),
            Some("updateMask=state,algorithm"),
        ] {
            let error = check_update_mask(bad).unwrap_err();
            assert_eq!(error.status(), "INVALID_ARGUMENT", "{bad:?}");
        }
    }

    #[test]
    fn only_enabled_and_disabled_can_be_asked_for() {
        for (value, expected) in [
            (json!("ENABLED"), Some(VersionAction::Enable)),
            (json!(1), Some(VersionAction::Enable)),
            (json!("DISABLED"), Some(VersionAction::Disable)),
            (json!(2), Some(VersionAction::Disable)),
            (json!("DESTROYED"), None),
            (json!(4), None),
            (json!("PAUSED"), None),
            (json!(99), None),
            (json!(true), None),
            (Value::Null, None),
        ] {
            let result = requested_state(Some(&value));
            assert_eq!(result.as_ref().ok().copied(), expected, "{value}");
            if let Err(error) = result {
                assert_eq!(error.status(), "INVALID_ARGUMENT", "{value}");
            }
        }
        assert!(requested_state(None).is_err());
    }
}
