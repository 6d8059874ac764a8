//! `--state FILE`: the mock KMS's own key store on disk.
//!
//! The whole [`KmsState`] — keys with their material (base64), states and deletion dates,
//! access and trust switches, aliases and trust epochs — is written as JSON after every
//! successful change ([`StateObserver`]) and read back at start. Writes are atomic: a temporary
//! file in the same directory is written, fsynced and renamed over the old one, then the
//! directory is fsynced, so a crash or `kill -9` at any moment leaves either the old or the new
//! state, never a file that fails to load. The file holds secret key material: it is created
//! with mode 0600.
//!
//! Persist first, then apply: [`Kms::write`](crate::state::Kms::write) saves the state a change
//! leads to before installing it, so a change that cannot be saved is not live either (the
//! request fails with a 500 naming the file). A destroyed key's material leaves the file with
//! the save that destroys it — by `destroy` or by its deletion date passing on the lab clock —
//! and the lab clock itself (`clock`: lab time and its offset from wall time) is saved, so after
//! a restart time has not gone back and a key past its deletion date stays destroyed.
//!
//! A version destroyed on its own (GCP `:destroy`, once its date passes) leaves the file the same
//! way; its state (`disabled`, `pending-deletion` with its date, `destroyed`) is saved beside it.
//!
//! The external key store's state (`xks`: the external key manager's keys, the custom key
//! stores, which KMS key each external key backs) is saved and checked the same way ([`xks`]).
//!
//! [`validate`] refuses, at load, a file the lab could not serve from.

mod access;
mod validate;
mod xks;

pub(crate) use access::{documents, replace_documents};

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::StateError;
use crate::keys::{Key, KeyMaterial, KeySpec, KeyState, KeyVersion};
use crate::state::{KmsState, StateObserver};
use ekm_vocab::Cloud;

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
pub(crate) struct StateFile {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    format: u32,
    keys: Vec<StoredKey>,
    aliases: BTreeMap<String, String>,
    /// The session epochs (named for what bumped them before sessions outlived trust).
    trust_epochs: BTreeMap<Cloud, u64>,
    /// Absent in files written before the clock was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clock: Option<SavedClock>,
    /// Absent when there is no external key store state.
    #[serde(default, skip_serializing_if = "xks::StoredXks::is_empty")]
    xks: xks::StoredXks,
    /// The customer's access documents; absent in files written before they were kept (the
    /// keys' `access` / `trust` switches then stand for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access: Option<access::StoredAccess>,
}

/// The lab clock when the state was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedClock {
    /// Lab time of the save.
    #[serde(with = "time::serde::rfc3339")]
    pub lab_time: OffsetDateTime,
    /// Lab time minus wall time at the save, in seconds (the control API's `offset_seconds`).
    pub offset_seconds: i64,
}

impl SavedClock {
    /// The lab time to resume at now: the saved offset from wall time applied again, and never
    /// earlier than the saved lab time.
    pub(crate) fn resume_at(&self, wall: OffsetDateTime) -> OffsetDateTime {
        wall.checked_add(time::Duration::seconds(self.offset_seconds))
            .map_or(self.lab_time, |resumed| resumed.max(self.lab_time))
            .min(ekm_clock::HORIZON)
    }
}

/// What a state file holds: the lab state and the clock it was saved at.
#[derive(Debug)]
pub(crate) struct Saved {
    /// Keys, aliases, trust epochs, access documents.
    pub state: KmsState,
    /// Whether the file held access documents (older files did not: see
    /// [`AwsAccess::from_switches`](crate::access::AwsAccess::from_switches)).
    pub has_access_documents: bool,
    /// Whether the file held GCP access documents (older files did not: see
    /// [`GcpAccess::from_switches`](crate::access::GcpAccess::from_switches)).
    pub has_gcp_documents: bool,
    /// Whether the file held Azure access documents (older files did not: see
    /// [`AzureAccess::from_switches`](crate::access::AzureAccess::from_switches)).
    pub has_azure_documents: bool,
    /// The lab clock at the save (absent in older files).
    pub clock: Option<SavedClock>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    name: String,
    provider: Cloud,
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
    /// The version's own state; absent when enabled (and in files written before versions had
    /// one).
    #[serde(default = "enabled", skip_serializing_if = "is_enabled")]
    state: KeyState,
}

fn enabled() -> KeyState {
    KeyState::Enabled
}

fn is_enabled(state: &KeyState) -> bool {
    *state == KeyState::Enabled
}

/// Key material, base64 (AES key bytes, or PKCS#8 DER); `"destroyed"` when there is none.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum StoredMaterial {
    Aes256(Zeroizing<String>),
    Rsa(Zeroizing<String>),
    EcP256(Zeroizing<String>),
    Destroyed,
}

