//! The envelope format (DESIGN.md §3, a contract): what [`seal`] writes and [`parse`] reads.
//!
//! Modelled on the AWS Encryption SDK v2 message format. All integers are big-endian; `str16` is a
//! `u16` length followed by UTF-8, `bytes16` a `u16` length followed by bytes.
//!
//! ```text
//! header (authenticated: its SHA-256 digest is in every frame's AAD)
//!   magic        4   "EKML"
//!   version      u8  1
//!   suite        u16 0x0001 = AES-256-GCM, HKDF-SHA256, key commitment
//!   provider     u8 length + UTF-8   provider kind: aws | gcp | azure | memory | …
//!   key          str16   key reference: key/alias ARN, GCP cryptoKeys name, Azure key id
//!   key_version  str16   key-version hint from the wrap (may be empty)
//!   project      str16   the project whose DEK this is (the KMS wrap context)
//!   dek_id       16      random id of the DEK (the decrypt-path cache key)
//!   edek         bytes16 the wrapped DEK, opaque
//!   context      u16 count, then count × (str16 key, str16 value), keys strictly ascending
//!   message_id   32      random per message
//!   frame_len    u32     1 ..= 16 MiB (default 64 KiB)
//!   plaintext_len u64
//!   commitment   32      HKDF-SHA256(DEK, salt = message_id, info = suite ‖ "commit")
//! body
//!   frames       max(1, ⌈plaintext_len / frame_len⌉) × (ciphertext ‖ 16-byte tag); every frame
//!                but the last holds frame_len bytes
//! ```
//!
//! Each frame is AES-256-GCM under `K_msg` = HKDF-SHA256(DEK, salt = message_id, info = suite ‖
//! "data"), nonce = the frame index (96-bit big-endian), AAD = header digest ‖ frame index (u64) ‖
//! final-frame flag (u8). So an edited header, reordered or dropped frames and a moved final frame
//! all fail authentication; and because the commitment is checked before any frame is decrypted,
//! a wrong DEK is always a [`EnvelopeError::CommitmentMismatch`], never garbage plaintext.
//!
//! [`parse`] is total: every malformed, truncated or oversized input is an [`EnvelopeError`]. It
//! validates lengths against the input before allocating anything.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroize;

use crate::crypto::{self, DIGEST_LEN, TAG_LEN};
use crate::dek::{DEK_ID_LEN, Dek, DekId, RngError};
use crate::provider::{KeyReference, WrappedDek};

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"EKML";
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Algorithm suite 1: AES-256-GCM frames, HKDF-SHA256 key derivation, key commitment.
pub const SUITE_AES256GCM_HKDF_SHA256_COMMIT: u16 = 0x0001;
/// The default frame length: 64 KiB.
pub const DEFAULT_FRAME_LEN: u32 = 64 * 1024;
/// The largest frame length accepted: 16 MiB.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// HKDF info for the frame key: suite ‖ "data".
const DATA_INFO: &[u8] = b"\x00\x01data";
/// HKDF info for the key commitment: suite ‖ "commit".
const COMMIT_INFO: &[u8] = b"\x00\x01commit";
/// Length of a frame's AAD: header digest ‖ index ‖ final flag.
const FRAME_AAD_LEN: usize = DIGEST_LEN + 8 + 1;

/// Why an envelope could not be sealed, parsed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The input does not start with [`MAGIC`].
    #[error("not an EKM envelope (bad magic)")]
    BadMagic,
    /// The format version is not [`VERSION`].
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The algorithm suite is unknown.
    #[error("unsupported algorithm suite {0:#06x}")]
    UnsupportedSuite(u16),
    /// The input ends inside `field` (`"body"` when frames are missing or cut).
    #[error("envelope truncated in {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes follow the final frame.
    #[error("{count} unexpected bytes after the final frame")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A header field holds a value the format does not allow.
    #[error("invalid header field {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value is too long for its length prefix (when sealing).
    #[error("header field {field} is too long: {len} (at most {max})")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length (bytes, or pairs for the context).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No randomness for the message id.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// The caller's encryption context differs from the one the envelope was sealed with.
    #[error("encryption context does not match the one the envelope was sealed with")]
    ContextMismatch,
    /// The key commitment does not match: the DEK is not the one that sealed this envelope (or
    /// the message id or commitment was edited).
    #[error("key commitment mismatch: wrong DEK or tampered header")]
    CommitmentMismatch,
    /// A frame failed authentication: the header or body was edited, frames were reordered,
    /// dropped or the final frame moved.
    #[error("frame {index} failed authentication (tampered, reordered or truncated envelope)")]
    FrameAuthentication {
        /// The index of the first frame that failed.
        index: u64,
    },
}

