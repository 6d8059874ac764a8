//! The AWS front-end on the http listener: KMS (JSON 1.1, `x-amz-target: TrentService.*`), STS
//! (`Action=AssumeRole` form bodies) and the IAM role calls ([`iam`], same query protocol, SigV4
//! service `iam`) share `POST /`.
//!
//! Every request is SigV4-verified ([`sigv4`]) and mapped to a caller by [`admit`]:
//! - the customer administrator's access key → [`Caller::Owner`] (full rights on its keys);
//! - an `ASIA…` session issued by [`sts`] `AssumeRole` → [`Caller::Service`]: its
//!   `kms:Encrypt` and `kms:Decrypt` are decided by the customer's documents (the key policy and
//!   the role's policies, [`crate::access`]); anything else is refused. A session past its
//!   lab-clock (or wall-clock) expiry is `ExpiredTokenException`; a trust removal does not end
//!   it (revoke-sessions' `AWSRevokeOlderSessions` role policy denies its calls instead);
//! - the EKM service's own long-term key may only call STS, where `AssumeRole` is decided by the
//!   role's trust policy (the `sts:ExternalId` condition).
//!
//! Then [`kms`] or [`sts`] does the work. Every answer, denials included, is logged in the call
//! log with the cloud's error code as outcome; errors are rendered in the protocol's dialect
//! (`{"__type","message"}` JSON for KMS, `ErrorResponse` XML for STS).

pub mod iam;
pub mod kms;
pub mod sigv4;
pub mod sts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use time::OffsetDateTime;

use crate::error::StateError;
use crate::faults::Failure;
use crate::pipeline::{self, Call, Pipeline};
use crate::server::MAX_BODY_BYTES;
use crate::sessions::LabLife;
use crate::state::{Caller, Kms};
use ekm_vocab::{CallKind, Cloud};
use sigv4::{Authorization, Scope, SigV4Error, SignedRequest};

/// The AWS routes (`POST /`).
pub fn router(lab: Arc<Kms>) -> Router {
    let front = Arc::new(AwsFront {
        lab: lab.clone(),
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/", post(handle))
        .with_state(front)
        .layer(axum::middleware::from_fn_with_state(
            Pipeline::new(lab, Cloud::Aws),
            pipeline::layer,
        ))
}

/// Shared state of the AWS front-end: the lab and the STS sessions issued so far.
#[derive(Debug)]
struct AwsFront {
    lab: Arc<Kms>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// Temporary credentials issued by `AssumeRole`, shared by the requests signed with them.
#[derive(Debug)]
struct Session {
    secret: String,
    token: String,
    /// The session's ARN (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`).
    arn: String,
    /// The session as the caller of KMS, made once when it is issued (the customer's documents
    /// decide each of its calls).
    caller: ekm_access::aws::Caller,
    /// Lab-clock issue (`aws:TokenIssueTime`) and expiry.
    life: LabLife,
    /// Wall-clock expiry.
    expires: OffsetDateTime,
}

/// Who signed a request, as AWS's admission found it.
#[derive(Debug, Clone)]
struct Signer {
    principal: Principal,
    /// The access key id (how the call log and denials name an unknown signer).
    access_key_id: String,
    /// For a role session: the session.
    session: Option<Arc<Session>>,
}

impl AwsFront {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which AWS protocol a request speaks (decides the error dialect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// KMS, JSON 1.1.
    Kms,
    /// STS, query (form) protocol with XML replies.
    Sts,
}

/// Who signed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal {
    /// The customer administrator.
    Owner,
    /// The EKM service's long-term key: STS only.
    ServiceKey,
    /// A session from `AssumeRole` of the customer's role.
    Session,
}

impl Principal {
    /// The KMS caller, or `AccessDeniedException` for the long-term service key.
    fn kms_caller(self, operation: &str) -> Result<Caller, AwsError> {
        match self {
            Principal::Owner => Ok(Caller::Owner),
            Principal::Session => Ok(Caller::Service),
            Principal::ServiceKey => Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                format!(
                    "The service's own access key is not authorized to perform: kms:{operation}"
                ),
            )),
        }
    }
}

/// An AWS error: HTTP status, the cloud's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
struct AwsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AwsError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn auth(protocol: Protocol, failure: AuthFailure) -> Self {
        use AuthFailure as F;
        let (status, code) = match (protocol, &failure) {
            (Protocol::Kms, F::SigV4(SigV4Error::Missing)) => (
                StatusCode::BAD_REQUEST,
                "MissingAuthenticationTokenException",
            ),
            (Protocol::Sts, F::SigV4(SigV4Error::Missing)) => {
                (StatusCode::FORBIDDEN, "MissingAuthenticationToken")
            }
            (Protocol::Kms, F::SigV4(SigV4Error::Incomplete(_))) => {
                (StatusCode::BAD_REQUEST, "IncompleteSignatureException")
            }
            (Protocol::Sts, F::SigV4(SigV4Error::Incomplete(_))) => {
                (StatusCode::BAD_REQUEST, "IncompleteSignature")
            }
            (Protocol::Kms, F::SigV4(SigV4Error::Invalid(_))) => {
                (StatusCode::BAD_REQUEST, "InvalidSignatureException")
            }
            (Protocol::Sts, F::SigV4(SigV4Error::Invalid(_))) => {
                (StatusCode::FORBIDDEN, "SignatureDoesNotMatch")
            }
            (Protocol::Kms, F::UnknownKey) => {
                (StatusCode::BAD_REQUEST, "UnrecognizedClientException")
            }
            (Protocol::Sts, F::UnknownKey) => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
            (Protocol::Kms, F::Expired) => (StatusCode::BAD_REQUEST, "ExpiredTokenException"),
            (Protocol::Sts, F::Expired) => (StatusCode::BAD_REQUEST, "ExpiredToken"),
        };
        Self::new(status, code, failure.to_string())
    }

    /// An injected fault, in the protocol's dialect.
    fn fault(protocol: Protocol, failure: Failure) -> Self {
        let unavailable = "The service is temporarily unavailable. Try again later.";
        match (protocol, failure) {
            (Protocol::Kms, Failure::Unavailable) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                unavailable,
            ),
            (Protocol::Sts, Failure::Unavailable | Failure::Outage) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                unavailable,
            ),
            (Protocol::Kms, Failure::Internal) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "An internal error occurred.",
            ),
            (Protocol::Sts, Failure::Internal) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "An internal error occurred.",
            ),
            (Protocol::Kms, Failure::AccessDenied) => {
                Self::bad("AccessDeniedException", "Access denied (injected fault).")
            }
            (Protocol::Sts, Failure::AccessDenied) => Self::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Access denied (injected fault).",
            ),
            (Protocol::Kms, Failure::Throttled { .. }) => {
                Self::bad("ThrottlingException", "Rate exceeded")
            }
            (Protocol::Sts, Failure::Throttled { .. }) => Self::bad("Throttling", "Rate exceeded"),
            (Protocol::Kms, Failure::Outage) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "DependencyTimeoutException",
                "The system timed out while trying to fulfill the request.",
            ),
        }
    }

    /// The answer in the protocol's dialect, marked with the error code for the call log.
    fn into_response(self, protocol: Protocol) -> Response {
        let response = match protocol {
            Protocol::Kms => kms::error_response(&self),
            Protocol::Sts => sts::error_response(&self),
        };
        pipeline::refused(response, self.code, &self.message)
    }
}

