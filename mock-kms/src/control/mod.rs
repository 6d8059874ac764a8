//! The control API under `/_mock/v1/` on the http listener (contract: DESIGN.md §4): keys,
//! their lifecycle actions and their versions' (disable, enable, destroy, restore), AWS aliases, fault rules, the call log and the lab clock.
//!
//! Every answer is JSON; every error is `{"error": "..."}` with 400 (malformed or wrongly shaped
//! JSON — never axum's 422 or plain text, see [`JsonBody`]), 404 (unknown key or route), 405, 409
//! (duplicate name, a change the key's state forbids) or 413 (body too large). The lab identity
//! provider (`/_mock/v1/identity/*`) belongs to the GCP front-end, the external key store's
//! controls (`/_mock/v1/xks/*`) to [`crate::xks`]; [`index`] lists them all at `GET /_mock/v1`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::error::StateError;
use crate::keygen;
use crate::keys::KeySpec;
use crate::state::Kms;
use ekm_vocab::{Cloud, Fault, KeyAction, UnknownWord, VersionAction};

/// Longest clock jump one request may ask for (100 years).
const MAX_ADVANCE_SECONDS: f64 = 100.0 * 365.0 * 24.0 * 3600.0;

pub mod index;

type Shared = State<Arc<Kms>>;

/// The control API routes.
pub fn router(lab: Arc<Kms>) -> Router {
    let route = |r: MethodRouter<Arc<Kms>>| r.fallback(method_not_allowed);
    Router::new()
        .route("/_mock/v1/keys", route(get(list_keys).post(create_key)))
        .route("/_mock/v1/keys/{name}", route(get(get_key)))
        .route("/_mock/v1/keys/{name}/{action}", route(post(key_action)))
        .route(
            "/_mock/v1/keys/{name}/versions/{version}/{action}",
            route(post(version_action)),
        )
        .route("/_mock/v1/aliases", route(get(list_aliases)))
        .route("/_mock/v1/aliases/{alias}", route(put(put_alias)))
        .route(
            "/_mock/v1/faults",
            route(get(list_faults).put(set_faults).delete(clear_faults)),
        )
        .route("/_mock/v1/calls", route(get(calls)))
        .route("/_mock/v1/audit/{cloud}", route(get(audit)))
        .route("/_mock/v1/clock", route(get(clock)))
        .route("/_mock/v1/clock/advance", route(post(advance_clock)))
        .route(
            "/_mock/v1/access/{cloud}",
            route(get(access_documents).put(put_access_documents)),
        )
        .route(
            "/_mock/v1/access/{cloud}/explain",
            route(get(explain_access)),
        )
        .route("/_mock/v1", route(get(index::index)))
        .route("/_mock/v1/", route(get(index::index)))
        .route("/_mock/v1/{*rest}", any(unknown_route))
        .with_state(lab)
}

/// A control-API error: a status and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::bad(message)
    }

    /// 404 with `message`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409 with `message`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

impl From<StateError> for ControlError {
    fn from(error: StateError) -> Self {
        let status = match &error {
            StateError::KeyNotFound(_) | StateError::VersionNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            StateError::AlreadyExists(_)
            | StateError::InvalidState { .. }
            | StateError::VersionState { .. } => StatusCode::CONFLICT,
            StateError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, error.to_string())
    }
}

impl From<UnknownWord> for ControlError {
    fn from(error: UnknownWord) -> Self {
        Self::bad(error.to_string())
    }
}

impl From<PathRejection> for ControlError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad(rejection.body_text())
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

/// A JSON request body. Unlike axum's `Json`, every rejection — wrong content type, a body over
/// the limit, malformed JSON, a wrongly shaped value — answers `{"error"}` with a 4xx.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ControlError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase());
        if let Some(content_type) = content_type {
            let media = content_type.split(';').next().unwrap_or_default().trim();
            if media != "application/json" && !media.ends_with("+json") {
                return Err(ControlError::bad(format!(
                    "expected content-type application/json, got `{media}`"
                )));
            }
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ControlError::new(rejection.status(), rejection.body_text()))?;
        serde_json::from_slice(&body)
            .map(JsonBody)
            .map_err(|e| ControlError::bad(format!("invalid JSON body: {e}")))
    }
}

