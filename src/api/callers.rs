//! `/v1/caller-verifications` (BankID phone authentication of a caller) and `/v1/agents`
//! (the member's agents for the agent console).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, RequestId};
use super::problem::{ApiError, ProblemBody};
use crate::callers::agents::{self, Agent, AgentError};
use crate::callers::rules::{Failure, Initiator, Status, Verification, Warning, agent_hint};
use crate::callers::{self, CallerError, NewVerification};
use crate::identifiers::{IdentifierKind, normalise};
use crate::members::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartVerification {
    /// The personal number the caller claims; never stored, only its token.
    #[schema(pattern = r"^([0-9]{6}[-+]?|[0-9]{8}-?)[0-9]{4}$")]
    pub personal_number: String,
    /// `user`: the customer called the member; `rp`: the member called the customer.
    pub call_initiator: Initiator,
    /// The number the call comes from (or goes to), checked against reported indicators.
    pub caller_phone: Option<String>,
    /// The member's own reference for the agent or the call: 1..=64 characters, not all
    /// blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub agent_reference: Option<String>,
}

/// A verification as the member that started it sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    pub status: Status,
    pub call_initiator: Initiator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<String>,
    /// While pending: BankID's hint code and a sentence for the agent (Swedish or English,
    /// by `Accept-Language`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// When complete: the name BankID returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// Flags on the number and reports on the number or the phone, computed at the start
    /// and again when the verification ended.
    pub warnings: Vec<Warning>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

impl VerificationView {
    pub fn new(v: Verification, english: bool) -> Self {
        let pending = v.status == Status::Pending;
        VerificationView {
            hint: pending.then(|| agent_hint(v.hint.as_deref(), english)),
            verified_at: (v.status == Status::Complete)
                .then(|| v.ended_at.map(|t| t.to_rfc3339()))
                .flatten(),
            id: v.id,
            status: v.status,
            call_initiator: v.initiator,
            agent_reference: v.agent_reference,
            hint_code: v.hint,
            failure: v.failure,
            name: v.name,
            given_name: v.given_name,
            surname: v.surname,
            warnings: v.warnings,
            created_at: v.created_at.to_rfc3339(),
            ended_at: v.ended_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait up to this many seconds for a pending verification to end.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
}

/// The longest a status request waits.
pub const MAX_WAIT_SECS: u64 = 30;

impl From<CallerError> for ApiError {
    fn from(e: CallerError) -> Self {
        match e {
            CallerError::Invalid { field, reason } => ApiError::invalid(field, reason),
            CallerError::KeyReused => ApiError::invalid("Idempotency-Key", e.to_string()),
            CallerError::NotFound => ApiError::NotFound,
            CallerError::Store(s) => s.into(),
            CallerError::Audit(a) => a.into(),
        }
    }
}

pub fn english(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    crate::web::Lang::negotiate(None, accept) == crate::web::Lang::En
}

#[utoipa::path(post, path = "/v1/caller-verifications", request_body = StartVerification,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = VerificationView),
        (status = 503, description = "BankID is not configured", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["callers:verify"])))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    key: IdempotencyKey,
    headers: HeaderMap,
    ApiJson { value: req, raw }: ApiJson<StartVerification>,
) -> Result<(StatusCode, Json<VerificationView>), ApiError> {
    let who = state.requester(&caller, request);
    let today = who.at.date_naive();
    let personal_number = normalise(
        IdentifierKind::SePersonalNumber,
        &req.personal_number,
        today,
    )
    .map_err(|e| ApiError::invalid("personal_number", format!("invalid personal number: {e}")))?;
    let caller_phone = req
        .caller_phone
        .as_deref()
        .map(|p| normalise(IdentifierKind::Phone, p, today))
        .transpose()
        .map_err(|e| ApiError::invalid("caller_phone", format!("invalid phone number: {e}")))?;
    let english = english(&headers);
    let new = NewVerification {
        personal_number,
        initiator: req.call_initiator,
        caller_phone,
        agent_reference: req.agent_reference,
        agent_id: None,
        member_name: caller.member.display_name.clone(),
        english,
    };
    let retry = key.retry(&raw, &state.settings.retention, who.at);
    let v = callers::start(state.callers()?, &who, new, retry).await?;
    Ok((StatusCode::CREATED, Json(VerificationView::new(v, english))))
}

