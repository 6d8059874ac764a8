//! AWS KMS custom key stores of type `EXTERNAL_KEY_STORE` (botocore `kms` 2014-11-01 shapes):
//! `CreateCustomKeyStore`, `DescribeCustomKeyStores`, `ConnectCustomKeyStore`,
//! `DisconnectCustomKeyStore`, `UpdateCustomKeyStore`, `DeleteCustomKeyStore`. The customer
//! administrator only.
//!
//! Create, Update and Connect call the proxy's GetHealthStatus, as KMS does, and answer the
//! spec's exceptions when it fails. Connecting is synchronous here (real KMS answers `{}` at once
//! and connects within minutes): the reply is `{}` either way, and the store is then
//! `CONNECTED` or `FAILED` with a `ConnectionErrorCode`. AWS CloudHSM key stores are refused.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{AwsError, Kms, epoch_seconds};
use crate::xks::XksCredential;
use crate::xks::api::{ErrorName, HealthResponse, MetadataRequest, RequestMetadata};
use crate::xks::hop::HopFailure;
use crate::xks::stores::{ConnectionState, KeyStore, KeyStores, valid_uri_endpoint};
use crate::xks::valid_uri_path;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Credential {
    access_key_id: String,
    raw_secret_access_key: String,
}

impl Credential {
    fn into_xks(self) -> Result<XksCredential, AwsError> {
        let credential = XksCredential {
            access_key_id: self.access_key_id,
            secret_access_key: zeroize::Zeroizing::new(self.raw_secret_access_key),
        };
        credential
            .validate()
            .map_err(|e| AwsError::bad("ValidationException", e))?;
        Ok(credential)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateStoreRequest {
    custom_key_store_name: String,
    custom_key_store_type: Option<String>,
    xks_proxy_uri_endpoint: Option<String>,
    xks_proxy_uri_path: Option<String>,
    xks_proxy_connectivity: Option<String>,
    xks_proxy_authentication_credential: Option<Credential>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StoreIdRequest {
    custom_key_store_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeStoresRequest {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateStoreRequest {
    custom_key_store_id: String,
    new_custom_key_store_name: Option<String>,
    xks_proxy_uri_endpoint: Option<String>,
    xks_proxy_uri_path: Option<String>,
    xks_proxy_connectivity: Option<String>,
    xks_proxy_authentication_credential: Option<Credential>,
}

fn check_endpoint(endpoint: &str, path: &str, connectivity: &str) -> Result<(), AwsError> {
    if !valid_uri_endpoint(endpoint) {
        return Err(AwsError::bad(
            "ValidationException",
            format!("XksProxyUriEndpoint `{endpoint}` must be https:// and a DNS name"),
        ));
    }
    if !valid_uri_path(path) {
        return Err(AwsError::bad(
            "ValidationException",
            format!(
                "XksProxyUriPath `{path}` must be [/prefix]/kms/xks/v1, at most 128 characters"
            ),
        ));
    }
    match connectivity {
        "PUBLIC_ENDPOINT" => Ok(()),
        "VPC_ENDPOINT_SERVICE" => Err(AwsError::bad(
            "XksProxyVpcEndpointServiceNotFoundException",
            "the lab has no VPC: use XksProxyConnectivity PUBLIC_ENDPOINT",
        )),
        other => Err(AwsError::bad(
            "ValidationException",
            format!(
                "XksProxyConnectivity must be PUBLIC_ENDPOINT or VPC_ENDPOINT_SERVICE, not {other}"
            ),
        )),
    }
}

/// The Create/UpdateCustomKeyStore exception for a failed health check (spec table).
fn setup_error(failure: HopFailure) -> AwsError {
    use ErrorName as E;
    let code = match failure {
        HopFailure::Proxy(E::AuthenticationFailedException) => {
            "XksProxyIncorrectAuthenticationCredentialException"
        }
        HopFailure::Proxy(E::InvalidUriPathException) => "XksProxyInvalidConfigurationException",
        HopFailure::Proxy(E::DependencyTimeoutException | E::ThrottlingException)
        | HopFailure::Connect
        | HopFailure::Tls
        | HopFailure::Timeout => "XksProxyUriUnreachableException",
        _ => "XksProxyInvalidResponseException",
    };
    AwsError::bad(code, failure.kms_message())
}

/// The `ConnectionErrorCode` of a failed connection.
fn connection_error(failure: HopFailure) -> &'static str {
    use ErrorName as E;
    match failure {
        HopFailure::Proxy(E::AuthenticationFailedException) => "INVALID_CREDENTIALS",
        HopFailure::Proxy(E::AccessDeniedException) => "XKS_PROXY_ACCESS_DENIED",
        HopFailure::Proxy(E::InvalidUriPathException) => "XKS_PROXY_INVALID_CONFIGURATION",
        HopFailure::Timeout | HopFailure::Proxy(E::DependencyTimeoutException) => {
            "XKS_PROXY_TIMED_OUT"
        }
        HopFailure::Tls => "XKS_PROXY_INVALID_TLS_CONFIGURATION",
        HopFailure::Connect => "XKS_PROXY_NOT_REACHABLE",
        _ => "XKS_PROXY_INVALID_RESPONSE",
    }
}

fn entry(store: &KeyStore) -> Value {
    let mut entry = json!({
        "CustomKeyStoreId": store.id,
        "CustomKeyStoreName": store.name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "ConnectionState": store.state.as_str(),
        "CreationDate": epoch_seconds(store.created),
        "XksProxyConfiguration": {
            "Connectivity": store.connectivity,
            "AccessKeyId": store.credential.access_key_id,
            "UriEndpoint": store.uri_endpoint,
            "UriPath": store.uri_path,
        },
    });
    if let (Some(code), Some(map)) = (store.error_code, entry.as_object_mut()) {
        map.insert("ConnectionErrorCode".into(), json!(code));
    }
    entry
}

fn not_found(id: &str) -> AwsError {
    AwsError::bad(
        "CustomKeyStoreNotFoundException",
        format!("Custom key store {id} is not found."),
    )
}

impl Kms<'_> {
    /// The store `id`, or `CustomKeyStoreNotFoundException`.
    pub(super) fn store(&self, id: &str) -> Result<KeyStore, AwsError> {
        self.front
            .lab
            .xks_read(|x| x.stores.stores.get(id).cloned())
            .ok_or_else(|| not_found(id))
    }

    /// GetHealthStatus on the store's proxy, for `operation`.
    async fn health_check(&self, store: &KeyStore, operation: &str) -> Result<(), HopFailure> {
        let body = MetadataRequest {
            request_metadata: RequestMetadata {
                kms_operation: Some(operation.to_owned()),
                kms_request_id: Some(uuid::Uuid::new_v4().to_string()),
                ..RequestMetadata::default()
            },
        };
        let reply: HealthResponse = self
            .hop(store, None, "GetHealthStatus", "/health", &body)
            .await?;
        if reply.xks_proxy_fleet_size == 0 || !(1..=10).contains(&reply.ekm_fleet_details.len()) {
            return Err(HopFailure::Malformed);
        }
        Ok(())
    }

    pub(super) async fn create_key_store(
        &self,
        req: CreateStoreRequest,
    ) -> Result<Value, AwsError> {
        self.admin_call("kms:CreateCustomKeyStore").await?;
        if req.custom_key_store_type.as_deref() != Some("EXTERNAL_KEY_STORE") {
            return Err(AwsError::bad(
                "UnsupportedOperationException",
                "this lab makes custom key stores of type EXTERNAL_KEY_STORE only",
            ));
        }
        let (Some(endpoint), Some(path), Some(credential)) = (
            req.xks_proxy_uri_endpoint,
            req.xks_proxy_uri_path,
            req.xks_proxy_authentication_credential,
        ) else {
            return Err(AwsError::bad(
                "ValidationException",
                "an external key store needs XksProxyUriEndpoint, XksProxyUriPath and \
                 XksProxyAuthenticationCredential",
            ));
        };
        let connectivity = req
            .xks_proxy_connectivity
            .unwrap_or_else(|| "PUBLIC_ENDPOINT".into());
        check_endpoint(&endpoint, &path, &connectivity)?;
        if !(1..=256).contains(&req.custom_key_store_name.len()) {
            return Err(AwsError::bad(
                "ValidationException",
                "CustomKeyStoreName must be 1-256 characters",
            ));
        }
        let store = KeyStore {
            id: KeyStores::new_id(),
            name: req.custom_key_store_name,
            uri_endpoint: endpoint,
            uri_path: path,
            connectivity,
            credential: credential.into_xks()?,
            state: ConnectionState::Disconnected,
            error_code: None,
            created: self.front.lab.now(),
        };
        self.check_unique(&store)?;
        self.health_check(&store, "CreateCustomKeyStore")
            .await
            .map_err(setup_error)?;
        let id = store.id.clone();
        self.front.lab.xks_write(|x| {
            let s = &mut x.stores;
            // Checked again under the lock: another create may have raced the health check.
            if s.stores.values().any(|o| o.name == store.name)
                || s.uri_in_use(&store.uri_endpoint, &store.uri_path, None)
            {
                return Err(AwsError::bad(
                    "CustomKeyStoreNameInUseException",
                    "a custom key store with this name or proxy URI was created meanwhile",
                ));
            }
            s.stores.insert(store.id.clone(), store);
            Ok(())
        })?;
        Ok(json!({"CustomKeyStoreId": id}))
    }

    fn check_unique(&self, store: &KeyStore) -> Result<(), AwsError> {
        self.front.lab.xks_read(|x| {
            let s = &x.stores;
            if s.stores
                .values()
                .any(|o| o.id != store.id && o.name == store.name)
            {
                return Err(AwsError::bad(
                    "CustomKeyStoreNameInUseException",
                    format!("A custom key store named {} already exists.", store.name),
                ));
            }
            if s.uri_in_use(&store.uri_endpoint, &store.uri_path, Some(&store.id)) {
                return Err(AwsError::bad(
                    "XksProxyUriInUseException",
                    "Another external key store already uses this proxy URI endpoint and path.",
                ));
            }
            Ok(())
        })
    }

    /// The owner check and fault rules of the store calls.
    async fn admin_call(&self, action: &str) -> Result<(), AwsError> {
        self.admit_faults().await?;
        self.require_owner(action)
    }

    pub(super) async fn describe_key_stores(
        &self,
        req: DescribeStoresRequest,
    ) -> Result<Value, AwsError> {
        self.admin_call("kms:DescribeCustomKeyStores").await?;
        let stores: Vec<Value> = self.front.lab.xks_read(|x| {
            x.stores
                .stores
                .values()
                .filter(|st| {
                    req.custom_key_store_id
                        .as_ref()
                        .is_none_or(|id| *id == st.id)
                })
                .filter(|st| {
                    req.custom_key_store_name
                        .as_ref()
                        .is_none_or(|n| *n == st.name)
                })
                .map(entry)
                .collect()
        });
        if stores.is_empty()
            && let Some(wanted) = req.custom_key_store_id.or(req.custom_key_store_name)
        {
            return Err(not_found(&wanted));
        }
        Ok(json!({"CustomKeyStores": stores, "Truncated": false}))
    }

    fn set_state(
        &self,
        id: &str,
        state: ConnectionState,
        error: Option<&'static str>,
    ) -> Result<(), AwsError> {
        self.front.lab.xks_write(|x| {
            if let Some(store) = x.stores.stores.get_mut(id) {
                store.state = state;
                store.error_code = error;
            }
            Ok(())
        })
    }

    pub(super) async fn connect_key_store(&self, req: StoreIdRequest) -> Result<Value, AwsError> {
        self.admin_call("kms:ConnectCustomKeyStore").await?;
        let store = self.store(&req.custom_key_store_id)?;
        if store.state == ConnectionState::Connected {
            return Ok(json!({}));
        }
        match self.health_check(&store, "ConnectCustomKeyStore").await {
            Ok(()) => self.set_state(&store.id, ConnectionState::Connected, None)?,
            Err(failure) => {
                let code = connection_error(failure);
                self.set_state(&store.id, ConnectionState::Failed, Some(code))?;
            }
        }
        Ok(json!({}))
    }

    pub(super) async fn disconnect_key_store(
        &self,
        req: StoreIdRequest,
    ) -> Result<Value, AwsError> {
        self.admin_call("kms:DisconnectCustomKeyStore").await?;
        let store = self.store(&req.custom_key_store_id)?;
        self.set_state(&store.id, ConnectionState::Disconnected, None)?;
        Ok(json!({}))
    }

    pub(super) async fn update_key_store(
        &self,
        req: UpdateStoreRequest,
    ) -> Result<Value, AwsError> {
        self.admin_call("kms:UpdateCustomKeyStore").await?;
        let mut store = self.store(&req.custom_key_store_id)?;
        let moves = req.xks_proxy_uri_endpoint.is_some()
            || req.xks_proxy_uri_path.is_some()
            || req.xks_proxy_connectivity.is_some();
        if moves && store.state != ConnectionState::Disconnected {
            return Err(AwsError::bad(
                "CustomKeyStoreInvalidStateException",
                "Disconnect the external key store before changing its proxy URI or connectivity.",
            ));
        }
        if let Some(name) = req.new_custom_key_store_name {
            store.name = name;
        }
        store.uri_endpoint = req.xks_proxy_uri_endpoint.unwrap_or(store.uri_endpoint);
        store.uri_path = req.xks_proxy_uri_path.unwrap_or(store.uri_path);
        store.connectivity = req.xks_proxy_connectivity.unwrap_or(store.connectivity);
        check_endpoint(&store.uri_endpoint, &store.uri_path, &store.connectivity)?;
        let new_credential = req.xks_proxy_authentication_credential.is_some();
        if let Some(credential) = req.xks_proxy_authentication_credential {
            store.credential = credential.into_xks()?;
        }
        self.check_unique(&store)?;
        if moves || new_credential {
            self.health_check(&store, "UpdateCustomKeyStore")
                .await
                .map_err(setup_error)?;
        }
        self.front.lab.xks_write(|x| {
            if let Some(current) = x.stores.stores.get_mut(&store.id) {
                store.state = current.state;
                store.error_code = current.error_code;
                *current = store;
            }
            Ok::<_, AwsError>(())
        })?;
        Ok(json!({}))
    }

    pub(super) async fn delete_key_store(&self, req: StoreIdRequest) -> Result<Value, AwsError> {
        self.admin_call("kms:DeleteCustomKeyStore").await?;
        let id = req.custom_key_store_id;
        self.front.lab.xks_write(|x| {
            let s = &mut x.stores;
            let store = s.stores.get(&id).ok_or_else(|| not_found(&id))?;
            if store.state != ConnectionState::Disconnected {
                return Err(AwsError::bad(
                    "CustomKeyStoreInvalidStateException",
                    "Disconnect the custom key store before deleting it.",
                ));
            }
            if s.key_count(&id) > 0 {
                return Err(AwsError::bad(
                    "CustomKeyStoreHasCMKsException",
                    "Delete the KMS keys in this custom key store before deleting it.",
                ));
            }
            s.stores.remove(&id);
            Ok(json!({}))
        })
    }
}
