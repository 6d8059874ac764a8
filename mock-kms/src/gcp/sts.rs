//! GCP STS token exchange (`POST /v1/token`), IAM-credentials impersonation
//! (`POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`) and the store of the
//! access tokens they issue.
//!
//! The exchange (RFC 8693, as `external_account` credentials send it, form- or JSON-encoded)
//! checks the request's shape and the subject JWT's signature and expiry
//! ([`identity`](super::identity)), then the customer's workload-identity providers decide
//! ([`GcpAccess::exchange`](crate::access::GcpAccess::exchange): the provider named by
//! `audience` exists and is enabled, the token's issuer and audience, the attribute condition).
//! It answers an opaque access token standing for the federated principal and its principal
//! sets, valid for the tenant's `sessions.gcp` (3600 s) of lab time and as long of wall-clock
//! time (`expires_in`, for the SDK's cache), in the current session epoch. Disabling the
//! provider (revoke-trust) refuses new exchanges only: as Google documents for a disabled or
//! deleted provider, tokens already issued keep granting access until they expire.
//! revoke-sessions moves the session epoch on: the nearest real thing is disabling the
//! workload-identity pool (its tokens stop granting access) and the service account (its
//! impersonated tokens are rejected) — except that re-enabling those lets the old tokens back
//! in, where the lab's restore-trust does not.
//!
//! Errors are OAuth-style 400 `{"error","error_description"}`: `invalid_request` (missing or
//! malformed fields, an audience that names no provider), `unsupported_grant_type`,
//! `invalid_target` (a provider that does not exist or is disabled: trust revoked),
//! `invalid_grant` (a refused subject token: signature, expiry, issuer, audience),
//! `unauthorized_client` (the attribute condition rejects it); a refusal's trace goes to the
//! call log. Injected throttling,
//! outages and internal errors answer in Google's API error format (429 / 503 / 500).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    ApiError, Call, Gcp, WireError, admit_faults, answer, body_error, json_body, media_type,
};
use crate::access;
use crate::faults::Failure;
use crate::sessions::LabLife;
use crate::state::Caller;
use ekm_access::gcp::Identity;
use ekm_vocab::CallKind;
use ekm_vocab::Cloud;

/// `grant_type` of a token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only `requested_token_type` STS issues.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Accepted `subject_token_type`s.
pub const SUBJECT_TOKEN_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
/// The longest `generateAccessToken` lifetime a request may ask for.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Never issued by this mock.
    #[error("unknown access token")]
    Unknown,
    /// Past its expiry (lab or wall clock).
    #[error("the access token has expired")]
    Expired,
    /// Issued before the customer revoked the service's sessions.
    #[error("the access token was revoked")]
    Revoked,
}

#[derive(Debug, Clone)]
struct IssuedToken {
    identity: Identity,
    epoch: u64,
    /// Wall-clock expiry (what the answer tells the SDK).
    expires: OffsetDateTime,
    /// Lab-clock issue and expiry.
    life: LabLife,
}

/// When a token is issued or checked: the wall-clock and the lab-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    /// Wall-clock time.
    pub wall: OffsetDateTime,
    /// Lab time.
    pub lab: OffsetDateTime,
}

impl Instant {
    /// Now, on both clocks.
    pub fn now(gcp: &Gcp) -> Self {
        Self {
            wall: ekm_clock::wall_time(),
            lab: gcp.lab.now(),
        }
    }
}

/// Access tokens issued by STS and impersonation: who they stand for, in which session epoch,
/// until when (wall and lab time). Expired and revoked tokens are dropped whenever one is
/// issued.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: Mutex<HashMap<String, IssuedToken>>,
}