/// The customer project a DEK belongs to (the AWS ExternalId / GCP audience). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(Arc<str>);

impl ProjectId {
    /// A project id, e.g. `proj_demo`.
    pub fn new(id: impl Into<String>) -> Self {
        Self(Arc::from(id.into()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ProjectId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ProjectId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProjectId({})", &self.0)
    }
}

/// Authenticated, non-secret key/value pairs bound to a message (or, for a DEK, its wrap context).
///
/// Kept sorted by key (UTF-8 byte order), so its encoding is canonical. Keys must be non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// This context with `key` set to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The length of [`encode`](Self::encode)'s output (of a context it accepts).
    fn encoded_len(&self) -> usize {
        2 + self
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
    }

    /// The canonical encoding: `u16` count, then `str16` key and value per pair, in key order.
    /// Providers without native context support may use it as AAD.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    fn encode_into(&self, out: &mut impl Sink) -> Result<(), EnvelopeError> {
        put_len16(out, "context", self.0.len())?;
        for (key, value) in &self.0 {
            if key.is_empty() {
                return Err(EnvelopeError::InvalidField {
                    field: "context",
                    reason: "empty key",
                });
            }
            put_str16(out, "context key", key.as_bytes())?;
            put_str16(out, "context value", value.as_bytes())?;
        }
        Ok(())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// What the header of a new envelope names besides the per-message values.
#[derive(Debug, Clone, Copy)]
pub struct SealParams<'a> {
    /// The KEK that wrapped the DEK.
    pub key: &'a KeyReference,
    /// The DEK's eDEK and key-version hint.
    pub wrapped: &'a WrappedDek,
    /// The DEK's id.
    pub dek_id: DekId,
    /// The project the DEK belongs to.
    pub project: &'a ProjectId,
    /// The message's encryption context.
    pub context: &'a EncryptionContext,
    /// The frame length, 1 ..= [`MAX_FRAME_LEN`].
    pub frame_len: u32,
}

/// Seals `plaintext` under `dek` into a new envelope. Refuses what [`parse`] would refuse, so a
/// sealed envelope can always be read back.
pub fn seal(
    dek: &Dek,
    params: &SealParams<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::new();
    seal_into(dek, params, plaintext, &mut out)?;
    Ok(out)
}

/// [`seal`] into `out`, replacing what it held and reusing its capacity (a caller sealing many
/// messages saves an allocation per message). On error `out` is left empty.
pub fn seal_into(
    dek: &Dek,
    params: &SealParams<'_>,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EnvelopeError> {
    let prefix = HeaderPrefix::new(params.key, params.wrapped, params.dek_id, params.project)
        .inspect_err(|_| out.clear())?;
    seal_prefixed_into(
        dek,
        &prefix,
        params.context,
        params.frame_len,
        plaintext,
        out,
    )
}

/// The start of every header sealed with one DEK: magic, version and suite, provider, key, key
/// version, project, DEK id and eDEK, encoded once with the SHA-256 state after them, so that a
/// seal copies these bytes and hashes only the rest of its header.
pub(crate) struct HeaderPrefix {
    bytes: Vec<u8>,
    hashed: crypto::PrefixHash,
}

impl HeaderPrefix {
    /// Refuses what [`parse`] would refuse: an empty provider, key, project or eDEK, or a field
    /// too long for its length prefix.
    pub(crate) fn new(
        key: &KeyReference,
        wrapped: &WrappedDek,
        dek_id: DekId,
        project: &ProjectId,
    ) -> Result<Self, EnvelopeError> {
        let edek = &wrapped.edek;
        check_required(key.provider(), key.key(), project.as_str(), edek)?;
        let (provider, project) = (key.provider().as_bytes(), project.as_str().as_bytes());
        let (key, key_version) = (key.key().as_bytes(), wrapped.key_version.as_bytes());
        let provider_len =
            u8::try_from(provider.len()).map_err(|_| EnvelopeError::FieldTooLong {
                field: "provider",
                len: provider.len(),
                max: u8::MAX.into(),
            })?;
        let mut bytes = Vec::with_capacity(
            32 + provider.len() + key.len() + key_version.len() + project.len() + edek.len(),
        );
        bytes.extend_from_slice(&MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&SUITE_AES256GCM_HKDF_SHA256_COMMIT.to_be_bytes());
        bytes.push(provider_len);
        bytes.extend_from_slice(provider);
        put_str16(&mut bytes, "key", key)?;
        put_str16(&mut bytes, "key_version", key_version)?;
        put_str16(&mut bytes, "project", project)?;
        bytes.extend_from_slice(dek_id.as_bytes());
        put_str16(&mut bytes, "edek", edek)?;
        let hashed = crypto::PrefixHash::new(&bytes);
        Ok(Self { bytes, hashed })
    }
}

/// [`seal_into`] with the header's start encoded and hashed already. On error `out` is left
/// empty.
///
/// `out` is sized to the envelope first and every byte of it then written once: the header in
/// place and each frame sealed straight from the plaintext. A buffer that held an envelope of
/// the same size is neither zeroed nor copied into, as the raw cipher needs neither.
pub(crate) fn seal_prefixed_into(
    dek: &Dek,
    prefix: &HeaderPrefix,
    context: &EncryptionContext,
    frame_len: u32,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EnvelopeError> {
    let mut seal = || -> Result<(), EnvelopeError> {
        check_frame_len(frame_len)?;
        let message_id = crypto::message_id()?;
        let keys =
            crypto::derive_message_keys(dek.expose_secret(), &message_id, DATA_INFO, COMMIT_INFO);
        let plaintext_len = plaintext.len() as u64;
        let frames = frame_count(plaintext_len, frame_len);

        // Context, message id, frame length, plaintext length, commitment.
        let rest_len = context.encoded_len() + DIGEST_LEN + 4 + 8 + DIGEST_LEN;
        let header_len = prefix.bytes.len() + rest_len;
        let body_len = plaintext.len().saturating_add(
            usize::try_from(frames)
                .unwrap_or(usize::MAX)
                .saturating_mul(TAG_LEN),
        );
        out.resize(header_len.saturating_add(body_len), 0);
        let (header, mut body) = out.split_at_mut(header_len);
        let (start, rest) = header.split_at_mut(prefix.bytes.len());
        start.copy_from_slice(&prefix.bytes);
        let mut sink = &mut *rest;
        context.encode_into(&mut sink)?;
        sink.put(&message_id);
        sink.put(&frame_len.to_be_bytes());
        sink.put(&plaintext_len.to_be_bytes());
        sink.put(&keys.commitment);

        let digest = prefix.hashed.finish(rest);
        let frame_len = frame_len as usize;
        let mut chunks = plaintext.chunks(frame_len);
        for index in 0..frames {
            let chunk = chunks.next().unwrap_or_default();
            let (frame, rest) = std::mem::take(&mut body).split_at_mut(chunk.len());
            let (tag_out, rest) = rest.split_at_mut(TAG_LEN);
            let aad = frame_aad(&digest, index, index + 1 == frames);
            let tag = keys
                .aead
                .seal_into(crypto::counter_nonce(index), &aad, chunk, frame)
                .map_err(|_| EnvelopeError::InvalidField {
                    field: "frame",
                    reason: "refused by AES-GCM",
                })?;
            tag_out.copy_from_slice(&tag);
            body = rest;
        }
        Ok(())
    };
    let sealed = seal();
    if sealed.is_err() {
        out.clear();
    }
    sealed
}

/// Parses an envelope's header and checks the body's length against it, without decrypting.
pub fn parse(bytes: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.array::<4>("magic")? != &MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let suite = u16::from_be_bytes(*r.array("suite")?);
    if suite != SUITE_AES256GCM_HKDF_SHA256_COMMIT {
        return Err(EnvelopeError::UnsupportedSuite(suite));
    }
    let provider_len = usize::from(r.u8("provider")?);
    let provider = utf8("provider", r.take(provider_len, "provider")?)?;
    let key = r.str16("key")?;
    let key_version = r.str16("key_version")?;
    let project = r.str16("project")?;
    let dek_id = DekId::from_bytes(*r.array::<DEK_ID_LEN>("dek_id")?);
    let edek = r.bytes16("edek")?;
    let binding_end = r.pos;
    let context = read_context(&mut r)?;
    let message_id = r.array::<DIGEST_LEN>("message_id")?;
    let frame_len = u32::from_be_bytes(*r.array("frame_len")?);
    let plaintext_len = u64::from_be_bytes(*r.array("plaintext_len")?);
    let commitment = r.array::<DIGEST_LEN>("commitment")?;

    check_required(provider, key, project, edek)?;
    check_frame_len(frame_len)?;

    let (header_bytes, body) = bytes.split_at(r.pos);
    let expected = frame_count(plaintext_len, frame_len)
        .checked_mul(TAG_LEN as u64)
        .and_then(|tags| tags.checked_add(plaintext_len));
    match expected {
        Some(expected) if expected == body.len() as u64 => {}
        Some(expected) if expected < body.len() as u64 => {
            return Err(EnvelopeError::TrailingBytes {
                count: body.len() - expected as usize,
            });
        }
        _ => return Err(EnvelopeError::Truncated { field: "body" }),
    }

    let (binding_bytes, rest) = header_bytes.split_at(binding_end);
    let hashed = crypto::PrefixHash::new(binding_bytes);
    let (binding, digest) = (hashed.finish(&[]), hashed.finish(rest));
    Ok(Envelope {
        header: EnvelopeHeader {
            provider,
            key,
            key_version,
            project,
            dek_id,
            edek,
            context,
            message_id,
            frame_len,
            plaintext_len,
            commitment,
            binding,
        },
        digest,
        body,
    })
}

/// A parsed envelope borrowing the input: its header, ready to [`open`](Self::open).
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    header: EnvelopeHeader<'a>,
    /// SHA-256 of the header: in every frame's AAD.
    digest: [u8; DIGEST_LEN],
    body: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// The parsed header.
    pub fn header(&self) -> &EnvelopeHeader<'a> {
        &self.header
    }

