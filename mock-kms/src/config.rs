//! `--config FILE`: a YAML file seeding the lab instead of the demo tenant — identities (the
//! [`Tenant`], any field omitted keeps its demo value), keys and AWS aliases:
//!
//! ```yaml
//! tenant:
//!   project_id: proj_acme
//!   aws: { account_id: "444455556666" }
//! keys:
//!   - { name: aws-main, provider: aws }
//!   - { name: azure-ec, provider: azure, spec: EC_P256 }
//!   - { name: gcp-old, provider: gcp, state: disabled, access: false }
//! aliases:
//!   main: aws-main
//! access:
//!   aws:                                        # see [`aws`]: roles, role policies, key policies
//!     roles: [ ekm-demo-role.json ]             # what `aws iam get-role` prints
//!     key_policies:
//!       aws-main: { Policy: "{\"Version\": …}" } # what `aws kms get-key-policy` prints, or the document
//!   gcp:
//!     providers: [ gcp-provider.json ]          # a file (relative to this one) or inline
//!     policies:
//!       projects/demo-project-12345: { bindings: [ … ] }
//!     custom_roles: [ { name: projects/p/roles/ekm, includedPermissions: [ … ] } ]
//!   azure:                                      # each list given replaces the demo's
//!     role_assignments: [ assignments.json ]
//!     vault: { id: /subscriptions/…/vaults/ekm-demo, properties: { enableRbacAuthorization: false, accessPolicies: [ … ] } }
//! ```
//!
//! `access` replaces or adds to the documents the keys got from the demo tenant: each document
//! is the cloud's own JSON, written inline (YAML) or as the path of a JSON file. Unknown fields
//! are errors; parse errors name the line and column; a malformed document is refused naming
//! its place in the file and its JSON path. AWS documents are what the AWS CLI prints for them
//! (the key policy also as the bare document): [`aws`] says which outputs and fields.

pub mod aws;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::access::gcp::ProviderDocument;
use crate::error::StateError;
use crate::keys::KeySpec;
use crate::state::Kms;
use crate::tenant::Tenant;
use ekm_vocab::Cloud;
use ekm_vocab::KeyAction;

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The YAML is malformed or wrongly shaped (the message names line and column).
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_yaml::Error,
    },
}

/// A parsed config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabConfig {
    /// Identities and resource names (demo values for whatever is omitted).
    #[serde(default)]
    pub tenant: Tenant,
    /// Keys to create, in order.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// AWS aliases (name without `alias/`) → lab key name.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// The customer's access documents beyond the demo ones.
    #[serde(default)]
    pub access: AccessConfig,
    /// The directory document paths are relative to (the config file's).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// The `access` section: documents per cloud.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// AWS documents.
    #[serde(default)]
    pub aws: aws::AwsConfig,
    /// GCP documents.
    #[serde(default)]
    pub gcp: GcpConfig,
    /// Azure documents.
    #[serde(default)]
    pub azure: AzureConfig,
}

/// Azure documents: each list given replaces the demo tenant's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Service principals (Graph's shape).
    pub service_principals: Option<Vec<DocumentSource>>,
    /// Custom role definitions.
    pub role_definitions: Option<Vec<DocumentSource>>,
    /// Role assignments.
    pub role_assignments: Option<Vec<DocumentSource>>,
    /// The vault (`az keyvault show`).
    pub vault: Option<DocumentSource>,
}

/// GCP documents: workload-identity providers, IAM policies by resource, custom roles.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    /// Providers (each replaces the one of its `name`).
    #[serde(default)]
    pub providers: Vec<DocumentSource>,
    /// IAM policies by resource name (each replaces the resource's policy).
    #[serde(default)]
    pub policies: BTreeMap<String, DocumentSource>,
    /// Custom roles.
    #[serde(default)]
    pub custom_roles: Vec<DocumentSource>,
}

/// A document written inline, or the path of a JSON file holding it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DocumentSource {
    /// The path of a JSON file.
    File(PathBuf),
    /// The document itself.
    Inline(serde_json::Value),
}

impl DocumentSource {
    /// The document: read from its file (relative to `base`) or as written.
    fn load(&self, base: Option<&Path>, place: &str) -> Result<serde_json::Value, StateError> {
        let path = match self {
            DocumentSource::Inline(value) => return Ok(value.clone()),
            DocumentSource::File(path) => match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.clone(),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            StateError::InvalidRequest(format!("{place}: cannot read {}: {e}", path.display()))
        })?;
        ekm_access::document::parse_json(&text)
            .map_err(|e| StateError::InvalidRequest(format!("{place} ({}): {e}", path.display())))
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Lab name.
    pub name: String,
    /// The cloud.
    pub provider: Cloud,
    /// Material kind (the provider's default when omitted).
    pub spec: Option<KeySpec>,
    /// Lifecycle state (enabled when omitted).
    #[serde(default)]
    pub state: InitialState,
    /// Whether the service's policy / role assignment exists.
    #[serde(default = "yes")]
    pub access: bool,
    /// Whether the service identity is trusted.
    #[serde(default = "yes")]
    pub trust: bool,
}

fn yes() -> bool {
    true
}

/// The state a configured key starts in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialState {
    /// Usable.
    #[default]
    Enabled,
    /// Disabled.
    Disabled,
    /// Scheduled for deletion (the lab's deletion window from start).
    PendingDeletion,
    /// Destroyed.
    Destroyed,
}

