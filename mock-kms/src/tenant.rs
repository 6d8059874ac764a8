//! Who is who in the lab: the EKM operator's service identities and the customer tenant's
//! accounts, roles, pools and vaults. [`Tenant::default`] is the demo tenant of DESIGN.md §6
//! (a contract: the engine's default configuration and the scenarios rely on these values).

use serde::{Deserialize, Serialize};

use crate::sessions::SessionLifetimes;

/// Identities and resource names of the lab (demo values by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tenant {
    /// The customer's project id at the EKM operator: AWS ExternalId and GCP allowed audience.
    pub project_id: String,
    /// AWS side.
    pub aws: AwsTenant,
    /// GCP side.
    pub gcp: GcpTenant,
    /// Azure side.
    pub azure: AzureTenant,
    /// How long the service's sign-in sessions live on each cloud (lab time).
    pub sessions: SessionLifetimes,
}

/// AWS identities: the operator's principal and the customer's account, role and demo key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsTenant {
    /// The operator's role, the principal the customer's trust policy names.
    pub service_principal_arn: String,
    /// Long-term access key of the operator's service.
    pub service_access_key_id: String,
    /// Its secret.
    pub service_secret_access_key: String,
    /// The customer's account number.
    pub account_id: String,
    /// Region of the customer's keys.
    pub region: String,
    /// The role the operator assumes (trusts the service principal with ExternalId = project id).
    pub role_arn: String,
    /// The customer administrator's access key (full rights on its own keys).
    pub admin_access_key_id: String,
    /// Its secret.
    pub admin_secret_access_key: String,
    /// Key id (UUID) of the demo key.
    pub demo_key_id: String,
    /// Alias of the demo key, without the `alias/` prefix.
    pub demo_alias: String,
}

/// GCP identities: the operator's service account and the customer's KMS and workload identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpTenant {
    /// The operator's service account id (the `sub` of its ID tokens).
    pub service_account_id: String,
    /// The service account's e-mail (for optional impersonation).
    pub service_account_email: String,
    /// Project holding the customer's key ring.
    pub kms_project: String,
    /// Location of the key ring.
    pub location: String,
    /// Key ring name.
    pub key_ring: String,
    /// CryptoKey id of the demo key.
    pub demo_key: String,
    /// Workload identity project number.
    pub wif_project_number: String,
    /// Workload identity pool id.
    pub wif_pool: String,
    /// Workload identity provider id.
    pub wif_provider: String,
}

impl GcpTenant {
    /// The workload identity pool's resource name.
    pub fn pool_name(&self) -> String {
        format!(
            "projects/{}/locations/global/workloadIdentityPools/{}",
            self.wif_project_number, self.wif_pool
        )
    }

    /// The workload identity provider's resource name.
    pub fn provider_name(&self) -> String {
        format!("{}/providers/{}", self.pool_name(), self.wif_provider)
    }

    /// The STS audience naming the workload identity provider.
    pub fn sts_audience(&self) -> String {
        format!("//iam.googleapis.com/{}", self.provider_name())
    }

    /// The resource name of cryptoKey `key` in the customer's key ring.
    pub fn crypto_key_name(&self, key: &str) -> String {
        format!(
            "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{key}",
            self.kms_project, self.location, self.key_ring
        )
    }
}

/// Azure identities: the operator's app registration and the customer's tenant and vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureTenant {
    /// The customer's Entra tenant id.
    pub tenant_id: String,
    /// The operator's application (client) id.
    pub service_app_id: String,
    /// The object id of the service principal the customer's tenant holds for that app.
    pub service_object_id: String,
    /// The subscription holding the vault.
    pub subscription_id: String,
    /// The vault's resource group.
    pub resource_group: String,
    /// Its client secret.
    pub service_client_secret: String,
    /// The customer administrator's application id.
    pub admin_app_id: String,
    /// Its client secret.
    pub admin_client_secret: String,
    /// Vault name (served at the https listener).
    pub vault_name: String,
    /// Vault key name of the demo key.
    pub demo_key: String,
    /// Certificates registered for the applications, for client-assertion sign-in (empty by
    /// default: the demo tenant signs in with client secrets).
    pub client_certificates: Vec<AppCertificate>,
}

/// A certificate registered for an Entra application: a client assertion signed by its key and
/// naming it by thumbprint (`x5t` / `x5t#S256`) authenticates as `app_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCertificate {
    /// The application (client) id.
    pub app_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
}

impl Default for Tenant {
    fn default() -> Self {
        Self {
            project_id: "proj_demo".into(),
            aws: AwsTenant::default(),
            gcp: GcpTenant::default(),
            azure: AzureTenant::default(),
            sessions: SessionLifetimes::default(),
        }
    }
}

impl Default for AwsTenant {
    fn default() -> Self {
        Self {
            service_principal_arn: "arn:aws:iam::999900000001:role/EnterpriseKeyManagement".into(),
            service_access_key_id: "AKIAEKMLABSERVICE001".into(),
            service_secret_access_key: "ekm-lab-service-secret".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::111122223333:role/ekm-demo".into(),
            admin_access_key_id: "AKIAEKMLABCUSTOMER01".into(),
            admin_secret_access_key: "ekm-lab-customer-secret".into(),
            demo_key_id: "0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30".into(),
            demo_alias: "ekm-demo".into(),
        }
    }
}

impl AwsTenant {
    /// The ARN of key `key_id` (a UUID) in the customer's account.
    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.region, self.account_id
        )
    }

    /// The ARN of alias `name` (without the `alias/` prefix).
    pub fn alias_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:alias/{name}",
            self.region, self.account_id
        )
    }
}

impl Default for GcpTenant {
    fn default() -> Self {
        Self {
            service_account_id: "100000000000000000001".into(),
            service_account_email: "ekm-service@demo-project-12345.iam.gserviceaccount.com".into(),
            kms_project: "demo-project-12345".into(),
            location: "us-east1".into(),
            key_ring: "ekm-ring".into(),
            demo_key: "ekm-key".into(),
            wif_project_number: "123456789012".into(),
            wif_pool: "ekm-pool".into(),
            wif_provider: "ekm-provider".into(),
        }
    }
}

impl Default for AzureTenant {
    fn default() -> Self {
        Self {
            tenant_id: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".into(),
            service_app_id: "11111111-2222-4333-8444-555555555555".into(),
            service_object_id: "22222222-3333-4444-8555-666666666666".into(),
            subscription_id: "cccccccc-dddd-4eee-8fff-000000000000".into(),
            resource_group: "ekm-rg".into(),
            service_client_secret: "ekm-lab-azure-secret".into(),
            admin_app_id: "99999999-8888-4777-8666-555555555555".into(),
            admin_client_secret: "ekm-lab-customer-admin".into(),
            vault_name: "ekm-demo".into(),
            demo_key: "ekm-key".into(),
            client_certificates: Vec::new(),
        }
    }
}
