//! Cloud EKM, modelled: crypto keys with the `EXTERNAL` (or `EXTERNAL_VPC`) protection level
//! whose versions name an external key (`externalProtectionLevelOptions.externalKeyUri`, or
//! `ekmConnectionKeyPath` for `EXTERNAL_VPC`) in the lab's external key manager. `:encrypt` and
//! `:decrypt` of such a key make the hop to the external key manager, with its latency and
//! faults, and answer Google's error shapes when the manager refuses or cannot be reached.
//!
//! # What is documented and what is approximated
//! Documented (cloud.google.com/kms/docs/ekm, /kms/docs/reference/ekm_errors, the
//! `ExternalProtectionLevelOptions` reference, /kms/docs/ekm-architectures):
//! - the protection levels `EXTERNAL` and `EXTERNAL_VPC`, `externalKeyUri` and
//!   `ekmConnectionKeyPath` on the version;
//! - every cryptographic operation on such a key is an operation on the external key, and the
//!   external key is never cached in Google Cloud (so every call makes the hop);
//! - EKM errors are a `google.rpc.Status` whose `FAILED_PRECONDITION` carries a
//!   `google.rpc.PreconditionFailure` with two violations: `[0]` the Cloud EKM key's state,
//!   `[1]` the attempt to reach the external key manager, its `type` the *error domain*;
//! - the domains `EXTERNAL_PERMISSION_DENIED` ("Permission was denied when accessing the
//!   key.") and `EXTERNAL_NOT_FOUND` ("Could not find a key.");
//! - an unavailable EKM makes requests fail the way an unusable key does.
//!
//! Approximated (the lab's choices, not Google's published behaviour):
//! - the EKM protocol: Google's partner API (EKM UDE) is not public, so Cloud KMS talks to the
//!   lab's EKM with the XKS Proxy API, signed with the proxy's current SigV4 credential (real
//!   Cloud EKM presents Google-issued tokens); the timeout is the XKS hop's (250 ms default);
//! - double encryption (Cloud KMS seals with its own version material, the EKM seals that), as
//!   in the AWS external key store;
//! - the domain names `EXTERNAL_KEY_DISABLED`, `EXTERNAL_INVALID_RESPONSE`, the violation[0]
//!   type `CLOUD_EKM_KEY_STATE`, and every message text but the two quoted above;
//! - an EKM that does not answer in time: `504 DEADLINE_EXCEEDED`; one that cannot be reached,
//!   or whose HSMs are down or throttling: `503 UNAVAILABLE` (Google's transient statuses);
//! - `EXTERNAL_PERMISSION_DENIED` does not disable the key version here (Google's does, when the
//!   denied element is the key).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{ApiError, Gcp};
use crate::keys::BlobHeader;
use crate::xks::api::{ErrorName, RequestMetadata};
use crate::xks::hop::{HopFailure, ProxyTarget};
use crate::xks::layer::{self, Outer, Route};
use crate::xks::stores::{EkmKey, EkmProtection, split_key_uri};
use ekm_vocab::Cloud;

/// The lab's EKM connection (`EXTERNAL_VPC` keys), under the key's project and location.
pub const EKM_CONNECTION: &str = "ekm-lab";

/// The protection level `protectionLevel` answers name.
pub(super) fn protection_level(ekm: Option<&EkmKey>) -> &'static str {
    ekm.map_or("SOFTWARE", |ekm| ekm.protection.as_str())
}

/// Adds the EKM fields to a version's JSON.
pub(super) fn version_fields(ekm: &EkmKey, json: &mut Value) {
    json["protectionLevel"] = json!(ekm.protection.as_str());
    json["externalProtectionLevelOptions"] = match ekm.protection {
        EkmProtection::External => json!({"externalKeyUri": ekm.uri}),
        EkmProtection::ExternalVpc => json!({"ekmConnectionKeyPath": key_path(&ekm.uri)}),
    };
}

/// Adds the EKM fields to a crypto key's JSON.
pub(super) fn crypto_key_fields(ekm: &EkmKey, resource: &str, json: &mut Value) {
    json["versionTemplate"]["protectionLevel"] = json!(ekm.protection.as_str());
    if ekm.protection == EkmProtection::ExternalVpc
        && let Some((location, _)) = resource.split_once("/keyRings/")
    {
        json["cryptoKeyBackend"] = json!(format!("{location}/ekmConnections/{EKM_CONNECTION}"));
    }
}

/// The key's path on its EKM (the URI's path without the leading `/`).
fn key_path(uri: &str) -> &str {
    uri.strip_prefix("https://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i + 1..]))
        .unwrap_or(uri)
}

/// Whose call makes the hop: key `name` (`resource`), called by `caller`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Who<'a> {
    /// The key's lab name.
    pub name: &'a str,
    /// Its Cloud KMS resource name.
    pub resource: &'a str,
    /// The calling principal.
    pub caller: &'a str,
}

/// The hop of one call on an EKM key.
struct Hop<'a> {
    gcp: &'a Gcp,
    ekm: &'a EkmKey,
    who: Who<'a>,
}

