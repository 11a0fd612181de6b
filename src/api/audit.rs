//! `/v1/audit/*`: the signed checkpoint, the public key, a member's own entries and
//! the proofs that tie them to a checkpoint.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{ApiPath, ApiQuery};
use super::problem::{ApiError, ProblemBody};
use crate::audit::log::LogError;
use crate::members::Caller;
use crate::store::StoredEntry;

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::BadRange { field, why } => ApiError::invalid(field, why),
            LogError::Store(s) => s.into(),
            other => ApiError::internal(other),
        }
    }
}

/// The latest stored checkpoint (C2SP tlog-checkpoint signed note). Public: it contains
/// no personal data. It never signs: an anonymous client must not be able to make the
/// hub sign or write. New checkpoints come from the housekeeping tick, the CLI, and
/// authenticated proof requests that need a newer tree size.
#[utoipa::path(get, path = "/v1/audit/checkpoint", responses((status = 200, content_type = "text/plain"),
    (status = 503, description = "no checkpoint has been signed yet", body = ProblemBody, content_type = "application/problem+json")))]
pub async fn checkpoint(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let cp = state
        .audit_log
        .latest()
        .await?
        .ok_or(ApiError::Unavailable)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    ))
}

/// The checkpoint verifier key in note `vkey` format: `<name>+<key id>+<base64 key>`.
#[utoipa::path(get, path = "/v1/audit/public-key", responses((status = 200, content_type = "text/plain")))]
pub async fn public_key(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.audit_log.verifier().vkey(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// First leaf index to return (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most this many entries (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub leaf_index: i64,
    pub at: String,
    pub action: String,
    pub purpose: Option<String>,
    /// Leaf encoding version: 2 for current entries, 1 for entries written before it.
    pub entry_version: i64,
    /// `member`, or `operator:<user>` for an operator's action on this member.
    pub actor: String,
    /// The member the entry belongs to; the leaf commits to it.
    pub member_id: Option<i64>,
    /// Version of the master key that made the subject's token; the leaf commits to it.
    pub key_version: Option<i64>,
    /// Hex of this member's own value for the subject (version-2 entries; absent after
    /// retention). It differs per member and from the hub-wide token, so it links
    /// nothing across members. Version-1 entries show no subject: their leaf committed
    /// to the hub-wide token, which is never shown; their leaf hash still proves them.
    pub subject: Option<String>,
    pub outcome: String,
    /// The hub's request id (the `X-Request-Id` it answered with).
    pub request_id: Option<String>,
    /// The client's own `X-Request-Id`, when it was an acceptable correlation token.
    pub correlation_id: Option<String>,
    pub key_id: Option<String>,
    /// Base64 of the leaf hash, as used in proofs.
    pub leaf_hash: Option<String>,
    pub redacted: bool,
}

impl TryFrom<&StoredEntry> for EntryView {
    type Error = ApiError;

    fn try_from(stored: &StoredEntry) -> Result<Self, ApiError> {
        let e = stored.entry()?;
        Ok(EntryView {
            leaf_index: stored.leaf_index,
            at: e.at.to_rfc3339(),
            action: e.action.as_str().to_string(),
            purpose: e.purpose.map(|p| p.as_str().to_string()),
            entry_version: i64::from(e.entry_version),
            actor: e.actor.label(),
            member_id: e.member_id,
            key_version: e.key_version,
            subject: e.subject_view.as_deref().map(hex::encode),
            outcome: e.outcome.as_str().to_string(),
            request_id: (!stored.redacted).then(|| e.request_id.clone()),
            correlation_id: e.correlation_id.clone(),
            key_id: e.key_id.clone(),
            leaf_hash: stored.leaf_hash.as_deref().map(|h| B64.encode(h)),
            redacted: stored.redacted,
        })
    }
}

/// The caller's own entries in log order; other members' entries are never listed.
#[utoipa::path(get, path = "/v1/audit/entries", params(PageQuery),
    responses((status = 200, body = [EntryView]),
        (status = 401, description = "Missing, malformed, unknown or revoked API key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Member suspended, or the key lacks `audit:read`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter (named in `field`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "The member's rate limit is exhausted; see `Retry-After`", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["audit:read"])))]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let from = q.from.unwrap_or(0);
    if from < 0 {
        return Err(ApiError::invalid("from", "must be 0 or more"));
    }
    let page = state
        .store
        .audit_page(Some(caller.member.id), from, limit)
        .await?;
    let views = page.iter().map(EntryView::try_from);
    Ok(Json(views.collect::<Result<_, _>>()?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// Tree size to prove against (default: the newest checkpoint covering the entry).
    /// It must be above the leaf index and at most the log's size.
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub tree_size: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    /// Base64 hashes, RFC 9162 §2.1.3 order.
    pub proof: Vec<String>,
}

/// Inclusion proof for one of the caller's own entries; for anyone else it does not exist.
#[utoipa::path(get, path = "/v1/audit/entries/{leaf_index}/inclusion", params(("leaf_index" = i64, Path, minimum = 0,
        description = "The entry's leaf index; a value that is not a non-negative 64-bit integer is a 422"), ProofQuery),
    responses((status = 200, body = InclusionProof),
        (status = 401, description = "Missing, malformed, unknown or revoked API key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Member suspended, or the key lacks `audit:read`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such entry among the caller's own", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`leaf_index` is not a leaf index, or `tree_size` is not above it or exceeds the log (named in `field`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "The member's rate limit is exhausted; see `Retry-After`", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["audit:read"])))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(leaf_index): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    // Parsed here rather than by the path extractor: a malformed index is a bad request
    // (422 naming it), not a missing entry.
    let index = leaf_index
        .parse::<i64>()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(|| ApiError::invalid("leaf_index", "must be an integer from 0 to 2^63-1"))?;
    let leaf_index = index.unsigned_abs();
    let entry = state.store.audit_entry(index).await?;
    if entry.entry()?.member_id != Some(caller.member.id) {
        return Err(ApiError::NotFound);
    }
    let tree_size = match q.tree_size {
        Some(s) => s,
        // An authenticated caller may need a checkpoint newer than its entry.
        None => {
            state
                .audit_log
                .covering(leaf_index, state.clock.now())
                .await?
        }
    };
    let proof = state.audit_log.inclusion(leaf_index, tree_size).await?;
    Ok(Json(InclusionProof {
        leaf_index,
        tree_size,
        leaf_hash: entry
            .leaf_hash
            .as_deref()
            .map(|h| B64.encode(h))
            .unwrap_or_default(),
        proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size; at most `to`.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub from: u64,
    /// The newer tree size; at most the log's size.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub to: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// Consistency proof between two tree sizes: the log only ever grew in between.
#[utoipa::path(get, path = "/v1/audit/consistency", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof),
        (status = 401, description = "Missing, malformed, unknown or revoked API key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Member suspended, or the key lacks `audit:read`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`from` exceeds `to`, or `to` exceeds the log's size (named in `field`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "The member's rate limit is exhausted; see `Retry-After`", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["audit:read"])))]
pub async fn consistency(
    State(state): State<AppState>,
    // Authenticates and enforces the route's scope; the proof itself is not per member.
    _caller: Caller,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let proof = state.audit_log.consistency(q.from, q.to).await?;
    Ok(Json(ConsistencyProof {
        from: q.from,
        to: q.to,
        proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
    }))
}
