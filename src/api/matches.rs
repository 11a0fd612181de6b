//! `POST /v1/matches`: real-time checks of one or many identifiers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{RequestId, parse_json};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::clock::{from_millis, to_millis};
use crate::enumeration::Refusal;
use crate::identifiers::IdentifierKind;
use crate::matching::{Purpose, find_flags};
use crate::members::{Caller, Scope};

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
    pub kind: String,
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
    request_id: RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MatchResponse>, ApiError> {
    caller.require(Scope::MatchesRead)?;
    let req: MatchRequest = parse_json(&headers, &body)?;
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
    let now = state.clock.now();
    let normalised = req
        .identifiers
        .iter()
        .enumerate()
        .map(|(i, id)| id.normalise(&format!("identifiers[{i}]"), now))
        .collect::<Result<Vec<_>, _>>()?;
    state
        .enumeration
        .admit(
            caller.member.id,
            caller.member.daily_subject_budget,
            &normalised,
            now,
        )
        .map_err(|refusal| refused(&state, &caller, refusal, now))?;
    let purpose = Some(req.purpose.as_str());
    let audit = state.audit_context(&caller, now, &request_id);
    // The answer leaves only after its audit entries are durable; the lookups run inside
    // the same group commit.
    let hits = find_flags(
        &state.audit,
        &state.pseudonymiser,
        &normalised,
        now,
        |token| audit.row("match", purpose, Some(token), "pending"),
    )
    .await?;
    let results = hits
        .into_iter()
        .map(|h| MatchResult {
            kind: h.kind,
            flagged: !h.flags.is_empty(),
            flags: h
                .flags
                .iter()
                .map(|f| MatchedFlag {
                    kind: f.kind.clone(),
                    since: from_millis(f.created_at).to_rfc3339(),
                    expires: from_millis(f.expires_at).to_rfc3339(),
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
