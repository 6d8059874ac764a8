//! The external key manager behind the lab's XKS proxy: the customer's own HSM fleet, outside
//! the cloud. It holds AES-256 keys with a lifecycle of their own (enabled, disabled, deleted —
//! none of which the cloud can see or undo) and does the AES-GCM operations the XKS Proxy API
//! specification (v1.0.3) describes. The keys are part of the lab state (saved to `--state`
//! with the rest, a deleted key without its material); the fleet's health ([`Fleet`]) is a
//! run-time condition, like the hop's faults.
//!
//!
//! - the AES-GCM AAD is `u16be(len(aad)) ‖ aad ‖ u8(len(metadata)) ‖ metadata` (spec, Encrypt,
//!   `ciphertextMetadata`), so metadata moved into the AAD never decrypts;
//! - every encrypt returns `ciphertextMetadata` (here the 2-byte version tag `v1`), a 12-byte IV
//!   and a 16-byte tag, and the ciphertext is as long as the plaintext;
//! - the CDIV is SHA-256 over `aad ‖ metadata ‖ iv ‖ ciphertext ‖ tag` (Appendix C), computed
//!   before the manager checks that the output decrypts.
//!
//! Key material never leaves this module: it is zeroized on drop and on delete, and `Debug`
//! redacts it.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use ekm_vocab::{ExternalKeyAction, HealthStatus};

use super::api::ErrorName;

/// The `ciphertextMetadata` this manager stamps on its ciphertexts (≤ 20 bytes, spec).
pub const CIPHERTEXT_METADATA: &[u8] = b"v1";
/// Largest plaintext, ciphertext or AAD the manager takes, in bytes (the spec's minimums:
/// 4300 bytes of data, 8192 bytes of AAD); above them it answers `UnsupportedOperationException`.
pub const MAX_DATA_BYTES: usize = 4300;
/// Largest AAD, in bytes.
pub const MAX_AAD_BYTES: usize = 8192;
/// Largest `ciphertextMetadata`, in bytes.
pub const MAX_METADATA_BYTES: usize = 20;
const TAG_LEN: usize = 16;

/// An external key's status in the manager (spec `keyStatus`), plus `deleted` for a key whose
/// material the customer destroyed (the proxy answers `KeyNotFoundException` for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExternalKeyStatus {
    /// Usable.
    Enabled,
    /// Refuses cryptographic operations (`InvalidStateException`) until enabled.
    Disabled,
    /// Material destroyed: gone for good.
    Deleted,
}

/// One member of the manager's fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hsm {
    /// Its id in the cluster.
    pub id: String,
    /// Its model.
    pub model: String,
    /// Its health.
    #[serde(rename = "healthStatus")]
    pub health: HealthStatus,
}

/// An external key as the control API shows it (no material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalKeyInfo {
    /// The `externalKeyId`.
    pub id: String,
    /// `enabled`, `disabled` or `deleted`.
    pub status: ExternalKeyStatus,
    /// The spec's `keyUsage` strings.
    pub usage: Vec<String>,
}

#[derive(Clone)]
struct ExternalKey {
    status: ExternalKeyStatus,
    usage: Vec<String>,
    material: Option<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for ExternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalKey")
            .field("status", &self.status)
            .field("usage", &self.usage)
            .field("material", &"[redacted]")
            .finish()
    }
}

/// An AES-GCM result as the Encrypt API returns it (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Same length as the plaintext.
    pub ciphertext: Vec<u8>,
    /// The manager's housekeeping bytes, bound into the AAD.
    pub metadata: Vec<u8>,
    /// 12 bytes.
    pub iv: Vec<u8>,
    /// 16 bytes.
    pub tag: Vec<u8>,
}

impl Sealed {
    /// The spec's Ciphertext Data Integrity Value: SHA-256 over
    /// `aad ‖ metadata ‖ iv ‖ ciphertext ‖ tag` (Appendix C).
    pub fn cdiv(&self, aad: &[u8]) -> Vec<u8> {
        let mut hash = Sha256::new();
        for part in [aad, &self.metadata, &self.iv, &self.ciphertext, &self.tag] {
            hash.update(part);
        }
        hash.finalize().to_vec()
    }
}

