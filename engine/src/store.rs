//! Where envelopes live: the [`ObjectStore`] trait, a filesystem store (the default for the
//! console) and an in-memory one.
//!
//! A store holds sealed envelopes under validated [`ObjectName`]s and nothing else: DEKs never
//! reach it (DESIGN.md §2). [`FsStore`] keeps `<dir>/<name>.ekm` and writes atomically (temporary
//! file, fsync, rename, fsync of the directory), so a crash leaves the old or the new envelope,
//! never a torn one.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::crypto;

/// The file extension of stored envelopes.
pub const EXTENSION: &str = "ekm";
/// The name prefix of temporary files (a leading '.' keeps them out of [`ObjectStore::list`]).
const TEMP_PREFIX: &str = ".tmp-";
/// The longest object name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The name is not a valid object name.
    #[error("invalid object name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No object has this name.
    #[error("object {name} not found")]
    NotFound {
        /// The name.
        name: ObjectName,
    },
    /// The blocking task running the store operation did not complete (it panicked, or the
    /// runtime is shutting down).
    #[error("store task did not complete: {message}")]
    TaskFailed {
        /// The runtime's report.
        message: String,
    },
    /// The filesystem failed.
    #[error("store I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// A validated object name: 1–128 ASCII letters, digits, `.`, `_` or `-`, not starting with `.`,
/// so it can never name a path outside the store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName(String);

impl ObjectName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, StoreError> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("empty")
        } else if name.len() > MAX_NAME_LEN {
            Some("longer than 128 bytes")
        } else if name.starts_with('.') {
            Some("starts with '.'")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StoreError::InvalidName { name, reason }),
            None => Ok(Self(name)),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectName({})", self.0)
    }
}

/// A place to keep sealed envelopes by name. Implementations are blocking; the engine calls them
/// from `spawn_blocking`.
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Stores `envelope` under `name`, replacing any previous object atomically.
    fn put(&self, name: &ObjectName, envelope: &[u8]) -> Result<(), StoreError>;
    /// The envelope stored under `name`, or [`StoreError::NotFound`].
    fn get(&self, name: &ObjectName) -> Result<Vec<u8>, StoreError>;
    /// Removes `name`; returns whether it existed.
    fn delete(&self, name: &ObjectName) -> Result<bool, StoreError>;
    /// Every stored name, sorted.
    fn list(&self) -> Result<Vec<ObjectName>, StoreError>;
}

/// Envelopes as `<dir>/<name>.ekm` files.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
}

impl FsStore {
    /// A store in `dir`, created if missing. Temporary files a crash left behind (`.tmp-*`,
    /// never renamed into place, so never an acknowledged write) are removed. A process that is
    /// writing into the same directory at that moment sees its `put` fail; share a store
    /// directory between processes only if they open it before writing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| io_error(&dir, source))?;
        let entries = fs::read_dir(&dir).map_err(|source| io_error(&dir, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| io_error(&dir, source))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let path = entry.path();
                fs::remove_file(&path).map_err(|source| io_error(&path, source))?;
            }
        }
        Ok(Self { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &ObjectName) -> PathBuf {
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    fn write_atomically(&self, path: &Path, envelope: &[u8]) -> Result<(), StoreError> {
        let suffix: [u8; 8] =
            crypto::random_array().map_err(|e| io_error(path, io::Error::other(e)))?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        // A leading '.' keeps temporary files out of `list` (no object name starts with '.').
        let temp = self.dir.join(format!("{TEMP_PREFIX}{suffix}"));
        let written = File::create_new(&temp)
            .and_then(|mut file| {
                file.write_all(envelope)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temp, path));
        if let Err(source) = written {
            // Best effort: the temporary file is garbage whether or not removing it works.
            let _ = fs::remove_file(&temp);
            return Err(io_error(&temp, source));
        }
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| io_error(&self.dir, source))
    }
}

fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ObjectStore for FsStore {
    fn put(&self, name: &ObjectName, envelope: &[u8]) -> Result<(), StoreError> {
        self.write_atomically(&self.path(name), envelope)
    }

    fn get(&self, name: &ObjectName) -> Result<Vec<u8>, StoreError> {
        let path = self.path(name);
        fs::read(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound { name: name.clone() },
            _ => io_error(&path, source),
        })
    }

    fn delete(&self, name: &ObjectName) -> Result<bool, StoreError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(io_error(&path, source)),
        }
    }

    fn list(&self) -> Result<Vec<ObjectName>, StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| io_error(&self.dir, source))?;
        let mut names = Vec::new();
        for entry in entries {
            let path = entry.map_err(|source| io_error(&self.dir, source))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                continue;
            }
            if let Some(name) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| ObjectName::new(s).ok())
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Envelopes in a map, for tests and throwaway demos.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<ObjectName, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<ObjectName, Vec<u8>>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ObjectStore for MemoryStore {
    fn put(&self, name: &ObjectName, envelope: &[u8]) -> Result<(), StoreError> {
        self.objects().insert(name.clone(), envelope.to_vec());
        Ok(())
    }

    fn get(&self, name: &ObjectName) -> Result<Vec<u8>, StoreError> {
        self.objects()
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { name: name.clone() })
    }

    fn delete(&self, name: &ObjectName) -> Result<bool, StoreError> {
        Ok(self.objects().remove(name).is_some())
    }

    fn list(&self) -> Result<Vec<ObjectName>, StoreError> {
        Ok(self.objects().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_a_crash_left_are_removed_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = ObjectName::new("kept").expect("name");
        FsStore::open(dir.path())
            .expect("store")
            .put(&name, b"envelope")
            .expect("put");
        let leftover = dir.path().join(".tmp-0123456789abcdef");
        fs::write(&leftover, b"half a write").expect("crash leftover");
        let store = FsStore::open(dir.path()).expect("reopen");
        assert!(!leftover.exists(), "the crash leftover is removed");
        assert_eq!(store.get(&name).expect("get"), b"envelope");
        assert_eq!(store.list().expect("list"), vec![name]);
    }

    #[test]
    fn names_that_could_escape_the_directory_are_refused() {
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "nul\0",
            "é",
        ] {
            assert!(
                matches!(ObjectName::new(bad), Err(StoreError::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(ObjectName::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(ObjectName::new("report-2026.v1_final").is_ok());
    }

    fn exercise(store: &dyn ObjectStore) {
        let a = ObjectName::new("a").expect("name");
        let b = ObjectName::new("b.v2").expect("name");
        assert!(matches!(store.get(&a), Err(StoreError::NotFound { .. })));
        store.put(&b, b"two").expect("put");
        store.put(&a, b"one").expect("put");
        store.put(&a, b"uno").expect("overwrite");
        assert_eq!(store.get(&a).expect("get"), b"uno");
        assert_eq!(store.list().expect("list"), vec![a.clone(), b.clone()]);
        assert!(store.delete(&a).expect("delete"));
        assert!(!store.delete(&a).expect("delete again"));
        assert_eq!(store.list().expect("list"), vec![b]);
    }

    #[test]
    fn memory_store_behaves_as_a_store() {
        exercise(&MemoryStore::new());
    }

    #[test]
    fn fs_store_behaves_as_a_store_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsStore::open(dir.path().join("objects")).expect("open");
        exercise(&store);
        let files: Vec<_> = fs::read_dir(store.dir())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("b.v2.ekm")]);
    }
}
