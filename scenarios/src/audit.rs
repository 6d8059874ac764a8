//! The auditor behind `no_plaintext_dek_on_disk`: the lab owns the KMS, so it can recover every
//! DEK an envelope carries (the key owner's decryption of the eDEK, in-process through
//! [`Kms::owner_decrypt`]) and then look for those bytes — raw, hex or base64 — in every file the
//! engine's object store wrote. Also: which lab key made an envelope's eDEK, for revocation
//! bookkeeping.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ekm_engine::dek_cache::WRAP_CONTEXT_PROJECT;
use ekm_engine::envelope::{self, EnvelopeError};
use ekm_engine::provider::azure::bound_dek;
use ekm_engine::{DekId, EncryptionContext};
use ekm_mock_kms::keys::BlobHeader;
use ekm_mock_kms::state::{Kms, OwnerCiphertext};
use ekm_vocab::Cloud;
use zeroize::Zeroizing;

/// The lab key that wrapped an envelope's DEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappingKey {
    /// The envelope's provider kind (`aws`, `gcp`, `azure`).
    pub provider: String,
    /// Lab name of the key.
    pub key: String,
    /// The key version id.
    pub version: String,
}

/// Why an envelope's DEK could not be recovered or attributed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The envelope does not parse.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The eDEK names no key of this lab.
    #[error("the eDEK does not name a key of this lab: {0}")]
    Foreign(String),
    /// The owner could not decrypt the eDEK.
    #[error("the key owner cannot decrypt the eDEK: {0}")]
    Owner(#[from] ekm_mock_kms::error::StateError),
    /// The Azure eDEK's plaintext is not a DEK bound to the envelope's project.
    #[error("the Azure eDEK does not hold a DEK bound to the envelope's project: {0}")]
    Unbound(ekm_engine::KmsError),
    /// A store file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Which lab key made `envelope`'s eDEK: AWS and GCP ciphertexts name it in their header; the
/// Azure provider's version hint is the versioned key id `https://VAULT/keys/NAME/VERSION`,
/// whose vault key name the lab maps back to its own name.
pub fn wrapping_key(lab: &Kms, envelope: &[u8]) -> Result<WrappingKey, AuditError> {
    let parsed = envelope::parse(envelope)?;
    let header = parsed.header();
    let provider = header.provider().to_owned();
    if provider == "azure" {
        let hint = header.key_version();
        let (rest, version) = hint
            .rsplit_once('/')
            .ok_or_else(|| AuditError::Foreign(hint.to_owned()))?;
        let (_, vault_name) = rest
            .rsplit_once("/keys/")
            .ok_or_else(|| AuditError::Foreign(hint.to_owned()))?;
        let key = lab
            .read(|state| {
                state
                    .key_by_id(Cloud::Azure, vault_name)
                    .map(|key| key.name.clone())
            })
            .ok_or_else(|| AuditError::Foreign(hint.to_owned()))?;
        return Ok(WrappingKey {
            provider,
            key,
            version: version.to_owned(),
        });
    }
    let (blob, _) =
        BlobHeader::parse(header.edek()).map_err(|e| AuditError::Foreign(e.to_string()))?;
    Ok(WrappingKey {
        provider,
        key: blob.key,
        version: blob.version,
    })
}

/// DEKs recovered by the key owner, and the directory they must never appear in.
#[derive(Debug)]
pub struct DiskAudit {
    dir: PathBuf,
    deks: HashMap<DekId, Zeroizing<Vec<u8>>>,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    /// Files scanned.
    pub files: usize,
    /// DEKs looked for.
    pub deks: usize,
    /// Files holding a DEK, with the encoding found.
    pub leaks: Vec<(PathBuf, &'static str)>,
}

impl DiskAudit {
    /// An audit of the files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            deks: HashMap::new(),
        }
    }

    /// The audited directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Recovers the DEK of `envelope` as the key owner, once per DEK. Call it while the key is
    /// still usable (right after the seal that made the envelope).
    pub fn learn(&mut self, lab: &Kms, envelope: &[u8]) -> Result<(), AuditError> {
        let parsed = envelope::parse(envelope)?;
        let header = parsed.header();
        if self.deks.contains_key(&header.dek_id()) {
            return Ok(());
        }
        let wrap_context = EncryptionContext::new().with(WRAP_CONTEXT_PROJECT, header.project());
        let dek = match header.provider() {
            "aws" => {
                let context: BTreeMap<String, String> = wrap_context
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                lab.owner_decrypt(OwnerCiphertext::Aws {
                    blob: header.edek(),
                    encryption_context: &context,
                })?
            }
            "gcp" => lab.owner_decrypt(OwnerCiphertext::Gcp {
                ciphertext: header.edek(),
                aad: &wrap_context.encode()?,
            })?,
            _ => {
                let key = wrapping_key(lab, envelope)?;
                let bound = lab.owner_decrypt(OwnerCiphertext::Azure {
                    key: &key.key,
                    version: &key.version,
                    ciphertext: header.edek(),
                })?;
                let dek = bound_dek::open(&bound, &wrap_context, "azure eDEK")
                    .map_err(AuditError::Unbound)?;
                Zeroizing::new(dek.expose_secret().to_vec())
            }
        };
        self.deks.insert(header.dek_id(), dek);
        Ok(())
    }

    /// Looks for every known DEK in every file of the directory (recursively).
    pub fn scan(&self) -> Result<ScanResult, AuditError> {
        let mut needles: Vec<(Vec<u8>, &'static str)> = Vec::new();
        for dek in self.deks.values() {
            needles.push((dek.to_vec(), "raw"));
            needles.push((hex::encode(dek.as_slice()).into_bytes(), "hex"));
            needles.push((
                base64::engine::general_purpose::STANDARD
                    .encode(dek.as_slice())
                    .into_bytes(),
                "base64",
            ));
        }
        let mut result = ScanResult {
            files: 0,
            deks: self.deks.len(),
            leaks: Vec::new(),
        };
        let mut pending = vec![self.dir.clone()];
        while let Some(dir) = pending.pop() {
            let read_error = |source| AuditError::Read {
                path: dir.clone(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(read_error)? {
                let path = entry.map_err(read_error)?.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| AuditError::Read {
                    path: path.clone(),
                    source,
                })?;
                result.files += 1;
                if let Some((_, encoding)) =
                    needles.iter().find(|(needle, _)| contains(&bytes, needle))
                {
                    result.leaks.push((path, encoding));
                }
            }
        }
        // The needles are copies of DEKs: wipe them.
        for (needle, _) in &mut needles {
            zeroize::Zeroize::zeroize(needle);
        }
        Ok(result)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