impl StoredMaterial {
    fn from_material(material: &KeyMaterial) -> Self {
        let encode = |bytes: &[u8]| Zeroizing::new(B64.encode(bytes));
        match material {
            KeyMaterial::Aes256(bytes) => StoredMaterial::Aes256(encode(bytes.as_ref())),
            KeyMaterial::Rsa(der) => StoredMaterial::Rsa(encode(der)),
            KeyMaterial::EcP256(der) => StoredMaterial::EcP256(encode(der)),
            KeyMaterial::Destroyed => StoredMaterial::Destroyed,
        }
    }

    /// The material's bytes (empty when destroyed).
    fn decode(&self) -> Result<Zeroizing<Vec<u8>>, base64::DecodeError> {
        match self {
            StoredMaterial::Aes256(b64)
            | StoredMaterial::Rsa(b64)
            | StoredMaterial::EcP256(b64) => B64.decode(b64.as_bytes()).map(Zeroizing::new),
            StoredMaterial::Destroyed => Ok(Zeroizing::new(Vec::new())),
        }
    }

    /// The kind's name, for errors.
    fn kind(&self) -> &'static str {
        match self {
            StoredMaterial::Aes256(_) => "AES-256",
            StoredMaterial::Rsa(_) => "RSA",
            StoredMaterial::EcP256(_) => "EC P-256",
            StoredMaterial::Destroyed => "destroyed",
        }
    }

    /// The material, once [`validate::check`] has accepted it.
    fn into_material(self) -> Result<KeyMaterial, String> {
        let bytes = self
            .decode()
            .map_err(|_| "key material is not valid base64".to_owned())?;
        Ok(match self {
            StoredMaterial::Aes256(_) => {
                let array: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "an AES-256 key must be 32 bytes".to_owned())?;
                KeyMaterial::Aes256(Zeroizing::new(array))
            }
            StoredMaterial::Rsa(_) => KeyMaterial::Rsa(bytes),
            StoredMaterial::EcP256(_) => KeyMaterial::EcP256(bytes),
            StoredMaterial::Destroyed => KeyMaterial::Destroyed,
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
                    state: v.state,
                })
                .collect(),
        }
    }

    fn into_key(self) -> Result<Key, String> {
        if self.versions.is_empty() {
            return Err(format!("key `{}` has no versions", self.name));
        }
        let destroyed = self.state == KeyState::Destroyed;
        let versions = self
            .versions
            .into_iter()
            .map(|v| {
                Ok(KeyVersion {
                    id: v.id,
                    created: v.created,
                    material: if destroyed || v.state == KeyState::Destroyed {
                        KeyMaterial::Destroyed
                    } else {
                        v.material.into_material()?
                    },
                    state: v.state,
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
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path (for tests that look at it on disk).
    #[cfg(test)]
    pub(crate) fn path(&self) -> &std::path::Path {
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

    /// Reads and checks the saved state; `None` when the file does not exist yet. A file the lab
    /// could not serve from is refused with the field and the reason.
    pub(crate) fn load(&self) -> Result<Option<Saved>, StoreError> {
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
        validate::check(&snapshot).map_err(|e| self.invalid(e))?;
        if let Some(clock) = snapshot.clock
            && clock.lab_time > ekm_clock::HORIZON
        {
            return Err(self.invalid(format!(
                "clock.lab_time: {} is past the lab clock's horizon {}",
                clock.lab_time,
                ekm_clock::HORIZON
            )));
        }
        let xks = snapshot
            .xks
            .into_state(&snapshot.keys)
            .map_err(|e| self.invalid(e))?;
        let mut keys = BTreeMap::new();
        for stored in snapshot.keys {
            let key = stored.into_key().map_err(|e| self.invalid(e))?;
            keys.insert(key.name.clone(), key);
        }
        let has_access_documents = snapshot.access.is_some();
        let (aws_access, gcp_access, azure_access) = match snapshot.access {
            Some(access) => {
                let loaded = access.into_state(&keys).map_err(|e| self.invalid(e))?;
                (loaded.aws, loaded.gcp, loaded.azure)
            }
            None => (Default::default(), None, None),
        };
        let has_gcp_documents = gcp_access.is_some();
        let has_azure_documents = azure_access.is_some();
        Ok(Some(Saved {
            has_access_documents,
            has_gcp_documents,
            has_azure_documents,
            state: KmsState {
                keys,
                aliases: snapshot.aliases,
                session_epochs: snapshot.trust_epochs,
                xks,
                aws_access,
                gcp_access: gcp_access.unwrap_or_default(),
                azure_access: azure_access.unwrap_or_else(|| KmsState::default().azure_access),
            },
            clock: snapshot.clock,
        }))
    }

    /// Writes `state`, saved at lab time `now`, atomically (temp file, fsync, rename, fsync of
    /// the directory), mode 0600.
    pub(crate) fn save(&self, state: &KmsState, now: OffsetDateTime) -> Result<(), StoreError> {
        let snapshot = Snapshot {
            format: FORMAT,
            keys: state.keys.values().map(StoredKey::from_key).collect(),
            aliases: state.aliases.clone(),
            trust_epochs: state.session_epochs.clone(),
            clock: Some(SavedClock {
                lab_time: now,
                offset_seconds: (now - ekm_clock::wall_time()).whole_seconds(),
            }),
            xks: xks::StoredXks::from_state(&state.xks),
            access: Some(access::StoredAccess::from_state(
                &state.aws_access,
                &state.gcp_access,
                &state.azure_access,
            )),
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
    fn changed(&self, state: &KmsState, now: OffsetDateTime) -> Result<(), StateError> {
        self.save(state, now).map_err(|e| {
            tracing::error!(error = %e, "could not persist the lab state");
            StateError::Internal(format!(
                "the change was not made because the state could not be saved ({e}); \
                 fix the state file's directory and retry"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    fn aws_key(name: &str) -> Key {
        Key::generate(
            name,
            Cloud::Aws,
            format!("arn:aws:kms:us-east-1:111122223333:key/{name}"),
            KeySpec::SymmetricDefault,
            now(),
        )
        .unwrap()
    }

    #[test]
    fn state_round_trips_with_material_clock_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("state.json"));
        assert!(file.load().unwrap().is_none());
        let mut rotated = aws_key("k");
        let blob = rotated.encrypt_blob(now(), b"ctx", b"secret").unwrap();
        rotated.add_version(
            now(),
            KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap(),
        );
        let mut pending = aws_key("p");
        pending.state = KeyState::PendingDeletion {
            deletion_date: now() + time::Duration::days(7),
        };
        let mut state = KmsState::default();
        state.keys.insert("k".into(), rotated);
        state.keys.insert("p".into(), pending);
        state.aliases.insert("a".into(), "k".into());
        state.session_epochs.insert(Cloud::Aws, 3);
        let tenant = crate::tenant::Tenant::default();
        state.aws_access = crate::access::AwsAccess::from_switches(&tenant, state.keys.values());
        state.aws_access.set_access(&tenant, "k", true);
        file.save(&state, now()).unwrap();
        file.save(&state, now()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let Saved {
            state: loaded,
            clock,
            has_access_documents,
            has_gcp_documents,
            has_azure_documents,
        } = file.load().unwrap().unwrap();
        assert!(has_access_documents && has_gcp_documents && has_azure_documents);
        assert_eq!(loaded.aws_access, state.aws_access);
        let clock = clock.unwrap();
        assert_eq!(clock.lab_time, now());
        let resumed = clock.resume_at(ekm_clock::wall_time()) - now();
        assert!(resumed >= time::Duration::ZERO && resumed < time::Duration::minutes(5));
        assert_eq!(loaded.session_epoch(Cloud::Aws), 3);
        assert_eq!(loaded.alias_target("a"), Some("k"));
        let key = loaded.key("k").unwrap();
        assert_eq!(key.versions.len(), 2);
        let (plain, _) = key.decrypt_blob(now(), &blob.ciphertext, b"ctx").unwrap();
        assert_eq!(plain.as_slice(), b"secret");
        assert_eq!(loaded.key("p").unwrap().state, state.keys["p"].state);
        fs::write(file.path(), "{\"format\":1,").unwrap();
        assert!(matches!(file.load(), Err(StoreError::Invalid { .. })));
    }

    #[test]
    fn a_destroyed_key_leaves_no_material_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("state.json"));
        let mut key = aws_key("k");
        let KeyMaterial::Aes256(secret) = key.primary().material.clone() else {
            unreachable!("an AES key")
        };
        let mut state = KmsState::default();
        state.keys.insert("k".into(), key.clone());
        file.save(&state, now()).unwrap();
        let encoded = B64.encode(secret.as_ref());
        assert!(fs::read_to_string(file.path()).unwrap().contains(&encoded));
        key.destroy();
        state.keys.insert("k".into(), key);
        file.save(&state, now()).unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(
            !text.contains(&encoded) && text.contains("\"destroyed\""),
            "{text}"
        );
        let loaded = file.load().unwrap().unwrap().state;
        assert!(matches!(
            loaded.key("k").unwrap().primary().material,
            KeyMaterial::Destroyed
        ));
    }

    #[test]
    fn a_saved_clock_resumes_with_its_offset_never_earlier() {
        let wall = time::macros::datetime!(2026-12-01 00:00 UTC);
        let ahead = SavedClock {
            lab_time: time::macros::datetime!(2027-01-01 00:00 UTC),
            offset_seconds: 31 * 86_400,
        };
        let later = wall + time::Duration::hours(5);
        assert_eq!(
            ahead.resume_at(later),
            ahead.lab_time + time::Duration::hours(5)
        );
        assert_eq!(
            ahead.resume_at(wall - time::Duration::days(1)),
            ahead.lab_time
        );
        let far = SavedClock {
            lab_time: ekm_clock::HORIZON,
            offset_seconds: i64::MAX,
        };
        assert_eq!(far.resume_at(wall), ekm_clock::HORIZON);
    }
}
