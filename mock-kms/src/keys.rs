//! The key model every cloud front-end shares: providers, key specs, lifecycle states, versions
//! and their material, and the symmetric ciphertext blobs AWS and GCP keys produce.
//!
//! A key has a lab-wide short name (`aws-demo`, `gcp-demo`, `azure-demo`, …), the cloud's own id
//! (an ARN, a GCP resource name, an Azure key URL path), a lifecycle state, the service identity's
//! `access` (policy / role assignment) and `trust` (trust policy / workload identity / service
//! principal) switches, and an ordered list of versions of which the last is primary. Rotation
//! appends a version; old versions keep decrypting, as in every real KMS.
//!
//! Symmetric ciphertext blobs name the key and version they were made under, so a Decrypt without
//! a key id finds its key (AWS), a ciphertext presented to another key is recognised as such, and
//! a version remembers what made it (GCP). The header is bound into the AES-256-GCM AAD, so editing
//! it fails like any other tampering.
//!
//! Each version also has a state of its own, as the customer manages it on GCP
//! (`cryptoKeyVersions` patch / `:destroy` / `:restore`) and Azure (`attributes.enabled` of a key
//! version): the same [`KeyState`] words as a key's, under the key's — a version is usable only
//! when both are enabled ([`Key::version_state_at`]). A version scheduled for destruction is
//! destroyed, and its material dropped, when its date passes on the lab clock.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use ekm_vocab::Cloud;

use crate::error::StateError;

/// What kind of key material a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySpec {
    /// AES-256-GCM (AWS `SYMMETRIC_DEFAULT`, GCP `GOOGLE_SYMMETRIC_ENCRYPTION`).
    #[serde(rename = "SYMMETRIC_DEFAULT")]
    SymmetricDefault,
    /// RSA 2048 (Azure `RSA`, 2048 bits).
    #[serde(rename = "RSA_2048")]
    Rsa2048,
    /// RSA 3072.
    #[serde(rename = "RSA_3072")]
    Rsa3072,
    /// RSA 4096.
    #[serde(rename = "RSA_4096")]
    Rsa4096,
    /// ECDSA P-256 (Azure `EC`): exists, but refuses encrypt/decrypt as the real service does.
    #[serde(rename = "EC_P256")]
    EcP256,
}

impl KeySpec {
    /// The spec's name on the wire (`SYMMETRIC_DEFAULT`, `RSA_2048`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EcP256 => "EC_P256",
        }
    }

    /// Parses a spec name, checking it is one the provider offers for this lab.
    pub fn parse_for(provider: Cloud, spec: &str) -> Result<Self, StateError> {
        let allowed: &[KeySpec] = match provider {
            Cloud::Aws | Cloud::Gcp => &[KeySpec::SymmetricDefault],
            Cloud::Azure => &[
                KeySpec::Rsa2048,
                KeySpec::Rsa3072,
                KeySpec::Rsa4096,
                KeySpec::EcP256,
            ],
        };
        allowed
            .iter()
            .copied()
            .find(|candidate| candidate.as_str() == spec)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                StateError::InvalidRequest(format!(
                    "unknown key spec `{spec}` for {provider}; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The spec a provider's keys get when none is given.
    pub fn default_for(provider: Cloud) -> Self {
        match provider {
            Cloud::Aws | Cloud::Gcp => KeySpec::SymmetricDefault,
            Cloud::Azure => KeySpec::Rsa2048,
        }
    }
}

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Refuses cryptographic operations until enabled again.
    Disabled,
    /// Scheduled for destruction at `deletion_date` (lab time); refuses operations meanwhile.
    PendingDeletion {
        /// When the key becomes `Destroyed`.
        #[serde(with = "time::serde::rfc3339")]
        deletion_date: OffsetDateTime,
    },
    /// Material gone for good.
    Destroyed,
}

impl KeyState {
    /// The state's name in the control API (`enabled`, `disabled`, `pending-deletion`, `destroyed`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "enabled",
            KeyState::Disabled => "disabled",
            KeyState::PendingDeletion { .. } => "pending-deletion",
            KeyState::Destroyed => "destroyed",
        }
    }
}

