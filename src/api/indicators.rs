//! `/v1/indicators`: police-reported fraud indicators — publish, read, list, revoke,
//! confirm, contest, dispute and uphold.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, RequestId};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::identifiers::IdentifierKind;
use crate::indicators::rules::{Category, Confidence, Indicator, IndicatorPolicy, IndicatorStatus};
use crate::indicators::{self, IndicatorError, NewIndicator};
use crate::members::Caller;
use crate::store::ReportKind;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub identifier: IdentifierInput,
    pub category: Category,
    /// Swedish police report number, e.g. `5000-K123456-24` (see docs/indicators.md).
    pub police_report_reference: String,
    pub confidence: Confidence,
    /// RFC 3339; default one year from now, at most five years.
    pub valid_until: Option<DateTime<Utc>>,
    /// Name the publishing member to other members (default false).
    pub disclose_member: Option<bool>,
    /// Private to the publisher.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// An indicator as its publisher sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorView {
    pub id: String,
    pub identifier_kind: IdentifierKind,
    pub category: Category,
    pub police_report_reference: String,
    pub confidence: Confidence,
    pub status: IndicatorStatus,
    pub disclose_member: bool,
    pub note: Option<String>,
    pub created_at: String,
    pub valid_until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    pub sightings: i64,
    pub false_positive_reports: i64,
    pub under_review: bool,
    pub disputed: bool,
}

