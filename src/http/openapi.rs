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
    components(schemas(ErrorBody, ErrorDetail, FieldError, crate::export::ptable::Params))
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
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_error_responses(operation);
        }
    }
    document
}

/// The error answers every operation can give (the middleware, the extractors and
/// the decision point answer them before a handler runs), so clients and contract
/// tests know them: the same `ErrorBody` everywhere.
fn add_error_responses(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let has_body = operation.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    };
    add(
        "400",
        "malformed request (broken JSON, bad X-Purpose header)",
    );
    add("401", "not logged in, or the session has ended");
    add("403", "the caller's role may not do this");
    add("404", "no such resource, or not one the caller may know of");
    add("422", "invalid input; every bad field is listed");
    add(
        "503",
        "the database is unavailable, the disk is full or the request timed out",
    );
    if has_body {
        add("413", "the body is larger than the service accepts");
        add("415", "the body is not sent as application/json");
    }
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