impl LabConfig {
    /// Parses YAML text.
    pub fn parse(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    /// Creates the configured keys and aliases in `lab`.
    pub fn seed(&self, lab: &Kms) -> Result<(), StateError> {
        for key in &self.keys {
            let in_context =
                |e: StateError| StateError::InvalidRequest(format!("key `{}`: {e}", key.name));
            let spec = match key.spec {
                Some(spec) => {
                    KeySpec::parse_for(key.provider, spec.as_str()).map_err(in_context)?
                }
                None => KeySpec::default_for(key.provider),
            };
            lab.create_key(&key.name, key.provider, spec)
                .map_err(in_context)?;
            let state_action = match key.state {
                InitialState::Enabled => None,
                InitialState::Disabled => Some(KeyAction::Disable),
                InitialState::PendingDeletion => Some(KeyAction::ScheduleDeletion),
                InitialState::Destroyed => Some(KeyAction::Destroy),
            };
            let actions = [
                state_action,
                (!key.access).then_some(KeyAction::RevokeAccess),
                (!key.trust).then_some(KeyAction::RevokeTrust),
            ];
            for action in actions.into_iter().flatten() {
                lab.apply(&key.name, action).map_err(in_context)?;
            }
        }
        for (alias, target) in &self.aliases {
            lab.set_alias(alias, target)
                .map_err(|e| StateError::InvalidRequest(format!("alias `{alias}`: {e}")))?;
        }
        let base = self.base_dir.as_deref();
        self.access.aws.seed(base, lab, &self.keys)?;
        self.seed_gcp_documents(lab)?;
        self.seed_azure_documents(lab)
    }

    /// Puts the `access.azure` documents in `lab`, each refused naming its place and JSON path.
    fn seed_azure_documents(&self, lab: &Kms) -> Result<(), StateError> {
        let base = self.base_dir.as_deref();
        let azure = &self.access.azure;
        let mut given = serde_json::Map::new();
        let lists = [
            ("service_principals", &azure.service_principals),
            ("role_definitions", &azure.role_definitions),
            ("role_assignments", &azure.role_assignments),
        ];
        for (field, sources) in lists {
            let Some(sources) = sources else { continue };
            let documents = sources
                .iter()
                .enumerate()
                .map(|(i, source)| source.load(base, &format!("access.azure.{field}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            given.insert(field.to_owned(), serde_json::Value::Array(documents));
        }
        if let Some(vault) = &azure.vault {
            given.insert("vault".to_owned(), vault.load(base, "access.azure.vault")?);
        }
        if given.is_empty() {
            return Ok(());
        }
        lab.write(|state| {
            let mut documents = crate::store::documents(state, Cloud::Azure);
            for (field, value) in given {
                documents[field] = value;
            }
            crate::store::replace_documents(state, Cloud::Azure, documents)
                .map_err(StateError::InvalidRequest)
        })
    }

    /// Puts the `access.gcp` documents in `lab`, each refused naming its place and JSON path.
    fn seed_gcp_documents(&self, lab: &Kms) -> Result<(), StateError> {
        let base = self.base_dir.as_deref();
        let gcp = &self.access.gcp;
        let refused = |place: &str, e: &dyn std::fmt::Display| {
            StateError::InvalidRequest(format!("{place}: {e}"))
        };
        let mut providers = Vec::new();
        for (i, source) in gcp.providers.iter().enumerate() {
            let place = format!("access.gcp.providers[{i}]");
            let json = source.load(base, &place)?;
            providers.push(ProviderDocument::new(json).map_err(|e| refused(&place, &e))?);
        }
        let mut policies = Vec::new();
        for (resource, source) in &gcp.policies {
            let place = format!("access.gcp.policies.{resource}");
            policies.push((resource, place.clone(), source.load(base, &place)?));
        }
        let mut roles = Vec::new();
        for (i, source) in gcp.custom_roles.iter().enumerate() {
            let place = format!("access.gcp.custom_roles[{i}]");
            roles.push((place.clone(), source.load(base, &place)?));
        }
        lab.write(|state| {
            let access = &mut state.gcp_access;
            for provider in providers {
                access.put_provider(provider);
            }
            for (place, role) in roles {
                access
                    .add_custom_role(role)
                    .map_err(|e| refused(&place, &e))?;
            }
            for (resource, place, policy) in policies {
                access
                    .put_policy(resource, policy, None)
                    .map_err(|e| refused(&place, &e))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_keeps_demo_defaults() {
        let config = LabConfig::parse(
            "tenant:\n  project_id: proj_x\nkeys:\n  - { name: a, provider: aws }\n  - { name: e, provider: azure, spec: EC_P256, state: disabled, access: false }\naliases:\n  main: a\n",
        )
        .unwrap();
        assert_eq!(config.tenant.project_id, "proj_x");
        assert_eq!(config.tenant.aws, Tenant::default().aws);
        assert_eq!(config.keys[1].spec, Some(KeySpec::EcP256));
        assert!(!config.keys[1].access && config.keys[1].trust);
    }

    #[test]
    fn errors_name_line_and_column() {
        let error = LabConfig::parse("keys:\n  - { name: a, provider: aws, colour: red }\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        let error = LabConfig::parse("keys:\n  - name: a\n    provider: ibm\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 3") && error.contains("column"),
            "{error}"
        );
    }
}
