//! From an `ekm.yaml` registration to connected KEK providers: one per configured cloud, each
//! authenticated the way that cloud's EKM integration requires (DESIGN.md §2).
//!
//! Connecting checks what can be checked up front (Azure reads the key to refuse a non-RSA one);
//! problems the configuration alone cannot reveal (a refused role, a missing key) surface on the
//! first wrap or unwrap as a typed [`KmsError`](crate::KmsError).

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::provider::aws::AwsKek;
use crate::provider::azure::{AzureKek, ConnectError};
use crate::provider::gcp::GcpKek;
use crate::provider::{KeyEncryptionKey, KmsError};

pub use ekm_vocab::Cloud;

/// Why a configured provider could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration registers no key in this cloud.
    #[error("{0} is not configured: add an `{0}:` section to ekm.yaml")]
    NotConfigured(Cloud),
    /// The operator's identity for this cloud is missing from `service:`.
    #[error("{0}: the operator's service identity is missing (`service.{0}` in ekm.yaml)")]
    NoServiceIdentity(Cloud),
    /// The provider refused the registration or could not reach the KMS.
    #[error("{cloud}: {source}")]
    Kms {
        /// The cloud.
        cloud: Cloud,
        /// What went wrong.
        #[source]
        source: KmsError,
    },
    /// The registration names something the provider cannot use (an Azure key that is not
    /// RSA, an unreadable CA file).
    #[error("{cloud}: {message}")]
    Unusable {
        /// The cloud.
        cloud: Cloud,
        /// What is wrong, with the fix where there is one.
        message: String,
    },
}

/// Connects the KEK `config` registers in `cloud`; its sign-in sessions are renewed on
/// `clock` (the lab clock, or the system clock against a real cloud).
pub async fn connect(
    config: &Config,
    cloud: Cloud,
    clock: &SharedClock,
) -> Result<Arc<dyn KeyEncryptionKey>, SetupError> {
    let kms = |source| SetupError::Kms { cloud, source };
    match cloud {
        Cloud::Aws => {
            let registration = config
                .aws
                .as_ref()
                .ok_or(SetupError::NotConfigured(cloud))?;
            let service = config
                .service
                .aws
                .as_ref()
                .ok_or(SetupError::NoServiceIdentity(cloud))?;
            let external_id = config.aws_external_id().unwrap_or(&config.project_id);
            let kek = AwsKek::connect(registration, external_id, service, clock.clone())
                .await
                .map_err(kms)?;
            Ok(Arc::new(kek))
        }
        Cloud::Gcp => {
            let registration = config
                .gcp
                .as_ref()
                .ok_or(SetupError::NotConfigured(cloud))?;
            let subject_token = config
                .service
                .gcp
                .as_ref()
                .ok_or(SetupError::NoServiceIdentity(cloud))?;
            let audience = config.gcp_allowed_audience().unwrap_or(&config.project_id);
            let kek = GcpKek::connect(registration, audience, subject_token, clock.clone())
                .await
                .map_err(kms)?;
            Ok(Arc::new(kek))
        }
        Cloud::Azure => {
            let registration = config
                .azure
                .as_ref()
                .ok_or(SetupError::NotConfigured(cloud))?;
            let service = config
                .service
                .azure
                .as_ref()
                .ok_or(SetupError::NoServiceIdentity(cloud))?;
            let kek = AzureKek::connect(registration, service, clock.clone())
                .await
                .map_err(|error| match error {
                    ConnectError::Kms(source) => kms(source),
                    other => SetupError::Unusable {
                        cloud,
                        message: other.to_string(),
                    },
                })?;
            Ok(Arc::new(kek))
        }
    }
}

/// Connects every cloud `config` registers, in [`Cloud::ALL`] order, renewing sessions on
/// `clock`.
pub async fn connect_all(
    config: &Config,
    clock: &SharedClock,
) -> Result<Vec<(Cloud, Arc<dyn KeyEncryptionKey>)>, SetupError> {
    let mut keks = Vec::new();
    for cloud in Cloud::ALL {
        if config.registers(cloud) {
            keks.push((cloud, connect(config, cloud, clock).await?));
        }
    }
    Ok(keks)
}
