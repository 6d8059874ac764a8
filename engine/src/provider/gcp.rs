//! GCP Cloud KMS through the real `google-cloud-kms-v1`, as an EKM operator calls it: the
//! operator's service account proves itself with an OIDC ID token (the STS *subject token*), the
//! customer's workload identity provider — whose allowed audience is the project id — exchanges
//! it at STS for a federated access token (`google-cloud-auth` `external_account` credentials),
//! then Cloud KMS `encrypt` / `decrypt` run on the registered `cryptoKey` with the wrap context
//! (its canonical encoding, [`EncryptionContext::encode`]) as `additionalAuthenticatedData`.
//!
//! The subject token comes from a file kept fresh by something else, or from the lab identity
//! provider's URL (`GET {url}?audience={allowed audience}`, the `id_token` field of its JSON),
//! per [`GcpSubjectToken`].
//!
//! Encrypt names the `cryptoKey`, so Cloud KMS uses its primary version; the reply's version
//! (`…/cryptoKeyVersions/N`) is the [`WrappedDek::key_version`]. Decrypt also names the
//! registered `cryptoKey` (Cloud KMS finds the version in the ciphertext), so data wrapped before
//! a master-key rotation still opens, and an eDEK of another key never does.
//!
//! Integrity: every request carries the CRC32C of what it sends (`plaintextCrc32c` /
//! `ciphertextCrc32c` and `additionalAuthenticatedDataCrc32c`), and every reply is checked — the
//! KMS must say it verified the plaintext and AAD checksums, the returned ciphertext or plaintext
//! must match the checksum it came with, and the version must belong to the registered key. A
//! mismatch is a [`KmsError::Transport`] naming the field (data corrupted on the way, worth a
//! retry), never accepted data.
//!
//! SDK retries are off (KMS client and token fetches): the engine's own bounded retry policy
//! applies. After a credentials failure (a KMS `UNAUTHENTICATED`, STS refusing the exchange, or
//! the token endpoint down) the credentials are replaced before one more attempt: the
//! SDK's token cache would otherwise keep a revoked token until its expiry, a refused exchange
//! forever, and a failed fetch for 10 s of real time. So a restored trust works at once, a
//! revoked one fails at once (DESIGN.md §4), and an STS outage ends when STS is back.
//!
//! # Error mapping
//!
//! Checked against Google's canonical error codes (`google.rpc.Code`) and Cloud KMS's key
//! states. Transient errors are retried by the engine; permanent ones fail at once; revocations
//! also drop the cached DEK.
//!
//! | Cloud KMS status / failure | [`KmsError`] | class |
//! |---|---|---|
//! | `PERMISSION_DENIED` (role binding removed) | `AccessDenied` | revocation |
//! | `FAILED_PRECONDITION` "… is not enabled, current state is: `DESTROYED` / `DESTROY_SCHEDULED`" | `KeyDestroyed` | revocation |
//! | `FAILED_PRECONDITION` "… is not enabled, current state is: `DISABLED`" | `KeyDisabled` | revocation |
//! | any other `FAILED_PRECONDITION` (wrong key purpose, a version still being generated or imported, …) | `Rejected` | permanent |
//! | `NOT_FOUND` | `KeyNotFound` | revocation |
//! | `INVALID_ARGUMENT` about a checksum (the request was corrupted on the way) | `Transport` | transient |
//! | any other `INVALID_ARGUMENT` (foreign or tampered eDEK, another AAD) | `InvalidCiphertext` | permanent |
//! | `OUT_OF_RANGE`, `UNIMPLEMENTED`, `ALREADY_EXISTS` | `Rejected` | permanent |
//! | `RESOURCE_EXHAUSTED` (HTTP 429; `RetryInfo` becomes `retry_after`) | `Throttled` | transient |
//! | `UNAVAILABLE`, `INTERNAL`, `DEADLINE_EXCEEDED`, `ABORTED`, HTTP 5xx, attempt timeout | `Unavailable` | transient |
//! | `UNAUTHENTICATED`, STS / subject-token failures the SDK calls permanent | `Authentication` | permanent (one new session is tried first) |
//! | STS / subject-token failures the SDK calls transient (token endpoint down) | `Unavailable` | transient |
//! | connection failures, unreadable replies, CRC32C mismatches, `UNKNOWN`, `CANCELLED` | `Transport` | transient |

