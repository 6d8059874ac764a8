//! The control API of the external key store, under `/_mock/v1/xks` on the http listener:
//!
//! - `GET /_mock/v1/xks` → `{"uri_path","access_key_ids","fleet","faults","keys"}`;
//! - `PUT /_mock/v1/xks/endpoint` `{"uri_path"?, "credentials"?: [{"access_key_id",
//!   "secret_access_key"}]}` — move the proxy or rotate its SigV4 credentials (two live at once);
//! - `GET|POST /_mock/v1/xks/keys` (`{"id","usage"?}` → 201), `POST
//!   /_mock/v1/xks/keys/{id}/{enable|disable|delete}` — the customer's own key lifecycle;
//! - `POST /_mock/v1/xks/bindings` [`NewBinding`] → 201: a cloud key backed by an external
//!   key in one step ([`super::bindings`]);
//! - `PUT /_mock/v1/xks/fleet` `{"id"?, "status": "ACTIVE|DEGRADED|UNAVAILABLE"}`;
//! - `PUT|DELETE /_mock/v1/xks/faults` with [`HopFaults`];
//! - `PUT /_mock/v1/xks/timeout` `{"timeout_ms"}` — how long the cloud waits for a proxy
//!   (default the spec's 250 ms).
//!
//! Errors are the control API's `{"error": "..."}`: 400 for bad input, 404 for an unknown key,
//! 409 for a duplicate or a change a deleted key forbids.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::XksCredential;
use super::bindings::NewBinding;
use super::faults::HopFaults;
use crate::control::{ControlError, JsonBody};
use crate::state::Kms;
use ekm_vocab::{ExternalKeyAction, HealthStatus};

type Shared = State<Arc<Kms>>;

/// The routes.
pub fn router(lab: Arc<Kms>) -> Router {
    Router::new()
        .route("/_mock/v1/xks", get(view))
        .route("/_mock/v1/xks/endpoint", put(configure))
        .route("/_mock/v1/xks/keys", get(list_keys).post(create_key))
        .route("/_mock/v1/xks/keys/{id}/{action}", post(key_action))
        .route("/_mock/v1/xks/bindings", post(bind))
        .route("/_mock/v1/xks/fleet", put(set_fleet))
        .route("/_mock/v1/xks/faults", put(set_faults).delete(clear_faults))
        .route("/_mock/v1/xks/timeout", put(set_timeout))
        .with_state(lab)
}

async fn view(State(lab): Shared) -> Json<Value> {
    Json(json!(lab.xks_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    uri_path: Option<String>,
    credentials: Option<Vec<XksCredential>>,
}

async fn configure(
    State(lab): Shared,
    JsonBody(body): JsonBody<EndpointBody>,
) -> Result<Json<Value>, ControlError> {
    lab.xks()
        .configure(body.uri_path, body.credentials)
        .map_err(ControlError::bad_request)?;
    Ok(Json(json!(lab.xks_view())))
}

async fn list_keys(State(lab): Shared) -> Json<Value> {
    Json(json!(lab.xks_read(|x| x.manager.keys())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    id: String,
    usage: Option<Vec<String>>,
}

async fn create_key(
    State(lab): Shared,
    JsonBody(body): JsonBody<CreateKeyBody>,
) -> Result<impl IntoResponse, ControlError> {
    let info = lab.xks_write(|x| {
        if x.manager.key_info(&body.id).is_ok() {
            return Err(ControlError::conflict(format!(
                "external key `{}` already exists",
                body.id
            )));
        }
        x.manager
            .create_key(&body.id, body.usage)
            .map_err(ControlError::bad_request)
    })?;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

async fn key_action(
    State(lab): Shared,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ControlError> {
    let action: ExternalKeyAction = action.parse()?;
    lab.xks_write(|x| {
        x.manager.key_info(&id).map_err(ControlError::not_found)?;
        x.manager
            .apply(&id, action)
            .map(|info| Json(json!(info)))
            .map_err(ControlError::conflict)
    })
}

async fn bind(
    State(lab): Shared,
    JsonBody(new): JsonBody<NewBinding>,
) -> Result<impl IntoResponse, ControlError> {
    let bound = lab.bind_external(new)?;
    Ok((StatusCode::CREATED, Json(json!(bound))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetBody {
    id: Option<String>,
    status: HealthStatus,
}

async fn set_fleet(
    State(lab): Shared,
    JsonBody(body): JsonBody<FleetBody>,
) -> Result<Json<Value>, ControlError> {
    lab.xks()
        .set_health(body.id.as_deref(), body.status)
        .map_err(ControlError::not_found)?;
    Ok(Json(json!(lab.xks_view())))
}

async fn set_faults(
    State(lab): Shared,
    JsonBody(faults): JsonBody<HopFaults>,
) -> Result<Json<Value>, ControlError> {
    lab.xks()
        .set_faults(faults)
        .map_err(ControlError::bad_request)?;
    Ok(Json(json!(lab.xks().faults())))
}

async fn clear_faults(State(lab): Shared) -> Json<Value> {
    // Default faults always validate.
    let _ = lab.xks().set_faults(HopFaults::default());
    Json(json!(lab.xks().faults()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutBody {
    timeout_ms: u64,
}

async fn set_timeout(
    State(lab): Shared,
    JsonBody(body): JsonBody<TimeoutBody>,
) -> Result<Json<Value>, ControlError> {
    let hop = lab.xks().hop();
    hop.set_timeout(std::time::Duration::from_millis(body.timeout_ms))
        .map_err(ControlError::bad_request)?;
    Ok(Json(
        json!({"timeout_ms": hop.timeout().as_millis() as u64}),
    ))
}
