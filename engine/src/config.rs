//! `ekm.yaml`: one EKM registration — the customer's project id, the engine's timings and, per
//! cloud, exactly the parameters the customer hands the operator when registering a KMS (the seed
//! article's "Information OpenAI needs from you"), plus the operator's own service identity and
//! optional endpoints for a local mock. Omitted endpoints mean the real cloud.
//!
//! ```yaml
//! project_id: proj_demo
//! engine: { dek_rotation: 24h, revalidate_after: 1h, cache_capacity: 10000 }
//! aws:
//!   role_arn: arn:aws:iam::111122223333:role/ekm-demo
//!   key_arn: arn:aws:kms:us-east-1:111122223333:alias/ekm-demo
//! gcp:
//!   workload_identity_project_number: "123456789012"
//!   workload_identity_pool_id: ekm-pool
//!   workload_identity_provider_id: ekm-provider
//!   kms_project_id: demo-project-12345
//!   key_ring: ekm-ring
//!   key_name: ekm-key
//!   location: us-east1
//! azure:
//!   tenant_id: aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
//!   vault_uri: https://ekm-demo.vault.azure.net/
//!   key_name: ekm-key
//! ```
//!
//! [`Config::from_yaml`] checks everything at once and reports every problem, each with its field
//! path, what is wrong and an example of a right value ([`ConfigError::Invalid`]). YAML syntax
//! errors and unknown fields carry a line and column. The engine carries no tenant of its own: a
//! registration comes from a file or from whoever embeds the engine.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineConfig;

mod check;

pub use check::kms_arn_region;

/// A whole registration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The customer's project id: the AWS ExternalId and the GCP allowed audience by default.
    pub project_id: String,
    /// Engine timings.
    #[serde(default)]
    pub engine: EngineSettings,
    /// The operator's own identity in each cloud (not the customer's).
    #[serde(default)]
    pub service: ServiceIdentity,
    /// The AWS KMS registration, if any.
    #[serde(default)]
    pub aws: Option<AwsRegistration>,
    /// The GCP Cloud KMS registration, if any.
    #[serde(default)]
    pub gcp: Option<GcpRegistration>,
    /// The Azure Key Vault registration, if any.
    #[serde(default)]
    pub azure: Option<AzureRegistration>,
}

/// Engine timings and cache size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// How long an encrypt-path DEK is used before a new one is made (e.g. `24h`).
    #[serde(with = "humantime_serde")]
    pub dek_rotation: Duration,
    /// How long a cached DEK is trusted before the KMS is asked again (e.g. `1h`).
    #[serde(with = "humantime_serde")]
    pub revalidate_after: Duration,
    /// Most decrypt-path DEKs held in memory.
    pub cache_capacity: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let defaults = EngineConfig::default();
        Self {
            dek_rotation: defaults.dek_rotation,
            revalidate_after: defaults.revalidate_after,
            cache_capacity: defaults.cache_capacity,
        }
    }
}

impl EngineSettings {
    /// These settings over the engine's defaults for everything else.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            dek_rotation: self.dek_rotation,
            revalidate_after: self.revalidate_after,
            cache_capacity: self.cache_capacity,
            ..EngineConfig::default()
        }
    }
}

/// The operator's service identity in each cloud: what *it* authenticates as before the
/// customer's trust lets it in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceIdentity {
    /// AWS: long-term credentials of the operator's principal (the role the customer trusts).
    pub aws: Option<AwsServiceCredentials>,
    /// GCP: where the service account's OIDC ID token (the STS subject token) comes from
    /// (`{ file: PATH }` or `{ lab_identity_provider: URL }`).
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub gcp: Option<GcpSubjectToken>,
    /// Azure: the operator's app registration.
    pub azure: Option<AzureServiceCredentials>,
}

/// Static AWS credentials of the operator's principal.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsServiceCredentials {
    /// Access key id (`AKIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl fmt::Debug for AwsServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsServiceCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// Where the GCP STS subject token (an OIDC ID token of the operator's service account) comes
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum GcpSubjectToken {
    /// Read from a file, refreshed by something else (as `google-cloud-auth` file-sourced
    /// credentials do).
    File(PathBuf),
    /// Minted on demand by the lab identity provider (`POST {url}` with `{"audience"}`).
    LabIdentityProvider(String),
}

