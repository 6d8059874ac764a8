//! Placeholder: the control API (being written).

use std::sync::Arc;

use axum::Router;

use crate::lab::Lab;

/// The control API routes.
pub fn router(_lab: Arc<Lab>) -> Router {
    Router::new()
}
