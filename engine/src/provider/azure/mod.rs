//! Azure Key Vault through the real `azure_security_keyvault_keys` and `azure_identity` crates,
//! as an EKM operator calls it: the operator's app registration signs in to the *customer's*
//! Entra tenant (`ClientSecretCredential`; it works only while the customer keeps a service
//! principal for that app), then Key Vault `encrypt` / `decrypt` with RSA-OAEP-256 run against
//! the registered key.
//!
//! # Key versions
//!
//! A wrap encrypts under the key's current version and records the full versioned key id the
//! vault answered (`https://VAULT/keys/NAME/VERSION`) as [`WrappedDek::key_version`]; an unwrap
//! decrypts with exactly that version. Data wrapped before a master-key rotation therefore still
//! opens after it, and new wraps name the new version. A key-version hint that does not name a
//! version of the registered key is refused as `InvalidCiphertext` without a call.
//!
//! # The wrap context is bound inside the eDEK
//!
//! RSA-OAEP has no additional authenticated data, so unlike AWS (`EncryptionContext`) and GCP
//! (`additionalAuthenticatedData`) Key Vault cannot bind the wrap context to the eDEK. The
//! provider binds it inside the wrapped plaintext instead ([`bound_dek`]: DEK ‖ digest of the
//! context, checked on unwrap), so one Azure key registered for two projects does not let one
//! project unwrap the other's eDEKs. eDEKs made before the binding existed are refused (see
//! [`bound_dek`]).

//! # Connecting
//!
//! [`AzureKek::connect`] reads the key once (`get_key`; the service principal holds the `get`
//! permission besides encrypt/decrypt) and refuses a key that is not RSA with the seed's advice
//! ("In Azure, for Key type select RSA, not EC"). If that read fails:
//! - revocation-class and authentication errors fail the connect, so `ekm check` and the start
//!   of an engine show a refused trust, a missing role assignment or a missing key at once;
//! - transient errors (outage, throttling, transport) do not: the provider connects unchecked so
//!   a KMS outage never stops an engine from starting, and an EC key then fails its first wrap
//!   with the same advice (Key Vault answers 403 `KeyOperationForbidden`).
//!
//! # Sessions and retries
//!
//! SDK retries are off (the engine's own bounded retry policy applies; the SDK's would sleep on
//! real time while the lab's throttle windows run on lab time). The credential caches its token
//! on real time, and a revoked trust leaves it serving a dead token (401). After any
//! authentication failure the credential and client are rebuilt and the call is made once more,
//! so a restored trust works at once and a revoked one fails at once (DESIGN.md §4).
//!
//! # Endpoints and TLS
//!
//! Without `authority_host` the public cloud's Entra (`https://login.microsoftonline.com`) is
//! used and the Key Vault challenge's resource is verified as the SDK does by default. With it
//! (a mock), the challenge's resource is not checked against `vault.azure.net`. `ca_file` is
//! trusted in addition to the system roots (rustls platform verifier with extra roots).
//!
//! # DEK bytes
//!
//! The provider's own copies of a DEK (the request parameters and the decrypt result) are wiped
//! on drop. The SDK's serialized request body and the HTTP stack's buffers are outside its reach.
//!
//! # Error mapping
//!
//! Checked against the Key Vault REST API's error statuses (400 `BadParameter`, 401, 403
//! `Forbidden` with its inner codes, 404 `KeyNotFound`, 409 `Conflict`, 429 `Throttled`, 5xx) and
//! Entra's token errors. Transient errors are retried by the engine; permanent ones fail at once;
//! revocations also drop the cached DEK.
//!
//! | Key Vault / Entra answer | [`KmsError`] | class |
//! |---|---|---|
//! | 403 `Forbidden`, innererror `KeyDisabled` | `KeyDisabled` | revocation |
//! | 403 `Forbidden`, innererror `ForbiddenByRbac` (role assignment removed), other 403 | `AccessDenied` | revocation |
//! | 403 innererror `KeyOperationForbidden` (an EC key asked to encrypt) | `AccessDenied`, with the "select RSA, not EC" advice | revocation |
//! | 404 `KeyNotFound` (also a key pending deletion or destroyed: Key Vault hides soft-deleted keys, so destroyed is indistinguishable from missing) | `KeyNotFound` | revocation |
//! | 400 `BadParameter` (corrupt eDEK, another key's eDEK); an eDEK whose bound wrap context differs or that has none ([`bound_dek`]) | `InvalidCiphertext` | permanent |
//! | any other 400, 405, 409, 413 and other 4xx | `Rejected` | permanent |
//! | 408 (request timeout), 5xx | `Unavailable` | transient |
//! | 429 (`Retry-After` seconds carried as `retry_after`) | `Throttled` | transient |
//! | 401 (token revoked or rejected) | `Authentication` | permanent (one new session is tried first) |
//! | credential errors: Entra `invalid_client` (AADSTS7000215, wrong secret), `invalid_client` AADSTS7000229 / `unauthorized_client` AADSTS700016 (no service principal: trust revoked), other 4xx | `Authentication` | permanent (one new session is tried first) |
//! | credential errors caused by Entra 5xx / 429 / an unreachable Entra | `Unavailable` / `Throttled` / `Transport` | transient |
//! | connection and I/O failures, unreadable or incomplete replies, other statuses | `Transport` | transient |

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::error::{ErrorKind, ErrorResponse};
use azure_core::http::{ClientOptions, RawResponse, RequestContent, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, KeyOperationParameters, KeyOperationResult, KeyType,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceId};
use zeroize::{Zeroize, Zeroizing};

