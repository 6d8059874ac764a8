//! The GCP clients the Cloud KMS tests share: the EKM service's external-account (workload
//! identity federation) credentials and the customer administrator's static bearer token.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use axum::http::{Extensions, HeaderMap, HeaderValue, header};
use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag, external_account,
};
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_kms_v1::client::KeyManagementService;
use serde_json::{Value, json};

/// The demo tenant's workload identity provider, as STS's audience.
pub(crate) const WIF_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/providers/ekm-provider";
/// The customer's project id (the provider's allowed audience).
pub(crate) const PROJECT_ID: &str = "proj_demo";

/// External-account credentials against the mock at `url` that fetch their subject token from
/// the lab identity provider themselves (URL-sourced, JSON format): the recipe the engine uses.
pub(crate) fn wif_config(url: &str) -> Value {
    json!({
        "type": "external_account",
        "audience": WIF_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{url}/v1/token"),
        "credential_source": {
            "url": format!("{url}/_mock/v1/identity/gcp-id-token?audience={PROJECT_ID}"),
            "format": { "type": "json", "subject_token_field_name": "id_token" },
        },
    })
}

/// Credentials that always send `Authorization: Bearer TOKEN` (the owner's).
#[derive(Debug)]
pub(crate) struct StaticToken(pub(crate) &'static str);

impl CredentialsProvider for StaticToken {
    async fn headers(
        &self,
        _: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, google_cloud_auth::errors::CredentialsError> {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {}", self.0)).expect("header");
        headers.insert(header::AUTHORIZATION, value);
        Ok(CacheableResource::New {
            entity_tag: EntityTag::default(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

/// A Cloud KMS client of the mock at `url` on `creds`, never retrying.
pub(crate) async fn client(url: &str, creds: Credentials) -> KeyManagementService {
    KeyManagementService::builder()
        .with_endpoint(url)
        .with_credentials(creds)
        .with_retry_policy(NeverRetry)
        .build()
        .await
        .expect("client builds")
}

/// The customer administrator, with its static bearer token.
pub(crate) async fn owner(url: &str) -> KeyManagementService {
    let token = StaticToken(ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN);
    client(url, Credentials::from(token)).await
}

/// The EKM service, federated through STS with [`wif_config`].
pub(crate) async fn service(url: &str) -> KeyManagementService {
    let creds = external_account::Builder::new(wif_config(url))
        .build()
        .expect("credentials build");
    client(url, creds).await
}