#[utoipa::path(get, path = "/v1/caller-verifications/{id}", params(("id" = String, Path), WaitQuery),
    responses((status = 200, body = VerificationView)),
    security(("bearer" = ["callers:verify"])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<VerificationView>, ApiError> {
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::invalid("wait", "must be between 0 and 30"));
    }
    let who = state.requester(&caller, request);
    let clock = state.clock.clone();
    let v = callers::status(
        state.callers()?,
        &who,
        &id,
        state.settings.long_poll(wait),
        move || clock.now(),
    )
    .await?;
    Ok(Json(VerificationView::new(v, english(&headers))))
}

#[utoipa::path(post, path = "/v1/caller-verifications/{id}/cancel", params(("id" = String, Path)),
    responses((status = 200, body = VerificationView)),
    security(("bearer" = ["callers:verify"])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<VerificationView>, ApiError> {
    let who = state.requester(&caller, request);
    let v = callers::cancel(state.callers()?, &who, &id).await?;
    Ok(Json(VerificationView::new(v, english(&headers))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolAgent {
    /// The agent's own personal number (they log in with their BankID); never stored,
    /// only its token.
    #[schema(pattern = r"^([0-9]{6}[-+]?|[0-9]{8}-?)[0-9]{4}$")]
    pub personal_number: String,
    /// Shown in the console: 1..=100 characters, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
    /// RFC 3339; the enrolment ends then.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub display_name: String,
    /// Whether the agent may log in now.
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    pub created_at: String,
}

impl AgentView {
    fn new(a: Agent, now: DateTime<Utc>) -> Self {
        AgentView {
            active: a.active(now),
            id: a.id,
            display_name: a.display_name,
            expires_at: a.expires_at.map(|t| t.to_rfc3339()),
            disabled_at: a.disabled_at.map(|t| t.to_rfc3339()),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::NotAPersonalNumber => ApiError::invalid("personal_number", e.to_string()),
            AgentError::Rule { field, reason } => ApiError::invalid(field, reason),
            AgentError::AlreadyEnrolled => ApiError::Conflict("this person is already enrolled"),
            AgentError::NotFound | AgentError::NotAllowed => ApiError::NotFound,
            AgentError::Store(s) => s.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/agents", request_body = EnrolAgent,
    responses((status = 201, body = AgentView),
        (status = 409, description = "This person is already enrolled", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["agents:manage"])))]
pub async fn enrol(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson { value: req, .. }: ApiJson<EnrolAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let now = state.clock.now();
    let person = normalise(
        IdentifierKind::SePersonalNumber,
        &req.personal_number,
        now.date_naive(),
    )
    .map_err(|e| ApiError::invalid("personal_number", format!("invalid personal number: {e}")))?;
    let agent = agents::enrol(
        &state.store,
        &state.pseudonymiser,
        caller.member.id,
        &person,
        &req.display_name,
        req.expires_at,
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AgentView::new(agent, now))))
}

#[utoipa::path(get, path = "/v1/agents",
    responses((status = 200, body = AgentList)),
    security(("bearer" = ["agents:manage"])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AgentList>, ApiError> {
    let now = state.clock.now();
    let agents = state.store.member_agents(caller.member.id).await?;
    Ok(Json(AgentList {
        agents: agents.into_iter().map(|a| AgentView::new(a, now)).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/agents/{id}/disable", params(("id" = String, Path)),
    responses((status = 200, body = AgentView)),
    security(("bearer" = ["agents:manage"])))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentView>, ApiError> {
    let now = state.clock.now();
    state
        .store
        .disable_agent(caller.member.id, &id, now)
        .await?;
    let agent = state.store.agent(&id).await?;
    Ok(Json(AgentView::new(agent, now)))
}
