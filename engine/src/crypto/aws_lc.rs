//! The aws-lc-rs backend (default).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use super::{AeadFailure, DIGEST_LEN, KEY_LEN, KeyBytes, MessageKeys, NONCE_LEN, TAG_LEN};

/// An AES-256-GCM key, ready to seal and open frames.
pub(crate) struct AeadKey(LessSafeKey);

impl AeadKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        match UnboundKey::new(&AES_256_GCM, key) {
            Ok(unbound) => Self(LessSafeKey::new(unbound)),
            // AES_256_GCM accepts every 32-byte key; the length is fixed by the type.
            Err(_) => unreachable!("a 32-byte key is always a valid AES-256-GCM key"),
        }
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| AeadFailure)?;
        tag.as_ref().try_into().map_err(|_| AeadFailure)
    }

    /// Decrypts `ciphertext` (with its `tag`) into `out`, which has the same length.
    pub(crate) fn open_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<(), AeadFailure> {
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| AeadFailure)
    }
}

/// HKDF-SHA256 (RFC 5869) of a 32-byte output per info, written out with HMAC: extract
/// PRK = HMAC(salt = message id, DEK), then T(1) = HMAC(PRK, info ‖ 0x01) for `data_info` and
/// `commit_info`. One output block needs no chaining, and keying the PRK's HMAC once for both
/// expands saves the key setups a generic HKDF call repeats. The known-answer test in the
/// parent module pins the result to the RustCrypto `hkdf` crate's.
pub(crate) fn derive_message_keys(
    dek: &[u8; KEY_LEN],
    message_id: &[u8; DIGEST_LEN],
    data_info: &[u8],
    commit_info: &[u8],
) -> MessageKeys {
    let salt = hmac::Key::new(hmac::HMAC_SHA256, message_id);
    let mut prk: KeyBytes = Zeroizing::new([0u8; KEY_LEN]);
    prk.copy_from_slice(hmac::sign(&salt, dek).as_ref());
    let prk = hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref());
    let expand = |info: &[u8], out: &mut [u8; KEY_LEN]| {
        let mut block = hmac::Context::with_key(&prk);
        block.update(info);
        block.update(&[1]);
        out.copy_from_slice(block.sign().as_ref());
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
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