/// The operator's Azure app registration.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureServiceCredentials {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

impl fmt::Debug for AzureServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureServiceCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// AWS: "IAM Role ARN", "ExternalID", "KMS ARN".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRegistration {
    /// The role the operator assumes (`arn:aws:iam::123456789012:role/role-name`).
    pub role_arn: String,
    /// The ExternalId the role's trust policy requires; defaults to the project id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The key: a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/UUID`) or an alias ARN
    /// (`arn:aws:kms:REGION:ACCOUNT:alias/NAME`).
    pub key_arn: String,
    /// KMS and STS endpoint (a mock); absent = the real AWS endpoints of the key's region.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// How long a role session lives (`DurationSeconds`, 15m–12h as the role allows); absent =
    /// AWS's default, 1h.
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
}

impl AwsRegistration {
    /// The role session's lifetime: the registration's, or AWS's default.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
            .unwrap_or_else(|| default_session_lifetime(crate::registration::Cloud::Aws))
    }
}

/// AWS's default role session (`AssumeRole` without `DurationSeconds`).
const AWS_SESSION_SECONDS: u64 = 3600;
/// A GCP federated access token's lifetime (STS `expires_in`).
const GCP_TOKEN_SECONDS: u64 = 3600;
/// An Entra access token's shortest default lifetime (Entra picks 60–90 minutes; the lab mock
/// issues 3599 s).
const AZURE_TOKEN_SECONDS: u64 = 3599;

/// How long a session on `cloud` lives when its registration names no `session_lifetime`:
/// AWS's default role session (1h), STS's federated token (1h), Entra's shortest default token
/// (59m59s, what the lab mock issues).
pub fn default_session_lifetime(cloud: crate::registration::Cloud) -> Duration {
    use crate::registration::Cloud;
    Duration::from_secs(match cloud {
        Cloud::Aws => AWS_SESSION_SECONDS,
        Cloud::Gcp => GCP_TOKEN_SECONDS,
        Cloud::Azure => AZURE_TOKEN_SECONDS,
    })
}

/// GCP: workload identity project number, pool, provider, allowed audience, and the key's
/// project, key ring, name and location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpRegistration {
    /// Workload identity project number (`123456789`).
    pub workload_identity_project_number: String,
    /// Workload identity pool id.
    pub workload_identity_pool_id: String,
    /// Workload identity provider id.
    pub workload_identity_provider_id: String,
    /// The audience the provider allows; defaults to the project id.
    #[serde(default)]
    pub allowed_audience: Option<String>,
    /// KMS project id (`adjective-noun-12345`).
    pub kms_project_id: String,
    /// Key ring name.
    pub key_ring: String,
    /// Key name.
    pub key_name: String,
    /// Key location (`us-east1`).
    pub location: String,
    /// Cloud KMS endpoint (a mock); absent = `https://cloudkms.googleapis.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// STS token endpoint (a mock); absent = `https://sts.googleapis.com/v1/token`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// How long a federated access token lives; absent = STS's 1h.
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
}

impl GcpRegistration {
    /// The federated token's lifetime: the registration's, or STS's.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
            .unwrap_or_else(|| default_session_lifetime(crate::registration::Cloud::Gcp))
    }

    /// The key's resource name.
    pub fn crypto_key_name(&self) -> String {
        format!(
            "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}",
            self.kms_project_id, self.location, self.key_ring, self.key_name
        )
    }

    /// The workload identity provider, as STS wants it in `audience`.
    pub fn sts_audience(&self) -> String {
        format!(
            "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
            self.workload_identity_project_number,
            self.workload_identity_pool_id,
            self.workload_identity_provider_id
        )
    }
}

/// Azure: tenant id, vault URI, key name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureRegistration {
    /// The customer's Entra tenant id (a GUID).
    pub tenant_id: String,
    /// The vault (`https://your-vault-name.vault.azure.net/`).
    pub vault_uri: String,
    /// The key's name in the vault (must be an RSA key).
    pub key_name: String,
    /// Entra authority host (a mock); absent = `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority_host: Option<String>,
    /// Extra CA certificate (PEM) to trust for the vault and authority (a mock's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long an Entra access token lives; absent = 59m59s (Entra's shortest default).
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
}

