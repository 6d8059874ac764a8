//! The external key store hop: an AWS XKS proxy served by the lab, the customer's external key
//! manager behind it, and the faults of the hop between a cloud KMS and that manager.
//!
//! Built to the XKS Proxy API specification (aws/aws-kms-xksproxy-api-spec, v1.0.3): the four
//! APIs under `https://<host>[/<prefix>]/kms/xks/v1` on the https listener (the mock's CA), SigV4
//! with the service name `kms-xks-proxy` and at least two live credentials for rotation, JSON
//! bodies and `{"errorName","errorMessage"}` errors with the spec's statuses.
//!
//! # Layout
//! - [`api`]: the wire shapes and error names.
//! - [`manager`]: the external key manager — AES-256 keys with their own lifecycle, the fleet's
//!   health, the spec's AES-GCM and CDIV rules.
//! - [`faults`]: latency, error rates, malformed replies, an unreachable proxy, refused
//!   credentials.
//! - [`proxy`]: the proxy's HTTP side (routing by URI path, SigV4, validation, errors, call log).
//! - [`control`]: the control API under `/_mock/v1/xks/`; [`bindings`]: cloud keys backed by
//!   an external key, made in one step.
//! - [`layer`]: the external layer of a doubly encrypted ciphertext, shared by the clouds.
//! - [`stores`]: the cloud's side — AWS KMS external key stores and which KMS key is backed by
//!   which external key; [`hop`]: KMS calling a proxy (any proxy), with the spec's timeout and
//!   the KMS messages for each way the hop fails.
//!
//! The lab's proxy answers at URI path [`DEFAULT_URI_PATH`] with credential
//! [`DEFAULT_ACCESS_KEY_ID`] / [`DEFAULT_SECRET_ACCESS_KEY`]; both can be changed at run time.
//!
//! What the customer and the cloud set up — the manager's keys, the key stores, which KMS key is
//! backed by which external key — is [`XksState`], part of the lab state: changed through
//! [`Kms::xks_write`] (persist first, then apply) and saved in `--state` with the rest. The
//! proxy's endpoint, the fleet's health and the hop's faults are run-time conditions ([`Xks`]).

pub mod api;
pub mod bindings;
pub mod control;
pub mod faults;
pub mod hop;
pub mod layer;
pub mod manager;
pub mod proxy;
pub mod stores;

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use ekm_vocab::HealthStatus;
use faults::{HopAction, HopFaults};
use hop::HopClient;
use manager::{Fleet, KeyManager, Refusal};
use stores::KeyStores;

use crate::error::StateError;
use crate::state::Kms;

/// The lab proxy's default `XksProxyUriPath`.
pub const DEFAULT_URI_PATH: &str = "/ekm-lab/kms/xks/v1";
/// The lab proxy's default access key id (20–30 of `A-Z2-7`, spec Appendix A).
pub const DEFAULT_ACCESS_KEY_ID: &str = "EKMLABXKSPROXYACCESSKEY2";
/// The lab proxy's default secret access key (43–64 of `A-Za-z0-9/+=`).
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "ekmLabXksProxySecretKey/0123456789+abcdefghij=";
/// The SigV4 service name of the spec.
pub const SIGV4_SERVICE: &str = "kms-xks-proxy";
/// The proxy's vendor and model in GetHealthStatus.
pub const PROXY_VENDOR: &str = "EKM Lab";
/// The proxy's model in GetHealthStatus.
pub const PROXY_MODEL: &str = "EKM Lab XKS proxy 1.0";

/// One SigV4 credential the proxy accepts.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XksCredential {
    /// 20–30 of `A-Z2-7`.
    pub access_key_id: String,
    /// 43–64 of `A-Za-z0-9/+=`.
    #[serde(deserialize_with = "zeroizing")]
    pub secret_access_key: Zeroizing<String>,
}

fn zeroizing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

impl fmt::Debug for XksCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XksCredential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

impl XksCredential {
    /// Checks the spec's formats (Appendix A; the KMS API's patterns).
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.access_key_id;
        if !(20..=30).contains(&id.len())
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        {
            return Err(format!(
                "access key id `{id}` must be 20-30 characters of A-Z and 2-7"
            ));
        }
        let secret = self.secret_access_key.as_str();
        if !(43..=64).contains(&secret.len())
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'='))
        {
            return Err(
                "the secret access key must be 43-64 characters of A-Z a-z 0-9 / + =".into(),
            );
        }
        Ok(())
    }
}

/// Whether `path` is a valid `XksProxyUriPath`: ≤ 128 of `[A-Za-z0-9/_-]`, ending in
/// `/kms/xks/v1` (the version this proxy speaks).
pub fn valid_uri_path(path: &str) -> bool {
    path.len() <= 128
        && path.ends_with("/kms/xks/v1")
        && path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
}

