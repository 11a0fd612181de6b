//! The OpenAPI 3.1 document, generated from the handler and type annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, flags, matches};

#[derive(OpenApi)]
#[openapi(
    info(title = "fraudhub member API", description = "Pseudonymised fraud flags and audited real-time matching"),
    paths(flags::place, flags::get, flags::lift, matches::run, audit::checkpoint, audit::public_key,
        audit::entries, audit::inclusion, audit::consistency),
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

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
