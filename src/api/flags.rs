//! `/v1/flags`: members place, read and lift flags on personal numbers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath, IdempotencyKey, RequestId};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::flags::{self, Flag, FlagError, FlagKind, FlagStatus, NewMemberFlag};
use crate::members::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceFlagRequest {
    pub identifier: IdentifierInput,
    pub kind: FlagKind,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
    /// 30, 365 (default) or 730; up to 1826 with a police report reference.
    pub duration_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    pub id: String,
    pub kind: FlagKind,
    pub status: FlagStatus,
    pub since: String,
    pub expires: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<String>,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
}

impl FlagView {
    fn new(flag: Flag, now: chrono::DateTime<chrono::Utc>) -> Self {
        FlagView {
            status: flag.status(now),
            id: flag.id,
            kind: flag.kind,
            since: flag.created_at.to_rfc3339(),
            expires: flag.expires_at.to_rfc3339(),
            lifted_at: flag.lifted_at.map(|t| t.to_rfc3339()),
            consent_reference: flag.consent_reference,
            police_report_reference: flag.police_report_reference,
        }
    }
}

impl From<FlagError> for ApiError {
    fn from(e: FlagError) -> Self {
        match e {
            FlagError::NotAPersonalNumber => ApiError::invalid("identifier.kind", e.to_string()),
            FlagError::Rule(r) => ApiError::invalid(r.field, r.reason),
            FlagError::KeyReused => ApiError::invalid("Idempotency-Key", e.to_string()),
            // Members never reach a person's own flags through the API.
            FlagError::NotFound | FlagError::NotChangeable => ApiError::NotFound,
            FlagError::Store(s) => s.into(),
            FlagError::Audit(a) => a.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/flags", request_body = PlaceFlagRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = FlagView), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:write"])))]
pub async fn place(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    key: IdempotencyKey,
    ApiJson { value: req, raw }: ApiJson<PlaceFlagRequest>,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    let who = state.requester(&caller, request);
    let new = NewMemberFlag {
        subject: req.identifier.normalise("identifier", who.at)?,
        kind: req.kind,
        consent_reference: req.consent_reference,
        police_report_reference: req.police_report_reference,
        duration_days: req.duration_days,
    };
    let retry = key.retry(&raw, &state.settings.retention, who.at);
    let flag = flags::place(state.flags(), &who, new, retry).await?;
    Ok((StatusCode::CREATED, Json(FlagView::new(flag, who.at))))
}

#[utoipa::path(get, path = "/v1/flags/{id}", params(("id" = String, Path)),
    responses((status = 200, body = FlagView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:read"])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlagView>, ApiError> {
    let who = state.requester(&caller, request);
    let flag = flags::read(state.flags(), &who, &id).await?;
    Ok(Json(FlagView::new(flag, who.at)))
}

#[utoipa::path(post, path = "/v1/flags/{id}/lift", params(("id" = String, Path)),
    responses((status = 200, body = FlagView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:write"])))]
pub async fn lift(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlagView>, ApiError> {
    let who = state.requester(&caller, request);
    let flag = flags::lift(state.flags(), &who, &id).await?;
    Ok(Json(FlagView::new(flag, who.at)))
}
