//! The HTTP API: router, shared middleware and the OpenAPI document.
//!
//! Every resource lives in its own file exposing `router()`; handlers stay thin.

pub(crate) mod audit;
pub mod auth;
pub mod client;
pub(crate) mod deaths;
pub(crate) mod episodes;
pub mod error;
pub(crate) mod exports;
pub(crate) mod facilities;
mod health;
pub(crate) mod ids;
pub mod json;
pub(crate) mod keys;
pub(crate) mod linkage;
mod openapi;
pub(crate) mod reference;
mod sessions;
pub(crate) mod social;
pub(crate) mod subjects;
pub(crate) mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::cases::access::Gate;
use crate::config::Settings;
use crate::store::Store;
use error::error_response;

pub use error::{ApiError, FieldError};
pub use json::ApiJson;

/// The versioned prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";

/// Shared state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The keys (master and pseudonym), following the key file.
    pub keys: crate::cases::Keys,
    /// The decision point over the policy files in `policy/`.
    pub gate: Gate,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// Decoded statistical snapshots (immutable, so safe to keep).
    pub snapshots: Arc<crate::export::snapshot::Cache>,
}

/// The API routes with their OpenAPI descriptions (without middleware).
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .merge(reference::router())
        .merge(sessions::router())
        .merge(users::router())
        .merge(facilities::router())
        .merge(audit::router())
        .merge(subjects::router())
        .merge(linkage::router())
        .merge(keys::router())
        .merge(episodes::router())
        .merge(social::router())
        .merge(deaths::router())
        .merge(exports::router())
}

/// Builds the complete application: API, probes, OpenAPI document and middleware.
pub fn app(state: AppState) -> Router {
    let (api, document) = api_router().split_for_parts();
    let document = Arc::new(openapi::finish(document));
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.settings.request_timeout;
    let body_limit = state.settings.body_limit_bytes;

    Router::new()
        .merge(health::router())
        .nest(
            API_PREFIX,
            api.merge(openapi::router(document)).fallback(not_found),
        )
        .merge(crate::web::router())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request| {
                        // Method and route template only: paths may carry identifiers.
                        let route = req
                            .extensions()
                            .get::<axum::extract::MatchedPath>()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_else(|| "unmatched".into());
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        tracing::info_span!("request", request.id = %id, http.method = %req.method(), http.route = %route)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(|_panic| {
                    // The panic payload may hold data; it is not logged or returned.
                    tracing::error!("handler panicked");
                    error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "an internal error occurred; it has been logged",
                    )
                }))
                .layer(middleware::from_fn(json_errors))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    timeout,
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                // The API's answers are JSON and files: nothing to frame, run or
                // load. The pages set their own policy (a style sheet and forms to
                // this site), which this layer leaves in place.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                    ),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(middleware::from_fn_with_state(state.clone(), client::hsts))
                // Enforced by every body extractor (ApiJson reads through it).
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that HTTP method; see /api/v1/openapi.json",
    )
}

/// Turns the bare error responses produced by middleware (body limit, timeout)
/// into the same JSON shape as every other error.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    // JSON errors are already in shape; the browser pages answer in HTML.
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || shaped {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than this service accepts",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "the request took too long and was stopped; try again shortly",
        ),
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such resource; check the path and identifier",
        ),
        s if s.is_client_error() => ("bad_request", "the request was not accepted"),
        _ => ("internal", "an internal error occurred; it has been logged"),
    };
    let mut json = error_response(status, code, message);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        json.headers_mut().insert(header::ALLOW, allow.clone());
    }
    json.into_response()
}

/// Waits for SIGINT or SIGTERM, for graceful shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
