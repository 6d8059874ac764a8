//! Placeholder: the gcp front-end (being written).

use std::sync::Arc;

use axum::Router;

use crate::lab::Lab;

/// The gcp routes.
pub fn router(_lab: Arc<Lab>) -> Router {
    Router::new()
}
