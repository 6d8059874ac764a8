//! Entra's error answers: `{"error","error_description":"AADSTSnnn: …","error_codes":[nnn],…}`
//! with the status, error and AADSTS code each refusal has on the real endpoint.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::Failure;
use crate::pipeline;
use crate::state::Kms;

/// An Entra error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
    retry_after: Option<u64>,
}

impl EntraError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: String,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description,
            retry_after: None,
        }
    }

    pub(super) fn invalid_request(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description.into(),
        )
    }

    pub(super) fn missing(parameter: &str) -> Self {
        Self::invalid_request(
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub(super) fn unknown_tenant(error: &'static str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            error,
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud."
            ),
        )
    }

    pub(super) fn no_service_principal(app_id: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{app_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant."
            ),
        )
    }

    pub(super) fn invalid_client(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description.into(),
        )
    }

    pub(super) fn from_failure(failure: Failure) -> Self {
        let transient = "A transient error has occurred. Please try again.".to_owned();
        match failure {
            Failure::Unavailable | Failure::Outage => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                90033,
                transient,
            ),
            Failure::Internal => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                90033,
                transient,
            ),
            Failure::AccessDenied => Self::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                7000112,
                "Application is disabled.".to_owned(),
            ),
            Failure::Throttled { retry_after } => {
                let mut error = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    90033,
                    "Too many requests. Please retry later.".to_owned(),
                );
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                error.retry_after = Some(seconds.max(1));
                error
            }
        }
    }

    pub(super) fn into_response(self, lab: &Kms) -> Response {
        let timestamp = lab
            .now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{}/error?code={}", lab.vault_url(), self.code),
        });
        let message = body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut response = pipeline::refused(
            (self.status, axum::Json(body)).into_response(),
            self.error,
            &message,
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
