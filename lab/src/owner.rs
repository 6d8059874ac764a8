//! The key owner's view of the engine's envelopes: which lab key and version wrapped an
//! envelope's DEK, and the DEK itself, recovered by decrypting the eDEK with the key material
//! the mock holds — no authorization, no faults and no call-log entry, though the key's
//! lifecycle still applies (a disabled or destroyed key gives nothing back). The scenarios' disk
//! audit and the console's pinned objects use it; neither sees the mock's ciphertext format or
//! its state.

use std::collections::BTreeMap;

use ekm_engine::EncryptionContext;
use ekm_engine::dek_cache::WRAP_CONTEXT_PROJECT;
use ekm_engine::envelope;
use ekm_engine::provider::azure::bound_dek;
use ekm_mock_kms::keys::BlobHeader;
use ekm_mock_kms::state::OwnerCiphertext;
use ekm_vocab::Cloud;
use zeroize::Zeroizing;

use crate::{EmbeddedLab, LabError};

/// The lab key that wrapped an envelope's DEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappingKey {
    /// The cloud of the key.
    pub cloud: Cloud,
    /// Lab name of the key.
    pub key: String,
    /// The mock's id of the key version that made the eDEK.
    pub version: String,
}

impl EmbeddedLab {
    /// Which lab key and version made `envelope`'s eDEK. AWS and GCP ciphertexts name them in
    /// their header; the Azure provider's version hint is the versioned key id
    /// `https://VAULT/keys/NAME/VERSION`, whose vault key name maps back to the lab name.
    pub fn wrapping_key(&self, envelope: &[u8]) -> Result<WrappingKey, LabError> {
        let parsed = envelope::parse(envelope)?;
        let header = parsed.header();
        let cloud = envelope_cloud(header.provider())?;
        if cloud == Cloud::Azure {
            let hint = header.key_version();
            let foreign = || LabError::Foreign(hint.to_owned());
            let (rest, version) = hint.rsplit_once('/').ok_or_else(foreign)?;
            let (_, vault_name) = rest.rsplit_once("/keys/").ok_or_else(foreign)?;
            let key = self
                .mock
                .lab()
                .read(|state| {
                    state
                        .key_by_id(Cloud::Azure, vault_name)
                        .map(|key| key.name.clone())
                })
                .ok_or_else(foreign)?;
            return Ok(WrappingKey {
                cloud,
                key,
                version: version.to_owned(),
            });
        }
        let (blob, _) =
            BlobHeader::parse(header.edek()).map_err(|e| LabError::Foreign(e.to_string()))?;
        Ok(WrappingKey {
            cloud,
            key: blob.key,
            version: blob.version,
        })
    }

    /// What the KMS decrypts `envelope`'s eDEK to, as the key owner: the DEK for AWS and GCP;
    /// for Azure the DEK bound to the envelope's wrap context (RSA-OAEP has no AAD, so the
    /// engine binds the context inside the plaintext).
    pub fn owner_plaintext(&self, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, LabError> {
        let parsed = envelope::parse(envelope)?;
        let header = parsed.header();
        let kms = self.mock.lab();
        let plaintext = match envelope_cloud(header.provider())? {
            Cloud::Aws => {
                let context: BTreeMap<String, String> = wrap_context(header.project())
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                kms.owner_decrypt(OwnerCiphertext::Aws {
                    blob: header.edek(),
                    encryption_context: &context,
                })?
            }
            Cloud::Gcp => kms.owner_decrypt(OwnerCiphertext::Gcp {
                ciphertext: header.edek(),
                aad: &wrap_context(header.project()).encode()?,
            })?,
            Cloud::Azure => {
                let key = self.wrapping_key(envelope)?;
                kms.owner_decrypt(OwnerCiphertext::Azure {
                    key: &key.key,
                    version: &key.version,
                    ciphertext: header.edek(),
                })?
            }
        };
        Ok(plaintext)
    }

    /// The DEK of `envelope`, recovered as the key owner. Call it while the key is still usable
    /// (right after the seal that made the envelope).
    pub fn recover_dek(&self, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, LabError> {
        let plaintext = self.owner_plaintext(envelope)?;
        let parsed = envelope::parse(envelope)?;
        let header = parsed.header();
        if header.provider() != Cloud::Azure.as_str() {
            return Ok(plaintext);
        }
        let dek = bound_dek::open(&plaintext, &wrap_context(header.project()), "azure eDEK")
            .map_err(LabError::Unbound)?;
        Ok(Zeroizing::new(dek.expose_secret().to_vec()))
    }
}

/// The cloud an envelope's provider kind names; any other provider made no eDEK of this lab.
fn envelope_cloud(provider: &str) -> Result<Cloud, LabError> {
    provider
        .parse()
        .map_err(|_| LabError::Foreign(format!("provider `{provider}`")))
}

/// The context the engine wraps a DEK of `project` under.
fn wrap_context(project: &str) -> EncryptionContext {
    EncryptionContext::new().with(WRAP_CONTEXT_PROJECT, project)
}