impl AzureRegistration {
    /// The Entra token's lifetime: the registration's, or Entra's shortest default.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
            .unwrap_or_else(|| default_session_lifetime(crate::registration::Cloud::Azure))
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not YAML, or not of the expected shape (unknown field, wrong type); the message carries
    /// the line and column.
    #[error("{origin}: {source}")]
    Syntax {
        /// The file (or `<string>`).
        origin: String,
        /// serde_yaml's error, with its location.
        source: serde_yaml::Error,
    },
    /// Well-formed but wrong: one problem per entry.
    #[error("{origin}: {} problem(s):\n{}", problems.len(), render(problems))]
    Invalid {
        /// The file (or `<string>`).
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path, e.g. `aws.role_arn`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// A right value.
    pub example: &'static str,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (example: {})",
            self.field, self.message, self.example
        )
    }
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a customer's revocation takes from the engine, which decides how soon it stops the
/// engine ([`Config::revocation_within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The key, its policy or the role assignment: the KMS refuses the engine's next call,
    /// which comes at the latest when its cached DEKs are revalidated.
    Permission,
    /// The trust (the role's trust policy, the workload-identity provider, the service
    /// principal): new sign-ins are refused, but the session the engine holds lives on to its
    /// expiry.
    Trust,
}

impl Config {
    /// Whether this registration has a key in `cloud`.
    pub fn registers(&self, cloud: crate::registration::Cloud) -> bool {
        use crate::registration::Cloud;
        match cloud {
            Cloud::Aws => self.aws.is_some(),
            Cloud::Gcp => self.gcp.is_some(),
            Cloud::Azure => self.azure.is_some(),
        }
    }

    /// How long the engine's sessions on `cloud` live (its registration's `session_lifetime`);
    /// none when `cloud` is not registered: nothing signs in there.
    pub fn session_lifetime(&self, cloud: crate::registration::Cloud) -> Option<Duration> {
        use crate::registration::Cloud;
        match cloud {
            Cloud::Aws => self.aws.as_ref().map(AwsRegistration::session_lifetime),
            Cloud::Gcp => self.gcp.as_ref().map(GcpRegistration::session_lifetime),
            Cloud::Azure => self.azure.as_ref().map(AzureRegistration::session_lifetime),
        }
    }

    /// The longest a revocation of `revoked` on `cloud` takes to stop the engine when its
    /// cached DEKs are revalidated within `within` (`engine.revalidate_after`, or a stricter
    /// bound a scenario asserts): `within` for a permission, `within` plus the cloud's session
    /// lifetime for a trust removal (the session issued just before it lives on). Revoking the
    /// issued sessions, where the cloud can, brings a trust removal back to `within` from then.
    pub fn revocation_within(
        &self,
        cloud: crate::registration::Cloud,
        revoked: Revoked,
        within: Duration,
    ) -> Duration {
        match revoked {
            Revoked::Permission => within,
            Revoked::Trust => within + self.session_lifetime(cloud).unwrap_or_default(),
        }
    }

