//! Placeholder: the azure front-end (being written).

use std::sync::Arc;

use axum::Router;

use crate::lab::Lab;

/// The azure routes.
pub fn router(_lab: Arc<Lab>) -> Router {
    Router::new()
}
