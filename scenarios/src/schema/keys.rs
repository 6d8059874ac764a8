//! The extra keys and the named objects a scenario declares (`keys:`, `objects:`) and the
//! demo keys' names; their clouds are [`ekm_vocab::Cloud`].

use ekm_vocab::Cloud;
use serde::Deserialize;

/// An extra key (`keys:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecl {
    /// Lab-wide name (`aws-second`).
    pub name: String,
    /// Its cloud.
    pub provider: Cloud,
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
    pub provider: Cloud,
    /// Seal it in another project of the same customer, registered on this key (lab name) for
    /// the whole run (`proj_demo/<key>`), instead of the provider's main project.
    #[serde(default)]
    pub key: Option<String>,
    /// Seal it in another EKM project declared under `projects:` instead.
    #[serde(default)]
    pub project: Option<String>,
    /// Its plaintext.
    pub content: String,
}

/// The lab name of `cloud`'s demo key (`aws-demo`, `gcp-demo`, `azure-demo`).
pub fn demo_key(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "aws-demo",
        Cloud::Gcp => "gcp-demo",
        Cloud::Azure => "azure-demo",
    }
}