/// Why the manager refused an operation: the spec's error name and a message.
pub type Refusal = (ErrorName, String);

/// The external key manager's keys.
#[derive(Debug, Clone, Default)]
pub struct KeyManager {
    keys: BTreeMap<String, ExternalKey>,
}

/// An external key with its material, as the state file holds it.
#[derive(Debug)]
pub struct ExternalKeyRecord {
    /// The `externalKeyId`.
    pub id: String,
    /// Its status.
    pub status: ExternalKeyStatus,
    /// The spec's `keyUsage` strings.
    pub usage: Vec<String>,
    /// The AES-256 key; `None` exactly when the key is deleted.
    pub material: Option<Zeroizing<[u8; 32]>>,
}

/// The manager's HSM fleet and its health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    members: Vec<Hsm>,
}

impl Default for Fleet {
    /// Two healthy HSMs.
    fn default() -> Self {
        let hsm = |id: &str| Hsm {
            id: id.to_owned(),
            model: "EKM Lab virtual HSM 1.0".to_owned(),
            health: HealthStatus::Active,
        };
        Self {
            members: vec![hsm("hsm-1"), hsm("hsm-2")],
        }
    }
}

impl Fleet {
    /// The members.
    pub fn members(&self) -> &[Hsm] {
        &self.members
    }

    /// Sets the health of HSM `id`, or of the whole fleet when `id` is `None`.
    pub fn set_health(&mut self, id: Option<&str>, health: HealthStatus) -> Result<(), String> {
        let mut found = false;
        for hsm in &mut self.members {
            if id.is_none_or(|id| id == hsm.id) {
                hsm.health = health;
                found = true;
            }
        }
        if found {
            Ok(())
        } else {
            Err(format!("no HSM `{}` in the fleet", id.unwrap_or_default()))
        }
    }

    /// Whether some HSM can serve traffic; when none can, every key operation is refused with
    /// `InternalException` (the manager cannot be reached from the proxy).
    pub fn serving(&self) -> Result<(), Refusal> {
        if self
            .members
            .iter()
            .any(|hsm| hsm.health != HealthStatus::Unavailable)
        {
            Ok(())
        } else {
            Err((
                ErrorName::InternalException,
                "no HSM in the external key manager's fleet is available".into(),
            ))
        }
    }
}

/// Whether `id` is a valid `externalKeyId`: 1–128 of `[A-Za-z0-9._-]` (spec).
pub fn valid_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn aad_input(aad: &[u8], metadata: &[u8]) -> Result<Vec<u8>, Refusal> {
    let aad_len = u16::try_from(aad.len()).map_err(|_| {
        (
            ErrorName::UnsupportedOperationException,
            format!("additionalAuthenticatedData exceeds {MAX_AAD_BYTES} bytes"),
        )
    })?;
    let meta_len = u8::try_from(metadata.len()).map_err(|_| {
        (
            ErrorName::ValidationException,
            format!("ciphertextMetadata exceeds {MAX_METADATA_BYTES} bytes"),
        )
    })?;
    let mut input = Vec::with_capacity(3 + aad.len() + metadata.len());
    input.extend_from_slice(&aad_len.to_be_bytes());
    input.extend_from_slice(aad);
    input.push(meta_len);
    input.extend_from_slice(metadata);
    Ok(input)
}

impl KeyManager {
    /// Creates an enabled AES-256 key `id` with `usage` (default `ENCRYPT`, `DECRYPT`).
    pub fn create_key(
        &mut self,
        id: &str,
        usage: Option<Vec<String>>,
    ) -> Result<ExternalKeyInfo, String> {
        if !valid_key_id(id) {
            return Err(format!(
                "external key id `{id}` must be 1-128 characters of A-Z a-z 0-9 . _ -"
            ));
        }
        if self.keys.contains_key(id) {
            return Err(format!("external key `{id}` already exists"));
        }
        let usage = usage.unwrap_or_else(|| vec!["ENCRYPT".into(), "DECRYPT".into()]);
        if usage.len() > 10 {
            return Err("an external key has at most ten keyUsage values".into());
        }
        let mut material = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(material.as_mut())
            .map_err(|_| "the random number generator failed".to_owned())?;
        self.keys.insert(
            id.to_owned(),
            ExternalKey {
                status: ExternalKeyStatus::Enabled,
                usage,
                material: Some(material),
            },
        );
        self.key_info(id)
    }

