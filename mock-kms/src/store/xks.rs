//! The external key store's part of the state file: the external key manager's keys (a deleted
//! key is saved without material), the AWS custom key stores (with the SigV4 credential KMS
//! signs with) and which KMS key each external key backs. Checked at load like the rest of the
//! file: the first problem is refused as `xks.field: why`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ekm_vocab::Cloud;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::StoredKey;
use crate::xks::manager::{ExternalKeyRecord, ExternalKeyStatus, KeyManager};
use crate::xks::stores::{
    Binding, CONNECTION_ERROR_CODES, ConnectionState, EkmKey, EkmProtection, KeyStore, KeyStores,
    split_key_uri, valid_uri_endpoint,
};
use crate::xks::{XksCredential, XksState, valid_uri_path};

/// The saved external key store state (absent in files written before it was saved).
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredXks {
    #[serde(default)]
    external_keys: Vec<StoredExternalKey>,
    #[serde(default)]
    key_stores: Vec<StoredKeyStore>,
    /// KMS key lab name → binding.
    #[serde(default)]
    bindings: BTreeMap<String, StoredBinding>,
    /// GCP Cloud EKM key lab name → its external key.
    #[serde(default)]
    ekm_keys: BTreeMap<String, StoredEkmKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEkmKey {
    protection_level: EkmProtection,
    external_key_uri: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredExternalKey {
    id: String,
    status: ExternalKeyStatus,
    usage: Vec<String>,
    /// Base64 of the 32 key bytes; absent for a deleted key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<Zeroizing<String>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKeyStore {
    id: String,
    name: String,
    uri_endpoint: String,
    uri_path: String,
    connectivity: String,
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    state: ConnectionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBinding {
    store: String,
    xks_key_id: String,
}

impl StoredXks {
    /// Whether there is nothing to save (the file then has no `xks` field).
    pub(super) fn is_empty(&self) -> bool {
        self.external_keys.is_empty()
            && self.key_stores.is_empty()
            && self.bindings.is_empty()
            && self.ekm_keys.is_empty()
    }

    pub(super) fn from_state(state: &XksState) -> Self {
        let external_keys = state
            .manager
            .records()
            .into_iter()
            .map(|record| StoredExternalKey {
                id: record.id,
                status: record.status,
                usage: record.usage,
                material: record
                    .material
                    .map(|bytes| Zeroizing::new(B64.encode(bytes.as_ref()))),
            })
            .collect();
        let key_stores = state
            .stores
            .stores
            .values()
            .map(|store| StoredKeyStore {
                id: store.id.clone(),
                name: store.name.clone(),
                uri_endpoint: store.uri_endpoint.clone(),
                uri_path: store.uri_path.clone(),
                connectivity: store.connectivity.clone(),
                access_key_id: store.credential.access_key_id.clone(),
                secret_access_key: store.credential.secret_access_key.clone(),
                state: store.state,
                error_code: store.error_code.map(str::to_owned),
                created: store.created,
            })
            .collect();
        let bindings = state
            .stores
            .bindings
            .iter()
            .map(|(name, binding)| {
                let stored = StoredBinding {
                    store: binding.store.clone(),
                    xks_key_id: binding.xks_key_id.clone(),
                };
                (name.clone(), stored)
            })
            .collect();
        let ekm_keys = state
            .stores
            .ekm_keys
            .iter()
            .map(|(name, ekm)| {
                let stored = StoredEkmKey {
                    protection_level: ekm.protection,
                    external_key_uri: ekm.uri.clone(),
                };
                (name.clone(), stored)
            })
            .collect();
        Self {
            external_keys,
            key_stores,
            bindings,
            ekm_keys,
        }
    }

    /// The state this file part holds, checked against the file's `keys`.
    pub(super) fn into_state(self, keys: &[StoredKey]) -> Result<XksState, String> {
        let mut records = Vec::with_capacity(self.external_keys.len());
        for (index, key) in self.external_keys.into_iter().enumerate() {
            let material = match &key.material {
                None => None,
                Some(b64) => {
                    let bytes = Zeroizing::new(B64.decode(b64.as_bytes()).map_err(|_| {
                        format!("xks.external_keys[{index}].material: not valid base64")
                    })?);
                    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                        format!("xks.external_keys[{index}].material: an AES-256 key is 32 bytes")
                    })?;
                    Some(Zeroizing::new(array))
                }
            };
            records.push(ExternalKeyRecord {
                id: key.id,
                status: key.status,
                usage: key.usage,
                material,
            });
        }
        let manager = KeyManager::from_records(records).map_err(|e| format!("xks.{e}"))?;
        let mut stores = KeyStores::default();
        let mut names = BTreeSet::new();
        for (index, stored) in self.key_stores.into_iter().enumerate() {
            let store = stored
                .into_store()
                .map_err(|e| format!("xks.key_stores[{index}].{e}"))?;
            let field = format!("xks.key_stores[{index}] ({})", store.id);
            if !names.insert(store.name.clone()) {
                return Err(format!("{field}.name: another store has that name"));
            }
            if stores.uri_in_use(&store.uri_endpoint, &store.uri_path, None) {
                return Err(format!(
                    "{field}.uri_path: another store uses the same proxy URI"
                ));
            }
            if stores.stores.insert(store.id.clone(), store).is_some() {
                return Err(format!("{field}.id: a store of that id appears earlier"));
            }
        }
        for (name, ekm) in self.ekm_keys {
            let field = format!("xks.ekm_keys.{name}");
            check_key(keys, &name, Cloud::Gcp).map_err(|why| format!("{field}: {why}"))?;
            if split_key_uri(&ekm.external_key_uri).is_none() {
                return Err(format!(
                    "{field}.external_key_uri: `{}` is not https://HOST[:PORT]<XksProxyUriPath>/keys/<id>",
                    ekm.external_key_uri
                ));
            }
            let key = EkmKey {
                protection: ekm.protection_level,
                uri: ekm.external_key_uri,
            };
            stores.ekm_keys.insert(name, key);
        }
        for (name, binding) in self.bindings {
            let field = format!("xks.bindings.{name}");
            check_key(keys, &name, Cloud::Aws).map_err(|why| format!("{field}: {why}"))?;
            if !stores.stores.contains_key(&binding.store) {
                return Err(format!(
                    "{field}.store: there is no key store `{}`",
                    binding.store
                ));
            }
            if let Some(other) = stores.key_in_use(&binding.store, &binding.xks_key_id) {
                return Err(format!(
                    "{field}.xks_key_id: `{}` already backs `{other}` in the same store",
                    binding.xks_key_id
                ));
            }
            stores.bindings.insert(
                name,
                Binding {
                    store: binding.store,
                    xks_key_id: binding.xks_key_id,
                },
            );
        }
        Ok(XksState { manager, stores })
    }
}

/// Key `name` exists in the file and is a `provider` key.
fn check_key(keys: &[StoredKey], name: &str, provider: Cloud) -> Result<(), String> {
    match keys.iter().find(|key| key.name == name) {
        None => Err(format!("there is no key `{name}`")),
        Some(key) if key.provider != provider => Err(format!(
            "`{name}` is a {} key, not a {provider} key",
            key.provider
        )),
        Some(_) => Ok(()),
    }
}

impl StoredKeyStore {
    fn into_store(self) -> Result<KeyStore, String> {
        let id_ok = self.id.len() == 21
            && self.id.strip_prefix("cks-").is_some_and(|hex| {
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
        if !id_ok {
            return Err(format!("id: `{}` is not `cks-` and 17 hex digits", self.id));
        }
        if !(1..=256).contains(&self.name.len()) {
            return Err("name: must be 1-256 characters".into());
        }
        if !valid_uri_endpoint(&self.uri_endpoint) {
            return Err(format!(
                "uri_endpoint: `{}` is not https:// and a DNS name",
                self.uri_endpoint
            ));
        }
        if !valid_uri_path(&self.uri_path) {
            return Err(format!(
                "uri_path: `{}` is not a valid XksProxyUriPath",
                self.uri_path
            ));
        }
        if !matches!(
            self.connectivity.as_str(),
            "PUBLIC_ENDPOINT" | "VPC_ENDPOINT_SERVICE"
        ) {
            return Err(format!(
                "connectivity: `{}` is not PUBLIC_ENDPOINT or VPC_ENDPOINT_SERVICE",
                self.connectivity
            ));
        }
        let credential = XksCredential {
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
        };
        credential
            .validate()
            .map_err(|e| format!("access_key_id/secret_access_key: {e}"))?;
        let error_code = match (self.state, self.error_code) {
            (ConnectionState::Failed, Some(code)) => Some(
                CONNECTION_ERROR_CODES
                    .iter()
                    .find(|known| **known == code)
                    .copied()
                    .ok_or_else(|| format!("error_code: `{code}` is not a ConnectionErrorCode"))?,
            ),
            (_, None) => None,
            (_, Some(_)) => return Err("error_code: only a FAILED store has one".into()),
        };
        Ok(KeyStore {
            id: self.id,
            name: self.name,
            uri_endpoint: self.uri_endpoint,
            uri_path: self.uri_path,
            connectivity: self.connectivity,
            credential,
            state: self.state,
            error_code,
            created: self.created,
        })
    }
}
