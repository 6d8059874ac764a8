//! The clouds, the extra keys and the named objects a scenario declares (`providers:`, `keys:`,
//! `objects:`).

use ekm_engine::registration::Cloud;
use serde::{Deserialize, Serialize};

use super::words::{Vocabulary, vocabulary_deserialize};

/// An extra key (`keys:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecl {
    /// Lab-wide name (`aws-second`).
    pub name: String,
    /// Its cloud.
    pub provider: Provider,
    /// Key spec (`SYMMETRIC_DEFAULT`, `RSA_2048`, …); the provider's default when absent.
    #[serde(default)]
    pub spec: Option<String>,
    /// Back the key by this key of the customer's own external key manager (created when
    /// first named): AWS puts the key in an external key store, GCP makes it a Cloud EKM key
    /// (protection level `EXTERNAL`). Every use of the key then makes a hop to that manager.
    #[serde(default)]
    pub external_key: Option<String>,
}

/// A named object (`objects:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDecl {
    /// The provider whose engine project seals it (`proj_demo/<provider>`).
    pub provider: Provider,
    /// Seal it in another project of the same customer, registered on this key (lab name) for
    /// the whole run (`proj_demo/<key>`), instead of the provider's main project.
    #[serde(default)]
    pub key: Option<String>,
    /// Its plaintext.
    pub content: String,
}

/// The cloud of a key, object or fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// AWS KMS.
    Aws,
    /// GCP Cloud KMS.
    Gcp,
    /// Azure Key Vault.
    Azure,
}

impl Vocabulary for Provider {
    const WHAT: &'static str = "provider";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("aws", Provider::Aws),
        ("gcp", Provider::Gcp),
        ("azure", Provider::Azure),
    ];
}
vocabulary_deserialize!(Provider);

impl Provider {
    /// The engine's cloud.
    pub fn cloud(self) -> Cloud {
        match self {
            Provider::Aws => Cloud::Aws,
            Provider::Gcp => Cloud::Gcp,
            Provider::Azure => Cloud::Azure,
        }
    }

    /// The lab name of the provider's demo key.
    pub fn demo_key(self) -> &'static str {
        match self {
            Provider::Aws => "aws-demo",
            Provider::Gcp => "gcp-demo",
            Provider::Azure => "azure-demo",
        }
    }

    /// The scenario word's counterpart of `cloud`.
    pub fn from_cloud(cloud: Cloud) -> Self {
        match cloud {
            Cloud::Aws => Provider::Aws,
            Cloud::Gcp => Provider::Gcp,
            Cloud::Azure => Provider::Azure,
        }
    }
}
