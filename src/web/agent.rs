//! The agent console at `/agent`: a member's enrolled agents log in with their own
//! BankID and verify callers (BankID phone authentication) with one form. The result and
//! any warning are shown in large plain words; "next call" starts over with an empty
//! form. Nothing personal stays in the browser: no storage, `no-store` pages, the form
//! posted (never in a URL) and not kept.

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::i18n::Texts;
use super::orders::Intent;
use super::pages::{Chrome, render};
use super::{Ctx, WebError};
use crate::api::AppState;
use crate::audit::entry::Requester;
use crate::callers::agents::{self, Agent};
use crate::callers::rules::{Failure, Initiator, Status, Verification, Warning, agent_hint};
use crate::callers::{self, CallerError, NewVerification};
use crate::identifiers::{IdentifierKind, Normalised, normalise};

pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/agent", get(login_page))
        .route("/agent/console", get(console))
        .route("/agent/verifications/{id}", get(call_page))
}

pub fn limited_routes() -> Router<AppState> {
    Router::new()
        .route("/agent/login", post(login_start))
        .route("/agent/verifications", post(start))
        .route("/agent/verifications/{id}/status", get(status))
        .route("/agent/verifications/{id}/cancel", post(cancel))
}

#[derive(askama::Template)]
#[template(path = "agent_login.html")]
struct LoginPage {
    c: Chrome,
    csrf: String,
}

#[derive(askama::Template)]
#[template(path = "agent_console.html")]
struct ConsolePage {
    c: Chrome,
    csrf: String,
    agent: String,
    member: String,
}

#[derive(askama::Template)]
#[template(path = "agent_call.html")]
struct CallPage {
    c: Chrome,
    csrf: String,
    id: String,
    s: Shown,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct VerifyForm {
    csrf: String,
    personal_number: String,
    call_initiator: Option<String>,
    caller_phone: Option<String>,
}

impl VerifyForm {
    /// The caller's personal number and phone, normalised, and who called whom.
    pub(super) fn inputs(
        &self,
        today: NaiveDate,
    ) -> Result<(Normalised, Option<Normalised>, Initiator), WebError> {
        let personal_number = normalise(
            IdentifierKind::SePersonalNumber,
            &self.personal_number,
            today,
        )
        .map_err(|_| WebError::Invalid("personal_number"))?;
        let caller_phone = match self.caller_phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(
                normalise(IdentifierKind::Phone, p, today)
                    .map_err(|_| WebError::Invalid("caller_phone"))?,
            ),
        };
        let initiator = match self.call_initiator.as_deref() {
            Some("rp") => Initiator::Rp,
            _ => Initiator::User,
        };
        Ok((personal_number, caller_phone, initiator))
    }
}

fn chrome(ctx: &Ctx) -> Chrome {
    let logout = ctx
        .session
        .as_ref()
        .filter(|s| s.row.agent_id.is_some())
        .map(|s| s.csrf());
    Chrome::new(ctx.lang, &ctx.path, logout).for_agent()
}

/// The agent of this console session, still enrolled and allowed in; otherwise back to
/// the console's login page.
async fn agent(state: &AppState, ctx: &Ctx) -> Result<Agent, WebError> {
    let agent_id = ctx
        .session
        .as_ref()
        .and_then(|s| s.row.agent_id.as_deref())
        .ok_or(WebError::AgentLogin)?;
    agents::still_allowed(&state.store, agent_id, state.clock.now())
        .await
        .map_err(|_| WebError::AgentLogin)
}

async fn login_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    if agent(&state, &ctx).await.is_ok() {
        return Ok(Redirect::to("/agent/console").into_response());
    }
    let (session, cookie) = super::consumer::session_for_form(&state, &ctx).await?;
    let page = render(&LoginPage {
        c: chrome(&ctx),
        csrf: session.csrf(),
    });
    Ok(super::consumer::with_cookie(page, cookie))
}

async fn login_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    let text = ctx.lang.texts().agent_title;
    super::consumer::begin_order(&state, &ctx, session, Intent::AgentLogin, text).await
}

async fn console(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let agent = agent(&state, &ctx).await?;
    let member = state.store.member(agent.member_id).await?;
    let csrf = ctx.session.as_ref().map(|s| s.csrf()).unwrap_or_default();
    Ok(render(&ConsolePage {
        c: chrome(&ctx),
        csrf,
        agent: agent.display_name,
        member: member.display_name,
    }))
}