    /// Reads and checks `path`. Relative file paths in it (`azure.ca_file`, `service.gcp.file`)
    /// are relative to the file's folder, not to the working directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_yaml(&text, &path.display().to_string())?;
        let folder = path.parent().unwrap_or(Path::new(""));
        let anchor = |file: &mut PathBuf| {
            if file.is_relative() {
                *file = folder.join(&*file);
            }
        };
        if let Some(ca_file) = config.azure.as_mut().and_then(|a| a.ca_file.as_mut()) {
            anchor(ca_file);
        }
        if let Some(GcpSubjectToken::File(file)) = config.service.gcp.as_mut() {
            anchor(file);
        }
        Ok(config)
    }

    /// Parses and checks YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = serde_yaml::from_str(text).map_err(|source| ConfigError::Syntax {
            origin: origin.to_owned(),
            source,
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }

    /// The ExternalId the AWS trust policy must require.
    pub fn aws_external_id(&self) -> Option<&str> {
        let aws = self.aws.as_ref()?;
        Some(aws.external_id.as_deref().unwrap_or(&self.project_id))
    }

    /// The audience the GCP workload identity provider must allow.
    pub fn gcp_allowed_audience(&self) -> Option<&str> {
        let gcp = self.gcp.as_ref()?;
        Some(gcp.allowed_audience.as_deref().unwrap_or(&self.project_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_registration_is_valid() {
        let config = Config::from_yaml(include_str!("../../ekm.example.yaml"), "ekm.example.yaml")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.aws.is_some() && config.gcp.is_some() && config.azure.is_some());
        assert_eq!(config.engine, EngineSettings::default());
    }

    #[test]
    fn yaml_with_durations_parses() {
        let yaml = r#"
project_id: proj_demo
engine: { dek_rotation: 1h, revalidate_after: 15m }
service:
  aws: { access_key_id: AKIAX, secret_access_key: s }
aws:
  role_arn: arn:aws:iam::111122223333:role/ekm-demo
  key_arn: arn:aws:kms:us-east-1:111122223333:key/abc
"#;
        let config = Config::from_yaml(yaml, "ekm.yaml").unwrap();
        assert_eq!(config.engine.dek_rotation, Duration::from_secs(3600));
        assert_eq!(config.engine.revalidate_after, Duration::from_secs(900));
        assert_eq!(config.engine.cache_capacity, 10_000);
    }

    #[test]
    fn every_problem_is_reported_with_field_and_example() {
        let yaml = r#"
project_id: "bad id!"
service:
  azure: { client_id: x, client_secret: y }
aws:
  role_arn: arn:aws:iam::123:role
  key_arn: arn:aws:kms:us-east-1:111122223333:key:abc
azure:
  tenant_id: not-a-guid
  vault_uri: http://vault
  key_name: ekm_key
"#;
        let err = Config::from_yaml(yaml, "ekm.yaml").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("expected Invalid, got {err}");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "project_id",
                "aws.role_arn",
                "aws.key_arn",
                "service.aws",
                "azure.tenant_id",
                "azure.vault_uri",
                "azure.key_name"
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("example: arn:aws:iam::123456789012:role/role-name"),
            "{text}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_types_name_line_and_column() {
        let err = Config::from_yaml("project_id: p\nawz: {}\n", "ekm.yaml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("unknown field `awz`") && text.contains("line 2"),
            "{text}"
        );
        let err = Config::from_yaml("project_id: p\nengine: { revalidate_after: soon }\n", "x")
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_trust_removal_adds_the_registered_session_lifetime_and_a_permission_does_not() {
        use crate::registration::Cloud;
        let mut config = Config::from_yaml(include_str!("../../ekm.example.yaml"), "x")
            .unwrap_or_else(|e| panic!("{e}"));
        let within = Duration::from_secs(900);
        let defaults = [(Cloud::Aws, 3600), (Cloud::Gcp, 3600), (Cloud::Azure, 3599)];
        for (cloud, seconds) in defaults {
            let trust = config.revocation_within(cloud, Revoked::Trust, within);
            assert_eq!(trust, within + Duration::from_secs(seconds), "{cloud}");
            let permission = config.revocation_within(cloud, Revoked::Permission, within);
            assert_eq!(permission, within, "{cloud}");
        }
        let minutes = |m: u64| Some(Duration::from_secs(60 * m));
        config.aws.as_mut().unwrap().session_lifetime = minutes(120);
        config.gcp.as_mut().unwrap().session_lifetime = minutes(30);
        config.azure = None;
        let trust = |cloud| config.revocation_within(cloud, Revoked::Trust, within);
        assert_eq!(trust(Cloud::Aws), Duration::from_secs(900 + 7200));
        assert_eq!(trust(Cloud::Gcp), Duration::from_secs(900 + 1800));
        assert_eq!(
            trust(Cloud::Azure),
            within,
            "nothing signs in to an unregistered cloud"
        );
    }

    #[test]
    fn no_provider_is_a_problem() {
        let err = Config::from_yaml("project_id: p\n", "ekm.yaml").unwrap_err();
        assert!(err.to_string().contains("no KMS is registered"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let yaml = include_str!("../../ekm.example.yaml");
        let secrets = ["ekm-lab-service-secret", "ekm-lab-azure-secret"];
        assert!(secrets.iter().all(|secret| yaml.contains(secret)));
        let config = Config::from_yaml(yaml, "ekm.example.yaml").unwrap_or_else(|e| panic!("{e}"));
        let text = format!("{:?}", config.service);
        assert!(
            !secrets.iter().any(|secret| text.contains(secret)),
            "{text}"
        );
    }
}