impl Hop<'_> {
    fn metadata(&self, operation: &str) -> RequestMetadata {
        RequestMetadata {
            aws_principal_arn: Some(self.who.caller.to_owned()),
            kms_key_arn: Some(self.who.resource.to_owned()),
            kms_operation: Some(operation.to_owned()),
            kms_request_id: Some(uuid::Uuid::new_v4().to_string()),
            ..RequestMetadata::default()
        }
    }

    /// Runs `f` with the route to the EKM (the proxy's current credential signs it).
    async fn with_route<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: AsyncFnOnce(&Route<'_>, &str) -> Result<T, HopFailure>,
    {
        let Some((endpoint, path, key)) = split_key_uri(&self.ekm.uri) else {
            return Err(self.error(HopFailure::Connect));
        };
        let credential = self.gcp.lab.xks().endpoint().credentials.swap_remove(0);
        let route = Route {
            target: ProxyTarget {
                uri_endpoint: endpoint,
                uri_path: path,
                access_key_id: &credential.access_key_id,
                secret_access_key: &credential.secret_access_key,
                region: &self.gcp.lab.tenant().gcp.location,
            },
            provider: Cloud::Gcp,
            key: Some(self.who.name),
            caller: EKM_CONNECTION,
        };
        f(&route, key).await.map_err(|failure| self.error(failure))
    }

    /// Google's answer for a failed hop.
    fn error(&self, failure: HopFailure) -> ApiError {
        use ErrorName as E;
        let uri = &self.ekm.uri;
        let (domain, message) = match failure {
            HopFailure::Timeout | HopFailure::Proxy(E::DependencyTimeoutException) => {
                return ApiError::deadline_exceeded(format!(
                    "The request to the external key manager for {uri} did not complete in time. \
                     Retry; if it persists, check the external key manager's availability."
                ));
            }
            HopFailure::Connect
            | HopFailure::Tls
            | HopFailure::Proxy(E::InternalException | E::ThrottlingException) => {
                return ApiError::unavailable(format!(
                    "The external key manager for {uri} is unavailable ({}). Retry; if it \
                     persists, contact your external key management partner.",
                    failure.outcome()
                ));
            }
            HopFailure::Proxy(E::KeyNotFoundException) => {
                ("EXTERNAL_NOT_FOUND", "Could not find a key.")
            }
            HopFailure::Proxy(
                E::AccessDeniedException
                | E::AuthenticationFailedException
                | E::InvalidKeyUsageException,
            ) => (
                "EXTERNAL_PERMISSION_DENIED",
                "Permission was denied when accessing the key.",
            ),
            HopFailure::Proxy(E::InvalidStateException) => (
                "EXTERNAL_KEY_DISABLED",
                "The key is disabled in the external key manager.",
            ),
            HopFailure::Proxy(E::InvalidCiphertextException) | HopFailure::InvalidCiphertext => {
                return ApiError::invalid_argument("Decryption failed: the ciphertext is invalid.");
            }
            HopFailure::Proxy(
                E::ValidationException
                | E::InvalidUriPathException
                | E::UnsupportedOperationException,
            )
            | HopFailure::Malformed => (
                "EXTERNAL_INVALID_RESPONSE",
                "The external key manager returned an invalid response.",
            ),
        };
        ApiError::failed_precondition(format!("{message} External key: {uri}.")).with_details(
            json!([{
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [
                    {
                        "type": "CLOUD_EKM_KEY_STATE",
                        "subject": self.who.resource,
                        "description": "The Cloud EKM key version is ENABLED.",
                    },
                    {"type": domain, "subject": uri, "description": message},
                ],
            }]),
        )
    }
}

/// The AAD sent through the hop: SHA-256 of the ciphertext header and the caller's AAD.
fn hop_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    Sha256::digest([header, aad].concat()).to_vec()
}

/// Wraps the body of `inner` (a sealed blob of key `name`) under its external key.
pub(super) async fn seal(
    gcp: &Gcp,
    ekm: &EkmKey,
    who: Who<'_>,
    inner: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let hop = Hop { gcp, ekm, who };
    let internal = |_| ApiError::internal("Internal error encountered.");
    let (_, header_len) = BlobHeader::parse(inner).map_err(internal)?;
    let (header, body) = inner.split_at(header_len);
    let aad = hop_aad(header, aad);
    let outer = hop
        .with_route(async |route, key| {
            let metadata = hop.metadata("encrypt");
            layer::seal(&gcp.lab, route, key, metadata, &aad, body).await
        })
        .await?;
    Ok([header, &outer].concat())
}

/// Unwraps `ciphertext` of EKM key `name` into the blob Cloud KMS's own material opens.
pub(super) async fn open(
    gcp: &Gcp,
    ekm: &EkmKey,
    who: Who<'_>,
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let hop = Hop { gcp, ekm, who };
    let invalid = || ApiError::invalid_argument("Decryption failed: the ciphertext is invalid.");
    let (_, header_len) = BlobHeader::parse(ciphertext).map_err(|_| invalid())?;
    let (header, rest) = ciphertext.split_at(header_len);
    let outer = Outer::parse(rest).ok_or_else(invalid)?;
    let aad = hop_aad(header, aad);
    let body = hop
        .with_route(async |route, key| {
            let metadata = hop.metadata("decrypt");
            layer::open(&gcp.lab, route, key, metadata, &aad, &outer).await
        })
        .await?;
    Ok(Zeroizing::new([header, body.as_slice()].concat()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_keys_name_their_path_on_the_connection() {
        let ekm = EkmKey {
            protection: EkmProtection::ExternalVpc,
            uri: "https://localhost:4600/ekm-lab/kms/xks/v1/keys/xk-1".into(),
        };
        let mut version = json!({"protectionLevel": "SOFTWARE"});
        version_fields(&ekm, &mut version);
        assert_eq!(
            version["externalProtectionLevelOptions"]["ekmConnectionKeyPath"],
            "ekm-lab/kms/xks/v1/keys/xk-1"
        );
        let mut key = json!({"versionTemplate": {}});
        crypto_key_fields(
            &ekm,
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            &mut key,
        );
        assert_eq!(
            key["cryptoKeyBackend"],
            "projects/p/locations/l/ekmConnections/ekm-lab"
        );
        assert_eq!(protection_level(Some(&ekm)), "EXTERNAL_VPC");
        assert_eq!(protection_level(None), "SOFTWARE");
    }
}