/// The proxy's configuration: where it answers and whom it lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The `XksProxyUriPath` it serves.
    pub uri_path: String,
    /// The live credentials (two during a rotation).
    pub credentials: Vec<XksCredential>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            uri_path: DEFAULT_URI_PATH.to_owned(),
            credentials: vec![XksCredential {
                access_key_id: DEFAULT_ACCESS_KEY_ID.to_owned(),
                secret_access_key: Zeroizing::new(DEFAULT_SECRET_ACCESS_KEY.to_owned()),
            }],
        }
    }
}

/// Most credentials the proxy holds at once.
pub const MAX_CREDENTIALS: usize = 4;

#[derive(Debug, Default)]
struct FaultState {
    faults: HopFaults,
    served: u64,
}

/// The external key store's part of the lab state (saved with it).
#[derive(Debug, Default, Clone)]
pub struct XksState {
    /// The external key manager's keys.
    pub manager: KeyManager,
    /// The cloud's external key stores and KMS key bindings.
    pub stores: KeyStores,
}

/// The external key store's run-time side: the proxy's endpoint, the fleet's health, the hop's
/// faults and the client the clouds call proxies with. Held by the [`Kms`].
#[derive(Debug, Default)]
pub struct Xks {
    endpoint: Mutex<Endpoint>,
    fleet: Mutex<Fleet>,
    faults: Mutex<FaultState>,
    hop: HopClient,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is applied whole, so a poisoned lock is consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Xks {
    /// Back to how [`Default`] makes it; the hop keeps its HTTP client (no lab state).
    pub(crate) fn reset(&self) {
        let Self {
            endpoint,
            fleet,
            faults,
            hop,
        } = self;
        *lock(endpoint) = Endpoint::default();
        *lock(fleet) = Fleet::default();
        *lock(faults) = FaultState::default();
        hop.reset_timeout();
    }

    /// The proxy's endpoint configuration.
    pub fn endpoint(&self) -> Endpoint {
        lock(&self.endpoint).clone()
    }

    /// Replaces the URI path and/or the credentials (1–[`MAX_CREDENTIALS`], distinct ids).
    pub fn configure(
        &self,
        uri_path: Option<String>,
        credentials: Option<Vec<XksCredential>>,
    ) -> Result<Endpoint, String> {
        if let Some(path) = &uri_path
            && !valid_uri_path(path)
        {
            return Err(format!(
                "uri_path `{path}` must be at most 128 characters of A-Z a-z 0-9 / _ - ending in /kms/xks/v1"
            ));
        }
        if let Some(credentials) = &credentials {
            if credentials.is_empty() || credentials.len() > MAX_CREDENTIALS {
                return Err(format!("give 1 to {MAX_CREDENTIALS} credentials"));
            }
            for (i, credential) in credentials.iter().enumerate() {
                credential.validate()?;
                if credentials[..i]
                    .iter()
                    .any(|c| c.access_key_id == credential.access_key_id)
                {
                    return Err(format!(
                        "access key id `{}` is given twice",
                        credential.access_key_id
                    ));
                }
            }
        }
        let mut endpoint = lock(&self.endpoint);
        if let Some(path) = uri_path {
            endpoint.uri_path = path;
        }
        if let Some(credentials) = credentials {
            endpoint.credentials = credentials;
        }
        Ok(endpoint.clone())
    }

    /// The fleet.
    pub fn fleet(&self) -> Fleet {
        lock(&self.fleet).clone()
    }

    /// Sets the health of HSM `id`, or of the whole fleet when `id` is `None`.
    pub fn set_health(&self, id: Option<&str>, health: HealthStatus) -> Result<(), String> {
        lock(&self.fleet).set_health(id, health)
    }

    /// Whether the fleet can serve a key operation.
    pub fn serving(&self) -> Result<(), Refusal> {
        lock(&self.fleet).serving()
    }

    /// The client KMS calls proxies with.
    pub fn hop(&self) -> &HopClient {
        &self.hop
    }

    /// The hop's fault settings.
    pub fn faults(&self) -> HopFaults {
        lock(&self.faults).faults.clone()
    }

    /// Replaces the hop's faults (and restarts their deterministic rate).
    pub fn set_faults(&self, faults: HopFaults) -> Result<(), String> {
        faults.validate()?;
        *lock(&self.faults) = FaultState { faults, served: 0 };
        Ok(())
    }

    /// Decides the fate of the next proxy request: its added latency and action.
    pub fn next_request(&self) -> (std::time::Duration, HopAction) {
        let mut state = lock(&self.faults);
        state.served += 1;
        (state.faults.latency(), state.faults.decide(state.served))
    }
}

/// One call on an external key store hop, for the call log: `hop` is `xks` for the cloud's
/// side (what KMS saw: latency including the network, timeouts) and `xks-proxy` for the lab
/// proxy's own log; `provider` is the cloud making the hop.
#[derive(Debug, Clone, Copy)]
pub struct HopCall<'a> {
    /// `xks` or `xks-proxy`.
    pub hop: &'a str,
    /// The cloud.
    pub provider: ekm_vocab::Cloud,
    /// The hop API (`Encrypt`, `GetHealthStatus`, …).
    pub operation: &'a str,
    /// The KMS key's lab name (cloud side) or the external key id (proxy side).
    pub key: Option<&'a str>,
    /// The store id (cloud side) or the SigV4 access key id (proxy side).
    pub caller: &'a str,
    /// `ok` or what failed.
    pub outcome: &'a str,
    /// Real time the call took.
    pub latency: std::time::Duration,
}

