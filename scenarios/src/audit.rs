//! The auditor behind `no_plaintext_dek_on_disk`: the lab owns the KMS, so it can recover every
//! DEK an envelope carries (the key owner's decryption of the eDEK,
//! [`EmbeddedLab::recover_dek`]) and then look for those bytes — raw, hex or base64 — in every
//! file the engine's object store wrote.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;

use base64::Engine as _;
use ekm_engine::DekId;
use ekm_engine::envelope::{self, EnvelopeError};
use ekm_lab::{EmbeddedLab, LabError};
use zeroize::Zeroizing;

/// Why an envelope's DEK could not be recovered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AuditError {
    /// The envelope does not parse.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The key owner could not recover the DEK (a foreign eDEK, an unusable key).
    #[error("the key owner cannot recover the DEK: {0}")]
    Owner(#[from] LabError),
    /// A store file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// DEKs recovered by the key owner, and the directory they must never appear in.
#[derive(Debug)]
pub(crate) struct DiskAudit {
    dir: PathBuf,
    deks: HashMap<DekId, Zeroizing<Vec<u8>>>,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanResult {
    /// Files scanned.
    pub files: usize,
    /// DEKs looked for.
    pub deks: usize,
    /// Files holding a DEK, with the encoding found.
    pub leaks: Vec<(PathBuf, &'static str)>,
}

impl DiskAudit {
    /// An audit of the files in `dir`.
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            deks: HashMap::new(),
        }
    }

    /// Recovers the DEK of `envelope` as the key owner of `lab`, once per DEK. Call it while
    /// the key is still usable (right after the seal that made the envelope).
    pub(crate) fn learn(&mut self, lab: &EmbeddedLab, envelope: &[u8]) -> Result<(), AuditError> {
        let dek_id = envelope::parse(envelope)?.header().dek_id();
        if let Entry::Vacant(entry) = self.deks.entry(dek_id) {
            entry.insert(lab.recover_dek(envelope)?);
        }
        Ok(())
    }

    /// Looks for every known DEK in every file of the directory (recursively).
    pub(crate) fn scan(&self) -> Result<ScanResult, AuditError> {
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
