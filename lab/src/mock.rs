//! The lab's hold on its mock KMS, as the key owner and the lab operator: key and key-version
//! actions, aliases, faults, the call log and the customer's audit logs rendered from it, and the
//! customer's external key manager (its keys, the cloud keys they
//! back, its HSM fleet's health, the faults of the hop to it). Callers name keys by their lab
//! names and get the mock's own answers ([`KeyInfo`], [`CallPage`], [`ExternalKeyInfo`]) without
//! reaching into the mock's modules.

use std::collections::BTreeMap;

use ekm_access::{Explanation, SignInAs};
use ekm_mock_kms::audit::AuditPage;
use ekm_mock_kms::calls::{CallPage, CallRecord};
use ekm_mock_kms::error::StateError;
use ekm_mock_kms::keys::KeySpec;
use ekm_mock_kms::state::KeyInfo;
use ekm_mock_kms::xks::bindings::NewBinding;
use ekm_mock_kms::xks::faults::HopFaults;
use ekm_mock_kms::xks::manager::ExternalKeyInfo;
use ekm_vocab::{Cloud, Fault, KeyAction, VersionAction};
use ekm_vocab::{ExternalKeyAction, HealthStatus};

use crate::{EmbeddedLab, LabError};

impl EmbeddedLab {
    /// Every key of the mock, in name order.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.mock.lab().list_keys()
    }

    /// The key named `name`.
    pub fn key(&self, name: &str) -> Result<KeyInfo, LabError> {
        Ok(self.mock.lab().key_info(name)?)
    }

    /// Creates key `name` in `cloud` with the same trust and policy for the service identity as
    /// the cloud's demo key.
    pub fn create_key(&self, name: &str, cloud: Cloud, spec: KeySpec) -> Result<KeyInfo, LabError> {
        Ok(self.mock.lab().create_key(name, cloud, spec)?)
    }

    /// Creates every key of `keys` as [`create_key`](Self::create_key) does, their key
    /// material made on tokio's blocking pool on every core at once (a fleet's Azure projects
    /// each need an RSA key: tens of milliseconds apiece). Answers in the order of `keys`, each
    /// with its name.
    pub async fn create_keys(
        &self,
        keys: Vec<(String, Cloud, KeySpec)>,
    ) -> Vec<(String, Result<KeyInfo, LabError>)> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let share = keys.len().div_ceil(cores).max(1);
        let mut keys = keys.into_iter().peekable();
        let mut shares = Vec::new();
        while keys.peek().is_some() {
            let mine: Vec<(String, Cloud, KeySpec)> = keys.by_ref().take(share).collect();
            let names: Vec<String> = mine.iter().map(|(name, ..)| name.clone()).collect();
            let kms = self.mock.lab().clone();
            let task = tokio::task::spawn_blocking(move || {
                mine.into_iter()
                    .map(|(name, cloud, spec)| {
                        let made = kms.create_key(&name, cloud, spec).map_err(LabError::from);
                        (name, made)
                    })
                    .collect::<Vec<_>>()
            });
            shares.push((names, task));
        }
        let mut made = Vec::new();
        for (names, task) in shares {
            match task.await {
                Ok(share) => made.extend(share),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => made.extend(names.into_iter().map(|name| {
                    let interrupted = StateError::Internal("key generation was interrupted".into());
                    (name, Err(LabError::from(interrupted)))
                })),
            }
        }
        made
    }

    /// Takes `action` on key `name` as its owner.
    pub fn apply(&self, name: &str, action: KeyAction) -> Result<KeyInfo, LabError> {
        Ok(self.mock.lab().apply(name, action)?)
    }

    /// Takes `action` on version `version` (the cloud's version id) of key `name` as its owner:
    /// GCP and Azure keys only (AWS KMS keys have no per-version state; Azure none of destroy
    /// and restore), refused with the reason.
    pub fn apply_version(
        &self,
        name: &str,
        version: &str,
        action: VersionAction,
    ) -> Result<KeyInfo, LabError> {
        Ok(self.mock.lab().apply_version(name, version, action)?)
    }

    /// What the customer's documents decide for EKM's sign-in, encrypt and decrypt on the
    /// `cloud` key a registration names `key`, with each decision's trace and the lint of the
    /// documents behind them.
    pub fn explain(
        &self,
        cloud: Cloud,
        key: &str,
        sign_in: &SignInAs,
    ) -> Result<Explanation, LabError> {
        Ok(self.mock.lab().explain(cloud, key, sign_in)?)
    }

    /// Every AWS alias (without `alias/`) and the key it points at, in alias order.
    pub fn aliases(&self) -> BTreeMap<String, String> {
        self.mock.lab().read(|state| state.aliases.clone())
    }

    /// Points the AWS alias `alias` (without `alias/`) at key `target`.
    pub fn set_alias(&self, alias: &str, target: &str) -> Result<(), LabError> {
        Ok(self.mock.lab().set_alias(alias, target)?)
    }

    /// Replaces the injected faults; their windows start now (lab time).
    pub fn set_faults(&self, faults: Vec<Fault>) -> Result<(), LabError> {
        Ok(self.mock.lab().set_faults(faults)?)
    }

    /// The faults in force now.
    pub fn faults(&self) -> Vec<Fault> {
        let kms = self.mock.lab();
        kms.faults().list(kms.now())
    }

    /// The calls the mock answered after sequence number `since` (exclusive), oldest first;
    /// pass the page's `next` to read on.
    pub fn calls_since(&self, since: u64) -> CallPage {
        self.mock.lab().calls().since(since)
    }

    /// `call` as its cloud's own audit record — a CloudTrail event, a Cloud Audit Logs entry, a
    /// Key Vault `AuditEvent` — or `None` when that cloud would not log it.
    pub fn audit_record(&self, call: &CallRecord) -> Option<serde_json::Value> {
        ekm_mock_kms::audit::render(self.mock.lab(), call)
    }

    /// `cloud`'s audit records of the calls after sequence number `since` (exclusive), oldest
    /// first; pass the page's `next` to read on.
    pub fn audit_since(&self, cloud: Cloud, since: u64) -> AuditPage {
        ekm_mock_kms::audit::records(self.mock.lab(), cloud, since)
    }

    /// Creates the enabled AES-256 key `id` in the customer's external key manager (the HSMs
    /// behind the lab's XKS proxy), unless it exists; its state either way.
    pub fn ensure_external_key(&self, id: &str) -> Result<ExternalKeyInfo, LabError> {
        let kms = self.mock.lab();
        if let Ok(info) = kms.xks_read(|x| x.manager.key_info(id)) {
            return Ok(info);
        }
        Ok(kms.xks_write(|x| {
            x.manager
                .create_key(id, None)
                .map_err(StateError::InvalidRequest)
        })?)
    }

    /// Creates key `name` in `cloud` (AWS: in the lab's external key store; GCP: a Cloud EKM
    /// key of protection level `EXTERNAL`) backed by external key `external_key`, with the same
    /// trust and policy for the service identity as the cloud's demo key.
    pub fn create_external_backed_key(
        &self,
        name: &str,
        cloud: Cloud,
        external_key: &str,
    ) -> Result<KeyInfo, LabError> {
        let bound = self.mock.lab().bind_external(NewBinding {
            name: name.to_owned(),
            provider: cloud.as_str().to_owned(),
            external_key: external_key.to_owned(),
            protection_level: None,
            external_key_uri: None,
        })?;
        Ok(bound.key)
    }

    /// Takes `action` on external key `id` as the customer, in their own key manager (the
    /// cloud's key is untouched).
    pub fn external_key_action(
        &self,
        id: &str,
        action: ExternalKeyAction,
    ) -> Result<ExternalKeyInfo, LabError> {
        Ok(self.mock.lab().xks_write(|x| {
            x.manager
                .apply(id, action)
                .map_err(StateError::InvalidRequest)
        })?)
    }

    /// Sets the health of every HSM of the external key manager's fleet.
    pub fn set_hsm_fleet(&self, health: HealthStatus) -> Result<(), LabError> {
        self.mock
            .lab()
            .xks()
            .set_health(None, health)
            .map_err(|e| LabError::Refused(StateError::InvalidRequest(e)))
    }

    /// Replaces the faults of the hop between the clouds and the external key manager's proxy.
    pub fn set_hop_faults(&self, faults: HopFaults) -> Result<(), LabError> {
        self.mock
            .lab()
            .xks()
            .set_faults(faults)
            .map_err(|e| LabError::Refused(StateError::InvalidRequest(e)))
    }

    /// Changes how long the clouds wait for the external key manager's proxy (1 ms to 60 s).
    pub fn set_hop_timeout(&self, timeout: std::time::Duration) -> Result<(), LabError> {
        self.mock
            .lab()
            .xks()
            .hop()
            .set_timeout(timeout)
            .map_err(|e| LabError::Refused(StateError::InvalidRequest(e)))
    }

    /// How long the clouds wait for the external key manager's proxy (the XKS spec's 250 ms
    /// unless changed).
    pub fn hop_timeout(&self) -> std::time::Duration {
        self.mock.lab().xks().hop().timeout()
    }
}
