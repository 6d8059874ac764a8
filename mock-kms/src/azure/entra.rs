//! Entra ID (Azure AD) for the lab tenant: the v2.0 token endpoint with the client-credentials
//! grant, the OpenID configuration and instance discovery documents MSAL (Python) reads, and the
//! store of issued bearer tokens.
//!
//! # Client authentication
//! - `client_secret`: compared with the application's secret from the tenant configuration.
//! - `client_assertion` with `client_assertion_type =
//!   urn:ietf:params:oauth:client-assertion-type:jwt-bearer`: a JWT signed `RS256` or `PS256` by
//!   the key of a certificate registered for the application
//!   ([`AzureTenant::client_certificates`](crate::tenant::AzureTenant::client_certificates)),
//!   named in its header by thumbprint — `x5t` (SHA-1) or `x5t#S256` (SHA-256), base64url or
//!   base64. Its claims must hold `iss` = `sub` = the application id, an `aud` that is an
//!   `https` URL ending in `/{tenant}/oauth2/v2.0/token`, an `exp` in the future and an `nbf`
//!   (when present) not more than 5 minutes ahead, both on wall-clock time.
//!
//! The scope must include `https://vault.azure.net/.default` (other scopes are ignored).
//! Errors are Entra's: `{"error","error_description":"AADSTSnnn: …","error_codes":[nnn],…}`.
//!
//! # Layout
//! - this module: the token endpoint, the discovery documents and the token store;
//! - `assertion`: checking a client assertion;
//! - `error`: Entra's error answers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use time::OffsetDateTime;

use super::{AzureState, GRAPH_RESOURCE, VAULT_RESOURCE};
use crate::pipeline::Call;
use crate::sessions::LabLife;
use crate::state::Caller;
use ekm_vocab::CallKind;
use ekm_vocab::Cloud;

mod assertion;
mod error;

use assertion::verify_assertion;
use error::EntraError;

/// Most tokens remembered at once; the one closest to expiry makes room for a new one.
const MAX_TOKENS: usize = 100_000;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The resource a token is issued for (`scope` = `RESOURCE/.default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// `https://vault.azure.net`.
    Vault,
    /// `https://graph.microsoft.com`.
    Graph,
}

/// An access token the endpoint issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuedToken {
    /// The application it was issued to.
    pub app_id: String,
    /// What that application may do.
    pub caller: Caller,
    /// What the token is for: Key Vault or Microsoft Graph.
    pub audience: Audience,
    /// For the service, the object id of its service principal at issue (what role
    /// assignments name).
    pub object_id: Option<String>,
    /// Wall-clock expiry.
    pub expires_at: OffsetDateTime,
    /// Lab-clock issue and expiry.
    pub life: LabLife,
}

/// A token past its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expired;

/// Issued tokens by their opaque value.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, IssuedToken>>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.lock().len();
        f.debug_struct("TokenStore")
            .field("tokens", &count)
            .finish()
    }
}

impl TokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuedToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues a fresh random token.
    fn issue(&self, token: IssuedToken) -> Option<String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        let value = super::crypto::BASE64URL.encode(bytes);
        let now = ekm_clock::wall_time();
        let lab_now = token.life.issued;
        let mut tokens = self.lock();
        tokens.retain(|_, t| t.expires_at > now && !t.life.expired_at(lab_now));
        if tokens.len() >= MAX_TOKENS
            && let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, t)| t.expires_at)
                .map(|(k, _)| k.clone())
        {
            tokens.remove(&oldest);
        }
        tokens.insert(value.clone(), token);
        Some(value)
    }

    /// The token `value`, if it was issued: `Err(())` when it is past its expiry on either
    /// clock (`lab_now` is lab time).
    pub(crate) fn lookup(
        &self,
        value: &str,
        lab_now: OffsetDateTime,
    ) -> Option<Result<IssuedToken, Expired>> {
        let tokens = self.lock();
        let token = tokens.get(value)?;
        if token.expires_at <= ekm_clock::wall_time() || token.life.expired_at(lab_now) {
            Some(Err(Expired))
        } else {
            Some(Ok(token.clone()))
        }
    }
}

/// The first path segment: the tenant of `/{tenant}/...`.
fn tenant_of(uri: &Uri) -> &str {
    uri.path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(super) async fn token(
    State(state): State<Arc<AzureState>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call.name("token", CallKind::SignIn);
    let form = body
        .map(|bytes| {
            let mut form: HashMap<String, String> = HashMap::new();
            for (name, value) in form_urlencoded::parse(&bytes) {
                form.entry(name.into_owned())
                    .or_insert_with(|| value.into_owned());
            }
            form
        })
        .unwrap_or_default();
    if let Some(client_id) = form.get("client_id") {
        call.caller(client_id);
    }
    let lifetime = state.lab.tenant().sessions.azure;
    match issue_token(&state, &call, &method, tenant_of(&uri), &form).await {
        Ok(access_token) => axum::Json(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }))
        .into_response(),
        Err(error) => error.into_response(&state.lab),
    }
}