/// The date a deletion of key `key` scheduled at `now` with a `window` of lab time takes effect;
/// refused when that date would pass the lab clock's horizon (it would never arrive).
pub fn deletion_date(
    key: &str,
    now: OffsetDateTime,
    window: std::time::Duration,
) -> Result<OffsetDateTime, StateError> {
    ekm_clock::checked_later(now, window).map_err(|_| {
        StateError::InvalidRequest(format!(
            "key `{key}` cannot be scheduled for deletion: a window of {} days from {now} ends past \
             the lab clock's horizon {}",
            window.as_secs() / 86_400,
            ekm_clock::HORIZON
        ))
    })
}

/// Secret key material of one version. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub enum KeyMaterial {
    /// 32 bytes of AES-256-GCM key.
    Aes256(Zeroizing<[u8; 32]>),
    /// An RSA private key (PKCS#8 DER).
    Rsa(Zeroizing<Vec<u8>>),
    /// An EC P-256 private key (PKCS#8 DER).
    EcP256(Zeroizing<Vec<u8>>),
    /// None left: the key was destroyed.
    Destroyed,
}

impl KeyMaterial {
    /// Fresh material for `spec` from the OS RNG.
    pub fn generate(spec: KeySpec) -> Result<Self, StateError> {
        let failed =
            |what: &str| StateError::Internal(format!("could not generate {what} key material"));
        match spec {
            KeySpec::SymmetricDefault => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| failed("AES-256"))?;
                Ok(KeyMaterial::Aes256(bytes))
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let bits = match spec {
                    KeySpec::Rsa2048 => 2048,
                    KeySpec::Rsa3072 => 3072,
                    _ => 4096,
                };
                let der = crate::keygen::rsa_der(bits).ok_or_else(|| failed("RSA"))?;
                Ok(KeyMaterial::Rsa(der))
            }
            KeySpec::EcP256 => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let doc = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &rng,
                )
                .map_err(|_| failed("EC P-256"))?;
                Ok(KeyMaterial::EcP256(Zeroizing::new(doc.as_ref().to_vec())))
            }
        }
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            KeyMaterial::Aes256(_) => "Aes256",
            KeyMaterial::Rsa(_) => "Rsa",
            KeyMaterial::EcP256(_) => "EcP256",
            KeyMaterial::Destroyed => return f.write_str("KeyMaterial::Destroyed"),
        };
        write!(f, "KeyMaterial::{kind}([redacted])")
    }
}

/// One version of a key.
#[derive(Debug, Clone)]
pub struct KeyVersion {
    /// The version's id: `1`, `2`, … for GCP; 32 hex digits for AWS and Azure.
    pub id: String,
    /// When the version was made (lab time).
    pub created: OffsetDateTime,
    /// The secret material.
    pub material: KeyMaterial,
    /// The version's own state (read it through [`Key::version_state_at`]).
    pub state: KeyState,
}

impl KeyVersion {
    /// The version's own state at lab time `now`: a passed destruction date is `Destroyed`.
    pub fn state_at(&self, now: OffsetDateTime) -> KeyState {
        match self.state {
            KeyState::PendingDeletion { deletion_date } if deletion_date <= now => {
                KeyState::Destroyed
            }
            state => state,
        }
    }

    /// Destroys the version: its state becomes `Destroyed` and its material is dropped.
    fn destroy(&mut self) {
        self.state = KeyState::Destroyed;
        self.material = KeyMaterial::Destroyed;
    }
}