    /// Whether `context` is the encryption context the envelope was sealed with.
    pub fn check_context(&self, context: &EncryptionContext) -> Result<(), EnvelopeError> {
        let stored = &self.header.context;
        let same = stored.len() == context.len()
            && stored
                .iter()
                .zip(context.iter())
                .all(|(&(sk, sv), (k, v))| sk == k && sv == v);
        if same {
            Ok(())
        } else {
            Err(EnvelopeError::ContextMismatch)
        }
    }

    /// Checks `context` and the key commitment, then decrypts and authenticates every frame.
    pub fn open(&self, dek: &Dek, context: &EncryptionContext) -> Result<Plaintext, EnvelopeError> {
        let mut plaintext = Plaintext::default();
        self.open_into(dek, context, &mut plaintext)?;
        Ok(plaintext)
    }

    /// [`open`](Self::open) into `out`, replacing what it held and reusing its buffer (a caller
    /// opening many messages saves an allocation, and at 1 MiB the page faults of a fresh one).
    /// On error `out` is wiped and left empty: no frame of a refused envelope is ever readable.
    pub fn open_into(
        &self,
        dek: &Dek,
        context: &EncryptionContext,
        out: &mut Plaintext,
    ) -> Result<(), EnvelopeError> {
        let opened = self.open_frames(dek, context, out);
        if opened.is_err() {
            out.clear();
        }
        opened
    }

