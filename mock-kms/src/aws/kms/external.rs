//! KMS keys in an external key store (`Origin: EXTERNAL_KEY_STORE`): creation with an
//! `XksKeyId`, and Encrypt / GenerateDataKey / Decrypt through the hop.
//!
//! Double encryption, as the KMS developer guide describes it: the plaintext is sealed first
//! with the KMS key's own material (the ordinary blob, its header naming key and version), then
//! the blob's body goes through the proxy's Encrypt under the external key. The AAD given to the
//! proxy is SHA-256(blob header ‖ encryption-context AAD), so neither the header nor the context
//! can be changed, and it always fits the spec's 8192 bytes. The resulting blob is the header
//! followed by the external layer ([`crate::xks::layer`]), and neither KMS's material alone nor the external key alone opens it. Every hop failure is
//! `KMSInvalidStateException` with the spec's message for it; the KMS key's own state and the
//! store's connection are checked first.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ekm_vocab::Cloud;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AwsError, CreateKeyRequest, Kms, context_aad};
use crate::error::StateError;
use crate::keys::{BlobHeader, KeySpec};
use crate::state::{Caller, KeyUse};
use crate::xks::api::{ErrorName, KeyMetadataResponse, MetadataRequest, RequestMetadata};
use crate::xks::hop::{HopFailure, ProxyTarget};
use crate::xks::layer::{self, Outer, Route};
use crate::xks::stores::{Binding, ConnectionState, KeyStore};

fn invalid_state(message: &str) -> AwsError {
    AwsError::bad("KMSInvalidStateException", message)
}

fn not_connected() -> AwsError {
    invalid_state(
        "This KMS key is in a custom key store that is not connected to its external key store \
         proxy. Connect the external key store and try the request again.",
    )
}

