//! The external layer of a doubly encrypted ciphertext, shared by every cloud whose keys live in
//! an external key manager (AWS KMS external key stores, GCP Cloud EKM keys): the cloud seals a
//! ciphertext body with its own key material first, then sends that body through the hop to be
//! encrypted under the external key, and lays the proxy's answer out as
//!
//! `'X' ‖ u8 iv_len ‖ iv ‖ tag(16) ‖ u8 metadata_len ‖ metadata ‖ proxy ciphertext`
//!
//! after its own header. The AAD sent through the hop is chosen by the cloud (AWS: SHA-256 of
//! the blob header and the encryption context) so nothing around the body can be swapped.
//! Neither the cloud's material nor the external key alone opens such a ciphertext.
//!
//! Every hop is logged as `hop: "xks"` with the calling cloud as provider, its own latency and
//! outcome, beside the cloud API call that caused it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::HopCall;
use super::api::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, RequestMetadata,
};
use super::hop::{HopFailure, ProxyTarget};
use crate::state::Kms;
use ekm_vocab::Cloud;

const XKS_MARK: u8 = b'X';
const TAG_LEN: usize = 16;

/// Where a cloud's hop goes and how it is logged.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The proxy and the credential.
    pub target: ProxyTarget<'a>,
    /// The cloud making the hop.
    pub provider: Cloud,
    /// The cloud key's lab name, if the hop is for one.
    pub key: Option<&'a str>,
    /// What the call log names as the caller (the key store id, the EKM connection).
    pub caller: &'a str,
}

/// The parts of an external layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer<'a> {
    /// 12 or 16 bytes.
    pub iv: &'a [u8],
    /// 16 bytes.
    pub tag: &'a [u8],
    /// The manager's housekeeping bytes (≤ 20).
    pub metadata: &'a [u8],
    /// The proxy's ciphertext (as long as the body it sealed).
    pub ciphertext: &'a [u8],
}

impl<'a> Outer<'a> {
    /// Parses an external layer; `None` for anything else (totally: no panics).
    pub fn parse(rest: &'a [u8]) -> Option<Self> {
        let (&mark, rest) = rest.split_first()?;
        let (&iv_len, rest) = rest.split_first()?;
        if mark != XKS_MARK || !matches!(iv_len, 12 | 16) {
            return None;
        }
        let (iv, rest) = rest.split_at_checked(usize::from(iv_len))?;
        let (tag, rest) = rest.split_at_checked(TAG_LEN)?;
        let (&meta_len, rest) = rest.split_first()?;
        let (metadata, ciphertext) = rest.split_at_checked(usize::from(meta_len))?;
        (meta_len <= 20 && !ciphertext.is_empty()).then_some(Self {
            iv,
            tag,
            metadata,
            ciphertext,
        })
    }
}

fn decode(value: &str) -> Result<Vec<u8>, HopFailure> {
    B64.decode(value).map_err(|_| HopFailure::Malformed)
}

/// One call through the hop, logged (`hop: "xks"`).
pub async fn call<T: DeserializeOwned>(
    lab: &Kms,
    route: &Route<'_>,
    api_name: &str,
    api_path: &str,
    body: &impl Serialize,
) -> Result<T, HopFailure> {
    let (result, latency) = lab.xks().hop().call(&route.target, api_path, body).await;
    let outcome = result.as_ref().map_or_else(|f| f.outcome(), |_| "ok");
    lab.log_hop(HopCall {
        hop: "xks",
        provider: route.provider,
        operation: api_name,
        key: route.key,
        caller: route.caller,
        outcome,
        latency,
    });
    result
}