use crate::clock::SharedClock;
use crate::config::{AzureRegistration, AzureServiceCredentials};
use crate::dek::Dek;
use crate::envelope::EncryptionContext;
use crate::provider::session::{SessionClock, with_session};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsFuture, WrappedDek};

pub mod bound_dek;

/// The provider kind stamped into envelopes.
pub const PROVIDER: &str = "azure";

/// The seed's advice for a key of the wrong type.
pub const SELECT_RSA: &str = "In Azure, for Key type select RSA, not EC";

/// Why [`AzureKek::connect`] refused a registration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The vault refused or could not be asked (see the module's connect policy).
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// The registered key is not an RSA key.
    #[error("azure key {key} is of type {kty}, which cannot wrap DEKs: {SELECT_RSA}")]
    NotRsa {
        /// The key id.
        key: String,
        /// The key type the vault reported (`EC`, `oct`, …).
        kty: String,
    },
    /// The registration cannot be turned into a client (unreadable CA file, bad URL).
    #[error("azure: {0}")]
    Setup(String),
}

/// One customer key in Azure Key Vault, reached through the operator's app registration in the
/// customer's tenant.
pub struct AzureKek {
    reference: KeyReference,
    key_name: String,
    session: SessionSettings,
    client: RwLock<Arc<KeyClient>>,
    signed_in: SessionClock,
}

impl fmt::Debug for AzureKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKek")
            .field("reference", &self.reference)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// What it takes to (re-)open a session in the customer's tenant.
#[derive(Debug, Clone)]
struct SessionSettings {
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    vault_uri: String,
    options: ClientOptions,
    verify_challenge_resource: bool,
}

impl SessionSettings {
    /// A new credential (no cached token) and a key client using it.
    fn client(&self) -> azure_core::Result<Arc<KeyClient>> {
        let credential = ClientSecretCredential::new(
            &self.tenant_id,
            self.client_id.clone(),
            self.client_secret.clone(),
            Some(ClientSecretCredentialOptions {
                client_options: self.options.clone(),
            }),
        )?;
        let client = KeyClient::new(
            &self.vault_uri,
            credential,
            Some(KeyClientOptions {
                client_options: self.options.clone(),
                verify_challenge_resource: Some(self.verify_challenge_resource),
                ..Default::default()
            }),
        )?;
        Ok(Arc::new(client))
    }
}