impl Kms<'_> {
    /// The store and external key behind KMS key `name`, if it is an external one.
    pub(super) fn external(&self, name: &str) -> Option<Binding> {
        self.front
            .lab
            .xks_read(|x| x.stores.bindings.get(name).cloned())
    }

    /// One call to the store's proxy, logged as a hop of this KMS (`hop: "xks"`).
    pub(super) async fn hop<T: DeserializeOwned>(
        &self,
        store: &KeyStore,
        key: Option<&str>,
        api_name: &str,
        api_path: &str,
        body: &impl Serialize,
    ) -> Result<T, HopFailure> {
        let route = self.route(store, key);
        layer::call(&self.front.lab, &route, api_name, api_path, body).await
    }

    /// The hop to `store`'s proxy for KMS key `key`.
    fn route<'a>(&'a self, store: &'a KeyStore, key: Option<&'a str>) -> Route<'a> {
        Route {
            target: ProxyTarget {
                uri_endpoint: &store.uri_endpoint,
                uri_path: &store.uri_path,
                access_key_id: &store.credential.access_key_id,
                secret_access_key: &store.credential.secret_access_key,
                region: &self.tenant().region,
            },
            provider: Cloud::Aws,
            key,
            caller: &store.id,
        }
    }

    fn request_metadata(&self, operation: &str, arn: Option<&str>) -> RequestMetadata {
        let tenant = self.tenant();
        RequestMetadata {
            aws_principal_arn: Some(match self.caller {
                Caller::Owner => format!("arn:aws:iam::{}:root", tenant.account_id),
                Caller::Service => tenant.role_arn.clone(),
            }),
            kms_key_arn: arn.map(str::to_owned),
            kms_operation: Some(operation.to_owned()),
            kms_request_id: Some(uuid::Uuid::new_v4().to_string()),
            ..RequestMetadata::default()
        }
    }

    /// The connected store of `binding`.
    fn connected(&self, binding: &Binding) -> Result<KeyStore, AwsError> {
        let store = self.store(&binding.store)?;
        if store.state == ConnectionState::Connected {
            Ok(store)
        } else {
            Err(not_connected())
        }
    }

    /// Seals `plaintext` under KMS key `name`: through the hop when the key is external.
    /// Returns the blob (Base64) and the key's ARN.
    pub(super) async fn seal_any(
        &self,
        name: &str,
        usage: KeyUse,
        operation: &str,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<(String, String), AwsError> {
        let action = format!("kms:{operation}");
        let Some(binding) = self.external(name) else {
            return self.seal(name, usage, &action, context, plaintext);
        };
        let (inner, arn) = self.seal(name, usage, &action, context, plaintext)?;
        let store = self.connected(&binding)?;
        let inner = Zeroizing::new(
            B64.decode(inner)
                .map_err(|_| StateError::Internal("blob".into()))?,
        );
        let (_, header_len) = BlobHeader::parse(&inner)?;
        let (header, body) = inner.split_at(header_len);
        let aad = Sha256::digest([header, &context_aad(context)].concat()).to_vec();
        let metadata = self.request_metadata(operation, Some(&arn));
        let route = self.route(&store, Some(name));
        let outer = layer::seal(
            &self.front.lab,
            &route,
            &binding.xks_key_id,
            metadata,
            &aad,
            body,
        )
        .await
        .map_err(|f| invalid_state(f.kms_message()))?;
        Ok((B64.encode([header, &outer].concat()), arn))
    }

    /// Decrypts `blob` of external KMS key `name` (already resolved and checked against the
    /// blob's header): the KMS key's state first, then the hop, then KMS's own material.
    pub(super) async fn open_external(
        &self,
        name: &str,
        binding: &Binding,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Value, AwsError> {
        let arn = self.with_key(name, KeyUse::Decrypt, "kms:Decrypt", |key, now| {
            key.ensure_usable(now)?;
            Ok(key.id.clone())
        })?;
        let store = self.connected(binding)?;
        let (_, header_len) = BlobHeader::parse(blob)?;
        let (header, rest) = blob.split_at(header_len);
        let outer = Outer::parse(rest).ok_or_else(|| {
            AwsError::from(StateError::InvalidCiphertext(
                "not a ciphertext of an external key store key".into(),
            ))
        })?;
        let aad = Sha256::digest([header, &context_aad(context)].concat()).to_vec();
        let metadata = self.request_metadata("Decrypt", Some(&arn));
        let route = self.route(&store, Some(name));
        let body = layer::open(
            &self.front.lab,
            &route,
            &binding.xks_key_id,
            metadata,
            &aad,
            &outer,
        )
        .await
        .map_err(|f| invalid_state(f.kms_message()))?;
        let inner = Zeroizing::new([header, body.as_slice()].concat());
        let aad = context_aad(context);
        self.with_key(name, KeyUse::Decrypt, "kms:Decrypt", |key, now| {
            let (plaintext, _) = key.decrypt_blob(now, &inner, &aad)?;
            Ok(json!({
                "KeyId": key.id,
                "Plaintext": B64.encode(plaintext.as_slice()),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        })
    }

    /// `CreateKey` with `Origin: EXTERNAL_KEY_STORE`: the store must be connected, the external
    /// key must exist, be AES_256, ENABLED and usable for ENCRYPT and DECRYPT, and back no other
    /// KMS key of the store.
    pub(super) async fn create_external_key(
        &self,
        req: &CreateKeyRequest,
    ) -> Result<String, AwsError> {
        let (Some(store_id), Some(xks_key_id)) = (&req.custom_key_store_id, &req.xks_key_id) else {
            return Err(AwsError::bad(
                "ValidationException",
                "Origin EXTERNAL_KEY_STORE needs CustomKeyStoreId and XksKeyId",
            ));
        };
        if !crate::xks::manager::valid_key_id(xks_key_id) {
            return Err(AwsError::bad(
                "ValidationException",
                "XksKeyId must be 1-128 characters of A-Z a-z 0-9 - _ .",
            ));
        }
        let store = self.store(store_id)?;
        if store.state != ConnectionState::Connected {
            return Err(AwsError::bad(
                "CustomKeyStoreInvalidStateException",
                format!("Custom key store {store_id} is not connected."),
            ));
        }
        let in_use =
            |s: &crate::xks::stores::KeyStores| s.key_in_use(store_id, xks_key_id).is_some();
        if self.front.lab.xks_read(|x| in_use(&x.stores)) {
            return Err(AwsError::bad(
                "XksKeyAlreadyInUseException",
                format!(
                    "External key {xks_key_id} is already associated with a KMS key in this store."
                ),
            ));
        }
        let body = MetadataRequest {
            request_metadata: self.request_metadata("CreateKey", None),
        };
        let api = format!("/keys/{xks_key_id}/metadata");
        let reply: KeyMetadataResponse = self
            .hop(&store, None, "GetKeyMetadata", &api, &body)
            .await
            .map_err(create_key_error)?;
        let usable = reply.key_spec == "AES_256"
            && reply.key_status == "ENABLED"
            && ["ENCRYPT", "DECRYPT"]
                .iter()
                .all(|u| reply.key_usage.iter().any(|k| k == u));
        if !usable {
            return Err(AwsError::bad(
                "XksKeyInvalidConfigurationException",
                format!(
                    "External key {xks_key_id} must be an ENABLED AES_256 key usable for ENCRYPT and DECRYPT."
                ),
            ));
        }
        let name = format!(
            "aws-xks-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        self.front
            .lab
            .create_key(&name, Cloud::Aws, KeySpec::SymmetricDefault)?;
        let bound = self.front.lab.xks_write(|x| {
            if in_use(&x.stores) {
                return Ok(false);
            }
            x.stores.bindings.insert(
                name.clone(),
                Binding {
                    store: store_id.clone(),
                    xks_key_id: xks_key_id.clone(),
                },
            );
            Ok::<_, AwsError>(true)
        })?;
        if !bound {
            return Err(AwsError::bad(
                "XksKeyAlreadyInUseException",
                format!("External key {xks_key_id} was associated with another KMS key meanwhile."),
            ));
        }
        self.call.key(&name);
        Ok(name)
    }

    /// Adds the external key store fields to DescribeKey / CreateKey metadata.
    pub(super) fn external_metadata(&self, name: &str, metadata: &mut Value) {
        if let (Some(binding), Some(map)) = (self.external(name), metadata.as_object_mut()) {
            map.insert("Origin".into(), json!("EXTERNAL_KEY_STORE"));
            map.insert("CustomKeyStoreId".into(), json!(binding.store));
            map.insert(
                "XksKeyConfiguration".into(),
                json!({"Id": binding.xks_key_id}),
            );
        }
    }
}

/// The CreateKey exception for a failed GetKeyMetadata (spec table).
fn create_key_error(failure: HopFailure) -> AwsError {
    use ErrorName as E;
    let code = match failure {
        HopFailure::Proxy(E::KeyNotFoundException) => "XksKeyNotFoundException",
        HopFailure::Proxy(E::InvalidStateException | E::InvalidKeyUsageException) => {
            "XksKeyInvalidConfigurationException"
        }
        HopFailure::Proxy(E::UnsupportedOperationException) => "XksKeyInvalidResponseException",
        HopFailure::Proxy(E::AccessDeniedException) => "KMSInvalidStateException",
        _ => "CustomKeyStoreInvalidStateException",
    };
    AwsError::bad(code, failure.kms_message())
}
