//! The XKS proxy's HTTP side, on the https listener: a layer in front of the Azure routes takes
//! every path containing `/kms/xks/` and answers it per the specification:
//!
//! 1. the path must be the configured `XksProxyUriPath` followed by `/health` or
//!    `/keys/{externalKeyId}/{metadata|encrypt|decrypt}` — else 404 `InvalidUriPathException`;
//! 2. only POST: a GET (or any other method) is 405 Method Not Allowed;
//! 3. SigV4 with service `kms-xks-proxy`, signed `host` and `x-amz-date`, a live credential, and a
//!    request date within 5 minutes of the proxy's clock — else 401 `AuthenticationFailedException`;
//! 4. `Content-Type: application/json` and the API's JSON shape — else 400 `ValidationException`;
//! 5. the hop's faults, then the key manager.
//!
//! Every request runs under the one request pipeline (`pipeline::layer`) and is logged in the
//! lab's call log as a hop call (`hop: "xks-proxy"`, operation = the spec's API name, key = the
//! external key id), with its own latency and outcome (an error answer's XKS error name). Plaintext
//! is never logged. The provider is the calling cloud: GCP when `requestMetadata.kmsKeyArn`
//! names a Cloud KMS resource (`projects/…`, as the lab's Cloud EKM sends), else AWS.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ekm_vocab::{CallKind, Cloud};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::api::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, ErrorBody, ErrorName,
    FleetMember, HealthResponse, KeyMetadataResponse, MetadataRequest, RequestMetadata,
    error_message,
};
use super::faults::{HopAction, UNREACHABLE_HOLD};
use super::manager::{MAX_AAD_BYTES, MAX_DATA_BYTES, MAX_METADATA_BYTES, Sealed};
use super::{PROXY_MODEL, PROXY_VENDOR, SIGV4_SERVICE};
use crate::aws::sigv4::{self, Authorization, Scope, SignedRequest};
use crate::pipeline::{self, Call, Pipeline};
use crate::server::MAX_BODY_BYTES;
use crate::state::Kms;
use tower::ServiceExt as _;

/// How far a request's `x-amz-date` may be from the proxy's clock (spec Appendix A, Task 4).
pub const MAX_SKEW: time::Duration = time::Duration::minutes(5);

/// The four APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Api {
    GetKeyMetadata(String),
    Encrypt(String),
    Decrypt(String),
    GetHealthStatus,
}

impl Api {
    fn name(&self) -> &'static str {
        match self {
            Api::GetKeyMetadata(_) => "GetKeyMetadata",
            Api::Encrypt(_) => "Encrypt",
            Api::Decrypt(_) => "Decrypt",
            Api::GetHealthStatus => "GetHealthStatus",
        }
    }

    fn key(&self) -> Option<&str> {
        match self {
            Api::GetKeyMetadata(key) | Api::Encrypt(key) | Api::Decrypt(key) => Some(key),
            Api::GetHealthStatus => None,
        }
    }

    /// Parses the path after the URI path (`/health`, `/keys/ID/encrypt`).
    fn parse(rest: &str) -> Option<Self> {
        if rest == "/health" {
            return Some(Api::GetHealthStatus);
        }
        let (id, op) = rest.strip_prefix("/keys/")?.split_once('/')?;
        if !super::manager::valid_key_id(id) {
            return None;
        }
        let id = id.to_owned();
        match op {
            "metadata" => Some(Api::GetKeyMetadata(id)),
            "encrypt" => Some(Api::Encrypt(id)),
            "decrypt" => Some(Api::Decrypt(id)),
            _ => None,
        }
    }
}

/// A refusal: the spec's error name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct XksError {
    name: ErrorName,
    message: String,
}

impl XksError {
    fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorName::ValidationException, message)
    }

    fn into_response(self) -> Response {
        let body = ErrorBody {
            error_name: self.name.as_str().to_owned(),
            error_message: Some(error_message(&self.message)),
        };
        json(self.name.status(), &body)
    }
}

