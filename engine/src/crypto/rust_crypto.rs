//! The pure-Rust RustCrypto AES-256-GCM backend (`rustcrypto` feature).

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Nonce, Tag};

use super::{AeadFailure, KEY_LEN, NONCE_LEN, TAG_LEN};

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

    /// Encrypts `plaintext` into `out`, which has the same length, and returns the tag.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        let buf = InOutBuf::new(plaintext, out).map_err(|_| AeadFailure)?;
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(nonce), aad, buf)
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