/// A key in the lab.
#[derive(Debug, Clone)]
pub struct Key {
    /// Lab-wide short name (`aws-demo`); also the Azure vault key name and GCP cryptoKey id.
    pub name: String,
    /// The cloud.
    pub provider: Cloud,
    /// The cloud's own id (AWS key ARN, GCP resource name, Azure `https://HOST/keys/NAME` path
    /// without the host: `/keys/NAME`).
    pub id: String,
    /// Material kind.
    pub spec: KeySpec,
    /// Lifecycle state (read it through [`Key::state_at`] so scheduled deletions take effect).
    pub state: KeyState,
    /// Whether the service identity's policy / role assignment on this key exists.
    pub access: bool,
    /// Whether the service identity is trusted (trust policy, workload identity, service principal).
    pub trust: bool,
    /// Versions, oldest first; the last one is primary.
    pub versions: Vec<KeyVersion>,
    /// When the key was created (lab time).
    pub created: OffsetDateTime,
}

impl Key {
    /// A new enabled key with one version, access and trust granted to the service identity.
    pub fn generate(
        name: &str,
        provider: Cloud,
        id: String,
        spec: KeySpec,
        now: OffsetDateTime,
    ) -> Result<Self, StateError> {
        let mut key = Key {
            name: name.to_owned(),
            provider,
            id,
            spec,
            state: KeyState::Enabled,
            access: true,
            trust: true,
            versions: Vec::new(),
            created: now,
        };
        key.add_version(now, KeyMaterial::generate(spec)?);
        Ok(key)
    }

    /// Appends a new primary version with `material` (made for this key's spec, see
    /// [`KeyMaterial::generate`]). Old versions stay usable for decryption. GCP versions are
    /// numbered one past the highest so far.
    pub fn add_version(&mut self, now: OffsetDateTime, material: KeyMaterial) -> &KeyVersion {
        let id = match self.provider {
            Cloud::Gcp => {
                let highest = self
                    .versions
                    .iter()
                    .filter_map(|v| v.id.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0);
                highest.saturating_add(1).to_string()
            }
            Cloud::Aws | Cloud::Azure => uuid::Uuid::new_v4().simple().to_string(),
        };
        self.versions.push(KeyVersion {
            id,
            created: now,
            material,
            state: KeyState::Enabled,
        });
        self.primary()
    }

    /// The primary (newest) version.
    pub fn primary(&self) -> &KeyVersion {
        self.versions
            .last()
            .expect("a key always has at least one version: Key::generate adds it")
    }

    /// The version with id `id`.
    pub fn version(&self, id: &str) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The state at lab time `now`: a pending deletion whose date has passed is `Destroyed`.
    pub fn state_at(&self, now: OffsetDateTime) -> KeyState {
        match self.state {
            KeyState::PendingDeletion { deletion_date } if deletion_date <= now => {
                KeyState::Destroyed
            }
            state => state,
        }
    }

    /// The state of `version` at `now` as its clients meet it: the key's state unless the key is
    /// enabled, then the version's own.
    pub fn version_state_at(&self, version: &KeyVersion, now: OffsetDateTime) -> KeyState {
        match self.state_at(now) {
            KeyState::Enabled => version.state_at(now),
            key_state => key_state,
        }
    }

    /// Makes passed deletion dates final, the key's and its versions' (and drops their material,
    /// as a real KMS does).
    pub fn settle(&mut self, now: OffsetDateTime) {
        if self.state != self.state_at(now) {
            self.destroy();
        }
        for version in &mut self.versions {
            if version.state != version.state_at(now) {
                version.destroy();
            }
        }
    }

    /// Whether a deletion date (the key's or a version's) has passed at `now` but the material
    /// is still here.
    pub fn needs_settling(&self, now: OffsetDateTime) -> bool {
        self.state != self.state_at(now) || self.versions.iter().any(|v| v.state != v.state_at(now))
    }

