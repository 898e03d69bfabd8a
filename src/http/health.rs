//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving requests.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Writes can be made: a committed write through the same writer the requests use.
/// 503 when the database is unreachable (`unavailable`), the disk is full
/// (`storage_full`) or the writer does not answer in time, so traffic is routed
/// elsewhere.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    // Detached: a probe that times out must not drop a write transaction half-way.
    let check = crate::store::detached(async move { store.check_writable().await });
    match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(err @ crate::store::StoreError::StorageFull(_))) => Err(err.into()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable)
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            Err(ApiError::Unavailable)
        }
    }
}
