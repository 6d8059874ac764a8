//! The customer's access documents in the lab's mock, as the customer writes them in each cloud
//! (trust, policies, bindings, role assignments — the mock's state-file shape, which the control
//! API's `GET|PUT /_mock/v1/access/{cloud}` also speaks), the deletion of a service principal as
//! Microsoft Graph does it, and other EKM projects that reach the same keys through the same
//! service: another customer's project (its own project id, so its own ExternalId and GCP
//! audience) or another workload on the operator's OIDC issuer (its own ID-token subject).

use std::sync::Arc;

use ekm_engine::KeyEncryptionKey;
use ekm_engine::config::{Config, GcpSubjectToken};
use ekm_engine::registration::{self, Cloud};
use ekm_mock_kms::error::StateError;
use ekm_mock_kms::state::KeyInfo;
use serde_json::Value;

use crate::{EmbeddedLab, LabError, registration_on};

/// Who, besides the lab's own project, connects to a key through the lab's EKM service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtherProject {
    /// Its project id — the ExternalId EKM presents to AWS and the audience it asks the lab
    /// identity provider for on GCP; the lab's own when absent.
    pub project_id: Option<String>,
    /// GCP: the `sub` of the ID tokens its workload presents to STS (another service account on
    /// the same issuer); EKM's service account when absent.
    pub gcp_subject: Option<String>,
}

impl EmbeddedLab {
    /// The customer's documents of `cloud`, in the mock's state-file shape (AWS: `trust_policy`,
    /// `role_policies`, `key_policies` by lab key name; GCP: `providers` and `policies` by
    /// resource name, `custom_roles`; Azure: `service_principals`, `role_definitions`,
    /// `role_assignments`, `vault`).
    pub fn access_documents(&self, cloud: Cloud) -> Value {
        self.mock.lab().access_documents(cloud)
    }

    /// Replaces the customer's documents of `cloud` (the shape
    /// [`access_documents`](Self::access_documents) answers); they decide the next call. A
    /// malformed document is refused naming its field and JSON path, and nothing changes.
    pub fn set_access_documents(&self, cloud: Cloud, documents: Value) -> Result<(), LabError> {
        Ok(self.mock.lab().replace_access_documents(cloud, documents)?)
    }

    /// Deletes the tenant's service principal of application `app_id`, as Microsoft Graph's
    /// `DELETE /v1.0/servicePrincipals/{id}` does; answers its object id.
    pub fn delete_service_principal(&self, app_id: &str) -> Result<String, LabError> {
        let documents = self.access_documents(Cloud::Azure);
        let id = documents["service_principals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|sp| {
                sp["appId"]
                    .as_str()
                    .is_some_and(|app| app.eq_ignore_ascii_case(app_id))
            })
            .and_then(|sp| sp["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                StateError::InvalidRequest(format!(
                    "the tenant has no service principal for application {app_id}"
                ))
            })?;
        self.mock.lab().delete_service_principal(&id)?;
        Ok(id)
    }

    /// Connects `other` to the mock key `key` (a key of `cloud`) through the lab's EKM service:
    /// the lab's registration with `other`'s project id and GCP subject, its own SDK client and
    /// sign-in session. Whether the customer's trust lets it in shows on its first call.
    pub async fn connect_as(
        &self,
        cloud: Cloud,
        key: &KeyInfo,
        other: &OtherProject,
    ) -> Result<Arc<dyn KeyEncryptionKey>, LabError> {
        let config = registration_as(&self.config, cloud, key, other)?;
        Ok(registration::connect(&config, cloud, &self.clock).await?)
    }
}

/// `config` with `cloud`'s registration moved to the mock key `key`, for `other`.
fn registration_as(
    config: &Config,
    cloud: Cloud,
    key: &KeyInfo,
    other: &OtherProject,
) -> Result<Config, LabError> {
    let mut config = registration_on(config, cloud, key)?;
    if let Some(project_id) = &other.project_id {
        config.project_id = project_id.clone();
        if let Some(aws) = config.aws.as_mut() {
            aws.external_id = None;
        }
        if let Some(gcp) = config.gcp.as_mut() {
            gcp.allowed_audience = None;
        }
    }
    if let Some(subject) = &other.gcp_subject {
        let Some(GcpSubjectToken::LabIdentityProvider(url)) = &config.service.gcp else {
            return Err(LabError::OtherProject(
                "the lab's GCP registration does not use the lab identity provider".into(),
            ));
        };
        let mut url = reqwest::Url::parse(url).map_err(|e| {
            LabError::OtherProject(format!("the lab identity provider's URL {url}: {e}"))
        })?;
        url.query_pairs_mut().append_pair("subject", subject);
        config.service.gcp = Some(GcpSubjectToken::LabIdentityProvider(url.into()));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::demo_registration;
    use ekm_mock_kms::tenant::Tenant;

    fn demo() -> Config {
        demo_registration(
            &Tenant::default(),
            "127.0.0.1:4599".parse().unwrap(),
            "127.0.0.1:4600".parse().unwrap(),
            Path::new("/tmp/ca.pem"),
        )
        .unwrap()
    }

    fn key(cloud: Cloud, id: &str) -> KeyInfo {
        KeyInfo {
            name: "k".into(),
            provider: cloud,
            id: id.into(),
            spec: String::new(),
            state: "enabled".into(),
            deletion_date: None,
            access: true,
            trust: true,
            versions: Vec::new(),
            primary_version: String::new(),
            version_states: Vec::new(),
        }
    }

    #[test]
    fn another_project_presents_its_own_external_id_and_audience() {
        let other = OtherProject {
            project_id: Some("proj_other".into()),
            gcp_subject: None,
        };
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let aws = registration_as(&demo(), Cloud::Aws, &key(Cloud::Aws, arn), &other).unwrap();
        assert_eq!(aws.aws_external_id(), Some("proj_other"));
        assert_eq!(aws.aws.as_ref().unwrap().key_arn, arn);
        let gcp = registration_as(&demo(), Cloud::Gcp, &key(Cloud::Gcp, "p/k"), &other).unwrap();
        assert_eq!(gcp.gcp_allowed_audience(), Some("proj_other"));
    }

    #[test]
    fn another_workload_asks_the_identity_provider_for_its_own_subject() {
        let other = OtherProject {
            project_id: None,
            gcp_subject: Some("100000000000000000002".into()),
        };
        let gcp = registration_as(&demo(), Cloud::Gcp, &key(Cloud::Gcp, "p/k"), &other).unwrap();
        assert_eq!(gcp.project_id, "proj_demo");
        assert_eq!(
            gcp.service.gcp,
            Some(GcpSubjectToken::LabIdentityProvider(
                "http://127.0.0.1:4599/_mock/v1/identity/gcp-id-token?subject=100000000000000000002"
                    .into()
            ))
        );
    }

    #[test]
    fn a_project_is_connected_only_to_a_key_of_its_cloud() {
        let other = OtherProject::default();
        let wrong = registration_as(&demo(), Cloud::Aws, &key(Cloud::Gcp, "p/k"), &other);
        assert!(matches!(wrong, Err(LabError::UnknownKey(_))), "{wrong:?}");
    }
}
