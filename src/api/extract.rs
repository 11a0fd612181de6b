//! Request extractors whose rejections are problem+json.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use super::AppState;
use crate::members::{Caller, Scope, authenticate};

/// Parses a JSON body, naming the offending field on failure (unknown fields, wrong
/// types and missing fields all come back with a JSON path such as `identifiers[2].kind`).
pub fn parse_json<T: DeserializeOwned>(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("malformed JSON at line {} column {}", inner.line(), inner.column()))
        } else {
            let field = if path == "." { "body".to_string() } else { path };
            ApiError::invalid(field, sanitize(&inner.to_string()))
        }
    })?;
    de.end()
        .map_err(|_| ApiError::BadRequest("trailing characters after the JSON value".into()))?;
    Ok(value)
}

/// serde messages quote offending string values (`invalid value: string "…"`), which
/// could echo a personal number back into logs; keep only the part before the quote.
fn sanitize(msg: &str) -> String {
    let cut = msg.split(" at line ").next().unwrap_or(msg);
    match cut.find('"') {
        Some(i) if cut.starts_with("invalid") => format!("{}<value>", &cut[..i]),
        _ => cut.to_string(),
    }
}

/// The request id set by the request-id layer; every audit entry carries it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        Ok(RequestId(id.chars().take(64).collect()))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized("missing Authorization: Bearer <key>"))?;
        let caller = authenticate(&state.store, presented.trim()).await?;
        state.limits.check(&caller.member)?;
        Ok(caller)
    }
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("the API key lacks the scope this operation needs"))
        }
    }
}
