//! The lab identity provider: it plays the EKM operator's own OIDC issuer and mints the service
//! account's ID tokens, the subject tokens a client exchanges at GCP STS (DESIGN.md §4).
//!
//! - `POST /_mock/v1/identity/gcp-id-token` `{"audience"}` → `{"id_token": JWT}`. The same is
//!   served on `GET /_mock/v1/identity/gcp-id-token?audience=…`, so `external_account`
//!   credentials can fetch it themselves with a URL-sourced `credential_source` (format `json`,
//!   `subject_token_field_name` `id_token`).
//! - `GET /_mock/v1/identity/jwks` → the signing key as a JWK set.
//!
//! Tokens are RS256 with claims `iss` = `https://accounts.google.com`, `aud`, `sub` = the
//! service account id, `iat` and `exp` = `iat` + 1 h, on wall-clock time (the SDKs judge token
//! lifetimes on real time, DESIGN.md §5). Two lab-only knobs let tests mint bad tokens with the
//! real key: `subject` (another `sub`) and `lifetime_seconds` (may be negative: already expired).
//!
//! The signing key is a fresh RSA-2048 key made on first use (aws-lc-rs), so tokens never
//! outlive the process that signed them. Errors answer like the control API: `{"error": "..."}`.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ekm_vocab::CallKind;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Call, Gcp, WireError, answer, body_error};

/// The `iss` of every lab ID token (Google's own issuer, as real Google ID tokens carry).
pub const ISSUER: &str = "https://accounts.google.com";

/// Default lifetime of an ID token, in seconds.
pub const DEFAULT_LIFETIME_SECONDS: i64 = 3600;

/// The largest `lifetime_seconds` (either sign) the identity endpoint accepts.
pub const MAX_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Why an identity-provider operation failed on the provider's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the lab identity provider failed: {0}")]
pub struct IdentityError(String);

/// Why a subject token was refused (the `error_description` of STS's `invalid_grant`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectTokenError {
    /// Not a JWT, or its parts do not decode.
    #[error("the subject token is not a well-formed JWT")]
    Malformed,
    /// Signed with another algorithm than RS256 (or `none`).
    #[error("the subject token must be signed with RS256")]
    WrongAlgorithm,
    /// The signature does not verify with the identity provider's key.
    #[error("the subject token's signature does not match the identity provider's keys")]
    BadSignature,
    /// A required claim is missing or has the wrong type.
    #[error("the subject token lacks a valid `{0}` claim")]
    MissingClaim(String),
    /// `exp` has passed (wall-clock time).
    #[error("the subject token has expired")]
    Expired,
}

/// The claims of a lab ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
}

/// The identity provider's RSA signing key.
pub struct IdentityKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl IdentityKey {
    /// A fresh RSA-2048 signing key.
    pub fn generate() -> Result<Self, IdentityError> {
        let failed = |what: &str| IdentityError(format!("could not {what} the signing key"));
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| failed("generate"))?;
        let pkcs8 = pair.as_der().map_err(|_| failed("encode"))?;
        let encoding = EncodingKey::from_rsa_pem(pkcs8_pem(pkcs8.as_ref()).as_bytes())
            .map_err(|_| failed("load"))?;
        let public = aws_lc_rs::signature::KeyPair::public_key(&pair);
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &modulus);
        let kid = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            kid,
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&modulus, &exponent),
            modulus,
            exponent,
        })
    }

    /// Mints an ID token for `subject` and `audience`, issued at `issued_at` (wall time) and
    /// expiring `lifetime_seconds` later.
    pub fn mint(
        &self,
        subject: &str,
        audience: &str,
        issued_at: OffsetDateTime,
        lifetime_seconds: i64,
    ) -> Result<String, IdentityError> {
        let iat = issued_at.unix_timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: audience.to_owned(),
            sub: subject.to_owned(),
            iat,
            exp: iat.saturating_add(lifetime_seconds),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| IdentityError(format!("could not sign the ID token: {e}")))
    }

    /// The public key as a JWK set (`GET /_mock/v1/identity/jwks`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": self.kid,
                "n": URL_SAFE_NO_PAD.encode(&self.modulus),
                "e": URL_SAFE_NO_PAD.encode(&self.exponent),
            }]
        })
    }

    /// Verifies a subject token's signature (RS256, this key), its required claims and its
    /// expiry against `now` (wall time), and answers its claims. Issuer, audience and subject
    /// are for the workload-identity provider to judge
    /// ([`ekm_access::gcp::exchange`]).
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Map<String, Value>, SubjectTokenError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Audience and expiry are judged by the provider and below, on the lab's wall clock.
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|e| match e.into_kind() {
                ErrorKind::InvalidSignature => SubjectTokenError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::UnsupportedAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm => SubjectTokenError::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                    SubjectTokenError::MissingClaim(claim)
                }
                ErrorKind::ExpiredSignature => SubjectTokenError::Expired,
                _ => SubjectTokenError::Malformed,
            })?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_i64);
        match exp {
            None => Err(SubjectTokenError::MissingClaim("exp".into())),
            Some(exp) if exp <= now.unix_timestamp() => Err(SubjectTokenError::Expired),
            Some(_) => Ok(claims),
        }
    }
}

/// The identity provider's key, made on first use.
#[derive(Debug, Default)]
pub struct LazyIdentityKey(OnceLock<Result<IdentityKey, IdentityError>>);