mod session;

use std::time::Duration;

use google_cloud_auth::credentials::{Credentials, external_account};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status, StatusDetails};
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_kms_v1::client::KeyManagementService;
use zeroize::{Zeroize, Zeroizing};

use self::session::SessionCredentials;
use crate::clock::SharedClock;
use crate::config::{GcpRegistration, GcpSubjectToken};
use crate::dek::Dek;
use crate::envelope::EncryptionContext;
use crate::provider::session::{SessionClock, with_session};
use crate::provider::{
    CallFailure, KeyEncryptionKey, KeyReference, KmsError, KmsFuture, WrappedDek,
};

/// The provider kind stamped into envelopes.
pub const PROVIDER: &str = "gcp";

/// Google's STS token endpoint, used when the registration names none.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.googleapis.com/v1/token";

/// How long one KMS call may take before it counts as an outage.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One customer `cryptoKey` in Cloud KMS, reached through workload identity federation.
#[derive(Debug)]
pub struct GcpKek {
    reference: KeyReference,
    key_name: String,
    session: SessionSettings,
    /// The one client, built at connect, on the current session's credentials.
    client: KeyManagementService,
    credentials: SessionCredentials,
    signed_in: SessionClock,
}

/// What it takes to (re-)build federated credentials and a KMS client.
#[derive(Debug, Clone)]
struct SessionSettings {
    /// The `external_account` credential configuration (no secrets: it says where the subject
    /// token comes from, not the token).
    credentials: serde_json::Value,
    /// Cloud KMS endpoint; `None` = the real service.
    endpoint: Option<String>,
}

impl SessionSettings {
    fn new(
        registration: &GcpRegistration,
        allowed_audience: &str,
        subject_token: &GcpSubjectToken,
    ) -> Self {
        let credential_source = match subject_token {
            GcpSubjectToken::File(path) => serde_json::json!({ "file": path }),
            GcpSubjectToken::LabIdentityProvider(url) => {
                let separator = if url.contains('?') { '&' } else { '?' };
                let audience: String =
                    form_urlencoded::byte_serialize(allowed_audience.as_bytes()).collect();
                serde_json::json!({
                    "url": format!("{url}{separator}audience={audience}"),
                    "format": { "type": "json", "subject_token_field_name": "id_token" },
                })
            }
        };
        let credentials = serde_json::json!({
            "type": "external_account",
            "audience": registration.sts_audience(),
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": registration
                .sts_endpoint
                .as_deref()
                .unwrap_or(DEFAULT_STS_ENDPOINT),
            "credential_source": credential_source,
        });
        Self {
            credentials,
            endpoint: registration.endpoint.clone(),
        }
    }

    /// New credentials: no token cached yet, the first call signs in.
    fn credentials(&self, key_name: &str) -> Result<Credentials, KmsError> {
        external_account::Builder::new(self.credentials.clone())
            .with_retry_policy(NeverRetry)
            .build()
            .map_err(|e| KmsError::Authentication {
                message: format!(
                    "gcp key {key_name}: the external_account credentials are unusable: {}",
                    error_chain(&e)
                ),
            })
    }

    /// A client on `credentials`.
    async fn client(
        &self,
        key_name: &str,
        credentials: &SessionCredentials,
    ) -> Result<KeyManagementService, KmsError> {
        let mut builder = KeyManagementService::builder()
            .with_credentials(Credentials::from(credentials.clone()))
            .with_retry_policy(NeverRetry)
            .with_attempt_timeout(ATTEMPT_TIMEOUT);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder.build().await.map_err(|e| KmsError::Transport {
            message: format!(
                "gcp key {key_name}: cannot build the Cloud KMS client: {}",
                error_chain(&e)
            ),
        })
    }
}

