//! The OpenAPI 3 document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`. Nothing is downloaded at build time.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;

use super::AppState;
use super::error::{ErrorBody, ErrorDetail, FieldError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kosovo drug treatment and drug-related death registry",
        description = "Privacy-preserving national registry (Action Plan 1.5.2, 1.5.3, 3.1.5, 4.1.6). \
                       Every error has the shape {\"error\": {\"code\", \"message\", \"fields\"}}.",
        license(name = "Apache-2.0")
    ),
    servers((url = "/api/v1", description = "this service, version 1 of the API")),
    components(schemas(ErrorBody, ErrorDetail, FieldError))
)]
struct BaseDocument;

/// The document's fixed parts; handlers add their paths to it.
pub(super) fn base_document() -> Document {
    BaseDocument::openapi()
}

/// Final touches once every router has been merged: bearer authentication on every
/// operation except login.
pub(super) fn finish(mut document: Document) -> Document {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    document.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    if let Some(login) = document
        .paths
        .paths
        .get_mut("/sessions")
        .and_then(|item| item.post.as_mut())
    {
        // Login is the one operation without a token.
        login.security = Some(vec![SecurityRequirement::default()]);
    }
    document
}

/// Serves the document.
pub(super) fn router(document: Arc<Document>) -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(move || {
            let document = Arc::clone(&document);
            async move { Json(document.as_ref().clone()) }
        }),
    )
}