impl TokenStore {
    /// Issues a random access token for `identity` in session epoch `epoch`, valid from `now`
    /// for `lifetime` on both clocks; returns it and its wall-clock expiry.
    pub fn issue(
        &self,
        identity: Identity,
        epoch: u64,
        now: Instant,
        lifetime: Duration,
    ) -> Result<(String, OffsetDateTime), ApiError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| ApiError::internal("The random number generator failed."))?;
        let token = format!("ya29.ekm-{}", URL_SAFE_NO_PAD.encode(secret));
        let expires = now.wall + lifetime;
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .retain(|_, t| t.expires > now.wall && !t.life.expired_at(now.lab) && t.epoch == epoch);
        tokens.insert(
            token.clone(),
            IssuedToken {
                identity,
                epoch,
                expires,
                life: LabLife::starting(now.lab, lifetime),
            },
        );
        Ok((token, expires))
    }

    /// The identity of `token` if it is live in session epoch `epoch` at `now`.
    pub fn check(&self, token: &str, epoch: u64, now: Instant) -> Result<Identity, TokenRejection> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let issued = tokens.get(token).ok_or(TokenRejection::Unknown)?;
        if issued.epoch != epoch {
            Err(TokenRejection::Revoked)
        } else if issued.expires <= now.wall || issued.life.expired_at(now.lab) {
            Err(TokenRejection::Expired)
        } else {
            Ok(issued.identity.clone())
        }
    }
}

/// An STS error: OAuth-style for refusals, Google's API format for injected faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsError {
    /// `400 {"error","error_description"}`.
    OAuth {
        /// The OAuth error code.
        error: &'static str,
        /// Why.
        description: String,
    },
    /// An injected fault or an internal failure.
    Api(ApiError),
}

impl StsError {
    fn oauth(error: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth {
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth("invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::oauth("invalid_grant", description)
    }

    fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::AccessDenied => {
                Self::invalid_grant("Permission denied by the token exchange (injected fault).")
            }
            other => Self::Api(ApiError::from_failure(other)),
        }
    }
}

impl IntoResponse for StsError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth { error, description } => (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "error": error,
                    "error_description": description,
                })),
            )
                .into_response(),
            Self::Api(error) => error.into_response(),
        }
    }
}

impl WireError for StsError {
    fn code(&self) -> &str {
        match self {
            Self::OAuth { error, .. } => error,
            Self::Api(error) => error.code(),
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::OAuth { description, .. } => description,
            Self::Api(error) => error.message(),
        }
    }
}

/// The fields of a token-exchange request (others, like `options`, are ignored).
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    requested_token_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    audience: Option<String>,
}

/// The exchange's answer.
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: u64,
}

/// Parses a token request: form-encoded (the SDKs) or JSON (also accepted by Google's STS).
fn parse_token_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenRequest, StsError> {
    let body = body.map_err(|rejection| StsError::invalid_request(body_error(&rejection)))?;
    match media_type(headers).as_deref() {
        Some("application/json") => serde_json::from_slice(&body)
            .map_err(|e| StsError::invalid_request(format!("Invalid JSON payload: {e}"))),
        Some("application/x-www-form-urlencoded") | None => serde_urlencoded::from_bytes(&body)
            .map_err(|e| StsError::invalid_request(format!("Invalid form body: {e}"))),
        Some(other) => Err(StsError::invalid_request(format!(
            "Unsupported content type `{other}`: send application/x-www-form-urlencoded."
        ))),
    }
}

fn required(field: Option<String>, name: &str) -> Result<String, StsError> {
    field
        .filter(|value| !value.is_empty())
        .ok_or_else(|| StsError::invalid_request(format!("The `{name}` parameter is required.")))
}

/// `POST /v1/token`: the token exchange.
pub async fn token(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call.name("token", CallKind::SignIn);
    let result = exchange(&gcp, &call, &method, &headers, body).await;
    answer(result)
}

