//! The Azure front-end (https listener): the Key Vault keys API with real RSA keys, the bearer
//! challenge, and the Entra ID token endpoint with its OpenID discovery documents. The real
//! `azure_security_keyvault_keys` / `azure_identity` crates and Python's `azure-keyvault-keys` /
//! `azure-identity` talk to it unchanged (DESIGN.md §4).
//!
//! # Layout
//! - [`entra`]: `POST /{tenant}/oauth2/v2.0/token` (client secret or client assertion), the
//!   OpenID configuration and instance discovery, and the store of issued bearer tokens.
//! - [`graph`]: Microsoft Graph's `POST` / `GET` / `DELETE /v1.0/servicePrincipals`: the
//!   customer's service principals ([`AzureAccess`](crate::access::AzureAccess)).
//! - [`keyvault`]: `/keys/...`: the 401 challenge, `GET` key bundles, `encrypt` / `decrypt` /
//!   `wrapkey` / `unwrapkey`, and the owner's `create`, `rotate` and `PATCH`; its `route`
//!   parses the request paths and names each operation's RBAC data action.
//! - [`crypto`]: RSA-OAEP on the keys' PKCS#8 material (parsed once and cached) and JSON Web
//!   Keys of their public halves.
//! - this module: the router, the shared state and Key Vault's error format.
//!
//! # Who may do what
//! The vault lives in the tenant's directory: the service application (`service_app_id`) signs
//! in while the tenant holds a service principal for it, the administrator application
//! (`admin_app_id`) is the customer's key owner ([`Caller::Owner`](crate::state::Caller::Owner):
//! everything). What the service ([`Caller::Service`](crate::state::Caller::Service)) may do is
//! what the customer's role assignments (or, for a vault without RBAC, access policies) grant
//! its service principal ([`AzureAccess`](crate::access::AzureAccess)): the demo tenant assigns
//! "Key Vault Crypto User" on each key — `encrypt` / `wrapkey`, `decrypt` / `unwrapkey` and
//! `GET` of the key (`.../keys/read`), which clients need to encrypt locally. A denial is 403
//! `Forbidden` with inner code `ForbiddenByRbac` (or `ForbiddenByPolicy`) and the trace in the
//! call log. Creating, rotating and updating keys is the owner's.
//!
//! Tokens are opaque random strings remembered with their application, audience (Key Vault or
//! Graph), the service principal's object id, and their lab-clock life (the tenant's
//! `sessions.azure`, 3599 s by default, [`crate::sessions`]) beside a wall-clock expiry as
//! long. Past either, Key Vault answers 401 `Unauthorized` "[TokenExpired] Error validating
//! token: 'S2S12086'." (the text real vaults answer, seen in client logs). Revoking trust deletes
//! the service principal: new tokens are refused (401 `invalid_client`, AADSTS7000229: the app
//! is missing a service principal in the tenant) until trust is restored, while tokens already
//! issued live to their expiry — "access tokens cannot be revoked" (DESIGN.md §9.3); continuous
//! access evaluation, which could end them early, serves Microsoft Graph only, not Key Vault.
//! So revoke-sessions is refused on Azure, naming that.
//!
//! # Choices where the real service is not mirrored exactly
//! - Enabled/disabled is a property of the key, not of each version: `PATCH` on any version
//!   enables or disables the whole key.
//! - A key pending deletion is soft-deleted in Key Vault terms, and a destroyed one is purged:
//!   both answer 404 `KeyNotFound` to everyone.
//! - EC keys carry `key_ops` `sign` / `verify` only, so `encrypt`, `decrypt`, `wrapkey` and
//!   `unwrapkey` answer 403 `Forbidden` with innererror `KeyOperationForbidden` ("Operation
//!   encrypt is not permitted on this key."), as Key Vault does for an operation missing from a
//!   key's `key_ops`.
//! - Every request without a valid token is answered with the challenge and logged with outcome
//!   `Unauthorized`.

pub(crate) mod crypto;
pub(crate) mod entra;
pub(crate) mod graph;
pub(crate) mod keyvault;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use crate::faults::Failure;
use crate::pipeline::{self, Pipeline};
use crate::state::Kms;
use ekm_vocab::Cloud;

/// The resource (audience) of Key Vault tokens.
pub(crate) const VAULT_RESOURCE: &str = "https://vault.azure.net";

/// The resource (audience) of Microsoft Graph tokens.
pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Shared state of the Azure routes.
#[derive(Debug)]
pub(crate) struct AzureState {
    lab: Arc<Kms>,
    tokens: entra::TokenStore,
    keys: crypto::KeyCache,
}

impl AzureState {
    fn new(lab: Arc<Kms>) -> Self {
        Self {
            lab,
            tokens: entra::TokenStore::default(),
            keys: crypto::KeyCache::default(),
        }
    }
}

/// The Azure routes: Key Vault under `/keys`, Entra under `/{tenant}/...`.
pub(crate) fn router(lab: Arc<Kms>) -> Router {
    let state = Arc::new(AzureState::new(lab.clone()));
    Router::new()
        .route("/keys", any(keyvault::handle))
        .route("/keys/", any(keyvault::handle))
        .route("/keys/{*rest}", any(keyvault::handle))
        .route("/v1.0/servicePrincipals", any(graph::service_principals))
        .route(
            "/v1.0/servicePrincipals/{id}",
            any(graph::service_principal),
        )
        .route("/{tenant}/oauth2/v2.0/token", any(entra::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(entra::openid_configuration),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(entra::openid_configuration),
        )
        .route("/common/discovery/instance", get(entra::instance_discovery))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            Pipeline::new(lab, Cloud::Azure),
            pipeline::layer,
        ))
}

async fn not_found() -> Response {
    KvError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource was not found on this server.",
    )
    .into_response()
}

/// A Key Vault error: `{"error":{"code","message","innererror"?:{"code"}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvError {
    status: StatusCode,
    code: &'static str,
    message: String,
    inner: Option<&'static str>,
    retry_after: Option<u64>,
    challenge: Option<String>,
}

impl KvError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            inner: None,
            retry_after: None,
            challenge: None,
        }
    }

    fn with_inner(mut self, inner: &'static str) -> Self {
        self.inner = Some(inner);
        self
    }

    /// 400 `BadParameter`.
    fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// The outcome written to the call log: the innermost error code.
    fn log_code(&self) -> &'static str {
        self.inner.unwrap_or(self.code)
    }

    /// The answer to an injected failure.
    fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::Unavailable | Failure::Outage => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
            Failure::Internal => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An internal server error occurred. Please retry later.",
            ),
            Failure::AccessDenied => Self::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Caller is not authorized to perform action on resource.",
            )
            .with_inner("ForbiddenByRbac"),
            Failure::Throttled { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut error = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Throttled",
                    "Request was not processed because too many requests were received. \
                     Reason: VaultRequestTypeLimitReached",
                );
                error.retry_after = Some(seconds.max(1));
                error
            }
        }
    }
}

impl IntoResponse for KvError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(inner) = self.inner {
            error["innererror"] = json!({ "code": inner });
        }
        let mut response = pipeline::refused(
            (self.status, axum::Json(json!({ "error": error }))).into_response(),
            self.log_code(),
            &self.message,
        );
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
