//! Key Vault's cryptography on the lab's key material: RSA-OAEP (SHA-256 or SHA-1) and
//! RSAES-PKCS1-v1_5 with the `rsa` crate, JSON Web Keys of the public halves, and a cache of
//! parsed keys (parsing and checking a PKCS#8 RSA key costs far more than one operation).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::GeneralPurpose;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts as _;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};
use serde_json::{Value, json};

use crate::keys::{KeyMaterial, KeyVersion};

/// Key Vault's base64url: written without padding, read with or without it.
pub(crate) const BASE64URL: GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;

/// `key_ops` of RSA keys.
const RSA_KEY_OPS: [&str; 6] = [
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
];
/// `key_ops` of EC keys: signing only.
const EC_KEY_OPS: [&str; 2] = ["sign", "verify"];

/// An encryption / key-wrapping algorithm (`alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// `RSA-OAEP-256`: OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// `RSA-OAEP`: OAEP with SHA-1 and MGF1-SHA-1.
    RsaOaep,
    /// `RSA1_5`: RSAES-PKCS1-v1_5.
    Rsa15,
}

impl Algorithm {
    /// Parses an `alg` value (exact, as Key Vault's names are).
    pub(crate) fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RSA-OAEP-256" => Some(Self::RsaOaep256),
            "RSA-OAEP" => Some(Self::RsaOaep),
            "RSA1_5" => Some(Self::Rsa15),
            _ => None,
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CryptoError {
    /// The key cannot encrypt or decrypt (EC keys).
    #[error("operation {0} is not permitted on this key")]
    NotPermitted(&'static str),
    /// The input does not fit the key or algorithm (plaintext too long, bad ciphertext).
    #[error("{0}")]
    BadInput(String),
    /// The stored material does not parse (a lab bug, never the caller's).
    #[error("the key material of version {0} is unusable")]
    Material(String),
}

/// A version's key, parsed.
#[derive(Clone)]
pub(crate) enum ParsedKey {
    /// An RSA private key, and the same key in aws-lc-rs for OAEP decryption (four times the
    /// `rsa` crate's speed: a fleet's unwraps spent a third of the lab's time in the `rsa`
    /// crate's modular arithmetic, measured with perf in the fleet scale bench).
    Rsa(Arc<RsaPrivateKey>, Arc<OaepPrivateDecryptingKey>),
    /// The public point of an EC P-256 key.
    EcP256 {
        /// X coordinate, 32 bytes big-endian.
        x: Vec<u8>,
        /// Y coordinate, 32 bytes big-endian.
        y: Vec<u8>,
    },
}

impl fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParsedKey::Rsa(key, _) => write!(f, "ParsedKey::Rsa({} bits)", key.size() * 8),
            ParsedKey::EcP256 { .. } => f.write_str("ParsedKey::EcP256"),
        }
    }
}