impl From<(ErrorName, String)> for XksError {
    fn from((name, message): (ErrorName, String)) -> Self {
        Self::new(name, message)
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

/// The proxy's routes: every request is one hop call through the request pipeline
/// (`pipeline::layer`), named by `handle`.
pub fn router(lab: Arc<Kms>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(lab.clone())
        .layer(axum::middleware::from_fn_with_state(
            Pipeline::new(lab, Cloud::Aws),
            pipeline::layer,
        ))
}

/// The layer in front of the https routes: XKS paths go to the proxy (`proxy`, the [`router`]),
/// everything else to the routes behind it.
pub async fn intercept(State(proxy): State<Router>, request: Request, next: Next) -> Response {
    if !request.uri().path().contains("/kms/xks/") {
        return next.run(request).await;
    }
    match proxy.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// One proxy request: a hop call (`hop: "xks-proxy"`) named by the spec's API as soon as the
/// path is understood, answered by [`serve`], its error answers carrying the spec's error name.
async fn handle(
    State(lab): State<Arc<Kms>>,
    Extension(call): Extension<Call>,
    request: Request,
) -> Response {
    call.name("Unknown", CallKind::Hop);
    call.hop("xks-proxy");
    let (parts, body) = request.into_parts();
    match serve(&lab, &parts, body, &call).await {
        Ok(response) if response.status() == StatusCode::METHOD_NOT_ALLOWED => {
            pipeline::refused(response, "MethodNotAllowed", "method not allowed")
        }
        Ok(response) => response,
        Err(error) => {
            let (name, message) = (error.name.as_str(), error.message.clone());
            pipeline::refused(error.into_response(), name, &message)
        }
    }
}

async fn serve(lab: &Kms, parts: &Parts, body: Body, call: &Call) -> Result<Response, XksError> {
    let xks = lab.xks();
    let endpoint = xks.endpoint();
    let api = parts
        .uri
        .path()
        .strip_prefix(endpoint.uri_path.as_str())
        .and_then(Api::parse)
        .ok_or_else(|| {
            XksError::new(
                ErrorName::InvalidUriPathException,
                format!("{} is not a path of this XKS proxy", parts.uri.path()),
            )
        })?;
    call.name(api.name(), CallKind::Hop);
    if let Some(key) = api.key() {
        call.key(key);
    }
    if parts.method != axum::http::Method::POST {
        return Ok((
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("POST"))],
        )
            .into_response());
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            XksError::new(
                ErrorName::UnsupportedOperationException,
                format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
            )
        })?;
    call.provider(calling_cloud(&body));
    let (latency, action) = xks.next_request();
    authenticate(parts, &body, &endpoint.credentials, call, action)?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some("application/json") {
        return Err(XksError::invalid("Content-Type must be application/json"));
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match action {
        HopAction::Serve => {}
        HopAction::Fail(name) => {
            return Err(XksError::new(name, "injected fault on the XKS hop"));
        }
        HopAction::Malformed => {
            let response = (StatusCode::OK, "<html>not the XKS API</html>").into_response();
            return Ok(pipeline::refused(response, "malformed", "not the XKS API"));
        }
        HopAction::Hang => {
            tokio::time::sleep(UNREACHABLE_HOLD).await;
            return Err(XksError::new(
                ErrorName::DependencyTimeoutException,
                "the proxy did not answer",
            ));
        }
    }
    match api {
        Api::GetHealthStatus => Ok(health(lab)),
        Api::GetKeyMetadata(id) => {
            let request: MetadataRequest = parse(&body)?;
            require(&request.request_metadata, false)?;
            xks.serving()?;
            let (usage, status) = lab.xks_read(|x| x.manager.metadata(&id))?;
            Ok(json(
                StatusCode::OK,
                &KeyMetadataResponse {
                    key_spec: "AES_256".into(),
                    key_usage: usage,
                    key_status: status.into(),
                },
            ))
        }
        Api::Encrypt(id) => encrypt(lab, &id, parse(&body)?),
        Api::Decrypt(id) => decrypt(lab, &id, parse(&body)?),
    }
}

/// Checks the SigV4 signature against the live credentials; records the caller.
fn authenticate(
    parts: &Parts,
    body: &[u8],
    credentials: &[super::XksCredential],
    call: &Call,
    action: HopAction,
) -> Result<(), XksError> {
    let failed = |why: String| XksError::new(ErrorName::AuthenticationFailedException, why);
    let auth = Authorization::from_headers(&parts.headers).map_err(|e| failed(e.to_string()))?;
    call.caller(&auth.access_key_id);
    if !auth.signed_headers.iter().any(|h| h == "x-amz-date") {
        return Err(failed(
            "SignedHeaders must include host and x-amz-date".into(),
        ));
    }
    let now = ekm_clock::wall_time();
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at = time::PrimitiveDateTime::parse(amz_date, format)
        .map_err(|_| failed("X-Amz-Date is missing or malformed".into()))?
        .assume_utc();
    if (signed_at - now).abs() > MAX_SKEW {
        return Err(failed(
            "the request date is more than 5 minutes from the proxy's clock".into(),
        ));
    }
    let credential = credentials
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
        .filter(|_| action != HopAction::Fail(ErrorName::AuthenticationFailedException))
        .ok_or_else(|| failed(format!("unknown access key id {}", auth.access_key_id)))?;
    // HTTP/2 carries the host as the `:authority` pseudo-header, which the spec signs in its
    // place ("Authority Header for HTTP/2.0").
    let mut headers = parts.headers.clone();
    if !headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, value);
    }
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &headers,
        body,
    };
    // The scope's region is the calling KMS's region, which a proxy serving any region accepts.
    let scope = Scope {
        region: &auth.region,
        service: SIGV4_SERVICE,
        must_sign: &["Host"],
    };
    sigv4::verify(&auth, &request, &credential.secret_access_key, &scope, now)
        .map_err(|e| failed(e.to_string()))
}