/// The shape the control API shows the proxy's state in.
#[derive(Debug, Clone, Serialize)]
pub struct XksView {
    /// The served `XksProxyUriPath`.
    pub uri_path: String,
    /// The live access key ids (secrets are never shown).
    pub access_key_ids: Vec<String>,
    /// The fleet.
    pub fleet: Vec<manager::Hsm>,
    /// The hop's faults.
    pub faults: HopFaults,
    /// The external keys.
    pub keys: Vec<manager::ExternalKeyInfo>,
    /// Which cloud key each external key backs: `{"key","provider","external_key","via"}`
    /// (`via`: the AWS store id or the GCP external key URI).
    pub bindings: Vec<serde_json::Value>,
}

impl Kms {
    /// Reads the external key store's part of the lab state.
    pub fn xks_read<R>(&self, f: impl FnOnce(&XksState) -> R) -> R {
        self.read(|state| f(&state.xks))
    }

    /// Changes the external key store's part of the lab state, all or nothing: persisted first,
    /// then applied (see [`Kms::write`]). An error of `f` leaves the state as it was.
    pub fn xks_write<R, E: From<StateError>>(
        &self,
        f: impl FnOnce(&mut XksState) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut refused = None;
        let result = self.write(|state| {
            f(&mut state.xks).map_err(|error| {
                refused = Some(error);
                StateError::Internal("refused".into())
            })
        });
        match (result, refused) {
            (Ok(value), _) => Ok(value),
            (Err(_), Some(error)) => Err(error),
            (Err(error), None) => Err(E::from(error)),
        }
    }

    /// Everything the control API shows of the external key store.
    pub fn xks_view(&self) -> XksView {
        let xks = self.xks();
        let endpoint = xks.endpoint();
        XksView {
            uri_path: endpoint.uri_path,
            access_key_ids: endpoint
                .credentials
                .into_iter()
                .map(|c| c.access_key_id)
                .collect(),
            fleet: xks.fleet().members().to_vec(),
            faults: xks.faults(),
            keys: self.xks_read(|x| x.manager.keys()),
            bindings: self.xks_read(|x| {
                let aws = x.stores.bindings.iter().map(|(key, b)| {
                    serde_json::json!({"key": key, "provider": "aws",
                        "external_key": b.xks_key_id, "via": b.store})
                });
                let gcp = x.stores.ekm_keys.iter().map(|(key, ekm)| {
                    let external = ekm.uri.rsplit('/').next().unwrap_or_default();
                    serde_json::json!({"key": key, "provider": "gcp",
                        "external_key": external, "via": ekm.uri,
                        "protection_level": ekm.protection.as_str()})
                });
                aws.chain(gcp).collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked() {
        let xks = Xks::default();
        assert!(Endpoint::default().credentials[0].validate().is_ok());
        assert!(xks.configure(Some("/a b/kms/xks/v1".into()), None).is_err());
        assert!(
            xks.configure(Some("/tenant-1/kms/xks/v2".into()), None)
                .is_err()
        );
        assert!(valid_uri_path("/kms/xks/v1"));
        let second = XksCredential {
            access_key_id: "ROTATEDXKSACCESSKEY234567".into(),
            secret_access_key: Zeroizing::new("b".repeat(43)),
        };
        let both = vec![Endpoint::default().credentials[0].clone(), second.clone()];
        assert_eq!(
            xks.configure(None, Some(both)).unwrap().credentials.len(),
            2
        );
        assert!(
            xks.configure(None, Some(vec![second.clone(), second]))
                .is_err()
        );
        let lower = XksCredential {
            access_key_id: "lowercaseaccesskeyid1".into(),
            secret_access_key: Zeroizing::new("b".repeat(43)),
        };
        assert!(lower.validate().is_err());
        assert!(!format!("{:?}", xks.endpoint()).contains("bbbb"));
    }
}
