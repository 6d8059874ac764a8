//! The pure-Rust RustCrypto backend (`rustcrypto` feature).

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AeadFailure, DIGEST_LEN, KEY_LEN, KeyBytes, MessageKeys, NONCE_LEN, TAG_LEN};

/// An AES-256-GCM key, ready to seal and open frames.
pub(crate) struct AeadKey(Aes256Gcm);

impl AeadKey {
    /// Borrows `key` as the cipher's key type (no copy left on the stack); the expanded key
    /// schedule is wiped when the cipher drops (aes-gcm's `zeroize` feature).
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        match <&aes_gcm::Key<Aes256Gcm>>::try_from(key.as_slice()) {
            Ok(key) => Self(Aes256Gcm::new(key)),
            Err(_) => unreachable!("an AES-256 key is {KEY_LEN} bytes"),
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
            .encrypt_inout_detached(&Nonce::from(nonce), aad, InOutBuf::from(in_out))
            .map_err(|_| AeadFailure)?;
        Ok(tag.into())
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
        let tag = Tag::try_from(tag).map_err(|_| AeadFailure)?;
        let buf = InOutBuf::new(ciphertext, out).map_err(|_| AeadFailure)?;
        self.0
            .decrypt_inout_detached(&Nonce::from(nonce), aad, buf, &tag)
            .map_err(|_| AeadFailure)
    }
}

/// HKDF-SHA256: one extract (salt = message id), two expands (`data_info`, `commit_info`).
pub(crate) fn derive_message_keys(
    dek: &[u8; KEY_LEN],
    message_id: &[u8; DIGEST_LEN],
    data_info: &[u8],
    commit_info: &[u8],
) -> MessageKeys {
    let hkdf = Hkdf::<Sha256>::new(Some(message_id), dek);
    let mut key: KeyBytes = Zeroizing::new([0u8; KEY_LEN]);
    let mut commitment = [0u8; DIGEST_LEN];
    // Expanding 32 bytes from a SHA-256 PRK is always within HKDF's 255 * 32 byte limit.
    if hkdf.expand(data_info, key.as_mut()).is_err()
        || hkdf.expand(commit_info, &mut commitment).is_err()
    {
        unreachable!("HKDF-SHA256 can always expand 32 bytes");
    }
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