    /// Applies a lifecycle action; deleting destroys the material at once. Repeating an action
    /// is not an error; changing a deleted key is.
    pub fn apply(
        &mut self,
        id: &str,
        action: ExternalKeyAction,
    ) -> Result<ExternalKeyInfo, String> {
        let key = self
            .keys
            .get_mut(id)
            .ok_or_else(|| format!("external key `{id}` does not exist"))?;
        match (key.status, action) {
            (ExternalKeyStatus::Deleted, ExternalKeyAction::Delete) => {}
            (ExternalKeyStatus::Deleted, _) => {
                return Err(format!("external key `{id}` is deleted"));
            }
            (_, ExternalKeyAction::Enable) => key.status = ExternalKeyStatus::Enabled,
            (_, ExternalKeyAction::Disable) => key.status = ExternalKeyStatus::Disabled,
            (_, ExternalKeyAction::Delete) => {
                key.status = ExternalKeyStatus::Deleted;
                key.material = None;
            }
        }
        self.key_info(id)
    }

    /// Every key with its material, for the state file.
    pub fn records(&self) -> Vec<ExternalKeyRecord> {
        self.keys
            .iter()
            .map(|(id, key)| ExternalKeyRecord {
                id: id.clone(),
                status: key.status,
                usage: key.usage.clone(),
                material: key.material.clone(),
            })
            .collect()
    }

