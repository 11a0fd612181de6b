//! The OpenAPI 3.1 document, generated from the handler and type annotations.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct ApiDoc;

/// Adds the error answers that come from the shared layers and extractors rather than
/// from a handler, so every operation documents each status it can answer (a handler's
/// own, more specific description of a status is kept):
///
/// - every operation: 429 (the per-address limit runs before any route) and 503 (the
///   request timeout, or the database unreachable);
/// - authenticated ones: 401 (no, unknown or revoked key), 403 (member suspended, or the
///   key lacks the scope) and 429 also for the member's quota;
/// - with a JSON or NDJSON body: 400 (malformed JSON), 413 (body too large), 415 (wrong
///   `Content-Type`) and 422 (a field fails validation, named in `field`);
/// - with query or header parameters: 422 (named in `field`);
/// - with a path parameter: 404 (no such resource of the caller's).
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_param = path.contains('{');
            for op in [item.get.as_mut(), item.post.as_mut()]
                .into_iter()
                .flatten()
            {
                document_errors(op, has_path_param);
            }
        }
    }
}

fn document_errors(op: &mut Operation, has_path_param: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let has_params = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    let mut statuses: Vec<(&str, &str)> = vec![];
    if has_body {
        statuses.extend([
            ("400", "Malformed JSON"),
            ("413", "The body is larger than the hub accepts"),
            ("415", "Wrong `Content-Type` for the body"),
            (
                "422",
                "A field fails validation; `field` names it (a JSON path)",
            ),
        ]);
    } else if has_params {
        statuses.push(("422", "A parameter fails validation; `field` names it"));
    }
    if has_path_param {
        statuses.push(("404", "No such resource among the caller's own"));
    }
    if secured {
        statuses.extend([
            ("401", "Missing, malformed, unknown or revoked API key"),
            ("403", "Member suspended, or the key lacks the scope this operation needs"),
            (
                "429",
                "A rate limit (the client address's or the member's) is exhausted; see `Retry-After`",
            ),
        ]);
    } else {
        statuses.push((
            "429",
            "The client address's rate limit is exhausted; see `Retry-After`",
        ));
    }
    statuses.push((
        "503",
        "The request timed out, or the database is unavailable; see `Retry-After`",
    ));
    for (status, description) in statuses {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem(description));
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ProblemBody")))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", content)
            .build(),
    )
}

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
