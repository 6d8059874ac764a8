//! AWS KMS through the real `aws-sdk-kms`, as an EKM operator calls it: the operator's own
//! credentials assume the customer's role with `ExternalId` = the project id (aws-config's
//! `AssumeRoleProvider`), then KMS `Encrypt` / `Decrypt` run under that session with the wrap
//! context as `EncryptionContext`.
//!
//! The registered key may be a key ARN or an alias ARN. Decrypt always names the registered key,
//! so repointing the alias at another key revokes the data wrapped under the old one (the seed
//! FAQ's self-service revocation), and switching the registered key does the same.
//!
//! SDK retries are off: the engine's own bounded retry policy applies. After an authentication
//! failure the session is thrown away and a new `AssumeRole` is made before one more attempt, so
//! a restored trust works at once and a revoked one fails at once (DESIGN.md §4). Sessions are
//! asked for the registration's `session_lifetime` (`DurationSeconds`, 1 h by default) and
//! renewed on the lab clock before they end ([`session`](super::session)).
//!
//! # Error mapping
//!
//! Checked against the KMS API Reference's error list of `Encrypt` and `Decrypt` and the
//! common errors of KMS and STS. Transient errors are retried by the engine; permanent ones fail
//! at once; revocations also drop the cached DEK.
//!
//! | AWS error (`__type`) | [`KmsError`] | class |
//! |---|---|---|
//! | `AccessDeniedException` | `AccessDenied` | revocation |
//! | `DisabledException` | `KeyDisabled` | revocation |
//! | `NotFoundException` | `KeyNotFound` | revocation |
//! | `KMSInvalidStateException` (pending deletion, destroyed) | `KeyDestroyed` | revocation |
//! | `InvalidCiphertextException`, `IncorrectKeyException` | `InvalidCiphertext` | permanent |
//! | `ThrottlingException`, `LimitExceededException` | `Throttled` | transient |
//! | `DependencyTimeoutException`, `KMSInternalException`, `KeyUnavailableException`, HTTP 5xx, a KMS call that timed out | `Unavailable` | transient |
//! | `UnrecognizedClientException`, `ExpiredTokenException`, `InvalidSignatureException`, `MissingAuthenticationTokenException`, STS refusing `AssumeRole` (`AccessDenied`, `InvalidClientTokenId`, …) | `Authentication` | permanent (one new session is tried first) |
//! | STS timed out, throttled, unreachable or failing on its side (5xx) while getting credentials | `Unavailable` / `Throttled` / `Transport` | transient |
//! | `ValidationException`, `InvalidKeyUsageException`, `InvalidGrantTokenException`, `DryRunOperationException`, any other 4xx | `Rejected` | permanent |
//! | connection failures, unreadable replies | `Transport` | transient |

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::{Credentials, Region, SharedCredentialsProvider, SharedHttpClient};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_http_client::tls;

use crate::clock::SharedClock;
use crate::config::{AwsRegistration, AwsServiceCredentials, kms_arn_region};
use crate::dek::Dek;
use crate::envelope::EncryptionContext;
use crate::provider::session::{SessionClock, with_session};
use crate::provider::{KeyEncryptionKey, KeyReference, KmsError, KmsFuture, WrappedDek};

/// The provider kind stamped into envelopes.
pub const PROVIDER: &str = "aws";

/// One customer KMS key in AWS, reached by assuming the customer's role.
#[derive(Debug)]
pub struct AwsKek {
    reference: KeyReference,
    key_arn: String,
    session: SessionSettings,
    client: RwLock<aws_sdk_kms::Client>,
    signed_in: SessionClock,
}

/// What it takes to (re-)open a session in the customer's account.
#[derive(Debug, Clone)]
struct SessionSettings {
    base: SdkConfig,
    role_arn: String,
    external_id: String,
    lifetime: Duration,
}

impl SessionSettings {
    async fn client(&self) -> aws_sdk_kms::Client {
        let assume_role = AssumeRoleProvider::builder(self.role_arn.clone())
            .external_id(self.external_id.clone())
            .session_name("ekm-lab")
            .session_length(self.lifetime)
            .configure(&self.base)
            .build()
            .await;
        let config = aws_sdk_kms::config::Builder::from(&self.base)
            .credentials_provider(assume_role)
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }
}

