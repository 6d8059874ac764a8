//! The credentials under a key's one Cloud KMS client: the SDK's own `external_account`
//! credentials of the current session, which a new session replaces without building another
//! client. A Cloud KMS client builds an HTTP client, and with it a TLS verifier that loads every
//! trusted root certificate of the system; a provider that signs in again every hour would pay
//! that again each time, and a fleet of them compresses a day of sign-ins into a minute.

use std::sync::{Arc, PoisonError, RwLock};

use google_cloud_auth::credentials::{CacheableResource, Credentials, CredentialsProvider};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap};

/// The current session's credentials, shared by the client and the provider that renews them.
#[derive(Debug, Clone)]
pub(super) struct SessionCredentials(Arc<RwLock<Credentials>>);

impl SessionCredentials {
    /// Starts with `credentials`.
    pub(super) fn new(credentials: Credentials) -> Self {
        Self(Arc::new(RwLock::new(credentials)))
    }

    /// Replaces the session's credentials (and so their cached token): the client's next call
    /// asks the new ones.
    pub(super) fn replace(&self, credentials: Credentials) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = credentials;
    }

    fn current(&self) -> Credentials {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl CredentialsProvider for SessionCredentials {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        self.current().headers(extensions).await
    }

    async fn universe_domain(&self) -> Option<String> {
        self.current().universe_domain().await
    }
}
