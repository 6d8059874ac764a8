//! The XKS Proxy API's wire shapes (spec v1.0.3): request and response bodies of GetKeyMetadata,
//! Encrypt, Decrypt and GetHealthStatus, and the error names with their HTTP statuses. Shared by
//! the proxy (which answers them) and the KMS side of the hop (which sends them).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// `requestMetadata`: who asked KMS for what. Only what each API requires is checked; the proxy
/// must not validate `kmsRequestId`'s structure nor refuse an unknown `kmsOperation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    /// The KMS caller's ARN (required but for GetHealthStatus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_principal_arn: Option<String>,
    /// The VPC the KMS request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpc: Option<String>,
    /// The VPC endpoint the KMS request came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpce: Option<String>,
    /// The KMS key (required for Encrypt and Decrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// The KMS API call behind this request (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_operation: Option<String>,
    /// The KMS request id (required; opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_request_id: Option<String>,
    /// The AWS service that called KMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_via_service: Option<String>,
}

/// Body of GetKeyMetadata and GetHealthStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRequest {
    /// The request metadata.
    pub request_metadata: RequestMetadata,
}

/// Body of Encrypt (fields Base64).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptRequest {
    /// The request metadata.
    pub request_metadata: RequestMetadata,
    /// Optional AAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_authenticated_data: Option<String>,
    /// The plaintext.
    pub plaintext: String,
    /// Always `AES_GCM` in v1.
    pub encryption_algorithm: String,
    /// `SHA_256` when KMS wants a CDIV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_data_integrity_value_algorithm: Option<String>,
}

/// Reply of Encrypt (fields Base64).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// Same length as the plaintext.
    pub ciphertext: String,
    /// ≤ 20 bytes of vendor housekeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_metadata: Option<String>,
    /// 12 or 16 bytes.
    pub initialization_vector: String,
    /// 16 bytes.
    pub authentication_tag: String,
    /// Present when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_data_integrity_value: Option<String>,
}

/// Body of Decrypt (fields Base64).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptRequest {
    /// The request metadata.
    pub request_metadata: RequestMetadata,
    /// The ciphertext.
    pub ciphertext: String,
    /// The metadata Encrypt returned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_metadata: Option<String>,
    /// Always `AES_GCM` in v1.
    pub encryption_algorithm: String,
    /// The AAD Encrypt had, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_authenticated_data: Option<String>,
    /// 12 or 16 bytes.
    pub initialization_vector: String,
    /// 16 bytes.
    pub authentication_tag: String,
}

/// Reply of Decrypt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// The plaintext (Base64).
    pub plaintext: String,
}

/// Reply of GetKeyMetadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetadataResponse {
    /// `AES_256`.
    pub key_spec: String,
    /// `ENCRYPT`, `DECRYPT`, …
    pub key_usage: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub key_status: String,
}

/// One entry of `ekmFleetDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetMember {
    /// The HSM's id.
    pub id: String,
    /// Its model.
    pub model: String,
    /// `ACTIVE`, `DEGRADED` or `UNAVAILABLE`.
    pub health_status: String,
}

/// Reply of GetHealthStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// > 0.
    pub xks_proxy_fleet_size: u32,
    /// The proxy's vendor.
    pub xks_proxy_vendor: String,
    /// The proxy's model.
    pub xks_proxy_model: String,
    /// The key manager's vendor.
    pub ekm_vendor: String,
    /// 1–10 entries.
    pub ekm_fleet_details: Vec<FleetMember>,
}

/// An error body: `{"errorName", "errorMessage"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// One of [`ErrorName`]'s names.
    pub error_name: String,
    /// < 512 printable ASCII characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

macro_rules! error_names {
    ($($name:ident = $status:expr),+ $(,)?) => {
        /// The spec's error names (table "Error codes").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorName {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )+
        }

        impl ErrorName {
            /// Every name.
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$name),+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorName::$name => stringify!($name),)+ }
            }

            /// The HTTP status the spec gives it.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorName::$name => $status,)+ }
            }
        }
    };
}

error_names! {
    ValidationException = StatusCode::BAD_REQUEST,
    InvalidStateException = StatusCode::BAD_REQUEST,
    InvalidCiphertextException = StatusCode::BAD_REQUEST,
    InvalidKeyUsageException = StatusCode::BAD_REQUEST,
    AuthenticationFailedException = StatusCode::UNAUTHORIZED,
    AccessDeniedException = StatusCode::FORBIDDEN,
    KeyNotFoundException = StatusCode::NOT_FOUND,
    InvalidUriPathException = StatusCode::NOT_FOUND,
    ThrottlingException = StatusCode::TOO_MANY_REQUESTS,
    InternalException = StatusCode::INTERNAL_SERVER_ERROR,
    UnsupportedOperationException = StatusCode::NOT_IMPLEMENTED,
    DependencyTimeoutException = StatusCode::SERVICE_UNAVAILABLE,
}

impl ErrorName {
    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == name)
    }
}

/// `errorMessage` made safe for the wire: printable ASCII only, under 512 characters.
pub fn error_message(message: &str) -> String {
    message
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(511)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses_follow_the_table() {
        assert_eq!(ErrorName::ALL.len(), 12);
        assert_eq!(
            ErrorName::InvalidUriPathException.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(ErrorName::DependencyTimeoutException.status().as_u16(), 503);
        assert_eq!(
            ErrorName::parse("ThrottlingException"),
            Some(ErrorName::ThrottlingException)
        );
        assert_eq!(ErrorName::parse("Nope"), None);
        let long = "é".repeat(600);
        let safe = error_message(&long);
        assert!(safe.len() < 512 && safe.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }

    #[test]
    fn the_specs_examples_parse() {
        let encrypt: EncryptRequest = serde_json::from_str(
            r#"{"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice",
            "kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "kmsOperation":"Encrypt","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae",
            "kmsViaService":"ebs"},"additionalAuthenticatedData":"cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
            "plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm":"SHA_256"}"#,
        )
        .unwrap();
        assert_eq!(
            encrypt.request_metadata.kms_via_service.as_deref(),
            Some("ebs")
        );
        let reply: EncryptResponse = serde_json::from_str(
            r#"{"authenticationTag":"vBxN2ncH1oEkR8WVXpmyYQ==","ciphertext":"ghxkK1txeDNn3q8Y",
            "ciphertextDataIntegrityValue":"qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
            "ciphertextMetadata":"a2V5X3ZlcnNpb249MQ==","initializationVector":"HMrlRw85cAJUd5Ax"}"#,
        )
        .unwrap();
        assert_eq!(
            reply.ciphertext_metadata.as_deref(),
            Some("a2V5X3ZlcnNpb249MQ==")
        );
    }
}
