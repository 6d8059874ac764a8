//! `--state FILE`: the mock KMS's own key store on disk.
//!
//! The whole [`KmsState`] — keys with their material (base64), states and deletion dates,
//! access and trust switches, aliases and trust epochs — is written as JSON after every
//! successful change ([`StateObserver`]) and read back at start. Writes are atomic: a temporary
//! file in the same directory is written, fsynced and renamed over the old one, then the
//! directory is fsynced, so a crash or `kill -9` at any moment leaves either the old or the new
//! state, never a file that fails to load. The file holds secret key material: it is created
//! with mode 0600.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::StateError;
use crate::keys::{Key, KeyMaterial, KeySpec, KeyState, KeyVersion, Provider};
use crate::state::{KmsState, StateObserver};

/// Version of the file format.
const FORMAT: u32 = 1;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a state file this version understands.
    #[error("state file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column for JSON errors).
        reason: String,
    },
}

/// The state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    format: u32,
    keys: Vec<StoredKey>,
    aliases: BTreeMap<String, String>,
    trust_epochs: BTreeMap<Provider, u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    name: String,
    provider: Provider,
    id: String,
    spec: KeySpec,
    state: KeyState,
    access: bool,
    trust: bool,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    versions: Vec<StoredVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredVersion {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    material: StoredMaterial,
}

/// Key material, base64 (AES key bytes, or PKCS#8 DER).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum StoredMaterial {
    Aes256(String),
    Rsa(String),
    EcP256(String),
}

impl StoredMaterial {
    fn from_material(material: &KeyMaterial) -> Self {
        match material {
            KeyMaterial::Aes256(bytes) => StoredMaterial::Aes256(B64.encode(bytes.as_ref())),
            KeyMaterial::Rsa(der) => StoredMaterial::Rsa(B64.encode(der.as_slice())),
            KeyMaterial::EcP256(der) => StoredMaterial::EcP256(B64.encode(der.as_slice())),
        }
    }

    fn into_material(self) -> Result<KeyMaterial, String> {
        let decode = |b64: &str| {
            B64.decode(b64)
                .map(Zeroizing::new)
                .map_err(|_| "key material is not valid base64".to_owned())
        };
        Ok(match self {
            StoredMaterial::Aes256(b64) => {
                let bytes = decode(&b64)?;
                let array: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "an AES-256 key must be 32 bytes".to_owned())?;
                KeyMaterial::Aes256(Zeroizing::new(array))
            }
            StoredMaterial::Rsa(b64) => KeyMaterial::Rsa(decode(&b64)?),
            StoredMaterial::EcP256(b64) => KeyMaterial::EcP256(decode(&b64)?),
        })
    }
}

impl StoredKey {
    fn from_key(key: &Key) -> Self {
        Self {
            name: key.name.clone(),
            provider: key.provider,
            id: key.id.clone(),
            spec: key.spec,
            state: key.state,
            access: key.access,
            trust: key.trust,
            created: key.created,
            versions: key
                .versions
                .iter()
                .map(|v| StoredVersion {
                    id: v.id.clone(),
                    created: v.created,
                    material: StoredMaterial::from_material(&v.material),
                })
                .collect(),
        }
    }

    fn into_key(self) -> Result<Key, String> {
        if self.versions.is_empty() {
            return Err(format!("key `{}` has no versions", self.name));
        }
        let versions = self
            .versions
            .into_iter()
            .map(|v| {
                Ok(KeyVersion {
                    id: v.id,
                    created: v.created,
                    material: v.material.into_material()?,
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| format!("key `{}`: {e}", self.name))?;
        Ok(Key {
            name: self.name,
            provider: self.provider,
            id: self.id,
            spec: self.spec,
            state: self.state,
            access: self.access,
            trust: self.trust,
            versions,
            created: self.created,
        })
    }
}

impl StateFile {
    /// The state file at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Reads the saved state; `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<KmsState>, StoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let snapshot: Snapshot =
            serde_json::from_str(&text).map_err(|e| self.invalid(e.to_string()))?;
        if snapshot.format != FORMAT {
            return Err(self.invalid(format!(
                "format {} is not supported (expected {FORMAT})",
                snapshot.format
            )));
        }
        let mut keys = BTreeMap::new();
        for stored in snapshot.keys {
            let key = stored.into_key().map_err(|e| self.invalid(e))?;
            if keys.insert(key.name.clone(), key).is_some() {
                return Err(self.invalid("a key name appears twice"));
            }
        }
        if let Some((alias, target)) = snapshot
            .aliases
            .iter()
            .find(|(_, target)| !keys.contains_key(*target))
        {
            return Err(self.invalid(format!("alias `{alias}` points at unknown key `{target}`")));
        }
        Ok(Some(KmsState {
            keys,
            aliases: snapshot.aliases,
            trust_epochs: snapshot.trust_epochs,
        }))
    }

    /// Writes `state` atomically (temp file, fsync, rename, fsync of the directory), mode 0600.
    pub fn save(&self, state: &KmsState) -> Result<(), StoreError> {
        let snapshot = Snapshot {
            format: FORMAT,
            keys: state.keys.values().map(StoredKey::from_key).collect(),
            aliases: state.aliases.clone(),
            trust_epochs: state.trust_epochs.clone(),
        };
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&snapshot).map_err(|e| self.invalid(e.to_string()))?,
        );
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = self
            .path
            .file_name()
            .ok_or_else(|| self.invalid("the path names no file"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(self.io(e)),
            _ => {}
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| self.io(e))?;
        file.write_all(&json).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        #[cfg(unix)]
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))?;
        Ok(())
    }
}

impl StateObserver for StateFile {
    fn changed(&self, state: &KmsState) -> Result<(), StateError> {
        self.save(state).map_err(|e| {
            tracing::error!(error = %e, "could not persist the lab state");
            StateError::Internal(e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    #[test]
    fn state_round_trips_with_material_and_mode_0600() {
        let dir = std::env::temp_dir().join(format!("ekm-store-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let file = StateFile::new(dir.join("state.json"));
        assert!(file.load().unwrap().is_none());
        let generate = |name: &str| {
            Key::generate(
                name,
                Provider::Aws,
                format!("arn:{name}"),
                KeySpec::SymmetricDefault,
                now(),
            )
            .unwrap()
        };
        let mut rotated = generate("k");
        let blob = rotated.encrypt_blob(now(), b"ctx", b"secret").unwrap();
        rotated.add_version(now()).unwrap();
        let mut pending = generate("p");
        pending.state = KeyState::PendingDeletion {
            deletion_date: now() + time::Duration::days(7),
        };
        let mut state = KmsState::default();
        state.keys.insert("k".into(), rotated);
        state.keys.insert("p".into(), pending);
        state.aliases.insert("a".into(), "k".into());
        state.trust_epochs.insert(Provider::Aws, 3);
        file.save(&state).unwrap();
        file.save(&state).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = file.load().unwrap().unwrap();
        assert_eq!(loaded.trust_epoch(Provider::Aws), 3);
        assert_eq!(loaded.alias_target("a"), Some("k"));
        let key = loaded.key("k").unwrap();
        assert_eq!(key.versions.len(), 2);
        let (plain, _) = key.decrypt_blob(now(), &blob.ciphertext, b"ctx").unwrap();
        assert_eq!(plain.as_slice(), b"secret");
        assert_eq!(loaded.key("p").unwrap().state, state.keys["p"].state);
        fs::write(file.path(), "{\"format\":1,").unwrap();
        assert!(matches!(file.load(), Err(StoreError::Invalid { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }
}
