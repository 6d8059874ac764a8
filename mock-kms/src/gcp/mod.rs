//! The Google Cloud front-end (plain-HTTP listener): Cloud KMS REST, GCP STS token exchange,
//! IAM-credentials impersonation and the lab identity provider (DESIGN.md §4).
//!
//! # How a client gets in
//! 1. The EKM service fetches an ID token for its service account from the lab identity provider
//!    ([`identity`]): `aud` = the customer's project id (the workload identity provider's
//!    allowed audience), `sub` = the service account id.
//! 2. It exchanges that token at `POST /v1/token` ([`sts`]) with `audience` = the workload
//!    identity provider (`//iam.googleapis.com/projects/NUM/locations/global/
//!    workloadIdentityPools/POOL/providers/PROVIDER`) and gets an opaque federated access token
//!    for one hour of wall-clock time. Optionally it trades that for a service-account token at
//!    `POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`.
//! 3. It calls Cloud KMS ([`kms`]) with `Authorization: Bearer TOKEN`.
//!
//! # Who is who
//! - The **federated principal** (with its principal sets) and the impersonated service account
//!   are [`Caller::Service`]: what they may do is what the customer's IAM policies on the
//!   project, key ring and crypto key grant them ([`GcpAccess`](crate::access::GcpAccess));
//!   the demo tenant grants `roles/cloudkms.cryptoKeyEncrypterDecrypter` on each key. Reading
//!   key metadata stays the owner's (`403 PERMISSION_DENIED`).
//! - The **customer administrator** is [`Caller::Owner`] and authenticates with the static
//!   bearer token [`OWNER_ACCESS_TOKEN`] (GCP has no access-key pair to model it with). It may
//!   read metadata (`GET` cryptoKey / cryptoKeyVersions) and encrypt or decrypt whatever the
//!   state of `access` and `trust`, read and set IAM policies ([`iam_policy`]) and manage key
//!   versions ([`versions`]). The key's own lifecycle goes through the control API.
//!
//! Revoking trust disables the tenant's provider: new exchanges fail (`invalid_target`) until
//! trust is restored, while tokens already issued live to their lab-clock expiry (Google: a
//! disabled or deleted provider "does not revoke credentials that have already been issued").
//! revoke-sessions moves the GCP session epoch on: every token issued before stops working at
//! once (`401 UNAUTHENTICATED`), see [`sts`].
//!
//! Every request is logged in the call log (provider `gcp`); KMS errors are
//! `{"error":{"code","message","status"}}`, STS errors OAuth-style
//! `{"error","error_description"}`, identity-provider errors `{"error": "..."}`. No input makes
//! a route answer 5xx except an injected fault.
//!
//! # Layout
//! - [`identity`]: the lab OIDC issuer (ID tokens, JWKS) and subject-token verification.
//! - [`sts`]: the token exchange, impersonation and the store of issued access tokens.
//! - [`kms`]: Cloud KMS `:encrypt`, `:decrypt` and the key's metadata.
//! - [`versions`]: the key versions as their owner reads and manages them (`PATCH` of `state`,
//!   `:destroy`, `:restore`).
//! - [`iam_policy`]: `:getIamPolicy` / `:setIamPolicy` on key rings and crypto keys.
//! - [`ekm`]: Cloud EKM keys (`EXTERNAL`, `EXTERNAL_VPC`): the hop to the external key manager
//!   and its errors.

pub mod ekm;
pub mod iam_policy;
pub mod identity;
pub mod kms;
pub mod sts;
pub mod versions;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::faults::Failure;
use crate::pipeline::{self, Call, Pipeline};
use crate::state::{Caller, Kms};
use ekm_vocab::Cloud;

/// The static bearer token of the customer administrator (the key owner) on the GCP routes.
pub const OWNER_ACCESS_TOKEN: &str = "ekm-lab-gcp-customer-admin";

/// How the owner appears in the call log.
pub const OWNER_CALLER: &str = "customer-admin";

/// The state the GCP routes share.
#[derive(Debug)]
pub struct Gcp {
    lab: Arc<Kms>,
    identity: identity::LazyIdentityKey,
    tokens: sts::TokenStore,
}