/// Sends `body` through the hop to external key `xks_key_id` under `aad` and returns the
/// external layer to append to the cloud's header.
pub async fn seal(
    lab: &Kms,
    route: &Route<'_>,
    xks_key_id: &str,
    request_metadata: RequestMetadata,
    aad: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, HopFailure> {
    let request = EncryptRequest {
        request_metadata,
        additional_authenticated_data: Some(B64.encode(aad)),
        plaintext: B64.encode(body),
        encryption_algorithm: "AES_GCM".into(),
        ciphertext_data_integrity_value_algorithm: Some("SHA_256".into()),
    };
    let api = format!("/keys/{xks_key_id}/encrypt");
    let reply: EncryptResponse = call(lab, route, "Encrypt", &api, &request).await?;
    check_encrypt_reply(&reply, aad, body.len())
}

/// Sends the external layer `outer` through the hop to be opened under `aad`; returns the
/// cloud's sealed body.
pub async fn open(
    lab: &Kms,
    route: &Route<'_>,
    xks_key_id: &str,
    request_metadata: RequestMetadata,
    aad: &[u8],
    outer: &Outer<'_>,
) -> Result<Zeroizing<Vec<u8>>, HopFailure> {
    let request = DecryptRequest {
        request_metadata,
        ciphertext: B64.encode(outer.ciphertext),
        ciphertext_metadata: (!outer.metadata.is_empty()).then(|| B64.encode(outer.metadata)),
        encryption_algorithm: "AES_GCM".into(),
        additional_authenticated_data: Some(B64.encode(aad)),
        initialization_vector: B64.encode(outer.iv),
        authentication_tag: B64.encode(outer.tag),
    };
    let api = format!("/keys/{xks_key_id}/decrypt");
    let reply: DecryptResponse = call(lab, route, "Decrypt", &api, &request).await?;
    let body = Zeroizing::new(decode(&reply.plaintext)?);
    if body.len() != outer.ciphertext.len() {
        return Err(HopFailure::InvalidCiphertext);
    }
    Ok(body)
}

/// Checks the proxy's Encrypt reply (lengths, CDIV) and lays out the external layer.
fn check_encrypt_reply(
    reply: &EncryptResponse,
    aad: &[u8],
    plaintext_len: usize,
) -> Result<Vec<u8>, HopFailure> {
    let ciphertext = decode(&reply.ciphertext)?;
    let iv = decode(&reply.initialization_vector)?;
    let tag = decode(&reply.authentication_tag)?;
    let metadata = reply
        .ciphertext_metadata
        .as_deref()
        .map_or(Ok(Vec::new()), decode)?;
    if ciphertext.len() != plaintext_len
        || !matches!(iv.len(), 12 | 16)
        || tag.len() != TAG_LEN
        || metadata.len() > 20
    {
        return Err(HopFailure::Malformed);
    }
    let cdiv = reply
        .ciphertext_data_integrity_value
        .as_deref()
        .ok_or(HopFailure::Malformed)
        .and_then(decode)?;
    let expected = Sha256::digest([aad, &metadata, &iv, &ciphertext, &tag].concat());
    if cdiv != expected.as_slice() {
        return Err(HopFailure::InvalidCiphertext);
    }
    let mut outer = vec![XKS_MARK];
    outer.push(iv.len() as u8);
    outer.extend_from_slice(&iv);
    outer.extend_from_slice(&tag);
    outer.push(metadata.len() as u8);
    outer.extend_from_slice(&metadata);
    outer.extend_from_slice(&ciphertext);
    Ok(outer)
}

/// The inner blob of `blob` (a ciphertext of cloud key `key`, whose header is `header_len`
/// bytes, made with the cloud's `aad`) when `key` is backed by a key of the lab's own external
/// key manager: the external layer opened by the key owner in-process, no hop, no call-log
/// entry (the AAD is the one both clouds send, SHA-256 of the header and their own AAD).
/// `None` when the key is not backed by an external key.
pub fn owner_open(
    xks: &super::XksState,
    key: &str,
    blob: &[u8],
    header_len: usize,
    aad: &[u8],
) -> Option<Result<Zeroizing<Vec<u8>>, String>> {
    let stores = &xks.stores;
    let external = match stores.bindings.get(key) {
        Some(binding) => binding.xks_key_id.as_str(),
        None => {
            super::stores::split_key_uri(&stores.ekm_keys.get(key)?.uri).map_or("", |(_, _, id)| id)
        }
    };
    Some((|| {
        let (header, rest) = blob
            .split_at_checked(header_len)
            .ok_or("the ciphertext is shorter than its header")?;
        let outer = Outer::parse(rest).ok_or("no external layer after the header")?;
        let sealed = super::manager::Sealed {
            ciphertext: outer.ciphertext.to_vec(),
            metadata: outer.metadata.to_vec(),
            iv: outer.iv.to_vec(),
            tag: outer.tag.to_vec(),
        };
        let hop_aad = Sha256::digest([header, aad].concat());
        let body = xks
            .manager
            .decrypt(external, &hop_aad, &sealed)
            .map_err(|(name, message)| format!("{}: {message}", name.as_str()))?;
        Ok(Zeroizing::new([header, body.as_slice()].concat()))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_layout_parses_totally() {
        let mut outer = vec![XKS_MARK, 12];
        outer.extend([1u8; 12]);
        outer.extend([2u8; 16]);
        outer.push(2);
        outer.extend(b"v1");
        outer.extend([3u8; 40]);
        let parts = Outer::parse(&outer).expect("parses");
        assert_eq!(
            (
                parts.iv.len(),
                parts.tag.len(),
                parts.metadata,
                parts.ciphertext.len()
            ),
            (12, 16, b"v1".as_slice(), 40)
        );
        for cut in 0..outer.len() - 40 {
            assert!(Outer::parse(&outer[..cut]).is_none(), "cut at {cut}");
        }
        let mut wrong = outer.clone();
        wrong[0] = b'Y';
        assert!(Outer::parse(&wrong).is_none());
    }

    #[test]
    fn an_encrypt_reply_must_carry_the_right_cdiv() {
        let aad = b"aad";
        let (iv, tag, ct) = ([1u8; 12], [2u8; 16], [3u8; 8]);
        let cdiv = Sha256::digest([aad.as_slice(), b"v1", &iv, &ct, &tag].concat());
        let mut reply = EncryptResponse {
            ciphertext: B64.encode(ct),
            ciphertext_metadata: Some(B64.encode(b"v1")),
            initialization_vector: B64.encode(iv),
            authentication_tag: B64.encode(tag),
            ciphertext_data_integrity_value: Some(B64.encode(cdiv)),
        };
        let outer = check_encrypt_reply(&reply, aad, 8).unwrap();
        assert_eq!(Outer::parse(&outer).unwrap().ciphertext, ct);
        assert_eq!(
            check_encrypt_reply(&reply, aad, 9),
            Err(HopFailure::Malformed)
        );
        assert_eq!(
            check_encrypt_reply(&reply, b"other", 8),
            Err(HopFailure::InvalidCiphertext)
        );
        reply.ciphertext_data_integrity_value = None;
        assert_eq!(
            check_encrypt_reply(&reply, aad, 8),
            Err(HopFailure::Malformed)
        );
    }
}