/// What the agent's verifications are audited as: the member, with the agent as the key.
fn requester(agent: &Agent, ctx: &Ctx, state: &AppState) -> Requester {
    Requester::new(
        agent.member_id,
        format!("agent:{}", agent.id),
        ctx.request_id.clone(),
        None,
        state.clock.now(),
    )
}

fn callers_of(state: &AppState) -> Result<callers::Callers<'_>, WebError> {
    state.callers().map_err(|_| WebError::Unavailable)
}

fn caller_error(e: CallerError) -> WebError {
    match e {
        CallerError::NotFound => WebError::NotFound,
        CallerError::Invalid { field, .. } => WebError::Invalid(field),
        other => WebError::Internal(Box::new(other)),
    }
}

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<VerifyForm>,
) -> Result<Response, WebError> {
    ctx.checked(&form.csrf)?;
    let agent = agent(&state, &ctx).await?;
    let who = requester(&agent, &ctx, &state);
    let (personal_number, caller_phone, initiator) = form.inputs(who.at.date_naive())?;
    let member = state.store.member(agent.member_id).await?;
    let new = NewVerification {
        personal_number,
        initiator,
        caller_phone,
        agent_reference: None,
        agent_id: Some(agent.id.clone()),
        member_name: member.display_name,
        english: ctx.lang == super::Lang::En,
    };
    let v = callers::start(callers_of(&state)?, &who, new, None)
        .await
        .map_err(caller_error)?;
    Ok(Redirect::to(&format!("/agent/verifications/{}", v.id)).into_response())
}

/// The verification's state in plain words: the page renders it, and the page's script
/// gets it as JSON to update the page in place.
#[derive(Serialize)]
struct Shown {
    pending: bool,
    tone: &'static str,
    headline: &'static str,
    detail: String,
    warnings: Vec<&'static str>,
}

fn shown(t: &Texts, v: &Verification, english: bool) -> Shown {
    let (tone, headline, detail) = match (v.status, v.failure) {
        (Status::Pending, _) => (
            "wait",
            t.agent_pending,
            agent_hint(v.hint.as_deref(), english).to_string(),
        ),
        (Status::Complete, _) => (
            "ok",
            t.agent_verified,
            format!("{}: {}", t.agent_name, v.name.as_deref().unwrap_or("")),
        ),
        (Status::Failed, failure) => (
            "bad",
            t.agent_not_verified,
            match failure {
                Some(Failure::DeclinedCall) => t.agent_declined,
                Some(Failure::Cancelled) => t.agent_cancelled,
                Some(Failure::Expired) => t.agent_expired,
                Some(Failure::StartedElsewhere) => t.agent_started_elsewhere,
                Some(Failure::BankidUnavailable) => t.agent_unavailable,
                Some(Failure::Refused) | None => t.agent_bankid_refused,
            }
            .to_string(),
        ),
    };
    let warnings = v
        .warnings
        .iter()
        .map(|w| match w {
            Warning::Flagged { .. } => t.agent_warning_flagged,
            Warning::Reported { on, .. } if on == "caller_phone" => t.agent_warning_reported_phone,
            Warning::Reported { .. } => t.agent_warning_reported_pn,
        })
        .collect();
    Shown {
        pending: v.status == Status::Pending,
        tone,
        headline,
        detail,
        warnings,
    }
}

async fn current(state: &AppState, ctx: &Ctx, id: &str) -> Result<Verification, WebError> {
    let agent = agent(state, ctx).await?;
    let who = requester(&agent, ctx, state);
    let clock = state.clock.clone();
    // Only the agent's own member's verifications exist here (another's is a 404).
    callers::status(
        callers_of(state)?,
        &who,
        id,
        std::time::Duration::ZERO,
        move || clock.now(),
    )
    .await
    .map_err(caller_error)
}

async fn call_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let v = current(&state, &ctx, &id).await?;
    Ok(render(&CallPage {
        c: chrome(&ctx),
        csrf: ctx.session.as_ref().map(|s| s.csrf()).unwrap_or_default(),
        s: shown(ctx.lang.texts(), &v, ctx.lang == super::Lang::En),
        id: v.id,
    }))
}

async fn status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let v = current(&state, &ctx, &id).await?;
    Ok(axum::Json(shown(ctx.lang.texts(), &v, ctx.lang == super::Lang::En)).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    ctx.checked(&form.csrf)?;
    let agent = agent(&state, &ctx).await?;
    let who = requester(&agent, &ctx, &state);
    callers::cancel(callers_of(&state)?, &who, &id)
        .await
        .map_err(caller_error)?;
    Ok(Redirect::to(&format!("/agent/verifications/{id}")).into_response())
}
