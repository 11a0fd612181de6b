//! RFC 9457 problem details: the only error format the API speaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::AuditError;
use crate::members::AuthError;
use crate::store::StoreError;

/// The problem+json body. `field` names the offending request field (JSON path).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Invalid { field: String, detail: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error(
        "the member's budget of distinct subjects for today is used up; it resets at 00:00 UTC"
    )]
    SubjectBudgetExhausted { retry_after_secs: u64 },
    #[error(
        "refused: the recent lookups look like a sweep of personal numbers; the hub operator has been told"
    )]
    SweepSuspected { retry_after_secs: u64 },
    #[error("request timed out")]
    Timeout,
    #[error("service unavailable")]
    Unavailable,
    /// Readiness refused; the reason names the failing dependency, never data.
    #[error("not ready: {0}")]
    NotReady(String),
    /// Internal failures: logged with their cause chain, answered with a generic body.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(cause))
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The problem type's slug (`invalid-field`, `subject-budget-exhausted`, …).
    pub(crate) fn problem_type(&self) -> &'static str {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
            ),
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Malformed request"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            SubjectBudgetExhausted { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "subject-budget-exhausted",
                "Daily subject budget exhausted",
            ),
            SweepSuspected { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "enumeration-suspected",
                "Enumeration suspected",
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
            ),
            Unavailable | NotReady(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Internal(_) => {
                tracing::error!(cause = %crate::errors::Chain(&self), "internal error");
                "the hub could not complete the request; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let field = match &self {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ProblemBody {
            kind: format!("https://fraudhub.se/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            field,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RateLimited { retry_after_secs }
        | ApiError::SubjectBudgetExhausted { retry_after_secs }
        | ApiError::SweepSuspected { retry_after_secs } = self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let ApiError::Unavailable = self {
            // Database outages are usually a restart or failover: seconds, not minutes.
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(why) => ApiError::Conflict(why),
            // A database restart or network cut is retryable, not a hub bug.
            other if other.is_unavailable() => {
                tracing::warn!(cause = %other, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            // The writer already logged the cause, once for the whole batch.
            AuditError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::internal(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed => ApiError::Unauthorized("missing or malformed API key"),
            AuthError::Unknown | AuthError::NoSuchKey => {
                ApiError::Unauthorized("unknown or revoked API key")
            }
            AuthError::Suspended { .. } => ApiError::Forbidden("the member is suspended"),
            AuthError::Store(s) => s.into(),
        }
    }
}