    /// Changes the own state of version `id` as its owner asks at `now`; a destruction is
    /// scheduled `destroy_after` later. Refused (`InvalidState`) from a state the clouds refuse it
    /// from: only an enabled or disabled version is enabled, disabled or scheduled for
    /// destruction, and only one scheduled for destruction is restored (to disabled).
    pub fn change_version(
        &mut self,
        id: &str,
        action: ekm_vocab::VersionAction,
        now: OffsetDateTime,
        destroy_after: std::time::Duration,
    ) -> Result<&KeyVersion, StateError> {
        use ekm_vocab::VersionAction;
        let key = self.name.clone();
        if !matches!(self.state_at(now), KeyState::Enabled | KeyState::Disabled) {
            return Err(StateError::InvalidState {
                key,
                state: self.state_at(now).as_str(),
                reason: "the versions of a key pending deletion or destroyed cannot change".into(),
            });
        }
        let version = self
            .versions
            .iter_mut()
            .find(|v| v.id == id)
            .ok_or_else(|| StateError::VersionNotFound {
                key: key.clone(),
                version: id.to_owned(),
            })?;
        let current = version.state_at(now);
        let refuse = |reason: &str| StateError::VersionState {
            key: key.clone(),
            version: id.to_owned(),
            state: current,
            reason: reason.to_owned(),
        };
        let changeable = matches!(current, KeyState::Enabled | KeyState::Disabled);
        version.state = match action {
            VersionAction::Enable if changeable => KeyState::Enabled,
            VersionAction::Disable if changeable => KeyState::Disabled,
            VersionAction::Enable | VersionAction::Disable => {
                return Err(refuse(
                    "only an enabled or disabled version can be enabled or disabled",
                ));
            }
            VersionAction::Destroy if changeable => KeyState::PendingDeletion {
                deletion_date: deletion_date(&key, now, destroy_after)?,
            },
            VersionAction::Destroy => {
                return Err(refuse(
                    "only an enabled or disabled version can be scheduled for destruction",
                ));
            }
            VersionAction::Restore => match current {
                KeyState::PendingDeletion { .. } => KeyState::Disabled,
                _ => {
                    return Err(refuse(
                        "only a version scheduled for destruction can be restored",
                    ));
                }
            },
        };
        Ok(version)
    }

    /// Fails unless `version` of this key can perform cryptographic operations at `now`.
    pub fn ensure_version_usable(
        &self,
        version: &KeyVersion,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        self.ensure_usable(now)?;
        match version.state_at(now) {
            KeyState::Enabled => Ok(()),
            state => Err(StateError::VersionNotEnabled {
                key: self.name.clone(),
                version: version.id.clone(),
                state,
            }),
        }
    }

    /// Destroys the key: the state becomes `Destroyed` and all material is dropped (zeroized).
    pub fn destroy(&mut self) {
        self.state = KeyState::Destroyed;
        for version in &mut self.versions {
            version.material = KeyMaterial::Destroyed;
        }
    }

    /// Fails unless the key can perform cryptographic operations at `now`.
    pub fn ensure_usable(&self, now: OffsetDateTime) -> Result<(), StateError> {
        match self.state_at(now) {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(StateError::KeyDisabled(self.name.clone())),
            KeyState::PendingDeletion { deletion_date } => Err(StateError::KeyPendingDeletion {
                key: self.name.clone(),
                deletion_date,
            }),
            KeyState::Destroyed => Err(StateError::KeyDestroyed(self.name.clone())),
        }
    }