async fn exchange(
    gcp: &Gcp,
    call: &Call,
    method: &Method,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, StsError> {
    if method != Method::POST {
        return Err(StsError::invalid_request(format!(
            "The token endpoint takes POST, not {method}."
        )));
    }
    let request = parse_token_request(headers, body)?;
    let grant_type = required(request.grant_type, "grant_type")?;
    if grant_type != TOKEN_EXCHANGE_GRANT {
        return Err(StsError::oauth(
            "unsupported_grant_type",
            format!("Unsupported grant type `{grant_type}`; expected {TOKEN_EXCHANGE_GRANT}."),
        ));
    }
    let requested = required(request.requested_token_type, "requested_token_type")?;
    if requested != ACCESS_TOKEN_TYPE {
        return Err(StsError::invalid_request(format!(
            "Unsupported requested_token_type `{requested}`; expected {ACCESS_TOKEN_TYPE}."
        )));
    }
    let subject_token = required(request.subject_token, "subject_token")?;
    let subject_type = required(request.subject_token_type, "subject_token_type")?;
    if !SUBJECT_TOKEN_TYPES.contains(&subject_type.as_str()) {
        return Err(StsError::invalid_request(format!(
            "Unsupported subject_token_type `{subject_type}`; expected one of {}.",
            SUBJECT_TOKEN_TYPES.join(", ")
        )));
    }
    let audience = required(request.audience, "audience")?;
    call.admit_faults().await.map_err(StsError::from_failure)?;
    let key = gcp
        .identity
        .get()
        .map_err(|e| StsError::Api(ApiError::internal(e.to_string())))?;
    let now = Instant::now(gcp);
    let claims = key
        .verify(&subject_token, now.wall)
        .map_err(|e| StsError::invalid_grant(e.to_string()))?;
    let (exchange, epoch) = gcp.lab.read(|state| {
        (
            state.gcp_access.exchange(&audience, &claims),
            state.session_epoch(Cloud::Gcp),
        )
    });
    let lifetime = gcp.lab.tenant().sessions.of(Cloud::Gcp);
    let Some(federated) = exchange.federated else {
        call.denied_by(access::short_trace(&exchange.decision));
        return Err(StsError::oauth(
            exchange.error.unwrap_or("invalid_grant"),
            exchange.decision.message.unwrap_or_default(),
        ));
    };
    call.caller(&federated.principal);
    let (access_token, _) = gcp
        .tokens
        .issue(Identity::from(&federated), epoch, now, lifetime)
        .map_err(StsError::Api)?;
    Ok(TokenResponse {
        access_token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: "Bearer",
        expires_in: lifetime.as_secs(),
    })
}

/// The body of `generateAccessToken`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateAccessTokenRequest {
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    lifetime: Option<String>,
    #[serde(default)]
    #[serde(rename = "delegates")]
    _delegates: Vec<String>,
}

/// Its answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateAccessTokenResponse {
    access_token: String,
    expire_time: String,
}

/// Parses a protobuf `Duration` in JSON form (`"3600s"`, `"1.5s"`) within (0, 3600] seconds;
/// `default` when absent.
fn parse_lifetime(lifetime: Option<&str>, default: Duration) -> Result<Duration, ApiError> {
    let Some(text) = lifetime else {
        return Ok(default);
    };
    let seconds = text
        .strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= ACCESS_TOKEN_LIFETIME.as_secs_f64())
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Invalid lifetime `{text}`: give seconds like \"3600s\", at most 3600."
            ))
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// `POST /v1/projects/-/serviceAccounts/{EMAIL}:generateAccessToken`: trades a federated token
/// for a token of the service account (the same principal in this lab).
pub async fn generate_access_token(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call.name("generateAccessToken", CallKind::SignIn);
    let result = impersonate(&gcp, &call, &method, path, &headers, body).await;
    answer(result)
}