async fn method_not_allowed() -> ControlError {
    ControlError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

async fn unknown_route() -> ControlError {
    ControlError::new(StatusCode::NOT_FOUND, "no such control API route")
}

/// `GET /_mock/v1/access/{cloud}`: the customer's documents of that cloud, as the state file
/// keeps them.
async fn access_documents(
    State(lab): Shared,
    cloud: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ControlError> {
    let Path(cloud) = cloud?;
    let cloud: Cloud = cloud.parse()?;
    Ok(Json(lab.access_documents(cloud)))
}

/// `PUT /_mock/v1/access/{cloud}`: replaces that cloud's documents (the shape `GET` answers);
/// a malformed one is refused naming its field and JSON path, and nothing changes.
async fn put_access_documents(
    State(lab): Shared,
    cloud: Result<Path<String>, PathRejection>,
    JsonBody(documents): JsonBody<Value>,
) -> Result<Json<Value>, ControlError> {
    let Path(cloud) = cloud?;
    let cloud: Cloud = cloud.parse()?;
    lab.replace_access_documents(cloud, documents)?;
    Ok(Json(lab.access_documents(cloud)))
}

/// The query of `GET /_mock/v1/access/{cloud}/explain`: the key as the registration names it
/// and how EKM signs in ([`ekm_access::SignInAs`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    key: String,
    external_id: Option<String>,
    provider: Option<String>,
    audience: Option<String>,
    app_id: Option<String>,
    project: Option<String>,
}

/// `GET /_mock/v1/access/{cloud}/explain?key=…`: EKM's three conditions on that key, each with
/// the deciding document part and the whole trace, and the lint of the documents behind them.
async fn explain_access(
    State(lab): Shared,
    cloud: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ControlError> {
    let Path(cloud) = cloud?;
    let cloud: Cloud = cloud.parse()?;
    let query: ExplainQuery = serde_urlencoded::from_str(&query.unwrap_or_default())
        .map_err(|e| ControlError::bad(format!("explain needs ?key=NAME: {e}")))?;
    let sign_in = ekm_access::SignInAs {
        external_id: query.external_id,
        provider: query.provider,
        audience: query.audience,
        app_id: query.app_id,
        project: query.project,
    };
    Ok(Json(json!(lab.explain(cloud, &query.key, &sign_in)?)))
}

async fn list_keys(State(lab): Shared) -> Json<Value> {
    Json(json!(lab.list_keys()))
}

async fn get_key(
    State(lab): Shared,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ControlError> {
    let Path(name) = name?;
    Ok(Json(json!(lab.key_info(&name)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    provider: String,
    spec: Option<String>,
}

async fn create_key(
    State(lab): Shared,
    JsonBody(new): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let provider: Cloud = new.provider.parse()?;
    let spec = match &new.spec {
        Some(spec) => KeySpec::parse_for(provider, spec)?,
        None => KeySpec::default_for(provider),
    };
    let info = keygen::off_runtime(move || lab.create_key(&new.name, provider, spec)).await??;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

async fn key_action(
    State(lab): Shared,
    params: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ControlError> {
    let Path((name, action)) = params?;
    let action: KeyAction = action.parse()?;
    let info = if action == KeyAction::Rotate {
        keygen::off_runtime(move || lab.apply(&name, action)).await??
    } else {
        lab.apply(&name, action)?
    };
    Ok(Json(json!(info)))
}

/// `POST /_mock/v1/keys/{name}/versions/{version}/{action}`: disable, enable, destroy (GCP: a
/// scheduled destruction) or restore one version, as its cloud allows.
async fn version_action(
    State(lab): Shared,
    params: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<Value>, ControlError> {
    let Path((name, version, action)) = params?;
    let action: VersionAction = action.parse()?;
    Ok(Json(json!(lab.apply_version(&name, &version, action)?)))
}

async fn list_aliases(State(lab): Shared) -> Json<Value> {
    Json(lab.read(|s| json!(s.aliases)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasTarget {
    target: String,
}

async fn put_alias(
    State(lab): Shared,
    alias: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<AliasTarget>,
) -> Result<Json<Value>, ControlError> {
    let Path(alias) = alias?;
    lab.set_alias(&alias, &body.target)?;
    Ok(Json(json!({"alias": alias, "target": body.target})))
}

async fn list_faults(State(lab): Shared) -> Json<Value> {
    Json(json!(lab.faults().list(lab.now())))
}

async fn set_faults(
    State(lab): Shared,
    JsonBody(faults): JsonBody<Vec<Fault>>,
) -> Result<Json<Value>, ControlError> {
    let unknown = lab.read(|s| {
        faults
            .iter()
            .filter_map(|f| f.scope.key.as_ref())
            .find(|key| !s.keys.contains_key(*key))
            .cloned()
    });
    if let Some(key) = unknown {
        return Err(StateError::KeyNotFound(key).into());
    }
    lab.set_faults(faults)?;
    Ok(Json(json!(lab.faults().list(lab.now()))))
}

async fn clear_faults(State(lab): Shared) -> Json<Value> {
    lab.faults().clear();
    Json(json!([]))
}

/// The `since` sequence number of a call-log query (0 when absent); any other parameter is
/// refused.
fn since(query: Option<String>) -> Result<u64, ControlError> {
    let mut since = 0;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*name {
            "since" => {
                since = value.parse().map_err(|_| {
                    ControlError::bad(format!("`since` must be a sequence number, got `{value}`"))
                })?;
            }
            other => {
                return Err(ControlError::bad(format!(
                    "unknown query parameter `{other}`"
                )));
            }
        }
    }
    Ok(since)
}

async fn calls(State(lab): Shared, RawQuery(query): RawQuery) -> Result<Json<Value>, ControlError> {
    Ok(Json(json!(lab.calls().since(since(query)?))))
}

/// `GET /_mock/v1/audit/{cloud}?since=SEQ`: that cloud's audit records of the calls after
/// `since`, as JSON lines, with the next `since` in the `x-mock-next` header.
async fn audit(
    State(lab): Shared,
    cloud: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ControlError> {
    let Path(cloud) = cloud?;
    let cloud: Cloud = cloud.parse()?;
    let page = crate::audit::records(&lab, cloud, since(query)?);
    Ok((
        [
            (header::CONTENT_TYPE, crate::audit::JSON_LINES.to_owned()),
            (
                header::HeaderName::from_static(crate::audit::NEXT_HEADER),
                page.next.to_string(),
            ),
        ],
        page.json_lines(),
    )
        .into_response())
}

fn clock_json(lab: &Kms) -> Result<Json<Value>, ControlError> {
    let now = lab.now();
    let formatted = now
        .format(&Rfc3339)
        .map_err(|e| StateError::Internal(format!("cannot format the lab time: {e}")))?;
    let offset = (now - ekm_clock::wall_time()).whole_seconds();
    Ok(Json(json!({"now": formatted, "offset_seconds": offset})))
}

async fn clock(State(lab): Shared) -> Result<Json<Value>, ControlError> {
    clock_json(&lab)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

async fn advance_clock(
    State(lab): Shared,
    JsonBody(advance): JsonBody<Advance>,
) -> Result<Json<Value>, ControlError> {
    if !(0.0..=MAX_ADVANCE_SECONDS).contains(&advance.seconds) {
        return Err(ControlError::bad(format!(
            "`seconds` must be between 0 and {MAX_ADVANCE_SECONDS}"
        )));
    }
    lab.advance_clock(Duration::from_secs_f64(advance.seconds))?;
    clock_json(&lab)
}
