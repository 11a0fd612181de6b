//! The OpenAPI 3.1 document, generated from the handler and type annotations.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::ApiError;
use super::{audit, bulk, callers, events, flags, health, indicators, matches};

#[derive(OpenApi)]
#[openapi(
    info(title = "fraudhub member API", description = "Pseudonymised fraud flags, police-reported indicators and audited real-time matching"),
    paths(flags::place, flags::get, flags::lift, matches::run, bulk::run,
        indicators::publish, indicators::get, indicators::list, indicators::revoke,
        indicators::uphold, indicators::sighting, indicators::false_positive, indicators::dispute,
        callers::start, callers::get, callers::cancel, callers::enrol, callers::list, callers::disable,
        events::watch, events::list, events::unwatch, events::bulk, events::feed, events::register,
        events::list_webhooks, events::rotate, events::replay, events::deliveries,
        audit::checkpoint, audit::public_key,
        audit::entries, audit::inclusion, audit::consistency, serve, health::live, health::ready),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The document never changes while the process runs, and it is served anonymously:
/// building and serialising it once keeps each request to a reference-count bump.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    serde_json::to_vec(&ApiDoc::openapi())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn serve() -> Result<impl IntoResponse, ApiError> {
    let bytes = DOCUMENT
        .as_ref()
        .map_err(|e| ApiError::Internal(e.clone().into()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes.clone()))
}