/// Why a signature or credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum AuthFailure {
    #[error(transparent)]
    SigV4(#[from] SigV4Error),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("The security token included in the request is expired")]
    Expired,
}

async fn handle(
    State(front): State<Arc<AwsFront>>,
    Extension(call): Extension<Call>,
    request: Request,
) -> Response {
    call.name("Unknown", CallKind::Other);
    let (parts, body) = request.into_parts();
    let protocol = if parts.headers.contains_key("x-amz-target")
        || media_type(&parts.headers).starts_with("application/x-amz-json")
    {
        Protocol::Kms
    } else {
        Protocol::Sts
    };
    let result = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => serve(&front, protocol, &parts, &body, &call).await,
        Err(_) => Err(AwsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes"),
        )),
    };
    let mut response = result.unwrap_or_else(|error| error.into_response(protocol));
    if let Ok(value) = HeaderValue::from_str(call.request_id()) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

async fn serve(
    front: &AwsFront,
    protocol: Protocol,
    parts: &Parts,
    body: &Bytes,
    call: &Call,
) -> Result<Response, AwsError> {
    match protocol {
        Protocol::Kms => {
            let target = parts
                .headers
                .get("x-amz-target")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            call.name(
                target.strip_prefix("TrentService.").unwrap_or("Unknown"),
                CallKind::Other,
            );
            if media_type(&parts.headers) != "application/x-amz-json-1.1" {
                return Err(AwsError::bad(
                    "SerializationException",
                    "KMS requests must have content-type application/x-amz-json-1.1",
                ));
            }
            let signer = admit(front, Protocol::Kms, "kms", parts, body, call)?;
            let operation = kms::Operation::from_target(&target)?;
            call.name(operation.name(), operation.kind());
            kms::log_parameters(call, body);
            let reply = kms::dispatch(front, &signer, operation, body, call).await?;
            Ok(kms::json_response(&reply))
        }
        Protocol::Sts => {
            if media_type(&parts.headers) != "application/x-www-form-urlencoded" {
                return Err(AwsError::bad(
                    "InvalidParameterValue",
                    "STS requests must be form-encoded (application/x-www-form-urlencoded); \
                     KMS requests need an x-amz-target header",
                ));
            }
            let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
            if let Some(action) = form.get("Action") {
                call.name(action, CallKind::Other);
            }
            for name in LOGGED_FORM_FIELDS {
                if let Some(value) = form.get(name) {
                    let number = value
                        .parse::<u64>()
                        .ok()
                        .filter(|_| name == "DurationSeconds");
                    call.parameter(
                        name,
                        number.map_or_else(|| value.as_str().into(), Into::into),
                    );
                }
            }
            let action = form.get("Action").map(String::as_str);
            let iam_kind = action.and_then(iam::kind);
            let service = if iam_kind.is_some() { "iam" } else { "sts" };
            let signer = admit(front, Protocol::Sts, service, parts, body, call)?;
            match action {
                Some(action) if let Some(kind) = iam_kind => {
                    call.name(action, kind);
                    iam::serve(front, &signer, action, &form, call).await
                }
                Some("AssumeRole") => {
                    call.name("AssumeRole", CallKind::SignIn);
                    sts::assume_role(front, &signer, &form, call).await
                }
                Some(other) => Err(AwsError::bad(
                    "InvalidAction",
                    format!("Could not find operation {other} for version 2011-06-15"),
                )),
                None => Err(AwsError::bad("MissingAction", "Missing Action")),
            }
        }
    }
}

