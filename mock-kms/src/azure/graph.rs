//! Microsoft Graph's service principals, as the customer's administrator manages them:
//! `POST /v1.0/servicePrincipals` `{"appId"}` → 201 and the service principal (`id` = its new
//! object id, `appId`, `appOwnerOrganizationId`, `displayName`, `servicePrincipalType`);
//! `GET /v1.0/servicePrincipals/{id}`; `DELETE /v1.0/servicePrincipals/{id}` → 204. Creating
//! EKM's app's service principal is the trust the seeds name; deleting it revokes that trust
//! (the service's sign-ins are refused; the tokens it holds live to their expiry).
//!
//! Callers bring a Graph token (`scope` = `https://graph.microsoft.com/.default`) of the
//! customer administrator; the service's token is 403 `Authorization_RequestDenied`. Errors are
//! Graph's `{"error":{"code","message","innerError"}}`: 400 `Request_BadRequest` (malformed body,
//! an app id no application has, an app that already has a service principal), 404
//! `Request_ResourceNotFound`, 401 `InvalidAuthenticationToken`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ekm_access::azure::ServicePrincipal;
use serde_json::{Value, json};

use super::AzureState;
use super::entra::Audience;
use crate::access::azure::Written;
use crate::error::StateError;
use crate::pipeline::{self, Call};
use crate::state::Caller;
use ekm_vocab::CallKind;

/// A Graph error answer.
#[derive(Debug)]
struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects \
                 are not present."
            ),
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message,
            "innerError": {"request-id": uuid::Uuid::new_v4().to_string()}}});
        pipeline::refused(
            (self.status, axum::Json(body)).into_response(),
            self.code,
            &self.message,
        )
    }
}

/// Graph's admission: the administrator's Graph token.
fn admit(state: &AzureState, call: &Call, headers: &HeaderMap) -> Result<(), GraphError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| state.tokens.lookup(token.trim(), state.lab.now()))
        .and_then(Result::ok)
        .filter(|t| t.audience == Audience::Graph)
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty, unknown, expired or not for Microsoft Graph.",
            )
        })?;
    call.caller(&token.app_id);
    if token.caller == Caller::Owner {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}

fn answer(result: Result<(StatusCode, Option<Value>), GraphError>) -> Response {
    match result {
        Ok((status, Some(body))) => (status, axum::Json(body)).into_response(),
        Ok((status, None)) => status.into_response(),
        Err(error) => error.into_response(),
    }
}

fn state_error(error: StateError) -> GraphError {
    GraphError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        error.to_string(),
    )
}

/// `/v1.0/servicePrincipals`: `POST` creates one.
pub(super) async fn service_principals(
    State(state): State<Arc<AzureState>>,
    Extension(call): Extension<Call>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call.name("createServicePrincipal", CallKind::Manage);
    answer(create(&state, &call, &method, &headers, body).await)
}

async fn create(
    state: &AzureState,
    call: &Call,
    method: &Method,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Option<Value>), GraphError> {
    if method != Method::POST {
        return Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            format!("{method} is not supported on servicePrincipals here; use POST."),
        ));
    }
    admit(state, call, headers)?;
    let body = body.map_err(|e| GraphError::bad_request(e.body_text()))?;
    let request: Value = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!("Unable to read JSON request payload: {e}"))
    })?;
    let app_id = request["appId"]
        .as_str()
        .ok_or_else(|| GraphError::bad_request("Property 'appId' is required."))?
        .to_owned();
    let lab = &state.lab;
    let azure = &lab.tenant().azure;
    let known = [&azure.service_app_id, &azure.admin_app_id];
    if !known.iter().any(|a| a.eq_ignore_ascii_case(&app_id)) {
        return Err(GraphError::bad_request(format!(
            "The appId '{app_id}' of the service principal does not reference a valid \
             application object."
        )));
    }
    call.admit_faults().await.map_err(|_| {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
        )
    })?;
    let object_id = if app_id.eq_ignore_ascii_case(&azure.service_app_id) {
        azure.service_object_id.clone()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let json = json!({"id": object_id, "appId": app_id, "appOwnerOrganizationId": azure.tenant_id,
        "displayName": "Enterprise Key Management", "servicePrincipalType": "Application",
        "accountEnabled": true});
    let sp = Written::new(json.clone(), ServicePrincipal::from_value)
        .map_err(|e| GraphError::bad_request(e.to_string()))?;
    let added = lab
        .write(|s| Ok(s.azure_access.add_service_principal(sp)))
        .map_err(state_error)?;
    added.map_err(|why| {
        GraphError::bad_request(format!(
            "Another object with the same value for property appId already exists ({why})."
        ))
    })?;
    Ok((StatusCode::CREATED, Some(json)))
}

/// `/v1.0/servicePrincipals/{id}`: `GET` reads one, `DELETE` removes it.
pub(super) async fn service_principal(
    State(state): State<Arc<AzureState>>,
    Extension(call): Extension<Call>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let deleting = method == Method::DELETE;
    call.name(
        if deleting {
            "deleteServicePrincipal"
        } else {
            "getServicePrincipal"
        },
        if deleting {
            CallKind::Manage
        } else {
            CallKind::Describe
        },
    );
    answer(one(&state, &call, &method, &id, &headers))
}

fn one(
    state: &AzureState,
    call: &Call,
    method: &Method,
    id: &str,
    headers: &HeaderMap,
) -> Result<(StatusCode, Option<Value>), GraphError> {
    admit(state, call, headers)?;
    let lab = &state.lab;
    match *method {
        Method::GET => lab
            .read(|s| {
                s.azure_access
                    .service_principals
                    .get(id)
                    .map(|sp| sp.json().clone())
            })
            .map(|json| (StatusCode::OK, Some(json)))
            .ok_or_else(|| GraphError::not_found(id)),
        Method::DELETE => {
            let removed = lab.delete_service_principal(id).map_err(state_error)?;
            if removed {
                Ok((StatusCode::NO_CONTENT, None))
            } else {
                Err(GraphError::not_found(id))
            }
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            format!("{method} is not supported on a servicePrincipal here; use GET or DELETE."),
        )),
    }
}