impl AwsKek {
    /// Connects to the registered key. No call is made yet: the first wrap or unwrap assumes
    /// the role; sessions are renewed on `clock`.
    pub async fn connect(
        registration: &AwsRegistration,
        external_id: &str,
        service: &AwsServiceCredentials,
        clock: SharedClock,
    ) -> Result<Self, KmsError> {
        let region =
            kms_arn_region(&registration.key_arn).ok_or_else(|| KmsError::KeyNotFound {
                message: format!(
                    "aws: `{}` is not a KMS key or alias ARN",
                    registration.key_arn
                ),
            })?;
        let credentials = Credentials::new(
            service.access_key_id.clone(),
            service.secret_access_key.clone(),
            None,
            None,
            "ekm-service",
        );
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http_client(registration.endpoint.as_deref()))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(endpoint) = &registration.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let session = SessionSettings {
            base: loader.load().await,
            role_arn: registration.role_arn.clone(),
            external_id: external_id.to_owned(),
            lifetime: registration.session_lifetime(),
        };
        let client = session.client().await;
        Ok(Self {
            reference: KeyReference::new(PROVIDER, registration.key_arn.clone()),
            key_arn: registration.key_arn.clone(),
            signed_in: SessionClock::new(clock, session.lifetime),
            session,
            client: RwLock::new(client),
        })
    }

    fn client(&self) -> aws_sdk_kms::Client {
        self.client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops the session so the next call assumes the role again.
    async fn renew_session(&self) -> Result<(), KmsError> {
        let client = self.session.client().await;
        *self
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = client;
        Ok(())
    }

    async fn encrypt_once(
        &self,
        dek: &Dek,
        context: &HashMap<String, String>,
    ) -> Result<WrappedDek, KmsError> {
        let reply = self
            .client()
            .encrypt()
            .key_id(&self.key_arn)
            .plaintext(Blob::new(dek.expose_secret().as_slice()))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| self.map_error(e))?;
        let edek = reply
            .ciphertext_blob
            .ok_or_else(|| self.malformed("Encrypt reply has no CiphertextBlob"))?;
        let key_version = reply
            .key_id
            .ok_or_else(|| self.malformed("Encrypt reply has no KeyId"))?;
        Ok(WrappedDek {
            edek: edek.into_inner(),
            key_version,
        })
    }

    async fn decrypt_once(
        &self,
        edek: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<Dek, KmsError> {
        let reply = self
            .client()
            .decrypt()
            .key_id(&self.key_arn)
            .ciphertext_blob(Blob::new(edek))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| self.map_error(e))?;
        let plaintext = reply
            .plaintext
            .ok_or_else(|| self.malformed("Decrypt reply has no Plaintext"))?;
        let bytes = zeroize::Zeroizing::new(plaintext.into_inner());
        Dek::from_bytes(&bytes).map_err(|_| KmsError::InvalidCiphertext {
            message: format!(
                "aws key {}: the eDEK decrypted to {} bytes, not a DEK",
                self.key_arn,
                bytes.len()
            ),
        })
    }

    fn malformed(&self, what: &str) -> KmsError {
        KmsError::Transport {
            message: format!("aws key {}: {what}", self.key_arn),
        }
    }

    fn map_error<E>(&self, error: SdkError<E, HttpResponse>) -> KmsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let subject = format!("aws key {}", self.key_arn);
        match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code();
                let message = format!(
                    "{subject}: {}: {}",
                    code.unwrap_or("HTTP error"),
                    service.err().message().unwrap_or("no message")
                );
                classify(code, status, message)
            }
            SdkError::TimeoutError(_) => KmsError::Unavailable {
                message: format!("{subject}: no answer in time"),
            },
            // Credentials that cannot be obtained (AssumeRole refused, STS down or slow) surface
            // here: the STS error's code and message, never the SDK's debug dump.
            _ => match assume_role_refusal(&error) {
                Some((code, text)) => classify_credentials(
                    &code,
                    format!("{subject}: AssumeRole refused: {code}: {text}"),
                ),
                None => {
                    let message = format!("{subject}: {}", root_cause(&error));
                    let detail = DisplayErrorContext(&error).to_string();
                    if is_credentials_failure(&detail) {
                        classify_credentials(&detail, message)
                    } else {
                        KmsError::Transport { message }
                    }
                }
            },
        }
    }
}

/// The STS error that kept the SDK from getting credentials, if that is what happened.
fn assume_role_refusal(error: &(dyn std::error::Error + 'static)) -> Option<(String, String)> {
    let mut level = Some(error);
    while let Some(current) = level {
        if let Some(refusal) = current.downcast_ref::<AssumeRoleError>() {
            return Some((
                refusal.code().unwrap_or("AssumeRole failed").to_owned(),
                refusal.message().unwrap_or("no message").to_owned(),
            ));
        }
        level = current.source();
    }
    None
}

/// What an SDK failure comes down to: its first level (`dispatch failure`) and its deepest
/// cause (`Connection refused (os error 111)`).
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    let (top, bottom) = (error.to_string(), deepest.to_string());
    if top == bottom {
        top
    } else {
        format!("{top}: {bottom}")
    }
}

fn http_client(endpoint: Option<&str>) -> SharedHttpClient {
    let builder = aws_smithy_http_client::Builder::new();
    match endpoint {
        Some(url) if url.starts_with("http://") => builder.build_http(),
        _ => builder
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https(),
    }
}

