//! The cryptographic primitives under the envelope: AES-256-GCM, HKDF-SHA256, SHA-256 and the OS
//! random number generator.
//!
//! AES-256-GCM has two interchangeable backends (DESIGN.md §8): aws-lc-rs by default, and
//! RustCrypto's `aes-gcm` with the `rustcrypto` feature (which wins when both are enabled).
//! SHA-256, HMAC and so HKDF are RustCrypto's `sha2` and `hmac` under both: the envelope hashes
//! only short inputs, where their stack-held states (wiped on drop: the `zeroize` features) cost
//! less than aws-lc's HMAC contexts, and `sha2` uses the CPU's SHA extensions when it has them.
//! Everything above this module is backend-agnostic.

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!(
    "ekm-engine needs a crypto backend: enable the `aws-lc` or the `rustcrypto` feature"
);

#[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
mod aws_lc;
#[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
pub(crate) use aws_lc::AeadKey;

#[cfg(feature = "rustcrypto")]
mod rust_crypto;
#[cfg(feature = "rustcrypto")]
pub(crate) use rust_crypto::AeadKey;

use std::cell::RefCell;

use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use sha2::{Digest, Sha256};
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

/// How many bytes of OS randomness a thread fetches at once for message ids: 32 ids.
const ID_POOL_LEN: usize = 32 * DIGEST_LEN;

/// A thread's unused message-id bytes, fetched from the OS by the process `pid`.
struct IdPool {
    pid: u32,
    next: usize,
    bytes: [u8; ID_POOL_LEN],
}

thread_local! {
    static ID_POOL: RefCell<IdPool> = const {
        RefCell::new(IdPool {
            pid: 0,
            next: ID_POOL_LEN,
            bytes: [0; ID_POOL_LEN],
        })
    };
}

/// A message id: 32 bytes from the operating system's random number generator. Ids are public
/// salts that must never repeat under one DEK (a repeat means a repeated AES-GCM key and nonce).
///
/// One `getrandom` call per id was a sixth of a seal, so each thread fetches [`ID_POOL_LEN`]
/// bytes at a time and hands each id out once (its bytes are zeroed as it leaves). Still only the
/// OS's bytes, and fork-safe: a pool filled by another process — the parent, copied into a
/// forked child with the thread — is thrown away unused, as its pid is not this process's (a
/// child never has its living parent's pid). Threads never share a pool.
pub(crate) fn message_id() -> Result<[u8; DIGEST_LEN], RngError> {
    ID_POOL.with_borrow_mut(|pool| {
        let pid = std::process::id();
        if pool.pid != pid || pool.next == ID_POOL_LEN {
            fill_random(&mut pool.bytes)?;
            pool.pid = pid;
            pool.next = 0;
        }
        let taken = &mut pool.bytes[pool.next..pool.next + DIGEST_LEN];
        let mut id = [0u8; DIGEST_LEN];
        id.copy_from_slice(taken);
        taken.fill(0);
        pool.next += DIGEST_LEN;
        Ok(id)
    })
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

type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 keyed with `key` (its inner and outer states, wiped on drop).
fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// HKDF-SHA256 (RFC 5869) of a 32-byte output per info, written out with HMAC: extract
/// PRK = HMAC(salt = message id, DEK), then T(1) = HMAC(PRK, info ‖ 0x01) for `data_info` and
/// `commit_info`. One output block needs no chaining, and the PRK's keyed HMAC is cloned for
/// the second expand instead of keyed again: ten SHA-256 compressions in all, the fewest the
/// format allows. The known-answer test below pins the result to independent implementations.
pub(crate) fn derive_message_keys(
    dek: &[u8; KEY_LEN],
    message_id: &[u8; DIGEST_LEN],
    data_info: &[u8],
    commit_info: &[u8],
) -> MessageKeys {
    let mut extract = hmac_sha256(message_id);
    extract.update(dek);
    let mut prk: KeyBytes = Zeroizing::new([0u8; KEY_LEN]);
    prk.copy_from_slice(extract.finalize().as_bytes());
    let prk = hmac_sha256(prk.as_ref());
    let expand = |info: &[u8], out: &mut [u8; KEY_LEN]| {
        let mut block = prk.clone();
        block.update(info);
        block.update(&[1]);
        out.copy_from_slice(block.finalize().as_bytes());
    };
    let mut key: KeyBytes = Zeroizing::new([0u8; KEY_LEN]);
    let mut commitment = [0u8; DIGEST_LEN];
    expand(data_info, &mut key);
    expand(commit_info, &mut commitment);
    MessageKeys {
        aead: AeadKey::new(&key),
        commitment,
    }
}

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A SHA-256 computation that has absorbed a prefix once, to be finished for many suffixes:
/// each [`finish`](Self::finish) hashes only its suffix.
#[derive(Clone)]
pub(crate) struct PrefixHash(Sha256);

impl PrefixHash {
    pub(crate) fn new(prefix: &[u8]) -> Self {
        Self(Sha256::new_with_prefix(prefix))
    }

    /// SHA-256 of the prefix followed by `rest`.
    pub(crate) fn finish(&self, rest: &[u8]) -> [u8; DIGEST_LEN] {
        let mut hasher = self.0.clone();
        hasher.update(rest);
        hasher.finalize().into()
    }
}

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
        let mut frame = [0xaa; 5];
        let tag = keys
            .aead
            .seal_into(counter_nonce(3), b"aad", b"frame", &mut frame)
            .expect("seal");
        assert_eq!(
            hex(&[&frame[..], &tag[..]].concat()),
            "199f7399f20fd24cc2032f4a151c7e94c27039452f"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn aead_round_trips_out_of_place_and_rejects_a_wrong_aad() {
        let key = AeadKey::new(&[9u8; KEY_LEN]);
        let mut buf = [0u8; 14];
        let tag = key
            .seal_into(counter_nonce(3), b"aad", b"frame contents", &mut buf)
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
    fn a_prefix_hash_finishes_to_the_plain_digests() {
        let prefix = PrefixHash::new(&[5; 100]);
        assert_eq!(prefix.finish(&[]), sha256(&[&[5; 100]]));
        assert_eq!(prefix.finish(&[6; 70]), sha256(&[&[5; 100], &[6; 70]]));
        assert_eq!(
            prefix.finish(&[7; 3]),
            sha256(&[&[5; 100], &[7; 3]]),
            "reusable"
        );
    }

    #[test]
    fn message_ids_are_never_handed_out_twice() {
        let ids: std::collections::HashSet<_> = (0..3 * ID_POOL_LEN / DIGEST_LEN)
            .map(|_| message_id().expect("rng"))
            .collect();
        assert_eq!(ids.len(), 3 * ID_POOL_LEN / DIGEST_LEN, "across refills");
        let other = std::thread::spawn(|| message_id().expect("rng"))
            .join()
            .expect("thread");
        assert!(!ids.contains(&other), "another thread has its own pool");
    }

    #[test]
    fn a_pool_filled_by_another_process_is_not_used() {
        let first = message_id().expect("rng");
        let copied = ID_POOL.with_borrow_mut(|pool| {
            // What a forked child sees: the parent's pool, bytes and all, under the parent's pid.
            pool.pid = pool.pid.wrapping_add(1);
            pool.bytes[pool.next..pool.next + DIGEST_LEN].to_vec()
        });
        let next = message_id().expect("rng");
        assert_ne!(next.as_slice(), copied.as_slice());
        assert_ne!(next, first);
        ID_POOL.with_borrow(|pool| {
            assert_eq!(pool.pid, std::process::id());
            assert_eq!(pool.next, DIGEST_LEN, "refilled");
        });
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