    fn open_frames(
        &self,
        dek: &Dek,
        context: &EncryptionContext,
        plaintext: &mut Plaintext,
    ) -> Result<(), EnvelopeError> {
        self.check_context(context)?;
        let header = &self.header;
        let keys = crypto::derive_message_keys(
            dek.expose_secret(),
            header.message_id,
            DATA_INFO,
            COMMIT_INFO,
        );
        if !crypto::constant_time_eq(&keys.commitment, header.commitment) {
            return Err(EnvelopeError::CommitmentMismatch);
        }
        let digest = &self.digest;
        // `parse` checked that the body holds exactly `plaintext_len` bytes plus the tags, so this
        // allocation is bounded by the input's size.
        plaintext.set_len(self.body.len() - self.tag_bytes());
        let frames = frame_count(header.plaintext_len, header.frame_len);
        let frame_len = header.frame_len as usize;
        let mut body = self.body;
        let mut out: &mut [u8] = &mut plaintext.0;
        for index in 0..frames {
            let len = frame_len.min(out.len());
            let truncated = EnvelopeError::Truncated { field: "body" };
            let (ciphertext, rest) = body.split_at_checked(len).ok_or(truncated.clone())?;
            let (tag, rest) = rest.split_at_checked(TAG_LEN).ok_or(truncated)?;
            let (frame_out, out_rest) = out.split_at_mut(len);
            let aad = frame_aad(digest, index, index + 1 == frames);
            keys.aead
                .open_into(
                    crypto::counter_nonce(index),
                    &aad,
                    ciphertext,
                    tag,
                    frame_out,
                )
                .map_err(|_| EnvelopeError::FrameAuthentication { index })?;
            body = rest;
            out = out_rest;
        }
        Ok(())
    }

    fn tag_bytes(&self) -> usize {
        // Bounded by the body length (checked in `parse`), so it fits in usize.
        frame_count(self.header.plaintext_len, self.header.frame_len) as usize * TAG_LEN
    }
}

/// An opened message: the plaintext bytes, wiped when dropped. Derefs to `[u8]`; `Debug`
/// prints only the length. [`Default`] is an empty one to [`open_into`](Envelope::open_into).
///
/// Every byte of the buffer past the plaintext is zero (shrinking wipes what it cuts off), so
/// the wipe on drop covers all the buffer ever held.
#[derive(Default)]
pub struct Plaintext(Vec<u8>);