impl GcpKek {
    /// Connects to the registered key. No KMS call is made; the SDK's token cache starts fetching
    /// the subject token and exchanging it at STS in the background, and a failure there surfaces
    /// on the first wrap or unwrap.
    pub async fn connect(
        registration: &GcpRegistration,
        allowed_audience: &str,
        subject_token: &GcpSubjectToken,
        clock: SharedClock,
    ) -> Result<Self, KmsError> {
        let key_name = registration.crypto_key_name();
        let session = SessionSettings::new(registration, allowed_audience, subject_token);
        let credentials = SessionCredentials::new(session.credentials(&key_name)?);
        let client = session.client(&key_name, &credentials).await?;
        Ok(Self {
            reference: KeyReference::new(PROVIDER, key_name.clone()),
            key_name,
            session,
            client,
            credentials,
            signed_in: SessionClock::new(clock, registration.session_lifetime()),
        })
    }

    /// Replaces the credentials (and their cached token) so the next call goes through STS
    /// again; the client stays.
    async fn renew_session(&self) -> Result<(), KmsError> {
        self.credentials
            .replace(self.session.credentials(&self.key_name)?);
        Ok(())
    }

    fn failed(&self, error: &GaxError) -> CallFailure {
        CallFailure {
            error: map_error(&self.key_name, error),
            renew: needs_new_credentials(error),
        }
    }

    async fn encrypt_once(&self, dek: &Dek, aad: &[u8]) -> Result<WrappedDek, CallFailure> {
        let plaintext = Zeroizing::new(dek.expose_secret().to_vec());
        let plaintext_crc = crc32c::crc32c(&plaintext);
        let reply = self
            .client
            .encrypt()
            .set_name(&self.key_name)
            .set_plaintext(bytes::Bytes::from_owner(plaintext))
            .set_plaintext_crc32c(i64::from(plaintext_crc))
            .set_additional_authenticated_data(aad.to_vec())
            .set_additional_authenticated_data_crc32c(i64::from(crc32c::crc32c(aad)))
            .send()
            .await
            .map_err(|e| self.failed(&e))?;
        let ciphertext = reply.ciphertext.to_vec();
        check_encrypt_reply(
            &self.key_name,
            &EncryptReply {
                name: &reply.name,
                ciphertext: &ciphertext,
                ciphertext_crc32c: reply.ciphertext_crc32c,
                verified_plaintext_crc32c: reply.verified_plaintext_crc32c,
                verified_aad_crc32c: reply.verified_additional_authenticated_data_crc32c,
            },
        )?;
        Ok(WrappedDek {
            edek: ciphertext,
            key_version: reply.name,
        })
    }

    async fn decrypt_once(&self, edek: &[u8], aad: &[u8]) -> Result<Dek, CallFailure> {
        let mut reply = self
            .client
            .decrypt()
            .set_name(&self.key_name)
            .set_ciphertext(edek.to_vec())
            .set_ciphertext_crc32c(i64::from(crc32c::crc32c(edek)))
            .set_additional_authenticated_data(aad.to_vec())
            .set_additional_authenticated_data_crc32c(i64::from(crc32c::crc32c(aad)))
            .send()
            .await
            .map_err(|e| self.failed(&e))?;
        let plaintext = wiped_copy(std::mem::take(&mut reply.plaintext));
        check_plaintext_crc(&self.key_name, &plaintext, reply.plaintext_crc32c)?;
        let dek = Dek::from_bytes(&plaintext).map_err(|_| KmsError::InvalidCiphertext {
            message: format!(
                "gcp key {}: the eDEK decrypted to {} bytes, not a DEK",
                self.key_name,
                plaintext.len()
            ),
        })?;
        Ok(dek)
    }
}

