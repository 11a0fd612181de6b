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
    /// Members flag personal numbers only.
    #[schema(schema_with = personal_number_input)]
    pub identifier: IdentifierInput,
    /// `consumer` flags are placed by the person, never by a member; `police_report`
    /// needs `police_report_reference`.
    #[schema(schema_with = member_flag_kind)]
    pub kind: FlagKind,
    /// The victim's consent, as the member records it: 1–128 characters, not all blank.
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub consent_reference: String,
    /// A Swedish police report number (docs/api.md).
    pub police_report_reference: Option<String>,
    /// 30, 365 (default) or 730; with a police report reference any number of days up
    /// to 1826.
    #[schema(minimum = 1, maximum = 1826)]
    pub duration_days: Option<i64>,
}

/// `{"kind": "se_personal_number", "value": …}`: the value is 10 or 12 digits with an
/// optional `-` (or `+`, for a person aged 100 or more, in the 10-digit form) before the
/// last four; its date and check digit are checked too, which a schema cannot express.
fn personal_number_input() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["se_personal_number"])),
        )
        .property(
            "value",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^([0-9]{6}[-+]?|[0-9]{8}-?)[0-9]{4}$")),
        )
        .required("kind")
        .required("value")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

fn member_flag_kind() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["identity_theft", "police_report"]))
        .build()
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
    responses((status = 201, body = FlagView)),
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
        consent_reference: Some(req.consent_reference),
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