impl Plaintext {
    /// The plaintext, borrowed: copy it out only where it must outlive the wipe on drop.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Makes the plaintext `len` bytes long for a decryption to overwrite: bytes it had are
    /// kept (to be overwritten), bytes cut off are wiped, and only bytes beyond the old length
    /// are zero-filled — a buffer reused at one size is not written twice. A buffer too small
    /// is wiped and replaced, never reallocated (which would leave a copy behind unwiped).
    fn set_len(&mut self, len: usize) {
        if len > self.0.capacity() {
            self.0.zeroize();
            // Zeroed pages from the allocator, not a second pass of writes.
            self.0 = vec![0u8; len];
        } else if len < self.0.len() {
            self.0[len..].zeroize();
            self.0.truncate(len);
        } else {
            self.0.resize(len, 0);
        }
    }

    /// Wipes the plaintext and makes it empty (the buffer is kept for reuse).
    pub fn clear(&mut self) {
        self.set_len(0);
    }
}

impl std::ops::Deref for Plaintext {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Plaintext {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        // Past the length every byte is already zero (see the type's doc). Slice zeroization is
        // a bulk write, unlike `Zeroizing<Vec<u8>>`'s per-byte volatile writes (8x slower at
        // 1 MiB).
        self.0.as_mut_slice().zeroize();
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.0.len())
    }
}

/// The authenticated header of an envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeHeader<'a> {
    provider: &'a str,
    key: &'a str,
    key_version: &'a str,
    project: &'a str,
    dek_id: DekId,
    edek: &'a [u8],
    context: Vec<(&'a str, &'a str)>,
    message_id: &'a [u8; DIGEST_LEN],
    frame_len: u32,
    plaintext_len: u64,
    commitment: &'a [u8; DIGEST_LEN],
    /// SHA-256 of the header up to and including the eDEK; see [`Self::binding`].
    binding: [u8; DIGEST_LEN],
}

impl<'a> EnvelopeHeader<'a> {
    /// The provider kind, e.g. `aws`.
    pub fn provider(&self) -> &'a str {
        self.provider
    }

    /// The key id within the provider.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// Provider and key as a [`KeyReference`].
    pub fn key_reference(&self) -> KeyReference {
        KeyReference::new(self.provider, self.key)
    }

    /// Whether the envelope names `key`.
    pub fn names_key(&self, key: &KeyReference) -> bool {
        self.provider == key.provider() && self.key == key.key()
    }

    /// The key-version hint from the wrap.
    pub fn key_version(&self) -> &'a str {
        self.key_version
    }

    /// The project the DEK belongs to.
    pub fn project(&self) -> &'a str {
        self.project
    }

    /// The DEK's id.
    pub fn dek_id(&self) -> DekId {
        self.dek_id
    }

    /// The wrapped DEK.
    pub fn edek(&self) -> &'a [u8] {
        self.edek
    }

    /// The encryption context the message was sealed with.
    pub fn context(&self) -> EncryptionContext {
        self.context.iter().copied().collect()
    }

    /// The random message id.
    pub fn message_id(&self) -> &'a [u8; DIGEST_LEN] {
        self.message_id
    }

    /// The frame length.
    pub fn frame_len(&self) -> u32 {
        self.frame_len
    }

    /// The plaintext length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// SHA-256 of the header's bytes up to and including the eDEK: magic, version and suite,
    /// then provider, key, key version, project, DEK id and eDEK, each length-prefixed or of
    /// fixed length, so equal digests mean equal fields. What a decrypt-cache entry is bound
    /// to; hashed together with the header digest, which continues from the same state.
    pub(crate) fn binding(&self) -> &[u8; DIGEST_LEN] {
        &self.binding
    }
}

/// Frames in a message of `plaintext_len` bytes: at least one, every one but the last full.
fn frame_count(plaintext_len: u64, frame_len: u32) -> u64 {
    plaintext_len.div_ceil(u64::from(frame_len)).max(1)
}

fn frame_aad(digest: &[u8; DIGEST_LEN], index: u64, last: bool) -> [u8; FRAME_AAD_LEN] {
    let mut aad = [0u8; FRAME_AAD_LEN];
    aad[..DIGEST_LEN].copy_from_slice(digest);
    aad[DIGEST_LEN..DIGEST_LEN + 8].copy_from_slice(&index.to_be_bytes());
    aad[DIGEST_LEN + 8] = u8::from(last);
    aad
}