/// A copy of `bytes` wiped on drop; the reply's own buffer is wiped too when this is its only
/// owner (as it is for a decoded reply field).
fn wiped_copy(bytes: bytes::Bytes) -> Zeroizing<Vec<u8>> {
    let copy = Zeroizing::new(bytes.to_vec());
    if let Ok(mut unique) = bytes.try_into_mut() {
        unique.as_mut().zeroize();
    }
    copy
}

/// The credentials could not produce a token, or the KMS refused the one they produced.
fn needs_new_credentials(error: &GaxError) -> bool {
    error.is_authentication()
        || error
            .status()
            .is_some_and(|status| status.code == Code::Unauthenticated)
        || error.http_status_code() == Some(401)
}

/// The parts of an `EncryptResponse` that are checked before the eDEK is accepted.
#[derive(Debug)]
struct EncryptReply<'a> {
    name: &'a str,
    ciphertext: &'a [u8],
    ciphertext_crc32c: Option<i64>,
    verified_plaintext_crc32c: bool,
    verified_aad_crc32c: bool,
}

fn integrity(key_name: &str, what: &str) -> KmsError {
    KmsError::Transport {
        message: format!("gcp key {key_name}: integrity check failed: {what}"),
    }
}

/// Accepts an encrypt reply only if the KMS verified both request checksums, the ciphertext
/// matches its checksum and the version belongs to `key_name`.
fn check_encrypt_reply(key_name: &str, reply: &EncryptReply<'_>) -> Result<(), KmsError> {
    if !reply.verified_plaintext_crc32c {
        return Err(integrity(
            key_name,
            "the KMS did not verify the plaintext's CRC32C",
        ));
    }
    if !reply.verified_aad_crc32c {
        return Err(integrity(
            key_name,
            "the KMS did not verify the additional authenticated data's CRC32C",
        ));
    }
    let actual = i64::from(crc32c::crc32c(reply.ciphertext));
    match reply.ciphertext_crc32c {
        None => return Err(integrity(key_name, "the reply has no ciphertextCrc32c")),
        Some(sent) if sent != actual => {
            return Err(integrity(
                key_name,
                &format!("ciphertextCrc32c is {sent}, the ciphertext's is {actual}"),
            ));
        }
        Some(_) => {}
    }
    let version_id = reply
        .name
        .strip_prefix(key_name)
        .and_then(|rest| rest.strip_prefix("/cryptoKeyVersions/"));
    if !version_id.is_some_and(|id| !id.is_empty() && !id.contains('/')) {
        return Err(KmsError::Transport {
            message: format!(
                "gcp key {key_name}: the encrypt reply names `{}`, not a version of this key",
                reply.name
            ),
        });
    }
    Ok(())
}

/// Accepts a decrypted plaintext only if it matches the checksum the KMS sent with it.
fn check_plaintext_crc(
    key_name: &str,
    plaintext: &[u8],
    sent: Option<i64>,
) -> Result<(), KmsError> {
    let actual = i64::from(crc32c::crc32c(plaintext));
    match sent {
        None => Err(integrity(key_name, "the reply has no plaintextCrc32c")),
        Some(sent) if sent != actual => Err(integrity(
            key_name,
            &format!("plaintextCrc32c is {sent}, the plaintext's is {actual}"),
        )),
        Some(_) => Ok(()),
    }
}

/// An error and its sources, each once.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// Maps an SDK error to the engine's error class (the module doc's table).
fn map_error(key_name: &str, error: &GaxError) -> KmsError {
    let message = format!("gcp key {key_name}: {}", error_chain(error));
    if let Some(status) = error.status() {
        return classify(status, message);
    }
    if error.is_authentication() {
        return if error.is_transient_and_before_rpc() {
            KmsError::Unavailable { message }
        } else {
            KmsError::Authentication { message }
        };
    }
    if error.is_timeout() {
        return KmsError::Unavailable { message };
    }
    match error.http_status_code() {
        Some(401) => KmsError::Authentication { message },
        Some(429) => KmsError::Throttled {
            message,
            retry_after: None,
        },
        Some(status) if status >= 500 => KmsError::Unavailable { message },
        _ => KmsError::Transport { message },
    }
}