impl IndicatorView {
    fn new(i: Indicator, now: DateTime<Utc>, policy: &IndicatorPolicy) -> Self {
        IndicatorView {
            status: i.status(now, policy),
            under_review: i.under_review(policy),
            disputed: i.disputed(),
            revoked_at: i.revoked_at.map(|t| t.to_rfc3339()),
            created_at: i.created_at.to_rfc3339(),
            valid_until: i.valid_until.to_rfc3339(),
            id: i.id,
            identifier_kind: i.kind,
            category: i.category,
            police_report_reference: i.police_report_reference,
            confidence: i.confidence,
            disclose_member: i.disclose_member,
            note: i.note,
            sightings: i.sightings,
            false_positive_reports: i.false_positive_reports,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorPage {
    pub indicators: Vec<IndicatorView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// At most this many indicators (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The reporting member's own reference.
    #[schema(min_length = 1, max_length = 128)]
    pub reference: Option<String>,
}

/// What another member's confirmation or contest did to the report's counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAnswer {
    pub indicator_id: String,
    pub sightings: i64,
    pub false_positive_reports: i64,
    pub under_review: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// The person's own personal number; never stored, only its token.
    #[schema(pattern = r"^([0-9]{6}[-+]?|[0-9]{8}-?)[0-9]{4}$")]
    pub personal_number: String,
    /// The member's case reference for the person's request.
    #[schema(min_length = 1, max_length = 128)]
    pub case_reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeAnswer {
    /// How many live reports on the number are now disputed.
    pub disputed: u64,
}

impl From<IndicatorError> for ApiError {
    fn from(e: IndicatorError) -> Self {
        match e {
            IndicatorError::Rule(r) => ApiError::invalid(r.field, r.reason),
            IndicatorError::KeyReused => ApiError::invalid("Idempotency-Key", e.to_string()),
            IndicatorError::NotAPersonalNumber => {
                ApiError::invalid("personal_number", e.to_string())
            }
            IndicatorError::NotFound => ApiError::NotFound,
            IndicatorError::OwnReport => {
                ApiError::Forbidden("a member cannot confirm or contest its own report")
            }
            IndicatorError::AlreadyReported => {
                ApiError::Conflict("this member already made this report on this indicator")
            }
            IndicatorError::NotDisputed => ApiError::Conflict("the indicator is not disputed"),
            IndicatorError::Store(s) => s.into(),
            IndicatorError::Audit(a) => a.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/indicators", request_body = PublishRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = IndicatorView)),
    security(("bearer" = ["indicators:write"])))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    key: IdempotencyKey,
    ApiJson { value: req, raw }: ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<IndicatorView>), ApiError> {
    let who = state.requester(&caller, request);
    let new = NewIndicator {
        subject: req.identifier.normalise("identifier", who.at)?,
        category: req.category,
        police_report_reference: req.police_report_reference,
        confidence: req.confidence,
        valid_until: req.valid_until,
        disclose_member: req.disclose_member.unwrap_or(false),
        note: req.note,
    };
    let retry = key.retry(&raw, &state.settings.retention, who.at);
    let made = indicators::publish(state.indicators(), &who, new, retry).await?;
    let view = IndicatorView::new(made, who.at, &state.settings.indicators);
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/indicators/{id}", params(("id" = String, Path)),
    responses((status = 200, body = IndicatorView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["indicators:read"])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IndicatorView>, ApiError> {
    let who = state.requester(&caller, request);
    let found = indicators::read(state.indicators(), &who, &id).await?;
    Ok(Json(IndicatorView::new(
        found,
        who.at,
        &state.settings.indicators,
    )))
}

#[utoipa::path(get, path = "/v1/indicators", params(ListQuery),
    responses((status = 200, body = IndicatorPage)),
    security(("bearer" = ["indicators:read"])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<IndicatorPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    let who = state.requester(&caller, request);
    let (page, next) =
        indicators::list(state.indicators(), &who, q.after.as_deref(), limit).await?;
    let policy = &state.settings.indicators;
    Ok(Json(IndicatorPage {
        indicators: page
            .into_iter()
            .map(|i| IndicatorView::new(i, who.at, policy))
            .collect(),
        next,
    }))
}

#[utoipa::path(post, path = "/v1/indicators/{id}/revoke", params(("id" = String, Path)),
    responses((status = 200, body = IndicatorView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["indicators:write"])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IndicatorView>, ApiError> {
    let who = state.requester(&caller, request);
    let revoked = indicators::revoke(state.indicators(), &who, &id).await?;
    Ok(Json(IndicatorView::new(
        revoked,
        who.at,
        &state.settings.indicators,
    )))
}

#[utoipa::path(post, path = "/v1/indicators/{id}/uphold", params(("id" = String, Path)),
    responses((status = 200, body = IndicatorView),
        (status = 409, description = "The indicator is not disputed (or the dispute has already ended it)", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["indicators:write"])))]
pub async fn uphold(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IndicatorView>, ApiError> {
    let who = state.requester(&caller, request);
    let upheld = indicators::uphold(state.indicators(), &who, &id).await?;
    Ok(Json(IndicatorView::new(
        upheld,
        who.at,
        &state.settings.indicators,
    )))
}

async fn report(
    state: AppState,
    caller: Caller,
    request: RequestId,
    id: String,
    kind: ReportKind,
    req: ReportRequest,
) -> Result<(StatusCode, Json<ReportAnswer>), ApiError> {
    let who = state.requester(&caller, request);
    let hub = state.indicators();
    let after = indicators::report(hub, &who, &id, kind, req.reference.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ReportAnswer {
            under_review: after.under_review(&state.settings.indicators),
            indicator_id: after.id,
            sightings: after.sightings,
            false_positive_reports: after.false_positive_reports,
        }),
    ))
}

/// Another member saw the reported identifier used in a fraud too. Once per member.
#[utoipa::path(post, path = "/v1/indicators/{id}/sightings", params(("id" = String, Path)),
    request_body = ReportRequest,
    responses((status = 201, body = ReportAnswer),
        (status = 409, description = "This member already made this report on this indicator", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["indicators:write"])))]
pub async fn sighting(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
    ApiJson { value, .. }: ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportAnswer>), ApiError> {
    report(state, caller, request, id, ReportKind::Sighting, value).await
}

/// Another member found the report wrong for its customer. Once per member.
#[utoipa::path(post, path = "/v1/indicators/{id}/false-positive-reports", params(("id" = String, Path)),
    request_body = ReportRequest,
    responses((status = 201, body = ReportAnswer),
        (status = 409, description = "This member already made this report on this indicator", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["indicators:write"])))]
pub async fn false_positive(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiPath(id): ApiPath<String>,
    ApiJson { value, .. }: ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportAnswer>), ApiError> {
    report(state, caller, request, id, ReportKind::FalsePositive, value).await
}

/// A person disputes the reports on their personal number, through this member.
#[utoipa::path(post, path = "/v1/indicators/disputes", request_body = DisputeRequest,
    responses((status = 200, body = DisputeAnswer)),
    security(("bearer" = ["indicators:write"])))]
pub async fn dispute(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiJson { value: req, .. }: ApiJson<DisputeRequest>,
) -> Result<Json<DisputeAnswer>, ApiError> {
    let who = state.requester(&caller, request);
    let subject = IdentifierInput {
        kind: IdentifierKind::SePersonalNumber,
        value: req.personal_number,
    };
    let subject = subject
        .normalise("personal_number", who.at)
        .map_err(|_| ApiError::invalid("personal_number", "invalid se_personal_number"))?;
    let disputed =
        indicators::dispute(state.indicators(), &who, &subject, &req.case_reference).await?;
    Ok(Json(DisputeAnswer { disputed }))
}