fn check_frame_len(frame_len: u32) -> Result<(), EnvelopeError> {
    if (1..=MAX_FRAME_LEN).contains(&frame_len) {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidField {
            field: "frame_len",
            reason: "must be 1 ..= 16 MiB",
        })
    }
}

/// Where header fields are encoded: a `Vec` that grows (a DEK's [`HeaderPrefix`]), or the
/// unwritten rest of a header sized for exactly what is put in it (a seal).
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for &mut [u8] {
    /// Writes `bytes` at the front and moves past them; the seal sized the slice from the same
    /// fields, so it always has room.
    fn put(&mut self, bytes: &[u8]) {
        let (front, rest) = std::mem::take(self).split_at_mut(bytes.len());
        front.copy_from_slice(bytes);
        *self = rest;
    }
}

fn put_len16(out: &mut impl Sink, field: &'static str, len: usize) -> Result<(), EnvelopeError> {
    let len16 = u16::try_from(len).map_err(|_| EnvelopeError::FieldTooLong {
        field,
        len,
        max: u16::MAX.into(),
    })?;
    out.put(&len16.to_be_bytes());
    Ok(())
}

/// The header fields that must not be empty, checked the same way on seal and parse.
fn check_required(
    provider: &str,
    key: &str,
    project: &str,
    edek: &[u8],
) -> Result<(), EnvelopeError> {
    let empty = [
        ("provider", provider.is_empty()),
        ("key", key.is_empty()),
        ("project", project.is_empty()),
        ("edek", edek.is_empty()),
    ];
    match empty.into_iter().find(|&(_, is_empty)| is_empty) {
        Some((field, _)) => Err(EnvelopeError::InvalidField {
            field,
            reason: "empty",
        }),
        None => Ok(()),
    }
}

fn put_str16(out: &mut impl Sink, field: &'static str, bytes: &[u8]) -> Result<(), EnvelopeError> {
    put_len16(out, field, bytes.len())?;
    out.put(bytes);
    Ok(())
}

fn utf8<'a>(field: &'static str, bytes: &'a [u8]) -> Result<&'a str, EnvelopeError> {
    std::str::from_utf8(bytes).map_err(|_| EnvelopeError::InvalidField {
        field,
        reason: "not UTF-8",
    })
}