impl Gcp {
    fn new(lab: Arc<Kms>) -> Self {
        Self {
            lab,
            identity: identity::LazyIdentityKey::default(),
            tokens: sts::TokenStore::default(),
        }
    }

    /// GCP's admission: authenticates a request by its bearer token — the owner's static
    /// token, or an access token issued by STS / impersonation in the current session epoch and
    /// not yet expired (lab or wall-clock time: 401 `UNAUTHENTICATED`) — and names the caller
    /// in the call log.
    fn admit(&self, call: &Call, headers: &HeaderMap) -> Result<Principal, ApiError> {
        const EXPECTED: &str = "Expected OAuth 2 access token, login cookie or other valid \
                                authentication credential.";
        let token = bearer_token(headers).ok_or_else(|| {
            ApiError::unauthenticated(format!(
                "Request is missing required authentication credential. {EXPECTED}"
            ))
        })?;
        let principal = if token == OWNER_ACCESS_TOKEN {
            Principal {
                caller: Caller::Owner,
                name: OWNER_CALLER.to_owned(),
                identity: None,
            }
        } else {
            let epoch = self.lab.read(|state| state.session_epoch(Cloud::Gcp));
            let identity = self
                .tokens
                .check(token, epoch, sts::Instant::now(self))
                .map_err(|why| {
                    ApiError::unauthenticated(format!(
                        "Request had invalid authentication credentials ({why}). {EXPECTED}"
                    ))
                })?;
            Principal {
                caller: Caller::Service,
                name: identity.shown.clone(),
                identity: Some(identity),
            }
        };
        call.caller(&principal.name);
        Ok(principal)
    }
}

/// Fault admission for `call`, answered in Google's API error format.
async fn admit_faults(call: &Call) -> Result<(), ApiError> {
    call.admit_faults().await.map_err(ApiError::from_failure)
}

/// Renders a handler's result: the JSON body, or the error marked with its code for the log.
fn answer<T: Serialize, E: WireError>(result: Result<T, E>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => {
            let (code, message) = (error.code().to_owned(), error.message().to_owned());
            pipeline::refused(error.into_response(), &code, &message)
        }
    }
}

/// An authenticated caller: its role, how the call log names it and, for the service, who its
/// token stands for in IAM policies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Principal {
    caller: Caller,
    name: String,
    identity: Option<ekm_access::gcp::Identity>,
}

impl Principal {
    /// Whether the customer's IAM policies let this caller use `permission` on crypto key
    /// `resource` (the owner is not subject to them here); a denial answers
    /// `PERMISSION_DENIED` with GCP's message and leaves the decision's trace in the log.
    fn check_iam(
        &self,
        state: &crate::state::KmsState,
        call: &Call,
        permission: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        state
            .gcp_access
            .kms_call(identity, permission, resource)
            .map_err(|decision| {
                call.denied_by(crate::access::short_trace(&decision));
                ApiError::permission_denied(decision.message.unwrap_or_default())
            })
    }
}

/// An error answer that names its outcome for the call log.
trait WireError: IntoResponse {
    /// The cloud's error code (`PERMISSION_DENIED`, `invalid_grant`, …).
    fn code(&self) -> &str;
    /// What the answer says went wrong.
    fn message(&self) -> &str;
}

/// A Google API error: `{"error":{"code":N,"message":"…","status":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    http: StatusCode,
    status: &'static str,
    message: String,
    details: Option<serde_json::Value>,
}

impl ApiError {
    fn new(http: StatusCode, status: &'static str, message: impl Into<String>) -> Self {
        Self {
            http,
            status,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with `google.rpc.Status.details` (typed messages with `@type`).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 503 `UNAVAILABLE`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    /// 504 `DEADLINE_EXCEEDED`.
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED", message)
    }

    /// 400 `INVALID_ARGUMENT`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 400 `FAILED_PRECONDITION`.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "FAILED_PRECONDITION", message)
    }

    /// 401 `UNAUTHENTICATED`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    /// 403 `PERMISSION_DENIED`.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 500 `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }

