//! Data encryption keys: the AES-256-GCM keys the engine generates, caches in memory only and has
//! the customer's KEK wrap into eDEKs.
//!
//! A [`Dek`] is 32 bytes from the operating system's random number generator. It is wiped when
//! dropped, prints as `Dek([redacted])`, is not `Clone` (share it behind an `Arc`) and has no
//! serialization: the only way its bytes leave the process is [`Dek::expose_secret`], which a
//! [`KeyEncryptionKey`](crate::provider::KeyEncryptionKey) provider calls to send it to the KMS.
//!
//! A [`DekId`] is the public, random name of a DEK: it is written in every envelope header and keys
//! the decrypt-path cache.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{self, KEY_LEN};

/// The length of a DEK in bytes (AES-256).
pub const DEK_LEN: usize = KEY_LEN;

/// The length of a [`DekId`] in bytes.
pub const DEK_ID_LEN: usize = 16;

/// The operating system's random number generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RngError;

/// Bytes handed back by a KMS were not a 32-byte DEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a DEK is {DEK_LEN} bytes, got {len}")]
pub struct InvalidDekLength {
    /// The length received.
    pub len: usize,
}

/// A data encryption key: 32 secret bytes, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Dek([u8; DEK_LEN]);

impl Dek {
    /// A fresh DEK from the operating system's random number generator.
    pub fn generate() -> Result<Self, RngError> {
        crypto::random_array().map(Self)
    }

    /// A DEK from the plaintext a KMS returned on unwrap.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidDekLength> {
        <[u8; DEK_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| InvalidDekLength { len: bytes.len() })
    }

    /// The secret bytes, for a KEK provider to wrap. Never log, persist or copy them elsewhere.
    pub fn expose_secret(&self) -> &[u8; DEK_LEN] {
        &self.0
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek([redacted])")
    }
}

/// The public name of a DEK: 16 random bytes, stored in envelope headers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DekId([u8; DEK_ID_LEN]);

impl DekId {
    /// A fresh random id.
    pub fn generate() -> Result<Self, RngError> {
        crypto::random_array().map(Self)
    }

    /// The id as stored in an envelope.
    pub const fn from_bytes(bytes: [u8; DEK_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DEK_ID_LEN] {
        &self.0
    }

    /// The first 8 hex digits, as UIs show it.
    pub fn short(&self) -> String {
        let mut full = self.to_string();
        full.truncate(8);
        full
    }
}

impl fmt::Display for DekId {
    /// All 32 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for DekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DekId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_contains_no_key_bytes() {
        let dek = Dek::from_bytes(&[0xab; DEK_LEN]).expect("32 bytes");
        let printed = format!("{dek:?} {dek:#?}");
        assert_eq!(format!("{dek:?}"), "Dek([redacted])");
        assert!(!printed.to_lowercase().contains("ab"));
        assert!(!printed.contains("171"));
    }

    #[test]
    fn generated_deks_differ() {
        let a = Dek::generate().expect("rng");
        let b = Dek::generate().expect("rng");
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn from_bytes_rejects_wrong_lengths() {
        assert_eq!(
            Dek::from_bytes(&[0; 31]).map(drop),
            Err(InvalidDekLength { len: 31 })
        );
        assert!(Dek::from_bytes(&[0; 33]).is_err());
    }

    #[test]
    fn dek_id_prints_as_hex_and_short_form() {
        let id = DekId::from_bytes([0x01; DEK_ID_LEN]);
        assert_eq!(id.to_string(), "01".repeat(DEK_ID_LEN));
        assert_eq!(id.short(), "01010101");
    }
}