    /// Encrypts `plaintext` under the primary version, binding `aad`. AES keys only.
    pub fn encrypt_blob(
        &self,
        now: OffsetDateTime,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedBlob, StateError> {
        let version = self.primary();
        self.ensure_version_usable(version, now)?;
        let header = BlobHeader {
            key: self.name.clone(),
            version: version.id.clone(),
        };
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| StateError::Internal("the random number generator failed".into()))?;
        let cipher = self.aes_key(version)?;
        let mut blob = header.encode();
        blob.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(blob_aad(&blob, aad)),
                &mut body,
            )
            .map_err(|_| StateError::Internal("AES-GCM seal failed".into()))?;
        blob.extend_from_slice(&body);
        Ok(SealedBlob {
            ciphertext: blob,
            version: version.id.clone(),
        })
    }

    /// Decrypts a blob made by [`Key::encrypt_blob`] of *this* key (check the header's key name
    /// with [`BlobHeader::parse`] first). Returns the plaintext and the version that made it.
    pub fn decrypt_blob(
        &self,
        now: OffsetDateTime,
        blob: &[u8],
        aad: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, String), StateError> {
        self.ensure_usable(now)?;
        let (header, header_len) = BlobHeader::parse(blob)?;
        if header.key != self.name {
            return Err(StateError::IncorrectKey {
                requested: self.name.clone(),
                ciphertext_key: header.key,
            });
        }
        let version = self
            .version(&header.version)
            .ok_or_else(|| StateError::InvalidCiphertext("unknown key version".into()))?;
        self.ensure_version_usable(version, now)?;
        let rest = &blob[header_len..];
        if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(StateError::InvalidCiphertext(
                "ciphertext is truncated".into(),
            ));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| StateError::InvalidCiphertext("bad nonce".into()))?;
        let cipher = self.aes_key(version)?;
        let mut body = Zeroizing::new(sealed.to_vec());
        let aad = blob_aad(&blob[..header_len + NONCE_LEN], aad);
        let len = cipher
            .open_in_place(nonce, Aad::from(aad), body.as_mut_slice())
            .map_err(|_| {
                StateError::InvalidCiphertext(
                    "authentication failed: wrong context/AAD or a tampered ciphertext".into(),
                )
            })?
            .len();
        body.truncate(len);
        Ok((body, version.id.clone()))
    }

    fn aes_key(&self, version: &KeyVersion) -> Result<LessSafeKey, StateError> {
        match &version.material {
            KeyMaterial::Aes256(bytes) => UnboundKey::new(&AES_256_GCM, bytes.as_ref())
                .map(LessSafeKey::new)
                .map_err(|_| StateError::Internal("bad AES key material".into())),
            KeyMaterial::Rsa(_) | KeyMaterial::EcP256(_) => Err(StateError::UnsupportedOperation {
                key: self.name.clone(),
                reason: format!("{} keys do not do symmetric encryption", self.spec.as_str()),
            }),
            KeyMaterial::Destroyed => Err(StateError::KeyDestroyed(self.name.clone())),
        }
    }
}

/// A symmetric ciphertext and the version that made it.
#[derive(Debug, Clone)]
pub struct SealedBlob {
    /// The opaque blob handed to the client.
    pub ciphertext: Vec<u8>,
    /// The id of the key version used.
    pub version: String,
}

/// The authenticated header of a symmetric ciphertext blob: which key and version made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// Lab name of the key.
    pub key: String,
    /// Version id.
    pub version: String,
}

const BLOB_MAGIC: &[u8; 4] = b"EKMk";
const BLOB_FORMAT: u8 = 1;

impl BlobHeader {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.key.len() + self.version.len());
        out.extend_from_slice(BLOB_MAGIC);
        out.push(BLOB_FORMAT);
        for field in [&self.key, &self.version] {
            out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&field.as_bytes()[..field.len().min(255)]);
        }
        out
    }

    /// Parses the header of a blob; returns it and its length in bytes. Total: any malformed
    /// input is `InvalidCiphertext`.
    pub fn parse(blob: &[u8]) -> Result<(Self, usize), StateError> {
        let bad = |why: &str| StateError::InvalidCiphertext(why.to_owned());
        let rest = blob
            .strip_prefix(BLOB_MAGIC.as_slice())
            .ok_or_else(|| bad("not a ciphertext of this KMS"))?;
        let (&format, mut rest) = rest.split_first().ok_or_else(|| bad("truncated header"))?;
        if format != BLOB_FORMAT {
            return Err(bad("unknown ciphertext format"));
        }
        let mut fields = Vec::with_capacity(2);
        for _ in 0..2 {
            let (&len, tail) = rest.split_first().ok_or_else(|| bad("truncated header"))?;
            let len = usize::from(len);
            if tail.len() < len {
                return Err(bad("truncated header"));
            }
            let (field, tail) = tail.split_at(len);
            fields.push(
                std::str::from_utf8(field)
                    .map_err(|_| bad("malformed header"))?
                    .to_owned(),
            );
            rest = tail;
        }
        let version = fields.pop().unwrap_or_default();
        let key = fields.pop().unwrap_or_default();
        Ok((BlobHeader { key, version }, blob.len() - rest.len()))
    }
}