impl AzureKek {
    /// Connects to the registered key and checks that it is an RSA key (see the module doc for
    /// what happens when the vault cannot be read).
    pub async fn connect(
        registration: &AzureRegistration,
        service: &AzureServiceCredentials,
        clock: SharedClock,
    ) -> Result<Self, ConnectError> {
        let vault = registration.vault_uri.trim_end_matches('/');
        let key_id = format!("{vault}/keys/{}", registration.key_name);
        let session = SessionSettings {
            tenant_id: registration.tenant_id.clone(),
            client_id: service.client_id.clone(),
            client_secret: Secret::from(service.client_secret.clone()),
            vault_uri: format!("{vault}/"),
            options: client_options(registration)?,
            verify_challenge_resource: registration.authority_host.is_none(),
        };
        let client = session
            .client()
            .map_err(|e| ConnectError::Setup(format!("key {key_id}: {e}")))?;
        let kek = Self {
            reference: KeyReference::new(PROVIDER, key_id),
            key_name: registration.key_name.clone(),
            session,
            client: RwLock::new(client),
            signed_in: SessionClock::new(clock, registration.session_lifetime()),
        };
        kek.check_key_type().await?;
        Ok(kek)
    }

    /// Reads the key and refuses anything but RSA; transient failures are let through.
    async fn check_key_type(&self) -> Result<(), ConnectError> {
        let read = with_session(
            &self.signed_in,
            || async {
                let client = self.client();
                let response = client
                    .get_key(&self.key_name, None)
                    .await
                    .map_err(|e| self.map_error(&e))?;
                response.into_model().map_err(|e| self.map_error(&e))
            },
            || async { self.renew_session() },
        )
        .await;
        let key = match read {
            Ok(key) => key,
            Err(error) if error.is_transient() => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        match key.key.and_then(|jwk| jwk.kty) {
            Some(KeyType::Rsa | KeyType::RsaHsm) => Ok(()),
            Some(kty) => Err(ConnectError::NotRsa {
                key: self.reference.key().to_owned(),
                kty: kty.to_string(),
            }),
            None => Err(self.malformed("the key has no key type").into()),
        }
    }

    fn client(&self) -> Arc<KeyClient> {
        self.client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the credential (and its cached token) and the client.
    fn renew_session(&self) -> Result<(), KmsError> {
        let client = self.session.client().map_err(|e| self.map_error(&e))?;
        *self.client.write().unwrap_or_else(PoisonError::into_inner) = client;
        Ok(())
    }

    async fn encrypt_once(
        &self,
        dek: &Dek,
        context: &EncryptionContext,
    ) -> Result<WrappedDek, KmsError> {
        let bound = bound_dek::bind(dek, context)?;
        let parameters = parameters(bound.to_vec()).map_err(|e| self.map_error(&e))?;
        let client = self.client();
        let reply = client
            .encrypt(&self.key_name, parameters, None)
            .await
            .and_then(|response| response.into_model())
            .map_err(|e| self.map_error(&e))?;
        let KeyOperationResult { kid, result, .. } = reply;
        let kid = kid.ok_or_else(|| self.malformed("encrypt reply has no kid"))?;
        self.version_of(&kid)
            .map_err(|_| self.malformed(&format!("encrypt reply names another key: {kid}")))?;
        let edek = result.ok_or_else(|| self.malformed("encrypt reply has no value"))?;
        Ok(WrappedDek {
            edek,
            key_version: kid,
        })
    }

    async fn decrypt_once(
        &self,
        edek: &[u8],
        version: &str,
        context: &EncryptionContext,
    ) -> Result<Dek, KmsError> {
        let parameters = parameters(edek.to_vec()).map_err(|e| self.map_error(&e))?;
        let client = self.client();
        let reply = client
            .decrypt(&self.key_name, version, parameters, None)
            .await
            .and_then(|response| response.into_model())
            .map_err(|e| self.map_error(&e))?;
        let plaintext = Zeroizing::new(
            reply
                .result
                .ok_or_else(|| self.malformed("decrypt reply has no value"))?,
        );
        bound_dek::open(
            &plaintext,
            context,
            &format!("azure key {}", self.reference.key()),
        )
    }

    /// The version segment of `kid` if it is a versioned id of the registered key.
    fn version_of(&self, kid: &str) -> Result<String, KmsError> {
        kid.parse::<ResourceId>()
            .ok()
            .filter(|id| id.name == self.key_name)
            .and_then(|id| id.version)
            .filter(|version| !version.is_empty())
            .ok_or_else(|| KmsError::InvalidCiphertext {
                message: format!(
                    "azure key {}: the envelope's key version `{kid}` is not a version of this key",
                    self.reference.key()
                ),
            })
    }

    fn malformed(&self, what: &str) -> KmsError {
        KmsError::Transport {
            message: format!("azure key {}: {what}", self.reference.key()),
        }
    }

    fn map_error(&self, error: &azure_core::Error) -> KmsError {
        classify(error, &format!("azure key {}", self.reference.key()))
    }
}

/// The SDK pipeline options: our own HTTPS transport, no SDK retries, the configured cloud.
fn client_options(registration: &AzureRegistration) -> Result<ClientOptions, ConnectError> {
    let mut http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10));
    if let Some(path) = &registration.ca_file {
        http = http.tls_certs_merge([read_ca(path)?]);
    }
    let http = http
        .build()
        .map_err(|e| ConnectError::Setup(format!("cannot build the HTTPS client: {e}")))?;
    let cloud = match &registration.authority_host {
        Some(host) => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host.trim_end_matches('/').to_owned();
            CloudConfiguration::from(custom)
        }
        None => CloudConfiguration::AzurePublic,
    };
    let mut options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        cloud: Some(Arc::new(cloud)),
        ..Default::default()
    };
    options.retry = RetryOptions::none();
    Ok(options)
}