async fn impersonate(
    gcp: &Gcp,
    call: &Call,
    method: &Method,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<GenerateAccessTokenResponse, ApiError> {
    let Ok(Path((_project, account))) = path else {
        return Err(ApiError::not_found("Malformed service account path."));
    };
    let account = match account.split_once(':') {
        Some((account, "generateAccessToken")) if method == Method::POST => account.to_owned(),
        _ => {
            return Err(ApiError::not_found(format!(
                "No method {method} on serviceAccounts/{account}."
            )));
        }
    };
    let principal = gcp.admit(call, headers)?;
    let request: GenerateAccessTokenRequest = json_body(headers, body)?;
    let sa = &gcp.lab.tenant().gcp;
    let denied = || {
        ApiError::permission_denied(format!(
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource \
             'projects/-/serviceAccounts/{account}' (or it may not exist)."
        ))
    };
    if principal.caller != Caller::Service
        || (account != sa.service_account_email && account != sa.service_account_id)
    {
        return Err(denied());
    }
    if request.scope.is_empty() {
        return Err(ApiError::invalid_argument("Scope is required."));
    }
    let default = gcp.lab.tenant().sessions.of(Cloud::Gcp);
    let lifetime = parse_lifetime(request.lifetime.as_deref(), default)?;
    admit_faults(call).await?;
    let epoch = gcp.lab.read(|state| state.session_epoch(Cloud::Gcp));
    let (access_token, expires) = gcp.tokens.issue(
        access::gcp::service_account_identity(&sa.service_account_email),
        epoch,
        Instant::now(gcp),
        lifetime,
    )?;
    let expire_time = expires
        .format(&Rfc3339)
        .map_err(|e| ApiError::internal(format!("Could not format the expiry: {e}")))?;
    Ok(GenerateAccessTokenResponse {
        access_token,
        expire_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(wall: OffsetDateTime, lab: OffsetDateTime) -> Instant {
        Instant { wall, lab }
    }

    #[test]
    fn tokens_expire_on_either_clock_and_die_with_their_session_epoch() {
        let wall = time::macros::datetime!(2026-01-01 00:00 UTC);
        let lab = time::macros::datetime!(2030-06-01 12:00 UTC);
        let hour = ACCESS_TOKEN_LIFETIME;
        let t0 = at(wall, lab);
        let store = TokenStore::default();
        let who = |name: &str| access::gcp::service_account_identity(name);
        let (token, expires) = store.issue(who("p"), 0, t0, hour).unwrap();
        assert_eq!(expires, wall + hour);
        // (wall, lab) seconds after issue → the verdict: either clock an hour on expires it.
        let table = [
            (0, 0, Ok(who("p"))),
            (0, 3599, Ok(who("p"))),
            (0, 3600, Err(TokenRejection::Expired)),
            (3600, 0, Err(TokenRejection::Expired)),
            (10, 86_400, Err(TokenRejection::Expired)),
        ];
        for (wall_s, lab_s, verdict) in table {
            let now = at(
                wall + Duration::from_secs(wall_s),
                lab + Duration::from_secs(lab_s),
            );
            assert_eq!(store.check(&token, 0, now), verdict, "{wall_s} {lab_s}");
        }
        assert_eq!(store.check(&token, 1, t0), Err(TokenRejection::Revoked));
        assert_eq!(store.check("ya29.x", 0, t0), Err(TokenRejection::Unknown));
        let (other, _) = store.issue(who("q"), 1, t0, hour).unwrap();
        assert_ne!(token, other);
        assert_eq!(store.check(&token, 0, t0), Err(TokenRejection::Unknown));
    }

    #[test]
    fn lifetimes_follow_protobuf_duration_json() {
        let default = Duration::from_secs(600);
        assert_eq!(parse_lifetime(None, default), Ok(default));
        assert_eq!(
            parse_lifetime(Some("1.5s"), default),
            Ok(Duration::from_millis(1500))
        );
        for bad in ["", "3600", "0s", "-1s", "3601s", "NaNs", "infs", "1e400s"] {
            assert!(parse_lifetime(Some(bad), default).is_err(), "{bad}");
        }
    }
}