impl ParsedKey {
    fn parse(version: &KeyVersion) -> Result<Self, CryptoError> {
        let unusable = || CryptoError::Material(version.id.clone());
        match &version.material {
            KeyMaterial::Rsa(der) => {
                let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|_| unusable())?;
                let oaep = PrivateDecryptingKey::from_pkcs8(der)
                    .ok()
                    .and_then(|key| OaepPrivateDecryptingKey::new(key).ok())
                    .ok_or_else(unusable)?;
                Ok(ParsedKey::Rsa(Arc::new(key), Arc::new(oaep)))
            }
            KeyMaterial::EcP256(der) => {
                let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    der,
                )
                .map_err(|_| unusable())?;
                let point = aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref();
                // An uncompressed SEC1 point: 0x04 ‖ X ‖ Y.
                match point {
                    [0x04, xy @ ..] if xy.len() == 64 => {
                        let (x, y) = xy.split_at(32);
                        Ok(ParsedKey::EcP256 {
                            x: x.to_vec(),
                            y: y.to_vec(),
                        })
                    }
                    _ => Err(unusable()),
                }
            }
            KeyMaterial::Aes256(_) | KeyMaterial::Destroyed => Err(unusable()),
        }
    }

    /// The JSON Web Key of the public half, named `kid`.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        match self {
            ParsedKey::Rsa(key, _) => json!({
                "kid": kid,
                "kty": "RSA",
                "key_ops": RSA_KEY_OPS,
                "n": BASE64URL.encode(key.n().to_bytes_be()),
                "e": BASE64URL.encode(key.e().to_bytes_be()),
            }),
            ParsedKey::EcP256 { x, y } => json!({
                "kid": kid,
                "kty": "EC",
                "key_ops": EC_KEY_OPS,
                "crv": "P-256",
                "x": BASE64URL.encode(x),
                "y": BASE64URL.encode(y),
            }),
        }
    }

    fn rsa(&self, operation: &'static str) -> Result<&RsaPrivateKey, CryptoError> {
        match self {
            ParsedKey::Rsa(key, _) => Ok(key),
            ParsedKey::EcP256 { .. } => Err(CryptoError::NotPermitted(operation)),
        }
    }

    /// Encrypts (or wraps) `plaintext`; `operation` names the call in errors.
    pub(crate) fn encrypt(
        &self,
        operation: &'static str,
        alg: Algorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let public = self.rsa(operation)?.as_ref();
        let mut rng = OsRng;
        let result = match alg {
            Algorithm::RsaOaep256 => {
                public.encrypt(&mut rng, Oaep::new::<rsa::sha2::Sha256>(), plaintext)
            }
            Algorithm::RsaOaep => public.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), plaintext),
            Algorithm::Rsa15 => public.encrypt(&mut rng, Pkcs1v15Encrypt, plaintext),
        };
        result.map_err(|_| {
            CryptoError::BadInput(format!(
                "The value is too long for a {}-bit key and this algorithm.",
                public.size() * 8
            ))
        })
    }

    /// Decrypts (or unwraps) `ciphertext`; `operation` names the call in errors.
    pub(crate) fn decrypt(
        &self,
        operation: &'static str,
        alg: Algorithm,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self.rsa(operation)?;
        let oaep = |algorithm: &'static OaepAlgorithm| {
            let ParsedKey::Rsa(_, oaep) = self else {
                return Err(rsa::Error::Decryption);
            };
            let mut plaintext = vec![0; oaep.min_output_size()];
            let len = oaep
                .decrypt(algorithm, ciphertext, &mut plaintext, None)
                .map_err(|_| rsa::Error::Decryption)?
                .len();
            plaintext.truncate(len);
            Ok(plaintext)
        };
        let result = match alg {
            Algorithm::RsaOaep256 => oaep(&OAEP_SHA256_MGF1SHA256),
            Algorithm::RsaOaep => oaep(&OAEP_SHA1_MGF1SHA1),
            Algorithm::Rsa15 => key.decrypt(Pkcs1v15Encrypt, ciphertext),
        };
        result.map_err(|_| CryptoError::BadInput("Bad Request: the ciphertext is invalid.".into()))
    }
}

/// Parsed keys by version id (version ids are unique across the lab: 32 random hex digits).
#[derive(Default)]
pub(crate) struct KeyCache {
    parsed: Mutex<HashMap<String, ParsedKey>>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("KeyCache")
            .field("entries", &entries)
            .finish()
    }
}

impl KeyCache {
    /// The parsed key of `version`, parsing it on first use.
    pub(crate) fn get(&self, version: &KeyVersion) -> Result<ParsedKey, CryptoError> {
        let mut parsed = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(
            version.material,
            KeyMaterial::Aes256(_) | KeyMaterial::Destroyed
        ) {
            // Destroyed material (or a symmetric key): never answer from the cache, and drop
            // the parsed private key it may still hold.
            parsed.remove(&version.id);
            return Err(CryptoError::Material(version.id.clone()));
        }
        if let Some(key) = parsed.get(&version.id) {
            return Ok(key.clone());
        }
        let key = ParsedKey::parse(version)?;
        parsed.insert(version.id.clone(), key.clone());
        Ok(key)
    }
}