/// AAD of a blob: its header and nonce, then the caller's AAD (length-prefixed so the two parts
/// cannot be confused).
fn blob_aad(header_and_nonce: &[u8], caller_aad: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header_and_nonce.len() + 8 + caller_aad.len());
    aad.extend_from_slice(&(header_and_nonce.len() as u64).to_be_bytes());
    aad.extend_from_slice(header_and_nonce);
    aad.extend_from_slice(caller_aad);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    fn aes_key(name: &str) -> Key {
        Key::generate(
            name,
            Cloud::Aws,
            format!("arn:{name}"),
            KeySpec::SymmetricDefault,
            now(),
        )
        .unwrap()
    }

    #[test]
    fn blob_round_trip_binds_aad_and_survives_rotation() {
        let mut key = aes_key("k");
        let sealed = key.encrypt_blob(now(), b"ctx", b"secret").unwrap();
        key.add_version(
            now(),
            KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap(),
        );
        let (plain, version) = key.decrypt_blob(now(), &sealed.ciphertext, b"ctx").unwrap();
        assert_eq!(plain.as_slice(), b"secret");
        assert_eq!(version, sealed.version);
        assert_ne!(key.primary().id, sealed.version);
        assert!(matches!(
            key.decrypt_blob(now(), &sealed.ciphertext, b"other"),
            Err(StateError::InvalidCiphertext(_))
        ));
    }

    #[test]
    fn every_byte_flip_and_truncation_is_rejected_without_panic() {
        let key = aes_key("k");
        let blob = key.encrypt_blob(now(), b"", b"data").unwrap().ciphertext;
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 0x01;
            assert!(
                key.decrypt_blob(now(), &tampered, b"").is_err(),
                "flip at {i}"
            );
            assert!(
                key.decrypt_blob(now(), &blob[..i], b"").is_err(),
                "cut at {i}"
            );
        }
    }

    #[test]
    fn another_key_refuses_the_blob() {
        let a = aes_key("a");
        let b = aes_key("b");
        let blob = a.encrypt_blob(now(), b"", b"data").unwrap().ciphertext;
        assert!(matches!(
            b.decrypt_blob(now(), &blob, b""),
            Err(StateError::IncorrectKey { .. })
        ));
    }

    #[test]
    fn pending_deletion_becomes_destroyed_on_the_lab_clock() {
        let mut key = aes_key("k");
        let date = now() + time::Duration::days(7);
        key.state = KeyState::PendingDeletion {
            deletion_date: date,
        };
        assert!(matches!(
            key.ensure_usable(now()),
            Err(StateError::KeyPendingDeletion { .. })
        ));
        key.settle(date);
        assert_eq!(key.state, KeyState::Destroyed);
        assert!(matches!(
            key.encrypt_blob(date, b"", b"x"),
            Err(StateError::KeyDestroyed(_))
        ));
    }

    #[test]
    fn specs_are_checked_per_provider_and_material_is_redacted() {
        assert!(KeySpec::parse_for(Cloud::Azure, "RSA_2048").is_ok());
        assert!(KeySpec::parse_for(Cloud::Aws, "RSA_2048").is_err());
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
        assert_eq!(format!("{material:?}"), "KeyMaterial::Aes256([redacted])");
    }
}