/// Maps a Cloud KMS status to the engine's error class.
fn classify(status: &Status, message: String) -> KmsError {
    match status.code {
        Code::PermissionDenied => KmsError::AccessDenied { message },
        Code::FailedPrecondition
            if status.message.contains("DESTROYED") || status.message.contains("DESTROY_") =>
        {
            KmsError::KeyDestroyed { message }
        }
        Code::FailedPrecondition
            if status.message.contains("DISABLED") || status.message.contains("not enabled") =>
        {
            KmsError::KeyDisabled { message }
        }
        Code::FailedPrecondition | Code::OutOfRange | Code::Unimplemented | Code::AlreadyExists => {
            KmsError::Rejected { message }
        }
        Code::NotFound => KmsError::KeyNotFound { message },
        Code::InvalidArgument if status.message.to_ascii_lowercase().contains("checksum") => {
            KmsError::Transport { message }
        }
        Code::InvalidArgument => KmsError::InvalidCiphertext { message },
        Code::ResourceExhausted => KmsError::Throttled {
            message,
            retry_after: retry_delay(status),
        },
        Code::Unavailable | Code::Internal | Code::DeadlineExceeded | Code::Aborted => {
            KmsError::Unavailable { message }
        }
        Code::Unauthenticated => KmsError::Authentication { message },
        _ => KmsError::Transport { message },
    }
}

/// The wait a `google.rpc.RetryInfo` detail asks for.
fn retry_delay(status: &Status) -> Option<Duration> {
    status.details.iter().find_map(|detail| match detail {
        StatusDetails::RetryInfo(info) => info
            .retry_delay
            .and_then(|delay| Duration::try_from(delay).ok()),
        _ => None,
    })
}

fn encoded_context(key_name: &str, context: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
    context.encode().map_err(|e| KmsError::InvalidCiphertext {
        message: format!("gcp key {key_name}: the wrap context cannot be encoded: {e}"),
    })
}

impl KeyEncryptionKey for GcpKek {
    fn key_reference(&self) -> &KeyReference {
        &self.reference
    }

    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek> {
        Box::pin(async move {
            let aad = encoded_context(&self.key_name, context)?;
            with_session(
                &self.signed_in,
                || self.encrypt_once(dek, &aad),
                || self.renew_session(),
            )
            .await
        })
    }

