//! The cryptographic primitives under the envelope: AES-256-GCM, HKDF-SHA256, SHA-256 and the OS
//! random number generator.
//!
//! Two interchangeable backends implement the same small surface (DESIGN.md §8): aws-lc-rs by
//! default, and the pure-Rust RustCrypto crates with the `rustcrypto` feature (which wins when both
//! are enabled). Everything above this module is backend-agnostic.

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!(
    "ekm-engine needs a crypto backend: enable the `aws-lc` or the `rustcrypto` feature"
);

#[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
mod aws_lc;
#[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
pub(crate) use aws_lc::{AeadKey, derive_message_keys, sha256};

#[cfg(feature = "rustcrypto")]
mod rust_crypto;
#[cfg(feature = "rustcrypto")]
pub(crate) use rust_crypto::{AeadKey, derive_message_keys, sha256};

use rand::TryRng;
use zeroize::Zeroizing;

use crate::dek::RngError;

/// Length of an AES-256 key, a DEK and a derived message key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-GCM authentication tag.
pub(crate) const TAG_LEN: usize = 16;
/// Length of a SHA-256 digest (header digest, key commitment).
pub(crate) const DIGEST_LEN: usize = 32;

/// Keys derived for one message: the AES-256-GCM key for its frames and the key commitment stored
/// in its header.
pub(crate) struct MessageKeys {
    pub(crate) aead: AeadKey,
    pub(crate) commitment: [u8; DIGEST_LEN],
}

/// The failure of an AEAD operation; deliberately opaque (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), RngError> {
    rand::rngs::SysRng.try_fill_bytes(buf).map_err(|_| RngError)
}

/// A message id: 32 bytes straight from the operating system's random number generator. Ids are
/// public salts that must never repeat under one DEK (a repeat means a repeated AES-GCM key and
/// nonce); a user-space generator can repeat its output in a forked child, the OS cannot.
pub(crate) fn message_id() -> Result<[u8; DIGEST_LEN], RngError> {
    random_array()
}

/// `N` random bytes from the operating system.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], RngError> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// A 96-bit AES-GCM nonce holding `counter` big-endian in its last 8 bytes.
pub(crate) fn counter_nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[NONCE_LEN - 8..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Scratch space for derived key material, wiped on drop.
pub(crate) type KeyBytes = Zeroizing<[u8; KEY_LEN]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_separates_commitment_from_key() {
        let dek = [7u8; KEY_LEN];
        let a = derive_message_keys(&dek, &[1; 32], b"s-data", b"s-commit");
        let b = derive_message_keys(&dek, &[1; 32], b"s-data", b"s-commit");
        let c = derive_message_keys(&dek, &[2; 32], b"s-data", b"s-commit");
        assert_eq!(a.commitment, b.commitment);
        assert_ne!(a.commitment, c.commitment);
    }

    /// Known answers (computed independently with Python's `hmac` and `cryptography`), so both
    /// backends provably write the same format.
    #[test]
    fn both_backends_derive_and_seal_the_known_answers() {
        let keys = derive_message_keys(&[7; KEY_LEN], &[1; 32], b"\x00\x01data", b"\x00\x01commit");
        assert_eq!(
            hex(&keys.commitment),
            "eea3d975e7849e8c909047d459d8c24cae7c91065f68b62be2d409607b1f51d2"
        );
        let mut frame = b"frame".to_vec();
        let tag = keys
            .aead
            .seal_in_place(counter_nonce(3), b"aad", &mut frame)
            .expect("seal");
        frame.extend_from_slice(&tag);
        assert_eq!(hex(&frame), "199f7399f20fd24cc2032f4a151c7e94c27039452f");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn aead_round_trips_out_of_place_and_rejects_a_wrong_aad() {
        let key = AeadKey::new(&[9u8; KEY_LEN]);
        let mut buf = b"frame contents".to_vec();
        let tag = key
            .seal_in_place(counter_nonce(3), b"aad", &mut buf)
            .expect("seal");
        let mut out = vec![0u8; buf.len()];
        key.open_into(counter_nonce(3), b"aad", &buf, &tag, &mut out)
            .expect("open");
        assert_eq!(out, b"frame contents");
        assert_eq!(
            key.open_into(counter_nonce(3), b"other", &buf, &tag, &mut out),
            Err(AeadFailure)
        );
        assert_eq!(
            key.open_into(counter_nonce(4), b"aad", &buf, &tag, &mut out),
            Err(AeadFailure)
        );
    }

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        let digest = sha256(&[b"ab", b"c"]);
        assert_eq!(
            digest[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts with ba7816bf"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