fn is_credentials_failure(detail: &str) -> bool {
    detail.contains("failed to load credentials")
        || detail.contains("credentials provider")
        || detail.contains("AccessDenied")
}

/// A failure to get credentials: STS refused them (authentication), or STS timed out, was
/// unreachable, throttled or failed on its side (transient).
fn classify_credentials(detail: &str, message: String) -> KmsError {
    let lower = detail.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&["timed out", "timeout"]) {
        KmsError::Unavailable { message }
    } else if any(&["throttl", "requestlimitexceeded"]) {
        KmsError::Throttled {
            message,
            retry_after: None,
        }
    } else if any(&["serviceunavailable", "internalfailure", "internalerror"]) {
        KmsError::Unavailable { message }
    } else if any(&[
        "connection refused",
        "connection reset",
        "io error",
        "connector error",
    ]) {
        KmsError::Transport { message }
    } else {
        KmsError::Authentication { message }
    }
}

/// Maps an AWS error code (and HTTP status) to the engine's error class.
fn classify(code: Option<&str>, status: u16, message: String) -> KmsError {
    match code.unwrap_or_default() {
        "AccessDeniedException" => KmsError::AccessDenied { message },
        "DisabledException" => KmsError::KeyDisabled { message },
        "NotFoundException" => KmsError::KeyNotFound { message },
        "KMSInvalidStateException" => KmsError::KeyDestroyed { message },
        "InvalidCiphertextException" | "IncorrectKeyException" => {
            KmsError::InvalidCiphertext { message }
        }
        "ThrottlingException" | "LimitExceededException" => KmsError::Throttled {
            message,
            retry_after: None,
        },
        "UnrecognizedClientException"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException" => KmsError::Authentication { message },
        "DependencyTimeoutException" | "KMSInternalException" | "KeyUnavailableException" => {
            KmsError::Unavailable { message }
        }
        _ if status >= 500 => KmsError::Unavailable { message },
        _ if (400..500).contains(&status) => KmsError::Rejected { message },
        _ => KmsError::Transport { message },
    }
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl KeyEncryptionKey for AwsKek {
    fn key_reference(&self) -> &KeyReference {
        &self.reference
    }

    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek> {
        Box::pin(async move {
            let context = context_map(context);
            with_session(
                &self.signed_in,
                || self.encrypt_once(dek, &context),
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
            let context = context_map(context);
            with_session(
                &self.signed_in,
                || self.decrypt_once(edek, &context),
                || self.renew_session(),
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_their_class() {
        let class = |code, status| classify(Some(code), status, String::new());
        assert!(matches!(
            class("AccessDeniedException", 400),
            KmsError::AccessDenied { .. }
        ));
        assert!(matches!(
            class("DisabledException", 400),
            KmsError::KeyDisabled { .. }
        ));
        assert!(matches!(
            class("KMSInvalidStateException", 400),
            KmsError::KeyDestroyed { .. }
        ));
        assert!(matches!(
            class("IncorrectKeyException", 400),
            KmsError::InvalidCiphertext { .. }
        ));
        assert!(matches!(
            class("ThrottlingException", 400),
            KmsError::Throttled { .. }
        ));
        assert!(matches!(
            class("ExpiredTokenException", 400),
            KmsError::Authentication { .. }
        ));
        assert!(matches!(
            class("DependencyTimeoutException", 500),
            KmsError::Unavailable { .. }
        ));
        assert!(matches!(
            class("Whatever", 503),
            KmsError::Unavailable { .. }
        ));
        for permanent in [
            "ValidationException",
            "InvalidKeyUsageException",
            "InvalidGrantTokenException",
            "Whatever",
        ] {
            let error = class(permanent, 400);
            assert!(
                matches!(error, KmsError::Rejected { .. }) && !error.is_transient(),
                "{permanent}: {error:?}"
            );
        }
    }

    #[test]
    fn sts_failures_are_transient_unless_sts_refused() {
        let class = |detail: &str| classify_credentials(detail, detail.to_owned());
        let timed_out =
            class("failed to load credentials: credentials provider timed out after 5s");
        assert!(timed_out.is_transient(), "{timed_out:?}");
        let throttled = class(
            "an error occurred while loading credentials: service error: Throttling: Rate exceeded",
        );
        assert!(matches!(throttled, KmsError::Throttled { .. }));
        let down =
            class("failed to load credentials: dispatch failure: io error: Connection refused");
        assert!(matches!(down, KmsError::Transport { .. }));
        let refused = class(
            "an error occurred while loading credentials: service error: AccessDenied: not \
             authorized to perform sts:AssumeRole",
        );
        assert!(refused.is_authentication(), "{refused:?}");
    }
}