    fn unwrap<'a>(
        &'a self,
        edek: &'a [u8],
        _key_version: &'a str,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, Dek> {
        Box::pin(async move {
            let aad = encoded_context(&self.key_name, context)?;
            with_session(
                &self.signed_in,
                || self.decrypt_once(edek, &aad),
                || self.renew_session(),
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use google_cloud_gax::error::CredentialsError;

    use super::*;

    const KEY: &str = "projects/p/locations/l/keyRings/r/cryptoKeys/k";

    fn status(code: Code, message: &str) -> GaxError {
        GaxError::service(Status::default().set_code(code).set_message(message))
    }

    fn class(error: &GaxError) -> KmsError {
        map_error(KEY, error)
    }

    #[test]
    fn statuses_map_to_their_class() {
        let cases = [
            (Code::PermissionDenied, "Permission denied", "AccessDenied"),
            (
                Code::FailedPrecondition,
                "… is not enabled, current state is: DISABLED.",
                "KeyDisabled",
            ),
            (
                Code::FailedPrecondition,
                "… is scheduled for destruction at 2026-01-01T00:00:00Z, current state is: \
                 DESTROY_SCHEDULED.",
                "KeyDestroyed",
            ),
            (
                Code::FailedPrecondition,
                "… is not enabled, current state is: DESTROYED.",
                "KeyDestroyed",
            ),
            (Code::NotFound, "CryptoKey … not found.", "KeyNotFound"),
            (
                Code::InvalidArgument,
                "Decryption failed: the ciphertext is invalid.",
                "InvalidCiphertext",
            ),
            (
                Code::InvalidArgument,
                "The checksum in field ciphertext_crc32c did not match the data in field ciphertext.",
                "Transport",
            ),
            (Code::ResourceExhausted, "Quota exceeded", "Throttled"),
            (
                Code::Unavailable,
                "The service is unavailable",
                "Unavailable",
            ),
            (Code::Internal, "Internal error", "Unavailable"),
            (Code::DeadlineExceeded, "Deadline", "Unavailable"),
            (Code::Unauthenticated, "Bad token", "Authentication"),
            (
                Code::FailedPrecondition,
                "The request cannot be fulfilled: the key purpose is not ENCRYPT_DECRYPT.",
                "Rejected",
            ),
            (Code::AlreadyExists, "Strange", "Rejected"),
            (Code::Unknown, "Strange", "Transport"),
        ];
        for (code, text, expected) in cases {
            let error = class(&status(code, text));
            let name = format!("{error:?}");
            assert!(name.starts_with(expected), "{code:?} {text}: {name}");
            assert!(error.to_string().contains(KEY), "{error}");
            assert!(error.to_string().contains(text), "{error}");
        }
    }

    #[test]
    fn credential_failures_are_authentication_unless_transient() {
        let refused = GaxError::authentication(CredentialsError::from_msg(
            false,
            "STS: invalid_grant: the workload identity provider does not trust the caller",
        ));
        let error = class(&refused);
        assert!(error.is_authentication(), "{error:?}");
        assert!(error.to_string().contains("invalid_grant"), "{error}");

        let down = GaxError::authentication(CredentialsError::from_msg(true, "STS returned 503"));
        assert!(matches!(class(&down), KmsError::Unavailable { .. }));
    }

    #[test]
    fn credentials_are_renewed_only_for_credential_failures() {
        let renews = [
            GaxError::authentication(CredentialsError::from_msg(false, "invalid_grant")),
            GaxError::authentication(CredentialsError::from_msg(true, "STS returned 503")),
            status(
                Code::Unauthenticated,
                "Request had invalid authentication credentials.",
            ),
            GaxError::http(401, Default::default(), bytes::Bytes::new()),
        ];
        for error in &renews {
            assert!(needs_new_credentials(error), "{error:?}");
        }
        let keeps = [
            status(Code::PermissionDenied, "Permission denied"),
            status(Code::Unavailable, "The service is currently unavailable."),
            GaxError::http(429, Default::default(), bytes::Bytes::new()),
        ];
        for error in &keeps {
            assert!(!needs_new_credentials(error), "{error:?}");
        }
    }

    #[test]
    fn transport_failures_map_by_http_status() {
        let bare = |code| GaxError::http(code, Default::default(), bytes::Bytes::new());
        assert!(class(&bare(401)).is_authentication());
        assert!(matches!(class(&bare(429)), KmsError::Throttled { .. }));
        assert!(matches!(class(&bare(502)), KmsError::Unavailable { .. }));
        assert!(matches!(class(&bare(400)), KmsError::Transport { .. }));
        let refused = GaxError::connect(std::io::Error::other("connection refused"));
        assert!(matches!(class(&refused), KmsError::Transport { .. }));
        let slow = GaxError::timeout(std::io::Error::other("deadline"));
        assert!(matches!(class(&slow), KmsError::Unavailable { .. }));
    }

    #[test]
    fn retry_info_becomes_retry_after() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "code": 8,
            "message": "Quota exceeded",
            "details": [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s" }],
        }))
        .expect("a google.rpc.Status");
        assert_eq!(status.code, Code::ResourceExhausted);
        let error = class(&GaxError::service(status));
        assert_eq!(error.retry_after(), Some(Duration::from_millis(1500)));
    }

