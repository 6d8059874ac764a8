//! The cloud's record of external key stores (AWS KMS custom key stores of type
//! `EXTERNAL_KEY_STORE`) and of which KMS key is backed by which external key.
//!
//! A store names its proxy (`XksProxyUriEndpoint` + `XksProxyUriPath`, any proxy: the lab's own
//! or a customer's), the SigV4 credential KMS signs with, and a connection state
//! (`CONNECTED`, `DISCONNECTED`, `FAILED` with an error code). KMS keys reach the hop only
//! through a `CONNECTED` store.
//!
//! GCP Cloud EKM keys ([`EkmKey`]) name their external key by URI instead, and reach it
//! without a store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::XksCredential;

/// A store's connection state (the KMS API's `ConnectionStateType`, as far as the lab uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    /// Keys work.
    Connected,
    /// Created or disconnected: keys refuse.
    Disconnected,
    /// The last connection attempt failed.
    Failed,
}

impl ConnectionState {
    /// The KMS API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Disconnected => "DISCONNECTED",
            ConnectionState::Failed => "FAILED",
        }
    }
}

/// The `ConnectionErrorCode`s the lab sets on a `FAILED` store.
pub const CONNECTION_ERROR_CODES: [&str; 7] = [
    "INVALID_CREDENTIALS",
    "XKS_PROXY_ACCESS_DENIED",
    "XKS_PROXY_INVALID_CONFIGURATION",
    "XKS_PROXY_TIMED_OUT",
    "XKS_PROXY_INVALID_TLS_CONFIGURATION",
    "XKS_PROXY_NOT_REACHABLE",
    "XKS_PROXY_INVALID_RESPONSE",
];

/// One external key store.
#[derive(Debug, Clone)]
pub struct KeyStore {
    /// `cks-` and 17 hex digits.
    pub id: String,
    /// Unique name in the account.
    pub name: String,
    /// `https://host[:port]`.
    pub uri_endpoint: String,
    /// `[/prefix]/kms/xks/v1`.
    pub uri_path: String,
    /// `PUBLIC_ENDPOINT` or `VPC_ENDPOINT_SERVICE`.
    pub connectivity: String,
    /// What KMS signs with.
    pub credential: XksCredential,
    /// Connection state.
    pub state: ConnectionState,
    /// Why the last connection failed (`XKS_PROXY_NOT_REACHABLE`, …).
    pub error_code: Option<&'static str>,
    /// Lab time of creation.
    pub created: OffsetDateTime,
}

/// Which external key backs a KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The store.
    pub store: String,
    /// The `XksKeyId`.
    pub xks_key_id: String,
}

/// A GCP Cloud EKM protection level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EkmProtection {
    /// `EXTERNAL`: Cloud KMS reaches the external key manager over the internet at the
    /// version's `externalKeyUri`.
    External,
    /// `EXTERNAL_VPC`: through an EKM connection; the version names `ekmConnectionKeyPath`.
    ExternalVpc,
}

impl EkmProtection {
    /// The Cloud KMS `ProtectionLevel` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EkmProtection::External => "EXTERNAL",
            EkmProtection::ExternalVpc => "EXTERNAL_VPC",
        }
    }
}

/// Which external key backs a GCP Cloud EKM key (all its versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EkmKey {
    /// `EXTERNAL` or `EXTERNAL_VPC`.
    pub protection: EkmProtection,
    /// `https://host[:port]<XksProxyUriPath>/keys/<externalKeyId>`: the external key in a key
    /// manager served through an XKS proxy (the lab's EKM speaks the XKS Proxy API).
    pub uri: String,
}

/// The parts of an external key URI: (`https://host[:port]`, URI path, external key id).
pub fn split_key_uri(uri: &str) -> Option<(&str, &str, &str)> {
    let rest = uri.strip_prefix("https://")?;
    let slash = rest.find('/')?;
    let endpoint = &uri[..8 + slash];
    let path = &rest[slash..];
    let (uri_path, key) = path.rsplit_once("/keys/")?;
    (valid_uri_endpoint(endpoint)
        && super::valid_uri_path(uri_path)
        && super::manager::valid_key_id(key))
    .then_some((endpoint, uri_path, key))
}

/// Stores by id, and bindings by the KMS key's lab name.
#[derive(Debug, Default, Clone)]
pub struct KeyStores {
    /// Stores by id.
    pub stores: BTreeMap<String, KeyStore>,
    /// Bindings by KMS key lab name.
    pub bindings: BTreeMap<String, Binding>,
    /// GCP Cloud EKM keys by lab name.
    pub ekm_keys: BTreeMap<String, EkmKey>,
}

impl KeyStores {
    /// A fresh store id.
    pub fn new_id() -> String {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        format!("cks-{}", &hex[..17])
    }

    /// Whether a store already uses this proxy (KMS: `XksProxyUriInUseException`).
    pub fn uri_in_use(&self, endpoint: &str, path: &str, except: Option<&str>) -> bool {
        self.stores.values().any(|s| {
            Some(s.id.as_str()) != except && s.uri_endpoint == endpoint && s.uri_path == path
        })
    }

    /// The KMS key already bound to `xks_key_id` in `store`, if any.
    pub fn key_in_use(&self, store: &str, xks_key_id: &str) -> Option<&str> {
        self.bindings
            .iter()
            .find(|(_, b)| b.store == store && b.xks_key_id == xks_key_id)
            .map(|(name, _)| name.as_str())
    }

    /// How many KMS keys live in `store`.
    pub fn key_count(&self, store: &str) -> usize {
        self.bindings.values().filter(|b| b.store == store).count()
    }
}

/// Whether `endpoint` is a valid `XksProxyUriEndpoint`: `https://` and a DNS name (the KMS
/// API's pattern `^https://[a-zA-Z0-9.-]+$`), plus — a lab extension, since a test listener
/// cannot use 443 — an optional `:port`. IP literals are refused: the spec wants a name the
/// proxy's certificate covers.
pub fn valid_uri_endpoint(endpoint: &str) -> bool {
    let Some(authority) = endpoint.strip_prefix("https://") else {
        return false;
    };
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 118
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && host.parse::<std::net::Ipv4Addr>().is_err();
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_names() {
        assert!(valid_uri_endpoint("https://xks.example.com"));
        assert!(valid_uri_endpoint("https://localhost:8443"));
        for bad in [
            "http://xks.example.com",
            "https://127.0.0.1",
            "https://xks.example.com/path",
            "https://",
            "https://a:0",
            "https://a:x",
        ] {
            assert!(!valid_uri_endpoint(bad), "{bad}");
        }
        assert_eq!(
            split_key_uri("https://localhost:4600/ekm-lab/kms/xks/v1/keys/xk-1"),
            Some(("https://localhost:4600", "/ekm-lab/kms/xks/v1", "xk-1"))
        );
        for bad in [
            "http://localhost/kms/xks/v1/keys/k",
            "https://localhost/kms/xks/v2/keys/k",
            "https://localhost/kms/xks/v1/keys/",
            "https://localhost/kms/xks/v1/keys/a/b",
            "https://127.0.0.1/kms/xks/v1/keys/k",
        ] {
            assert_eq!(split_key_uri(bad), None, "{bad}");
        }
        let id = KeyStores::new_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("cks-"));
    }
}