    /// An injected fault in Google's dialect.
    pub fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::Throttled { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Cryptographic requests' of service \
                 'cloudkms.googleapis.com'.",
            ),
            Failure::Unavailable | Failure::Outage => {
                Self::unavailable("The service is currently unavailable.")
            }
            Failure::Internal => Self::internal("Internal error encountered."),
            Failure::AccessDenied => {
                Self::permission_denied("Permission denied on the resource (injected fault).")
            }
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> StatusCode {
        self.http
    }

    /// The canonical status name (`INVALID_ARGUMENT`, …).
    pub fn status(&self) -> &'static str {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": {
                "code": self.http.as_u16(),
                "message": self.message,
                "status": self.status,
            }
        });
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        (self.http, axum::Json(body)).into_response()
    }
}

impl WireError for ApiError {
    fn code(&self) -> &str {
        self.status
    }

    fn message(&self) -> &str {
        &self.message
    }
}

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The media type of a request (`application/json`), lowercased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("?");
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// Why a request body could not be read (too large, broken stream).
fn body_error(rejection: &BytesRejection) -> String {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "Request payload size exceeds the limit: {} bytes.",
            crate::server::MAX_BODY_BYTES
        )
    } else {
        format!("Could not read the request body: {}", rejection.body_text())
    }
}

/// Reads a JSON request body (an empty body is `{}`, as for Google's REST APIs).
fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| ApiError::invalid_argument(body_error(&rejection)))?;
    if let Some(media) = media_type(headers)
        && media != "application/json"
    {
        return Err(ApiError::invalid_argument(format!(
            "Unsupported content type `{media}`: send application/json."
        )));
    }
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    let invalid = |e: serde_json::Error| {
        ApiError::invalid_argument(format!("Invalid JSON payload received. {e}"))
    };
    match serde_json::from_slice(body).map_err(invalid)? {
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).map_err(invalid),
        _ => Err(ApiError::invalid_argument(
            "Invalid JSON payload received. The request body must be a JSON object.",
        )),
    }
}

/// The GCP routes: Cloud KMS, STS, IAM credentials and the lab identity provider.
pub fn router(lab: Arc<Kms>) -> Router {
    const KEY: &str =
        "/v1/projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}";
    let gcp = Arc::new(Gcp::new(lab.clone()));
    Router::new()
        .route("/_mock/v1/identity/gcp-id-token", any(identity::id_token))
        .route("/_mock/v1/identity/jwks", any(identity::jwks))
        .route("/v1/token", any(sts::token))
        .route(
            "/v1/projects/{project}/serviceAccounts/{account}",
            any(sts::generate_access_token),
        )
        .route(
            "/v1/projects/{project}/locations/{location}/keyRings/{ring}",
            any(iam_policy::key_ring),
        )
        .route(KEY, any(kms::crypto_key))
        .route(&format!("{KEY}/cryptoKeyVersions"), any(versions::versions))
        .route(
            &format!("{KEY}/cryptoKeyVersions/{{version}}"),
            any(versions::version),
        )
        .route("/v1/{*rest}", any(kms::unknown))
        .with_state(gcp)
        .layer(axum::middleware::from_fn_with_state(
            Pipeline::new(lab, Cloud::Gcp),
            pipeline::layer,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&headers), expected, "{value}");
        }
    }

    #[test]
    fn faults_render_in_google_dialect() {
        let cases = [
            (
                Failure::Throttled {
                    retry_after: std::time::Duration::from_secs(1),
                },
                429,
                "RESOURCE_EXHAUSTED",
            ),
            (Failure::Outage, 503, "UNAVAILABLE"),
            (Failure::Unavailable, 503, "UNAVAILABLE"),
            (Failure::Internal, 500, "INTERNAL"),
            (Failure::AccessDenied, 403, "PERMISSION_DENIED"),
        ];
        for (failure, code, status) in cases {
            let error = ApiError::from_failure(failure);
            assert_eq!(
                (error.http_status().as_u16(), error.status()),
                (code, status)
            );
        }
    }
}
