//! The RSA-OAEP plaintext of an Azure eDEK: the DEK bound to its wrap context.
//!
//! Key Vault's RSA-OAEP has no additional authenticated data, so the provider binds the wrap
//! context (`{"ekm:project": <id>}`) inside the wrapped plaintext instead:
//!
//! ```text
//!   magic    4   "EKMW"
//!   version  u8  1
//!   dek      32
//!   context  32  SHA-256("ekm-lab azure wrap context\0" ‖ canonical context encoding)
//! ```
//!
//! 69 bytes, well inside RSA-OAEP-256's limit (190 bytes for RSA-2048). On unwrap the digest must
//! equal the digest of the context the caller names, so one Azure key registered for two projects
//! no longer lets one project's envelopes be opened as the other's.
//!
//! **Older eDEKs** (a bare 32-byte DEK, wrapped before this binding existed) are refused with
//! [`KmsError::InvalidCiphertext`] saying so: accepting them would keep the cross-project hole
//! open for exactly the data it exists to protect. Data sealed that way must be re-encrypted
//! from a copy opened by an older build.

use zeroize::Zeroizing;

use crate::crypto::{self, DIGEST_LEN};
use crate::dek::{DEK_LEN, Dek};
use crate::envelope::EncryptionContext;
use crate::provider::KmsError;

const MAGIC: &[u8; 4] = b"EKMW";
const VERSION: u8 = 1;
/// The length of a bound plaintext.
pub const BOUND_LEN: usize = MAGIC.len() + 1 + DEK_LEN + DIGEST_LEN;

fn context_digest(context: &EncryptionContext) -> Result<[u8; DIGEST_LEN], KmsError> {
    let encoded = context.encode().map_err(|e| KmsError::InvalidCiphertext {
        message: format!("the wrap context cannot be encoded: {e}"),
    })?;
    Ok(crypto::sha256(&[b"ekm-lab azure wrap context\0", &encoded]))
}

/// The plaintext to wrap: `dek` bound to `context`. Wiped on drop.
pub fn bind(dek: &Dek, context: &EncryptionContext) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let mut plaintext = Zeroizing::new(Vec::with_capacity(BOUND_LEN));
    plaintext.extend_from_slice(MAGIC);
    plaintext.push(VERSION);
    plaintext.extend_from_slice(dek.expose_secret());
    plaintext.extend_from_slice(&context_digest(context)?);
    Ok(plaintext)
}

/// The DEK inside an unwrapped `plaintext`, if it was bound to `context`; `subject` names the
/// provider and key in errors.
pub fn open(plaintext: &[u8], context: &EncryptionContext, subject: &str) -> Result<Dek, KmsError> {
    let refuse = |why: &str| KmsError::InvalidCiphertext {
        message: format!("{subject}: {why}"),
    };
    if plaintext.len() == DEK_LEN {
        return Err(refuse(
            "the eDEK was wrapped before EKM Lab bound the wrap context (a bare DEK); it is \
             refused because it could be opened for any project: re-encrypt that data",
        ));
    }
    if plaintext.len() != BOUND_LEN || !plaintext.starts_with(MAGIC) {
        return Err(refuse(&format!(
            "the eDEK decrypted to {} bytes that are not a bound DEK",
            plaintext.len()
        )));
    }
    if plaintext[MAGIC.len()] != VERSION {
        return Err(refuse(&format!(
            "unknown bound-DEK version {}",
            plaintext[MAGIC.len()]
        )));
    }
    let (dek, digest) = plaintext[MAGIC.len() + 1..].split_at(DEK_LEN);
    if !crypto::constant_time_eq(digest, &context_digest(context)?) {
        return Err(refuse(
            "the eDEK was wrapped for another wrap context (another project)",
        ));
    }
    Dek::from_bytes(dek).map_err(|e| refuse(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(project: &str) -> EncryptionContext {
        EncryptionContext::new().with("ekm:project", project)
    }

    #[test]
    fn a_bound_dek_opens_only_under_its_own_context() {
        let dek = Dek::generate().expect("rng");
        let bound = bind(&dek, &context("proj_a")).expect("bind");
        assert_eq!(bound.len(), BOUND_LEN);
        let opened = open(&bound, &context("proj_a"), "azure key k").expect("open");
        assert_eq!(opened.expose_secret(), dek.expose_secret());
        let other = open(&bound, &context("proj_b"), "azure key k").expect_err("other project");
        assert!(
            other.to_string().contains("another wrap context"),
            "{other}"
        );
    }

    #[test]
    fn bare_and_malformed_plaintexts_are_refused_with_the_reason() {
        let bare = open(&[7; DEK_LEN], &context("p"), "azure key k").expect_err("bare DEK");
        assert!(bare.to_string().contains("before EKM Lab bound"), "{bare}");
        let mut bound = bind(&Dek::generate().expect("rng"), &context("p")).expect("bind");
        bound[4] = 9;
        assert!(open(&bound, &context("p"), "k").is_err());
        assert!(open(&bound[..40], &context("p"), "k").is_err());
        assert!(open(&[], &context("p"), "k").is_err());
    }
}