fn read_ca(path: &Path) -> Result<reqwest::Certificate, ConnectError> {
    let pem = std::fs::read(path).map_err(|e| {
        ConnectError::Setup(format!("cannot read azure.ca_file {}: {e}", path.display()))
    })?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| {
        ConnectError::Setup(format!(
            "azure.ca_file {} is not a PEM certificate: {e}",
            path.display()
        ))
    })
}

/// RSA-OAEP-256 parameters for `value`; the caller's copy is wiped once serialized.
fn parameters(value: Vec<u8>) -> azure_core::Result<RequestContent<KeyOperationParameters>> {
    let mut parameters = KeyOperationParameters {
        algorithm: Some(EncryptionAlgorithm::RsaOaep256),
        value: Some(value),
        ..Default::default()
    };
    let body = azure_core::json::to_json(&parameters);
    if let Some(value) = parameters.value.as_mut() {
        value.zeroize();
    }
    let body: azure_core::Bytes = body?;
    Ok(body.into())
}

/// Maps an SDK error to the engine's error class; `subject` names provider and key.
fn classify(error: &azure_core::Error, subject: &str) -> KmsError {
    let message = format!("{subject}: {}", full_text(error));
    match error.kind() {
        ErrorKind::HttpResponse {
            status,
            raw_response,
            ..
        } => classify_response(u16::from(*status), raw_response.as_deref(), message),
        ErrorKind::Credential => classify_credential(error, message),
        // Connection and I/O failures, unreadable replies (DataConversion), anything else.
        _ => KmsError::Transport { message },
    }
}

/// A Key Vault answer by status and (inner) error code.
fn classify_response(status: u16, raw: Option<&RawResponse>, message: String) -> KmsError {
    let detail = raw
        .and_then(|raw| azure_core::json::from_json::<_, ErrorResponse>(raw.body()).ok())
        .and_then(|body| body.error);
    let code = detail.as_ref().and_then(|d| d.code.as_deref());
    let inner = detail
        .as_ref()
        .and_then(|d| d.inner_error.as_ref())
        .and_then(|i| i.code.as_deref());
    // The service's own code and first line of message, not the whole HTTP body.
    let said = detail.as_ref().and_then(|d| d.message.as_deref());
    let message = match (code, said) {
        (Some(code), Some(said)) => {
            let subject = message.split(": ").next().unwrap_or_default();
            let line = said.lines().next().unwrap_or_default().trim();
            match inner {
                Some(inner) => format!("{subject}: {status} {code} ({inner}): {line}"),
                None => format!("{subject}: {status} {code}: {line}"),
            }
        }
        _ => message,
    };
    match (status, code, inner) {
        (401, _, _) => KmsError::Authentication { message },
        (403, _, Some("KeyDisabled")) => KmsError::KeyDisabled { message },
        (403, _, Some("KeyOperationForbidden")) => KmsError::AccessDenied {
            message: format!("{message} ({SELECT_RSA})"),
        },
        (403, _, _) => KmsError::AccessDenied { message },
        (404, _, _) => KmsError::KeyNotFound { message },
        (400, Some("BadParameter"), _) => KmsError::InvalidCiphertext { message },
        (429, _, _) => KmsError::Throttled {
            message,
            retry_after: raw.and_then(retry_after),
        },
        (408 | 500.., _, _) => KmsError::Unavailable { message },
        (400..=499, _, _) => KmsError::Rejected { message },
        _ => KmsError::Transport { message },
    }
}