/// The cloud a request comes from (see the module doc).
fn calling_cloud(body: &[u8]) -> Cloud {
    let gcp = serde_json::from_slice::<MetadataRequest>(body)
        .ok()
        .and_then(|request| request.request_metadata.kms_key_arn)
        .is_some_and(|key| key.starts_with("projects/"));
    if gcp { Cloud::Gcp } else { Cloud::Aws }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, XksError> {
    serde_json::from_slice(body).map_err(|e| XksError::invalid(format!("malformed request: {e}")))
}

/// The required metadata fields (`kmsKeyArn` too for Encrypt and Decrypt).
fn require(metadata: &RequestMetadata, crypto: bool) -> Result<(), XksError> {
    let missing = [
        ("awsPrincipalArn", metadata.aws_principal_arn.is_none()),
        ("kmsOperation", metadata.kms_operation.is_none()),
        ("kmsRequestId", metadata.kms_request_id.is_none()),
        ("kmsKeyArn", crypto && metadata.kms_key_arn.is_none()),
    ];
    match missing.iter().find(|(_, absent)| *absent) {
        Some((field, _)) => Err(XksError::invalid(format!(
            "requestMetadata.{field} is required"
        ))),
        None => Ok(()),
    }
}

fn decode(field: &str, value: &str, max: usize) -> Result<Vec<u8>, XksError> {
    let bytes = B64
        .decode(value)
        .map_err(|_| XksError::invalid(format!("{field} is not valid Base64")))?;
    if bytes.len() > max {
        return Err(XksError::new(
            ErrorName::UnsupportedOperationException,
            format!("{field} exceeds {max} bytes"),
        ));
    }
    Ok(bytes)
}

fn decode_aad(aad: Option<&String>) -> Result<Vec<u8>, XksError> {
    aad.map_or(Ok(Vec::new()), |aad| {
        decode("additionalAuthenticatedData", aad, MAX_AAD_BYTES)
    })
}

fn require_aes_gcm(algorithm: &str) -> Result<(), XksError> {
    if algorithm == "AES_GCM" {
        Ok(())
    } else {
        Err(XksError::invalid(format!(
            "encryptionAlgorithm must be AES_GCM, not {algorithm}"
        )))
    }
}

fn encrypt(lab: &Kms, id: &str, request: EncryptRequest) -> Result<Response, XksError> {
    require(&request.request_metadata, true)?;
    require_aes_gcm(&request.encryption_algorithm)?;
    let cdiv = match request.ciphertext_data_integrity_value_algorithm.as_deref() {
        None => false,
        Some("SHA_256") => true,
        Some(other) => {
            return Err(XksError::invalid(format!(
                "ciphertextDataIntegrityValueAlgorithm must be SHA_256, not {other}"
            )));
        }
    };
    let aad = decode_aad(request.additional_authenticated_data.as_ref())?;
    let plaintext =
        zeroize::Zeroizing::new(decode("plaintext", &request.plaintext, MAX_DATA_BYTES)?);
    lab.xks().serving()?;
    let sealed = lab.xks_read(|x| {
        let m = &x.manager;
        let sealed = m.encrypt(id, &aad, &plaintext)?;
        // Appendix C: the CDIV first, then prove the output decrypts.
        let value = cdiv.then(|| B64.encode(sealed.cdiv(&aad)));
        m.decrypt(id, &aad, &sealed)?;
        Ok::<_, (ErrorName, String)>((sealed, value))
    });
    let (sealed, value) = sealed?;
    Ok(json(
        StatusCode::OK,
        &EncryptResponse {
            ciphertext: B64.encode(&sealed.ciphertext),
            ciphertext_metadata: Some(B64.encode(&sealed.metadata)),
            initialization_vector: B64.encode(&sealed.iv),
            authentication_tag: B64.encode(&sealed.tag),
            ciphertext_data_integrity_value: value,
        },
    ))
}

fn decrypt(lab: &Kms, id: &str, request: DecryptRequest) -> Result<Response, XksError> {
    require(&request.request_metadata, true)?;
    require_aes_gcm(&request.encryption_algorithm)?;
    let aad = decode_aad(request.additional_authenticated_data.as_ref())?;
    let iv = decode("initializationVector", &request.initialization_vector, 16)?;
    let tag = decode("authenticationTag", &request.authentication_tag, 16)?;
    if !matches!(iv.len(), 12 | 16) || tag.len() != 16 {
        return Err(XksError::invalid(
            "initializationVector must be 12 or 16 bytes and authenticationTag 16 bytes",
        ));
    }
    let metadata = match &request.ciphertext_metadata {
        Some(m) => B64
            .decode(m)
            .map_err(|_| XksError::invalid("ciphertextMetadata is not valid Base64"))?,
        None => Vec::new(),
    };
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(XksError::invalid(format!(
            "ciphertextMetadata exceeds {MAX_METADATA_BYTES} bytes"
        )));
    }
    let sealed = Sealed {
        ciphertext: decode("ciphertext", &request.ciphertext, MAX_DATA_BYTES)?,
        metadata,
        iv,
        tag,
    };
    lab.xks().serving()?;
    let plaintext = lab.xks_read(|x| x.manager.decrypt(id, &aad, &sealed))?;
    Ok(json(
        StatusCode::OK,
        &DecryptResponse {
            plaintext: B64.encode(plaintext.as_slice()),
        },
    ))
}

fn health(lab: &Kms) -> Response {
    let fleet = lab.xks().fleet().members().to_vec();
    json(
        StatusCode::OK,
        &HealthResponse {
            xks_proxy_fleet_size: 1,
            xks_proxy_vendor: PROXY_VENDOR.into(),
            xks_proxy_model: PROXY_MODEL.into(),
            ekm_vendor: PROXY_VENDOR.into(),
            ekm_fleet_details: fleet
                .into_iter()
                .map(|hsm| FleetMember {
                    id: hsm.id,
                    model: hsm.model,
                    health_status: hsm.health.as_str().into(),
                })
                .collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_strictly() {
        assert_eq!(Api::parse("/health"), Some(Api::GetHealthStatus));
        assert_eq!(
            Api::parse("/keys/k-1.a_b/encrypt"),
            Some(Api::Encrypt("k-1.a_b".into()))
        );
        for bad in [
            "/keys/k/sign",
            "/keys//encrypt",
            "/keys/k%20/decrypt",
            "/healthz",
            "/keys/k",
        ] {
            assert_eq!(Api::parse(bad), None, "{bad}");
        }
    }
}
