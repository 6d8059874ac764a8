//! The aws-lc-rs AES-256-GCM backend (default).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::{AeadFailure, KEY_LEN, NONCE_LEN, TAG_LEN};

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

    /// Encrypts `plaintext` into `out`, which has the same length, and returns the tag.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailure> {
        let mut tag = [0u8; TAG_LEN];
        self.0
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                plaintext,
                out,
                &[],
                &mut tag,
            )
            .map_err(|_| AeadFailure)?;
        Ok(tag)
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