/// The STS and IAM request fields CloudTrail shows in `requestParameters` (policy documents
/// and credentials are not among them).
const LOGGED_FORM_FIELDS: [&str; 5] = [
    "RoleArn",
    "RoleSessionName",
    "ExternalId",
    "DurationSeconds",
    "RoleName",
];

/// The content type without parameters, lowercase (`application/x-amz-json-1.1`).
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// AWS's admission: verifies the SigV4 signature and finds who signed (named in the call log
/// by access key id).
fn admit(
    front: &AwsFront,
    protocol: Protocol,
    service: &str,
    parts: &Parts,
    body: &[u8],
    call: &Call,
) -> Result<Signer, AwsError> {
    let fail = |failure: AuthFailure| AwsError::auth(protocol, failure);
    let auth = Authorization::from_headers(&parts.headers).map_err(|e| fail(e.into()))?;
    call.caller(&auth.access_key_id);
    let tenant = &front.lab.tenant().aws;
    let (principal, session) = if auth.access_key_id == tenant.admin_access_key_id {
        (Principal::Owner, None)
    } else if auth.access_key_id == tenant.service_access_key_id {
        (Principal::ServiceKey, None)
    } else {
        let session = front
            .sessions()
            .get(&auth.access_key_id)
            .cloned()
            .ok_or_else(|| fail(AuthFailure::UnknownKey))?;
        let token = parts.headers.get("x-amz-security-token");
        if token.is_none_or(|t| t.as_bytes() != session.token.as_bytes()) {
            return Err(fail(AuthFailure::UnknownKey));
        }
        (Principal::Session, Some(session))
    };
    let secret = match (&session, principal) {
        (Some(session), _) => &session.secret,
        (None, Principal::Owner) => &tenant.admin_secret_access_key,
        (None, _) => &tenant.service_secret_access_key,
    };
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let scope = match protocol {
        Protocol::Kms => Scope {
            region: &tenant.region,
            service,
            must_sign: &["Host", "X-Amz-Target"],
        },
        // IAM is global: its requests are signed for us-east-1.
        Protocol::Sts if service == "iam" => Scope {
            region: "us-east-1",
            service,
            must_sign: &["Host"],
        },
        Protocol::Sts => Scope {
            region: &tenant.region,
            service,
            must_sign: &["Host"],
        },
    };
    sigv4::verify(&auth, &request, secret, &scope, ekm_clock::wall_time())
        .map_err(|e| fail(e.into()))?;
    if let Some(session) = &session
        && (session.life.expired_at(front.lab.now()) || session.expires <= ekm_clock::wall_time())
    {
        return Err(fail(AuthFailure::Expired));
    }
    match (&session, principal) {
        (Some(session), _) => call.principal(&session.arn, Some(session.life.issued)),
        (None, Principal::Owner) => {
            call.principal(&format!("arn:aws:iam::{}:root", tenant.account_id), None)
        }
        (None, _) => call.principal(&tenant.service_principal_arn, None),
    }
    Ok(Signer {
        principal,
        access_key_id: auth.access_key_id,
        session,
    })
}

impl From<StateError> for AwsError {
    /// KMS's rendering of the lab's errors.
    fn from(error: StateError) -> Self {
        let code = match &error {
            StateError::KeyNotFound(_) | StateError::VersionNotFound { .. } => "NotFoundException",
            StateError::KeyDisabled(_) => "DisabledException",
            StateError::KeyPendingDeletion { .. }
            | StateError::KeyDestroyed(_)
            | StateError::InvalidState { .. }
            | StateError::VersionNotEnabled { .. }
            | StateError::VersionState { .. } => "KMSInvalidStateException",
            StateError::AccessDenied { .. } => "AccessDeniedException",
            StateError::InvalidCiphertext(_) => "InvalidCiphertextException",
            StateError::IncorrectKey { .. } => "IncorrectKeyException",
            StateError::UnsupportedOperation { .. } => "InvalidKeyUsageException",
            StateError::AlreadyExists(_) => "AlreadyExistsException",
            StateError::InvalidRequest(_) => "ValidationException",
            StateError::Internal(_) => {
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "KMSInternalException",
                    error.to_string(),
                );
            }
        };
        Self::bad(code, error.to_string())
    }
}