impl LazyIdentityKey {
    /// The key (generated now if this is the first use).
    pub fn get(&self) -> Result<&IdentityKey, IdentityError> {
        self.0
            .get_or_init(IdentityKey::generate)
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// An identity-provider error, answered like the control API: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdpError {
    http: StatusCode,
    message: String,
}

impl IdpError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for IdpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.http, axum::Json(body)).into_response()
    }
}

impl WireError for IdpError {
    fn code(&self) -> &str {
        if self.http.is_server_error() {
            "INTERNAL"
        } else {
            "INVALID_ARGUMENT"
        }
    }

    fn message(&self) -> &str {
        &self.message
    }
}

impl From<IdentityError> for IdpError {
    fn from(error: IdentityError) -> Self {
        Self {
            http: StatusCode::INTERNAL_SERVER_ERROR,
            message: error.to_string(),
        }
    }
}

/// A request for an ID token (JSON body of the `POST`, or the query of the `GET`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdTokenRequest {
    audience: Option<String>,
    /// Lab knob: another `sub` than the service account id.
    subject: Option<String>,
    /// Lab knob: lifetime in seconds (negative mints an expired token).
    lifetime_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
struct IdTokenResponse {
    id_token: String,
}

/// `POST /_mock/v1/identity/gcp-id-token` `{"audience"}` (or `GET ?audience=`) → `{"id_token"}`.
pub async fn id_token(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call.name("gcp-id-token", CallKind::Other);
    let result = mint_for(&gcp, &method, query.as_deref(), body);
    answer(result)
}

fn mint_for(
    gcp: &Gcp,
    method: &Method,
    query: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Result<IdTokenResponse, IdpError> {
    let request: IdTokenRequest = match *method {
        Method::GET => serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|e| IdpError::bad_request(format!("invalid query: {e}")))?,
        Method::POST => {
            let body = body.map_err(|rejection| IdpError::bad_request(body_error(&rejection)))?;
            serde_json::from_slice(&body)
                .map_err(|e| IdpError::bad_request(format!("invalid JSON body: {e}")))?
        }
        _ => {
            return Err(IdpError::bad_request(format!(
                "the identity endpoint takes GET or POST, not {method}"
            )));
        }
    };
    let audience = request
        .audience
        .filter(|a| !a.is_empty())
        .ok_or_else(|| IdpError::bad_request("`audience` is required"))?;
    let lifetime = request.lifetime_seconds.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    if lifetime.unsigned_abs() > MAX_LIFETIME_SECONDS.unsigned_abs() {
        return Err(IdpError::bad_request(format!(
            "`lifetime_seconds` must be within ±{MAX_LIFETIME_SECONDS}"
        )));
    }
    let tenant = &gcp.lab.tenant().gcp;
    let subject = request
        .subject
        .unwrap_or_else(|| tenant.service_account_id.clone());
    let id_token =
        gcp.identity
            .get()?
            .mint(&subject, &audience, ekm_clock::wall_time(), lifetime)?;
    Ok(IdTokenResponse { id_token })
}

/// `GET /_mock/v1/identity/jwks`: the identity provider's public keys.
pub async fn jwks(
    State(gcp): State<Arc<Gcp>>,
    Extension(call): Extension<Call>,
    method: Method,
) -> Response {
    call.name("jwks", CallKind::Other);
    let result = if method == Method::GET {
        gcp.identity
            .get()
            .map(IdentityKey::jwks)
            .map_err(IdpError::from)
    } else {
        Err(IdpError::bad_request(format!(
            "the JWKS endpoint takes GET, not {method}"
        )))
    };
    answer(result)
}

/// PEM-wraps a PKCS#8 DER private key (what `EncodingKey::from_rsa_pem` reads).
fn pkcs8_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    #[test]
    fn minted_tokens_verify_and_signature_and_expiry_are_checked() {
        let key = IdentityKey::generate().unwrap();
        let token = key.mint("sa", "proj", t0(), 3600).unwrap();
        let claims = key.verify(&token, t0()).unwrap();
        assert_eq!(
            (&claims["sub"], &claims["aud"]),
            (&"sa".into(), &"proj".into())
        );
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(
            key.verify(&token, t0() + time::Duration::HOUR),
            Err(SubjectTokenError::Expired)
        );
        let other = IdentityKey::generate().unwrap();
        assert_eq!(
            other.verify(&token, t0()),
            Err(SubjectTokenError::BadSignature)
        );
        for junk in ["", "a.b", "a.b.c", "....", &token[..token.len() / 2]] {
            assert!(key.verify(junk, t0()).is_err(), "{junk}");
        }
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let key = IdentityKey::generate().unwrap();
        let token = key.mint("sa", "proj", t0(), 3600).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none}.{payload}.");
        assert!(key.verify(&unsigned, t0()).is_err());
        let hmac = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let confused = format!("{hmac}.{payload}.c2ln");
        assert_eq!(
            key.verify(&confused, t0()),
            Err(SubjectTokenError::WrongAlgorithm)
        );
    }

    #[test]
    fn jwks_names_the_signing_key() {
        let key = IdentityKey::generate().unwrap();
        let jwks = key.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let token = key.mint("sa", "proj", t0(), 60).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    }
}