    /// The manager holding `records` (from a state file), or the first record that breaks a
    /// rule, as `records[i].field: why`.
    pub fn from_records(records: Vec<ExternalKeyRecord>) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        for (index, record) in records.into_iter().enumerate() {
            let field = format!("external_keys[{index}] ({})", record.id);
            if !valid_key_id(&record.id) {
                return Err(format!(
                    "{field}.id: must be 1-128 characters of A-Z a-z 0-9 . _ -"
                ));
            }
            if record.usage.len() > 10 {
                return Err(format!("{field}.usage: at most ten keyUsage values"));
            }
            let deleted = record.status == ExternalKeyStatus::Deleted;
            if deleted != record.material.is_none() {
                return Err(format!(
                    "{field}.material: a deleted key has no material and any other key has                      its 32 bytes"
                ));
            }
            let key = ExternalKey {
                status: record.status,
                usage: record.usage,
                material: record.material,
            };
            if keys.insert(record.id.clone(), key).is_some() {
                return Err(format!("{field}.id: a key of that id appears earlier"));
            }
        }
        Ok(Self { keys })
    }

    /// The control-API view of key `id`.
    pub fn key_info(&self, id: &str) -> Result<ExternalKeyInfo, String> {
        self.keys
            .get(id)
            .map(|key| ExternalKeyInfo {
                id: id.to_owned(),
                status: key.status,
                usage: key.usage.clone(),
            })
            .ok_or_else(|| format!("external key `{id}` does not exist"))
    }

    /// Every key, by id.
    pub fn keys(&self) -> Vec<ExternalKeyInfo> {
        self.keys
            .keys()
            .filter_map(|id| self.key_info(id).ok())
            .collect()
    }

    /// Finds a usable key for `operation` (`ENCRYPT`, `DECRYPT`), or the spec's refusal.
    fn usable(&self, id: &str, operation: &str) -> Result<LessSafeKey, Refusal> {
        let key = self
            .keys
            .get(id)
            .filter(|key| key.status != ExternalKeyStatus::Deleted)
            .ok_or_else(|| {
                (
                    ErrorName::KeyNotFoundException,
                    format!("external key {id} is not found"),
                )
            })?;
        if key.status == ExternalKeyStatus::Disabled {
            return Err((
                ErrorName::InvalidStateException,
                format!("external key {id} is disabled"),
            ));
        }
        if !key.usage.iter().any(|u| u == operation) {
            return Err((
                ErrorName::InvalidKeyUsageException,
                format!("external key {id} does not support {operation}"),
            ));
        }
        let material = key.material.as_ref().ok_or_else(|| {
            (
                ErrorName::KeyNotFoundException,
                format!("external key {id} is not found"),
            )
        })?;
        UnboundKey::new(&AES_256_GCM, material.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| (ErrorName::InternalException, "bad key material".into()))
    }

    /// The spec's GetKeyMetadata: `(keyUsage, keyStatus)` of an existing key.
    pub fn metadata(&self, id: &str) -> Result<(Vec<String>, &'static str), Refusal> {
        match self.keys.get(id) {
            Some(key) if key.status != ExternalKeyStatus::Deleted => Ok((
                key.usage.clone(),
                if key.status == ExternalKeyStatus::Enabled {
                    "ENABLED"
                } else {
                    "DISABLED"
                },
            )),
            _ => Err((
                ErrorName::KeyNotFoundException,
                format!("external key {id} is not found"),
            )),
        }
    }

    /// AES-GCM encryption under key `id`, binding `aad` and the manager's metadata.
    pub fn encrypt(&self, id: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, Refusal> {
        let cipher = self.usable(id, "ENCRYPT")?;
        let mut iv = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut iv)
            .map_err(|_| (ErrorName::InternalException, "the RNG failed".to_owned()))?;
        let input = aad_input(aad, CIPHERTEXT_METADATA)?;
        let mut ciphertext = plaintext.to_vec();
        let tag = cipher
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(input),
                &mut ciphertext,
            )
            .map_err(|_| (ErrorName::InternalException, "AES-GCM failed".to_owned()))?;
        Ok(Sealed {
            ciphertext,
            metadata: CIPHERTEXT_METADATA.to_vec(),
            iv: iv.to_vec(),
            tag: tag.as_ref().to_vec(),
        })
    }

    /// AES-GCM decryption under key `id`; any mismatch is `InvalidCiphertextException`.
    pub fn decrypt(
        &self,
        id: &str,
        aad: &[u8],
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, Refusal> {
        let cipher = self.usable(id, "DECRYPT")?;
        let invalid = || {
            (
                ErrorName::InvalidCiphertextException,
                "The request was rejected because the specified ciphertext, or additional \
                 authenticated data is corrupted, missing, or otherwise invalid."
                    .to_owned(),
            )
        };
        // This manager makes 12-byte IVs; a 16-byte IV is valid on the wire but none of ours.
        let iv = Nonce::try_assume_unique_for_key(&sealed.iv).map_err(|_| invalid())?;
        if sealed.tag.len() != TAG_LEN {
            return Err(invalid());
        }
        let input = aad_input(aad, &sealed.metadata)?;
        let mut buffer = Zeroizing::new([sealed.ciphertext.as_slice(), &sealed.tag].concat());
        let len = cipher
            .open_in_place(iv, Aad::from(input), buffer.as_mut_slice())
            .map_err(|_| invalid())?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> KeyManager {
        let mut manager = KeyManager::default();
        manager.create_key("k1", None).unwrap();
        manager
    }

    #[test]
    fn round_trip_binds_aad_and_metadata() {
        let m = manager();
        let sealed = m.encrypt("k1", b"aad", b"Hello World!").unwrap();
        assert_eq!(sealed.ciphertext.len(), 12);
        assert_eq!((sealed.iv.len(), sealed.tag.len()), (12, 16));
        assert_eq!(
            m.decrypt("k1", b"aad", &sealed).unwrap().as_slice(),
            b"Hello World!"
        );
        assert_eq!(
            m.decrypt("k1", b"bad", &sealed).unwrap_err().0,
            ErrorName::InvalidCiphertextException
        );
        // The metadata moved into the AAD does not decrypt (the spec's length rule).
        let moved = Sealed {
            metadata: Vec::new(),
            ..sealed.clone()
        };
        let aad = [b"aad".as_slice(), CIPHERTEXT_METADATA].concat();
        assert!(m.decrypt("k1", &aad, &moved).is_err());
        for i in 0..sealed.ciphertext.len() {
            let mut flipped = sealed.clone();
            flipped.ciphertext[i] ^= 1;
            assert!(m.decrypt("k1", b"aad", &flipped).is_err());
        }
    }

    #[test]
    fn cdiv_matches_the_specs_worked_example() {
        let hex = |s: &str| hex::decode(s.replace(' ', "")).unwrap();
        let sealed = Sealed {
            metadata: b"key_version=1".to_vec(),
            iv: hex("1c ca e5 47 0f 39 70 02 54 77 90 31"),
            ciphertext: hex("82 1c 64 2b 5b 71 78 33 67 de af 18"),
            tag: hex("bc 1c 4d da 77 07 d6 81 24 47 c5 95 5e 99 b2 61"),
        };
        assert_eq!(
            hex::encode(sealed.cdiv(b"project=nile,department=marketing")),
            "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7"
        );
    }

    #[test]
    fn lifecycle_and_fleet_decide_the_refusals() {
        let mut m = manager();
        m.apply("k1", ExternalKeyAction::Disable).unwrap();
        assert_eq!(
            m.encrypt("k1", b"", b"x").unwrap_err().0,
            ErrorName::InvalidStateException
        );
        assert_eq!(m.metadata("k1").unwrap().1, "DISABLED");
        m.apply("k1", ExternalKeyAction::Enable).unwrap();
        let sealed = m.encrypt("k1", b"", b"x").unwrap();
        let mut fleet = Fleet::default();
        fleet.set_health(None, HealthStatus::Unavailable).unwrap();
        assert_eq!(fleet.serving().unwrap_err().0, ErrorName::InternalException);
        fleet
            .set_health(Some("hsm-2"), HealthStatus::Degraded)
            .unwrap();
        assert!(fleet.serving().is_ok());
        assert!(
            fleet
                .set_health(Some("hsm-9"), HealthStatus::Active)
                .is_err()
        );
        assert!(m.decrypt("k1", b"", &sealed).is_ok());
        m.apply("k1", ExternalKeyAction::Delete).unwrap();
        assert_eq!(
            m.decrypt("k1", b"", &sealed).unwrap_err().0,
            ErrorName::KeyNotFoundException
        );
        assert!(m.apply("k1", ExternalKeyAction::Enable).is_err());
        assert!(format!("{:?}", m).contains("[redacted]"));
        m.create_key("signer", Some(vec!["SIGN".into()])).unwrap();
        assert_eq!(
            m.encrypt("signer", b"", b"x").unwrap_err().0,
            ErrorName::InvalidKeyUsageException
        );
        assert!(m.create_key("bad/id", None).is_err());
    }

    #[test]
    fn records_round_trip_and_are_checked() {
        let mut m = manager();
        m.create_key("k2", None).unwrap();
        m.apply("k2", ExternalKeyAction::Delete).unwrap();
        let sealed = m.encrypt("k1", b"a", b"secret").unwrap();
        let back = KeyManager::from_records(m.records()).unwrap();
        assert_eq!(
            back.decrypt("k1", b"a", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert_eq!(
            back.key_info("k2").unwrap().status,
            ExternalKeyStatus::Deleted
        );
        let mut records = m.records();
        records[1].material = Some(Zeroizing::new([0; 32]));
        let why = KeyManager::from_records(records).unwrap_err();
        assert!(why.starts_with("external_keys[1] (k2).material"), "{why}");
        let mut twice = m.records();
        twice[1].id = "k1".into();
        twice[1].status = ExternalKeyStatus::Enabled;
        twice[1].material = Some(Zeroizing::new([0; 32]));
        assert!(
            KeyManager::from_records(twice)
                .unwrap_err()
                .contains("appears earlier")
        );
    }
}