async fn issue_token(
    state: &AzureState,
    call: &Call,
    method: &Method,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<String, EntraError> {
    let lab = &state.lab;
    let azure = &lab.tenant().azure;
    if tenant != azure.tenant_id {
        return Err(EntraError::unknown_tenant("invalid_request", tenant));
    }
    if method != Method::POST {
        return Err(EntraError::invalid_request(
            900561,
            "The endpoint only accepts POST requests.",
        ));
    }
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| EntraError::missing("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = form
        .get("client_id")
        .ok_or_else(|| EntraError::missing("client_id"))?;
    let scope = form
        .get("scope")
        .ok_or_else(|| EntraError::missing("scope"))?;
    let vault_scope = format!("{VAULT_RESOURCE}/.default");
    let graph_scope = format!("{GRAPH_RESOURCE}/.default");
    let audience = if scope.split(' ').any(|s| s == vault_scope) {
        Audience::Vault
    } else if scope.split(' ').any(|s| s == graph_scope) {
        Audience::Graph
    } else {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope \
                 {scope} is not valid."
            ),
        ));
    };

    call.admit_faults()
        .await
        .map_err(EntraError::from_failure)?;

    let (caller, secret) = if *client_id == azure.service_app_id {
        (Caller::Service, &azure.service_client_secret)
    } else if *client_id == azure.admin_app_id {
        (Caller::Owner, &azure.admin_client_secret)
    } else {
        return Err(EntraError::no_service_principal(client_id, tenant));
    };
    // The service signs in only while the customer's tenant holds its service principal.
    let sign_in = lab.read(|s| {
        (caller == Caller::Service).then(|| s.azure_access.sign_in(lab.tenant(), client_id))
    });
    let object_id = match sign_in {
        None => None,
        Some(decided) => match (decided.object_id, decided.error) {
            (Some(oid), _) => Some(oid),
            (None, error) => {
                call.denied_by(crate::access::short_trace(&decided.decision));
                let (status, error, code) = error.unwrap_or((400, "unauthorized_client", 700_016));
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let message = decided.decision.message.unwrap_or_default();
                // The answer adds its own `AADSTSnnn: ` prefix.
                let description = message
                    .split_once(": ")
                    .filter(|(prefix, _)| prefix.starts_with("AADSTS"))
                    .map_or(message.as_str(), |(_, rest)| rest)
                    .to_owned();
                return Err(EntraError::new(status, error, code, description));
            }
        },
    };

    if let Some(given) = form.get("client_secret") {
        if given != secret {
            return Err(EntraError::invalid_client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request \
                     is the client secret value, not the client secret ID, for a secret added to \
                     app '{client_id}'."
                ),
            ));
        }
    } else if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(EntraError::invalid_request(
                700025,
                format!("client_assertion_type must be '{JWT_BEARER}'."),
            ));
        }
        verify_assertion(assertion, client_id, azure, ekm_clock::wall_time())
            .map_err(|reason| EntraError::invalid_client(700027, reason))?;
    } else {
        return Err(EntraError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        ));
    }

    let lifetime = lab.tenant().sessions.of(Cloud::Azure);
    let issued = IssuedToken {
        app_id: client_id.clone(),
        caller,
        audience,
        object_id,
        expires_at: ekm_clock::wall_time() + lifetime,
        life: LabLife::starting(lab.now(), lifetime),
    };
    state.tokens.issue(issued).ok_or_else(|| {
        EntraError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "Could not generate a token.".to_owned(),
        )
    })
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (and without `v2.0`).
pub(super) async fn openid_configuration(
    State(state): State<Arc<AzureState>>,
    uri: Uri,
) -> Response {
    let lab = &state.lab;
    let tenant = tenant_of(&uri);
    if tenant != lab.tenant().azure.tenant_id {
        return EntraError::unknown_tenant("invalid_tenant", tenant).into_response(lab);
    }
    let base = format!("{}/{tenant}", lab.vault_url());
    axum::Json(json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/v2.0"),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
    }))
    .into_response()
}

/// `GET /common/discovery/instance`: MSAL's instance discovery, naming this host as its own
/// cloud and pointing at the tenant's OpenID configuration.
pub(super) async fn instance_discovery(State(state): State<Arc<AzureState>>) -> Response {
    let lab = &state.lab;
    let host = lab.vault_url().trim_start_matches("https://").to_owned();
    axum::Json(json!({
        "tenant_discovery_endpoint": format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            lab.vault_url(),
            lab.tenant().azure.tenant_id
        ),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}