fn read_context<'a>(r: &mut Reader<'a>) -> Result<Vec<(&'a str, &'a str)>, EnvelopeError> {
    let count = usize::from(u16::from_be_bytes(*r.array("context")?));
    // Each pair takes at least 4 bytes, so a count beyond the input is a truncation, found
    // before allocating for it.
    if count.saturating_mul(4) > r.remaining() {
        return Err(EnvelopeError::Truncated { field: "context" });
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.str16("context key")?;
        let value = r.str16("context value")?;
        if key.is_empty() {
            return Err(EnvelopeError::InvalidField {
                field: "context",
                reason: "empty key",
            });
        }
        if pairs.last().is_some_and(|&(previous, _)| previous >= key) {
            return Err(EnvelopeError::InvalidField {
                field: "context",
                reason: "keys not strictly ascending",
            });
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let slice = self
            .pos
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or(EnvelopeError::Truncated { field })?;
        self.pos += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<&'a [u8; N], EnvelopeError> {
        self.take(N, field)?
            .try_into()
            .map_err(|_| EnvelopeError::Truncated { field })
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, EnvelopeError> {
        self.array::<1>(field).map(|&[b]| b)
    }

    fn bytes16(&mut self, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let len = u16::from_be_bytes(*self.array(field)?);
        self.take(usize::from(len), field)
    }

    fn str16(&mut self, field: &'static str) -> Result<&'a str, EnvelopeError> {
        let bytes = self.bytes16(field)?;
        utf8(field, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dek: Dek,
        key: KeyReference,
        wrapped: WrappedDek,
        project: ProjectId,
        context: EncryptionContext,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                dek: Dek::generate().expect("rng"),
                key: KeyReference::new("memory", "memory://keys/unit"),
                wrapped: WrappedDek {
                    edek: vec![0xee; 60],
                    key_version: "memory://keys/unit/versions/1".into(),
                },
                project: ProjectId::from("proj_unit"),
                context: EncryptionContext::new()
                    .with("object", "report.pdf")
                    .with("tenant", "acme"),
            }
        }

        fn params(&self, frame_len: u32) -> SealParams<'_> {
            SealParams {
                key: &self.key,
                wrapped: &self.wrapped,
                dek_id: DekId::from_bytes([7; DEK_ID_LEN]),
                project: &self.project,
                context: &self.context,
                frame_len,
            }
        }

        fn seal(&self, plaintext: &[u8], frame_len: u32) -> Vec<u8> {
            seal(&self.dek, &self.params(frame_len), plaintext).expect("seal")
        }

        fn open(&self, envelope: &[u8]) -> Result<Plaintext, EnvelopeError> {
            parse(envelope)?.open(&self.dek, &self.context)
        }
    }

    /// Found by the `envelope` fuzz target: `seal` wrote envelopes with an empty key reference
    /// (or project, or eDEK) that `parse` then refused — sealed data that could never be read.
    #[test]
    fn seal_refuses_the_empty_fields_parse_refuses() {
        let fixture = Fixture::new();
        let empty_key = KeyReference::new("memory", "");
        let empty_edek = WrappedDek {
            edek: Vec::new(),
            key_version: String::new(),
        };
        let empty_project = ProjectId::from("");
        let cases = [
            ("key", &empty_key, &fixture.wrapped, &fixture.project),
            ("edek", &fixture.key, &empty_edek, &fixture.project),
            ("project", &fixture.key, &fixture.wrapped, &empty_project),
        ];
        for (field, key, wrapped, project) in cases {
            let params = SealParams {
                key,
                wrapped,
                dek_id: DekId::from_bytes([7; DEK_ID_LEN]),
                project,
                context: &fixture.context,
                frame_len: DEFAULT_FRAME_LEN,
            };
            assert_eq!(
                seal(&fixture.dek, &params, b"data"),
                Err(EnvelopeError::InvalidField {
                    field,
                    reason: "empty"
                }),
                "{field}"
            );
        }
    }

    #[test]
    fn header_fields_round_trip() {
        let f = Fixture::new();
        let envelope = f.seal(b"hello", DEFAULT_FRAME_LEN);
        let parsed = parse(&envelope).expect("parse");
        let h = parsed.header();
        assert_eq!(h.key_reference(), f.key);
        assert!(h.names_key(&f.key));
        assert_eq!(h.key_version(), f.wrapped.key_version);
        assert_eq!(h.project(), "proj_unit");
        assert_eq!(h.edek(), f.wrapped.edek.as_slice());
        assert_eq!(h.context(), f.context);
        assert_eq!(h.dek_id(), DekId::from_bytes([7; DEK_ID_LEN]));
        assert_eq!(h.frame_len(), DEFAULT_FRAME_LEN);
        assert_eq!(h.plaintext_len(), 5);
    }

    /// The decrypt-cache binding is the digest of the header through the eDEK: every field
    /// there changes it, nothing after does.
    #[test]
    fn the_binding_covers_the_header_through_the_edek() {
        let f = Fixture::new();
        let binding = |params: &SealParams<'_>, plaintext: &[u8]| {
            let envelope = seal(&f.dek, params, plaintext).expect("seal");
            *parse(&envelope).expect("parse").header().binding()
        };
        let base = f.seal(b"one", DEFAULT_FRAME_LEN);
        let edek_end = base
            .windows(f.wrapped.edek.len())
            .position(|w| w == f.wrapped.edek.as_slice())
            .expect("the eDEK is in the header")
            + f.wrapped.edek.len();
        let bound = *parse(&base).expect("parse").header().binding();
        assert_eq!(bound, crypto::sha256(&[&base[..edek_end]]));

        let other_context = EncryptionContext::new().with("object", "other");
        let same = SealParams {
            context: &other_context,
            ..f.params(16)
        };
        assert_eq!(
            binding(&same, b"two"),
            bound,
            "context, message id, lengths"
        );

        let (aws, other_key) = (
            KeyReference::new("aws", f.key.key()),
            KeyReference::new("memory", "memory://keys/other"),
        );
        let other_edek = WrappedDek {
            edek: vec![0xef; 60],
            ..f.wrapped.clone()
        };
        let other_version = WrappedDek {
            key_version: "memory://keys/unit/versions/2".into(),
            ..f.wrapped.clone()
        };
        let other_project = ProjectId::from("proj_other");
        let base_params = f.params(DEFAULT_FRAME_LEN);
        let changed = [
            SealParams {
                key: &aws,
                ..base_params
            },
            SealParams {
                key: &other_key,
                ..base_params
            },
            SealParams {
                wrapped: &other_edek,
                ..base_params
            },
            SealParams {
                wrapped: &other_version,
                ..base_params
            },
            SealParams {
                project: &other_project,
                ..base_params
            },
            SealParams {
                dek_id: DekId::from_bytes([8; DEK_ID_LEN]),
                ..base_params
            },
        ];
        for (field, params) in [
            "provider",
            "key",
            "edek",
            "key_version",
            "project",
            "dek_id",
        ]
        .into_iter()
        .zip(&changed)
        {
            assert_ne!(binding(params, b"one"), bound, "{field}");
        }
    }

    /// The engine seals every message of a DEK from one prefix: each envelope opens, and each
    /// starts with the prefix's bytes.
    #[test]
    fn one_header_prefix_seals_many_messages() {
        let f = Fixture::new();
        let prefix = HeaderPrefix::new(&f.key, &f.wrapped, DekId::from_bytes([7; 16]), &f.project)
            .expect("prefix");
        let mut sealed = Vec::new();
        for message in [&b"first"[..], &[4u8; 40][..]] {
            seal_prefixed_into(&f.dek, &prefix, &f.context, 16, message, &mut sealed)
                .expect("seal");
            assert!(sealed.starts_with(&prefix.bytes));
            assert_eq!(f.open(&sealed).expect("open").as_slice(), message);
        }
        let long = KeyReference::new("p".repeat(256), "k");
        assert_eq!(
            HeaderPrefix::new(&long, &f.wrapped, DekId::from_bytes([7; 16]), &f.project).map(drop),
            Err(EnvelopeError::FieldTooLong {
                field: "provider",
                len: 256,
                max: 255
            })
        );
    }

    #[test]
    fn reused_buffers_hold_exactly_the_latest_message() {
        let f = Fixture::new();
        let (long, short) = (vec![3u8; 40], b"short".to_vec());
        let mut plaintext = Plaintext::default();
        for message in [&long, &short, &long] {
            let envelope = f.seal(message, 16);
            parse(&envelope)
                .expect("parse")
                .open_into(&f.dek, &f.context, &mut plaintext)
                .expect("open");
            assert_eq!(plaintext.as_slice(), message.as_slice());
            assert!(plaintext.0.capacity() >= long.len(), "the buffer is reused");
        }

        let mut tampered = f.seal(&long, 16);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let mut opened = Plaintext::default();
        parse(&f.seal(&long, 16))
            .unwrap()
            .open_into(&f.dek, &f.context, &mut opened)
            .unwrap();
        assert!(
            parse(&tampered)
                .unwrap()
                .open_into(&f.dek, &f.context, &mut opened)
                .is_err()
        );
        assert!(
            opened.is_empty(),
            "a refused envelope leaves nothing readable"
        );

        let mut sealed = vec![9u8; 1000];
        seal_into(&f.dek, &f.params(16), &short, &mut sealed).expect("seal");
        assert_eq!(f.open(&sealed).expect("open").as_slice(), short.as_slice());
        // A buffer of the envelope's very size is written over in place, every byte of it.
        let same_size = sealed.len();
        sealed.fill(9);
        seal_into(&f.dek, &f.params(16), &short, &mut sealed).expect("seal");
        assert_eq!(sealed.len(), same_size);
        assert_eq!(f.open(&sealed).expect("open").as_slice(), short.as_slice());
        let mut refused = vec![9u8; 10];
        assert!(seal_into(&f.dek, &f.params(0), &short, &mut refused).is_err());
        assert!(refused.is_empty(), "a refused seal leaves the buffer empty");
    }

    #[test]
    fn frame_counts() {
        assert_eq!(frame_count(0, 4), 1);
        assert_eq!(frame_count(4, 4), 1);
        assert_eq!(frame_count(5, 4), 2);
    }

    #[test]
    fn dropping_the_final_frame_is_a_truncation() {
        let f = Fixture::new();
        let envelope = f.seal(&[1u8; 12], 4);
        let cut = &envelope[..envelope.len() - (4 + TAG_LEN)];
        assert_eq!(
            f.open(cut).map(drop),
            Err(EnvelopeError::Truncated { field: "body" })
        );
    }

    #[test]
    fn a_different_message_id_gives_a_different_ciphertext() {
        let f = Fixture::new();
        assert_ne!(f.seal(b"same", 16), f.seal(b"same", 16));
    }

    #[test]
    fn invalid_frame_lengths_are_refused_when_sealing() {
        let f = Fixture::new();
        let params = SealParams {
            key: &f.key,
            wrapped: &f.wrapped,
            dek_id: DekId::from_bytes([0; DEK_ID_LEN]),
            project: &f.project,
            context: &f.context,
            frame_len: 0,
        };
        assert!(matches!(
            seal(&f.dek, &params, b"x"),
            Err(EnvelopeError::InvalidField {
                field: "frame_len",
                ..
            })
        ));
    }

    #[test]
    fn empty_context_keys_are_refused() {
        let context = EncryptionContext::new().with("", "v");
        assert!(matches!(
            context.encode(),
            Err(EnvelopeError::InvalidField {
                field: "context",
                ..
            })
        ));
    }
}
