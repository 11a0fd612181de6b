//! `POST /v1/matches`: real-time checks of one or many identifiers.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, RequestId};
use super::problem::ApiError;
use super::{AppState, IdentifierInput};
use crate::enumeration::Refusal;
use crate::flags::FlagKind;
use crate::identifiers::IdentifierKind;
use crate::indicators::rules::{Advice, Category, Confidence, Summary};
use crate::matching::{self, Hit, MatchError, Purpose};
use crate::members::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub purpose: Purpose,
    /// 1 to `max_match_identifiers` (default 100) identifiers.
    #[schema(min_items = 1, max_items = 100)]
    pub identifiers: Vec<IdentifierInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchResponse {
    pub results: Vec<MatchResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchResult {
    pub kind: IdentifierKind,
    pub flagged: bool,
    pub flags: Vec<MatchedFlag>,
    /// Live police-reported indicators on the identifier, from every member.
    pub indicators: MatchedIndicators,
    /// One combined advice from the flags and indicators (docs/indicators.md, "Advice").
    pub advice: Advice,
}

/// Reports as other members see them: counts and dates; a publisher only when it chose
/// to be named; never a note.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedIndicators {
    /// Distinct members with a live report on the identifier.
    pub reported_by_members: usize,
    pub categories: Vec<Category>,
    pub first_reported: Option<String>,
    pub last_reported: Option<String>,
    pub highest_confidence: Option<Confidence>,
    pub sightings: i64,
    pub false_positive_reports: i64,
    pub disputed: bool,
    pub under_review: bool,
    /// Display names of publishers that chose to be named.
    pub disclosed_members: Vec<String>,
    /// For `POST /v1/indicators/{id}/sightings` and `…/false-positive-reports`.
    pub indicator_ids: Vec<String>,
}

impl From<Summary> for MatchedIndicators {
    fn from(s: Summary) -> Self {
        MatchedIndicators {
            reported_by_members: s.reported_by_members,
            categories: s.categories,
            first_reported: s.first_reported.map(|t| t.to_rfc3339()),
            last_reported: s.last_reported.map(|t| t.to_rfc3339()),
            highest_confidence: s.highest_confidence,
            sightings: s.sightings,
            false_positive_reports: s.false_positive_reports,
            disputed: s.disputed,
            under_review: s.under_review,
            disclosed_members: s.disclosed_members,
            indicator_ids: s.ids,
        }
    }
}

/// A flag as other members see it: never who placed it or why.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedFlag {
    pub kind: FlagKind,
    pub since: String,
    pub expires: String,
    /// Always `verify_identity`: a flag means verify out of band, not reject.
    pub advice: &'static str,
}

#[utoipa::path(post, path = "/v1/matches", request_body = MatchRequest,
    responses((status = 200, body = MatchResponse)),
    security(("bearer" = ["matches:read"])))]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiJson { value: req, .. }: ApiJson<MatchRequest>,
) -> Result<Json<MatchResponse>, ApiError> {
    let max = state.settings.max_match_identifiers;
    if req.identifiers.is_empty() || req.identifiers.len() > max {
        return Err(ApiError::invalid(
            "identifiers",
            format!("send between 1 and {max} identifiers"),
        ));
    }
    // Charged per identifier: a request of 100 must cost what 100 requests of one do.
    state
        .limits
        .charge_more(&caller.member, req.identifiers.len() - 1)?;
    let who = state.requester(&caller, request);
    let normalised = req
        .identifiers
        .iter()
        .enumerate()
        .map(|(i, id)| id.normalise(&format!("identifiers[{i}]"), who.at))
        .collect::<Result<Vec<_>, _>>()?;
    let budget = caller.member.daily_subject_budget;
    let hits = matching::check(state.matching(), who, req.purpose, &normalised, budget)
        .await
        .map_err(|e| refused(&caller, e))?;
    let results = hits.into_iter().map(result_of).collect();
    Ok(Json(MatchResponse { results }))
}

/// One identifier's answer as members see it.
pub(super) fn result_of(h: Hit) -> MatchResult {
    MatchResult {
        kind: h.kind,
        flagged: h.flagged(),
        flags: h
            .flags
            .into_iter()
            .map(|f| MatchedFlag {
                kind: f.kind,
                since: f.created_at.to_rfc3339(),
                expires: f.expires_at.to_rfc3339(),
                advice: "verify_identity",
            })
            .collect(),
        indicators: h.summary.into(),
        advice: h.advice,
    }
}

/// Shapes a refusal of the enumeration defences, counting and logging it.
pub(super) fn refused(caller: &Caller, e: MatchError) -> ApiError {
    use crate::metrics::{Limit, rate_limited};
    let member = caller.member.id;
    match e {
        MatchError::Audit(a) => a.into(),
        MatchError::Refused(Refusal::BudgetExhausted { retry_after_secs }) => {
            rate_limited(Some(member), Limit::SubjectBudget);
            tracing::warn!(
                member,
                key_id = %caller.key_id,
                "refused: daily budget of distinct subjects used up"
            );
            ApiError::SubjectBudgetExhausted { retry_after_secs }
        }
        MatchError::Refused(Refusal::Sweep {
            retry_after_secs, ..
        }) => {
            rate_limited(Some(member), Limit::Sweep);
            ApiError::SweepSuspected { retry_after_secs }
        }
    }
}
