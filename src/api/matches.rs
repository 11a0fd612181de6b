//! `POST /v1/matches`: real-time checks of one or many identifiers.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, RequestId};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::clock::to_millis;
use crate::enumeration::Refusal;
use crate::flags::FlagKind;
use crate::identifiers::IdentifierKind;
use crate::matching::{Purpose, check};
use crate::members::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub purpose: Purpose,
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
    responses((status = 200, body = MatchResponse), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
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
    state
        .enumeration
        .admit(
            caller.member.id,
            caller.member.daily_subject_budget,
            &normalised,
            who.at,
        )
        .map_err(|refusal| refused(&state, &caller, refusal, who.at))?;
    let hits = check(
        &state.audit,
        &state.pseudonymiser,
        who,
        req.purpose,
        &normalised,
    )
    .await?;
    let results = hits
        .into_iter()
        .map(|h| MatchResult {
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
        })
        .collect();
    Ok(Json(MatchResponse { results }))
}

/// Shapes an enumeration refusal; the request that trips the sweep detector is logged
/// and recorded on the member, where `fraudhub member list` shows it.
fn refused(
    state: &AppState,
    caller: &Caller,
    refusal: Refusal,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiError {
    match refusal {
        Refusal::BudgetExhausted { retry_after_secs } => {
            crate::metrics::rate_limited(
                Some(caller.member.id),
                crate::metrics::Limit::SubjectBudget,
            );
            tracing::warn!(
                member = caller.member.id,
                key_id = %caller.key_id,
                "refused: daily budget of distinct subjects used up"
            );
            ApiError::SubjectBudgetExhausted { retry_after_secs }
        }
        Refusal::Sweep {
            retry_after_secs,
            first,
        } => {
            crate::metrics::rate_limited(Some(caller.member.id), crate::metrics::Limit::Sweep);
            if first {
                tracing::warn!(
                    member = caller.member.id,
                    key_id = %caller.key_id,
                    "personal-number sweep suspected: member refused for one window"
                );
                let store = state.store.clone();
                let member = caller.member.id;
                // Recorded off the request path: the refusal must not wait on it.
                tokio::spawn(async move {
                    if let Err(e) = store.record_sweep(member, to_millis(now)).await {
                        tracing::error!(error = %e, member, "recording a sweep failed");
                    }
                });
            }
            ApiError::SweepSuspected { retry_after_secs }
        }
    }
}