/// A credential failure: Entra refused the app (authentication), or Entra itself could not be
/// reached or answered 429/5xx (transient).
fn classify_credential(error: &azure_core::Error, message: String) -> KmsError {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(inner) = cause.downcast_ref::<azure_core::Error>() {
            match inner.kind() {
                ErrorKind::HttpResponse { status, .. } => {
                    return match u16::from(*status) {
                        429 => KmsError::Throttled {
                            message,
                            retry_after: None,
                        },
                        500.. => KmsError::Unavailable { message },
                        _ => KmsError::Authentication { message },
                    };
                }
                ErrorKind::Connection | ErrorKind::Io => return KmsError::Transport { message },
                _ => {}
            }
        }
        source = cause.source();
    }
    KmsError::Authentication { message }
}

/// `Retry-After` in delta-seconds (what Key Vault sends; an HTTP-date is ignored).
fn retry_after(raw: &RawResponse) -> Option<Duration> {
    raw.headers()
        .get_optional_str(&"retry-after".into())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// An error's message with its sources (credential errors carry the AADSTS code only there).
fn full_text(error: &azure_core::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl KeyEncryptionKey for AzureKek {
    fn key_reference(&self) -> &KeyReference {
        &self.reference
    }

    /// RSA-OAEP-256 encrypt, under the key's current version, of `dek` bound to `context`
    /// (Key Vault has no AAD for RSA: [`bound_dek`]).
    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek> {
        Box::pin(async move {
            with_session(
                &self.signed_in,
                || self.encrypt_once(dek, context),
                || async { self.renew_session() },
            )
            .await
        })
    }

    /// RSA-OAEP-256 decrypt with the version `key_version` (the versioned key id the wrap
    /// returned) names.
    fn unwrap<'a>(
        &'a self,
        edek: &'a [u8],
        key_version: &'a str,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, Dek> {
        Box::pin(async move {
            let version = self.version_of(key_version)?;
            with_session(
                &self.signed_in,
                || self.decrypt_once(edek, &version, context),
                || async { self.renew_session() },
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use azure_core::http::StatusCode;
    use azure_core::http::headers::Headers;

    use super::*;

    fn http_error(status: u16, body: &str, headers: &[(&'static str, &str)]) -> azure_core::Error {
        let mut map = Headers::new();
        for (name, value) in headers {
            map.insert(*name, value.to_string());
        }
        let status = StatusCode::from(status);
        let raw = RawResponse::from_bytes(status, map, body.as_bytes().to_vec());
        azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: None,
                raw_response: Some(Box::new(raw)),
            },
            "the service answered an error",
        )
    }

    fn kv(status: u16, code: &str, inner: Option<&str>) -> azure_core::Error {
        let inner = inner
            .map(|i| format!(r#","innererror":{{"code":"{i}"}}"#))
            .unwrap_or_default();
        let body = format!(r#"{{"error":{{"code":"{code}","message":"m"{inner}}}}}"#);
        http_error(status, &body, &[])
    }

    /// As azure_identity reports a token endpoint failure: a Credential error over the HTTP one.
    fn credential(inner: azure_core::Error) -> azure_core::Error {
        azure_core::Error::with_error(
            ErrorKind::Credential,
            inner,
            "ClientSecretCredential authentication failed.",
        )
    }

    fn class(error: &azure_core::Error) -> KmsError {
        classify(error, "azure key k")
    }

    #[test]
    fn key_vault_answers_map_to_their_class() {
        assert!(matches!(
            class(&kv(403, "Forbidden", Some("KeyDisabled"))),
            KmsError::KeyDisabled { .. }
        ));
        assert!(matches!(
            class(&kv(403, "Forbidden", Some("ForbiddenByRbac"))),
            KmsError::AccessDenied { .. }
        ));
        assert!(matches!(
            class(&kv(403, "Forbidden", None)),
            KmsError::AccessDenied { .. }
        ));
        let ec = class(&kv(403, "Forbidden", Some("KeyOperationForbidden")));
        assert!(
            matches!(&ec, KmsError::AccessDenied { message } if message.contains(SELECT_RSA)),
            "{ec}"
        );
        assert!(matches!(
            class(&kv(404, "KeyNotFound", None)),
            KmsError::KeyNotFound { .. }
        ));
        assert!(matches!(
            class(&kv(400, "BadParameter", None)),
            KmsError::InvalidCiphertext { .. }
        ));
        assert!(matches!(
            class(&kv(401, "Unauthorized", None)),
            KmsError::Authentication { .. }
        ));
        assert!(matches!(
            class(&kv(503, "ServiceUnavailable", None)),
            KmsError::Unavailable { .. }
        ));
        assert!(matches!(
            class(&kv(500, "InternalServerError", None)),
            KmsError::Unavailable { .. }
        ));
        for (status, code) in [(400, "Whatever"), (400, "BadRequest"), (409, "Conflict")] {
            let error = class(&kv(status, code, None));
            assert!(
                matches!(error, KmsError::Rejected { .. }) && !error.is_transient(),
                "{status} {code}: {error:?}"
            );
        }
        assert!(class(&kv(408, "RequestTimeout", None)).is_transient());
        assert!(matches!(
            class(&http_error(502, "<html>bad gateway</html>", &[])),
            KmsError::Unavailable { .. }
        ));
    }

    #[test]
    fn throttling_carries_retry_after() {
        let throttled = class(&http_error(
            429,
            r#"{"error":{"code":"Throttled","message":"m"}}"#,
            &[("retry-after", "3")],
        ));
        assert!(throttled.is_transient());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        let no_header = class(&kv(429, "Throttled", None));
        assert!(matches!(
            no_header,
            KmsError::Throttled {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn credential_failures_are_authentication_unless_entra_is_down() {
        let entra = |status, code: &str, description: &str| {
            let body = format!(
                r#"{{"error":"{code}","error_description":"{description}","error_codes":[1]}}"#
            );
            credential(http_error(status, &body, &[]))
        };
        let wrong_secret = class(&entra(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid secret",
        ));
        assert!(wrong_secret.is_authentication(), "{wrong_secret}");
        let no_principal = class(&entra(400, "unauthorized_client", "AADSTS700016: no app"));
        assert!(no_principal.is_authentication(), "{no_principal}");
        assert!(matches!(
            class(&entra(503, "temporarily_unavailable", "AADSTS90033")),
            KmsError::Unavailable { .. }
        ));
        assert!(matches!(
            class(&entra(429, "throttled", "slow down")),
            KmsError::Throttled { .. }
        ));
        let unreachable = credential(azure_core::Error::with_message(
            ErrorKind::Connection,
            "connection refused",
        ));
        assert!(matches!(class(&unreachable), KmsError::Transport { .. }));
        let bare = azure_core::Error::with_message(ErrorKind::Credential, "no secret specified");
        assert!(class(&bare).is_authentication());
    }

    #[test]
    fn the_aadsts_code_from_the_source_chain_is_in_the_message() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
        let error = credential(azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::Unauthorized,
                error_code: Some("7000215".into()),
                raw_response: Some(Box::new(RawResponse::from_bytes(
                    StatusCode::Unauthorized,
                    Headers::new(),
                    body.as_bytes().to_vec(),
                ))),
            },
            "AADSTS7000215: Invalid client secret provided.",
        ));
        let mapped = class(&error);
        assert!(mapped.to_string().contains("AADSTS7000215"), "{mapped}");
        assert!(
            mapped
                .to_string()
                .starts_with("authentication failed: azure key k")
        );
    }

    #[test]
    fn transport_failures_are_transient() {
        for kind in [
            ErrorKind::Connection,
            ErrorKind::Io,
            ErrorKind::DataConversion,
        ] {
            let error = azure_core::Error::with_message(kind, "broken");
            assert!(matches!(class(&error), KmsError::Transport { .. }));
        }
    }
}
