//! The lab's hold on its mock KMS, as the key owner and the lab operator: key actions, aliases,
//! faults, the call log. Callers name keys by their lab names and get the mock's own answers
//! ([`KeyInfo`], [`CallPage`]) without reaching into the mock's modules.

use ekm_mock_kms::calls::CallPage;
use ekm_mock_kms::keys::KeySpec;
use ekm_mock_kms::state::KeyInfo;
use ekm_vocab::{Cloud, Fault, KeyAction};

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

    /// Takes `action` on key `name` as its owner.
    pub fn apply(&self, name: &str, action: KeyAction) -> Result<KeyInfo, LabError> {
        Ok(self.mock.lab().apply(name, action)?)
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
}