    fn good_reply(ciphertext: &[u8]) -> EncryptReply<'_> {
        EncryptReply {
            name: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
            ciphertext,
            ciphertext_crc32c: Some(i64::from(crc32c::crc32c(ciphertext))),
            verified_plaintext_crc32c: true,
            verified_aad_crc32c: true,
        }
    }

    #[test]
    fn encrypt_replies_are_checked_before_use() {
        let ciphertext = b"wrapped";
        assert_eq!(check_encrypt_reply(KEY, &good_reply(ciphertext)), Ok(()));

        let refused = |reply: EncryptReply<'_>| {
            let error = check_encrypt_reply(KEY, &reply).expect_err("must be refused");
            assert!(matches!(error, KmsError::Transport { .. }), "{error:?}");
            error.to_string()
        };
        let flipped = good_reply(ciphertext).ciphertext_crc32c.map(|crc| crc ^ 1);
        let text = refused(EncryptReply {
            ciphertext_crc32c: flipped,
            ..good_reply(ciphertext)
        });
        assert!(
            text.contains("integrity check failed: ciphertextCrc32c"),
            "{text}"
        );
        refused(EncryptReply {
            ciphertext_crc32c: None,
            ..good_reply(ciphertext)
        });
        refused(EncryptReply {
            verified_plaintext_crc32c: false,
            ..good_reply(ciphertext)
        });
        refused(EncryptReply {
            verified_aad_crc32c: false,
            ..good_reply(ciphertext)
        });
        for name in [
            "projects/p/locations/l/keyRings/r/cryptoKeys/other/cryptoKeyVersions/1",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/",
        ] {
            let text = refused(EncryptReply {
                name,
                ..good_reply(ciphertext)
            });
            assert!(text.contains("not a version of this key"), "{text}");
        }
    }

    #[test]
    fn decrypted_plaintext_must_match_its_checksum() {
        let plaintext = [7u8; 32];
        let crc = i64::from(crc32c::crc32c(&plaintext));
        assert_eq!(check_plaintext_crc(KEY, &plaintext, Some(crc)), Ok(()));
        for sent in [Some(crc ^ 1), None] {
            let error = check_plaintext_crc(KEY, &plaintext, sent).expect_err("refused");
            assert!(matches!(error, KmsError::Transport { .. }), "{error:?}");
            assert!(
                error.to_string().contains("integrity check failed"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_lab_identity_provider_is_asked_for_the_allowed_audience() {
        let registration = crate::config::GcpRegistration {
            workload_identity_project_number: "123456789012".into(),
            workload_identity_pool_id: "ekm-pool".into(),
            workload_identity_provider_id: "ekm-provider".into(),
            allowed_audience: None,
            kms_project_id: "demo-project-12345".into(),
            key_ring: "ekm-ring".into(),
            key_name: "ekm-key".into(),
            location: "us-east1".into(),
            endpoint: None,
            sts_endpoint: None,
            session_lifetime: None,
        };
        let idp = GcpSubjectToken::LabIdentityProvider("http://idp/token".into());
        let settings = SessionSettings::new(&registration, "proj demo", &idp);
        let config = &settings.credentials;
        assert_eq!(
            config["credential_source"]["url"],
            "http://idp/token?audience=proj+demo"
        );
        assert_eq!(config["token_url"], DEFAULT_STS_ENDPOINT);
        assert_eq!(config["audience"], registration.sts_audience());

        let file = GcpSubjectToken::File("/run/ekm/token.jwt".into());
        let settings = SessionSettings::new(&registration, "proj_demo", &file);
        assert_eq!(
            settings.credentials["credential_source"],
            serde_json::json!({ "file": "/run/ekm/token.jwt" })
        );
    }
}
