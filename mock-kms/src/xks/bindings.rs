//! Keys backed by the lab's external key manager, made in one step for scenarios, demos and
//! tests (`POST /_mock/v1/xks/bindings`), as a customer would set them up in the cloud's own
//! API — AWS `CreateCustomKeyStore` + `ConnectCustomKeyStore` + `CreateKey
//! Origin=EXTERNAL_KEY_STORE`, GCP a crypto key of protection level `EXTERNAL` whose version
//! names the external key's URI:
//!
//! - AWS: the key joins the lab's own external key store [`LAB_STORE_NAME`] (made, or pointed
//!   again at this run's proxy and credential, and `CONNECTED`);
//! - GCP: the key's versions name `https://localhost:PORT<XksProxyUriPath>/keys/<id>` on the
//!   lab's proxy, or the `external_key_uri` given (any XKS proxy).
//!
//! The key gets the same trust and policy for the service identity as the demo key of its
//! cloud. Key, store and binding are one change of the lab state (persisted together).

use serde::{Deserialize, Serialize};

use super::manager::ExternalKeyStatus;
use super::stores::{
    Binding, ConnectionState, EkmKey, EkmProtection, KeyStore, KeyStores, split_key_uri,
};
use crate::error::StateError;
use crate::keys::{Key, KeySpec};
use crate::state::{KeyInfo, Kms, validate_key_name};
use ekm_vocab::Cloud;

/// The name of the lab's own AWS external key store.
pub const LAB_STORE_NAME: &str = "ekm-lab-xks";

/// A request for a key backed by an external key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    /// The lab name of the new cloud key.
    pub name: String,
    /// `aws` or `gcp`.
    pub provider: String,
    /// The external key's id in the lab's key manager.
    pub external_key: String,
    /// GCP: `EXTERNAL` (default) or `EXTERNAL_VPC`.
    #[serde(default)]
    pub protection_level: Option<EkmProtection>,
    /// GCP: the external key's URI on another proxy (default: the lab's own).
    #[serde(default)]
    pub external_key_uri: Option<String>,
}

/// A key and what backs it, as the control API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BoundKey {
    /// The cloud key.
    #[serde(flatten)]
    pub key: KeyInfo,
    /// The external key id.
    pub external_key: String,
    /// AWS: the custom key store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// GCP: the protection level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_level: Option<EkmProtection>,
    /// GCP: the external key URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_key_uri: Option<String>,
}

impl Kms {
    /// `https://localhost:PORT`: the lab's proxy as a store names it (a DNS name its
    /// certificate covers; KMS refuses IP literals).
    pub fn lab_proxy_endpoint(&self) -> String {
        let port = self.vault_url().rsplit(':').next().unwrap_or("443");
        format!("https://localhost:{port}")
    }

    /// Makes cloud key `new.name` backed by external key `new.external_key` (see the module
    /// doc). Refuses an unknown or deleted external key, one already backing a key of the lab
    /// store, a provider without external keys, and a taken name.
    pub fn bind_external(&self, new: NewBinding) -> Result<BoundKey, StateError> {
        let provider: Cloud = new.provider.parse()?;
        validate_key_name(&new.name)?;
        let endpoint = self.xks().endpoint();
        let lab_proxy = self.lab_proxy_endpoint();
        let id = match provider {
            Cloud::Aws => self.tenant().aws.key_arn(&uuid::Uuid::new_v4().to_string()),
            Cloud::Gcp => self.tenant().gcp.crypto_key_name(&new.name),
            Cloud::Azure => {
                return Err(StateError::InvalidRequest(
                    "Azure Key Vault has no external key store; use aws or gcp".into(),
                ));
            }
        };
        if provider == Cloud::Aws
            && (new.protection_level.is_some() || new.external_key_uri.is_some())
        {
            return Err(StateError::InvalidRequest(
                "protection_level and external_key_uri are GCP fields".into(),
            ));
        }
        let key = Key::generate(
            &new.name,
            provider,
            id,
            KeySpec::SymmetricDefault,
            self.now(),
        )?;
        let name = new.name.clone();
        let bound = self.write(|state| {
            if state.keys.contains_key(&name) {
                return Err(StateError::AlreadyExists(name.clone()));
            }
            let status = state
                .xks
                .manager
                .key_info(&new.external_key)
                .map_err(|_| StateError::KeyNotFound(format!("external key {}", new.external_key)))?
                .status;
            if status == ExternalKeyStatus::Deleted {
                return Err(StateError::InvalidRequest(format!(
                    "external key `{}` is deleted",
                    new.external_key
                )));
            }
            state.give_demo_documents(self.tenant(), &key);
            let info = self.key_info_of(state, &key);
            let stores = &mut state.xks.stores;
            let mut bound = BoundKey {
                key: info,
                external_key: new.external_key.clone(),
                custom_key_store_id: None,
                protection_level: None,
                external_key_uri: None,
            };
            if provider == Cloud::Aws {
                let store = lab_store(stores, &lab_proxy, &endpoint, self.now());
                if let Some(other) = stores.key_in_use(&store, &new.external_key) {
                    return Err(StateError::AlreadyExists(format!(
                        "a key backed by external key `{}` (`{other}`)",
                        new.external_key
                    )));
                }
                stores.bindings.insert(
                    name.clone(),
                    Binding {
                        store: store.clone(),
                        xks_key_id: new.external_key.clone(),
                    },
                );
                bound.custom_key_store_id = Some(store);
            } else {
                let uri = new.external_key_uri.clone().unwrap_or_else(|| {
                    format!(
                        "{lab_proxy}{}/keys/{}",
                        endpoint.uri_path, new.external_key
                    )
                });
                if split_key_uri(&uri).is_none() {
                    return Err(StateError::InvalidRequest(format!(
                        "external_key_uri `{uri}` is not https://HOST[:PORT]<XksProxyUriPath>/keys/<id>"
                    )));
                }
                let protection = new.protection_level.unwrap_or(EkmProtection::External);
                stores.ekm_keys.insert(
                    name.clone(),
                    EkmKey {
                        protection,
                        uri: uri.clone(),
                    },
                );
                bound.protection_level = Some(protection);
                bound.external_key_uri = Some(uri);
            }
            state.keys.insert(name.clone(), key);
            Ok(bound)
        })?;
        Ok(bound)
    }
}

/// The id of the lab's own store, made or pointed again at this run's proxy, `CONNECTED`.
fn lab_store(
    stores: &mut KeyStores,
    lab_proxy: &str,
    endpoint: &super::Endpoint,
    now: time::OffsetDateTime,
) -> String {
    let existing = stores
        .stores
        .values()
        .find(|s| s.name == LAB_STORE_NAME)
        .map(|s| s.id.clone());
    let id = existing.unwrap_or_else(KeyStores::new_id);
    let created = stores.stores.get(&id).map_or(now, |s| s.created);
    stores.stores.insert(
        id.clone(),
        KeyStore {
            id: id.clone(),
            name: LAB_STORE_NAME.to_owned(),
            uri_endpoint: lab_proxy.to_owned(),
            uri_path: endpoint.uri_path.clone(),
            connectivity: "PUBLIC_ENDPOINT".to_owned(),
            credential: endpoint.credentials[0].clone(),
            state: ConnectionState::Connected,
            error_code: None,
            created,
        },
    );
    id
}
