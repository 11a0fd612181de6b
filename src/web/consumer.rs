//! The consumer's pages: start, BankID login, my page (flags), who checked me, export,
//! logout. Each handler extracts, calls a use case and renders.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::i18n::{Lang, Rfa};
use super::orders::{self, Intent, PendingOrder};
use super::pages::{
    BankIdPage, Chrome, DonePage, FlagView, LoginPage, LookupView, LookupsPage, MessagePage,
    MyPage, StartPage, local_date, local_time, render, safe_path,
};
use super::session::Session;
use super::{Ctx, LANG_COOKIE, WebError};
use crate::api::AppState;
use crate::audit::entry::{Actor, PersonRequester};
use crate::bankid::{BankIdClient, CollectStatus, CompletionData};
use crate::clock::{from_millis, to_millis};
use crate::consumers;
use crate::flags::own;
use crate::flags::{FlagError, FlagStatus, rules};
use crate::identifiers::{IdentifierKind, Normalised, normalise};
use crate::pseudonym::Token;

/// Pages and reads that are not limited per address.
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(start_page))
        .route("/login", get(login_page))
        .route("/bankid", get(bankid_page))
        .route("/bankid/qr.svg", get(bankid_qr))
        .route("/bankid/result", get(bankid_result))
        .route("/my", get(my_page))
        .route("/my/done", get(done_page))
        .route("/my/lookups", get(lookups_page))
        .route("/lang/{lang}", get(set_lang))
        .route("/static/{name}", get(asset))
}

/// Login starts, status polls, exports and every form post: limited per client address.
pub fn limited_routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login_start))
        .route("/bankid/status", get(bankid_status))
        .route("/bankid/cancel", post(bankid_cancel))
        .route("/my/flags", post(place_flag))
        .route("/my/flags/{id}/renew", post(renew_flag))
        .route("/my/flags/{id}/lift", post(lift_flag))
        .route("/my/export", get(export))
        .route("/logout", post(logout))
}

/// What the session shows once on the next page.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notice {
    Placed { until_ms: i64 },
    Renewed { until_ms: i64 },
    Lifted,
    BankId { rfa: Rfa },
    SignedByOther,
    NotChangeable,
    Invalid,
    AgentRefused,
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct PlaceForm {
    csrf: String,
    duration_days: Option<String>,
    police_report_reference: Option<String>,
}

impl PlaceForm {
    /// The flag's days, its expiry and the normalised police report number.
    pub(super) fn checked(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>, Option<String>), WebError> {
        let days = days(self.duration_days.as_deref())?;
        let (until, report) =
            rules::check_own_flag(self.police_report_reference.as_deref(), days, now)
                .map_err(rule_error)?;
        Ok((days, until, report))
    }
}

#[derive(Deserialize)]
pub(super) struct RenewForm {
    csrf: String,
    duration_days: Option<String>,
}

impl RenewForm {
    pub(super) fn days(&self) -> Result<i64, WebError> {
        days(self.duration_days.as_deref())
    }
}

fn chrome(ctx: &Ctx) -> Chrome {
    let logout = ctx
        .session
        .as_ref()
        .filter(|s| s.person().is_some())
        .map(Session::csrf);
    Chrome::new(ctx.lang, &ctx.path, logout)
}

fn client(state: &AppState) -> Result<&BankIdClient, WebError> {
    state
        .bankid
        .as_deref()
        .map(crate::bankid::BankId::client)
        .ok_or(WebError::Unavailable)
}

fn see_other_with_cookie(to: &str, cookie: Option<String>) -> Response {
    let mut resp = Redirect::to(to).into_response();
    if let Some(c) = cookie.and_then(|c| c.parse().ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn start_page(ctx: Ctx) -> Response {
    render(&StartPage { c: chrome(&ctx) })
}

async fn login_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    if ctx.person().is_ok() {
        return Ok(Redirect::to("/my").into_response());
    }
    let (session, cookie) = session_for_form(&state, &ctx).await?;
    let page = render(&LoginPage {
        c: chrome(&ctx),
        csrf: session.csrf(),
    });
    Ok(with_cookie(page, cookie))
}

/// The session a login form belongs to: the request's, or a new one without a person
/// (the form needs a CSRF token) with the cookie to set.
pub(super) async fn session_for_form(
    state: &AppState,
    ctx: &Ctx,
) -> Result<(Session, Option<String>), WebError> {
    match &ctx.session {
        Some(s) => Ok((s.clone(), None)),
        None => {
            let s = state.web.sessions(state).start(state.clock.now()).await?;
            let cookie = s.cookie();
            Ok((s, Some(cookie)))
        }
    }
}

pub(super) fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| c.parse().ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn login_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    let text = ctx.lang.texts().login_visible;
    begin_order(&state, &ctx, session, Intent::Login, text).await
}

/// Starts a BankID order for the session (cancelling one it already had) and sends the
/// browser to the order page.
pub(super) async fn begin_order(
    state: &AppState,
    ctx: &Ctx,
    session: &Session,
    intent: Intent,
    visible: &str,
) -> Result<Response, WebError> {
    let client = client(state)?;
    if let Some(earlier) = session
        .row
        .pending
        .as_deref()
        .and_then(PendingOrder::from_json)
    {
        // Best effort: an order left behind expires at BankID by itself.
        if let Err(e) = client.cancel(&earlier.order_ref).await {
            tracing::info!(error = %e, "cancelling a replaced BankID order failed");
        }
    }
    let order = orders::start(
        client,
        &ctx.client_ip.to_string(),
        intent,
        visible,
        state.clock.now(),
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "starting a BankID order failed");
        WebError::BankId(Rfa::for_error(&e))
    })?;
    state
        .store
        .set_session_pending(session.id_hash(), Some(&order.to_json()))
        .await?;
    Ok(Redirect::to("/bankid").into_response())
}

/// Where a collect left the order.
enum Progress {
    Waiting(Rfa),
    Finished {
        next: &'static str,
        cookie: Option<String>,
    },
    Failed,
}

async fn progress(state: &AppState, ctx: &Ctx) -> Result<Progress, WebError> {
    let Some(session) = ctx.session.as_ref() else {
        return Ok(Progress::Finished {
            next: "/login",
            cookie: None,
        });
    };
    let Some(json) = session.row.pending.as_deref() else {
        let next = if session.person().is_some() {
            "/my"
        } else {
            "/login"
        };
        return Ok(Progress::Finished { next, cookie: None });
    };
    let Some(order) = PendingOrder::from_json(json) else {
        state
            .store
            .set_session_pending(session.id_hash(), None)
            .await?;
        return Ok(Progress::Finished {
            next: "/login",
            cookie: None,
        });
    };
    let collected = match orders::collect(client(state)?, &order).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "collecting a BankID order failed");
            fail(
                state,
                session,
                json,
                Notice::BankId {
                    rfa: Rfa::for_error(&e),
                },
            )
            .await?;
            return Ok(Progress::Failed);
        }
    };
    match collected.status {
        CollectStatus::Pending => Ok(Progress::Waiting(Rfa::for_hint(
            collected.hint_code.as_ref(),
            false,
            true,
        ))),
        CollectStatus::Failed => {
            let rfa = Rfa::for_hint(collected.hint_code.as_ref(), true, true);
            fail(state, session, json, Notice::BankId { rfa }).await?;
            Ok(Progress::Failed)
        }
        CollectStatus::Complete => {
            // Of two polls that saw the completion, only the one that takes the order acts.
            if !state
                .store
                .take_session_pending(session.id_hash(), json)
                .await?
            {
                return Ok(Progress::Finished {
                    next: "/my",
                    cookie: None,
                });
            }
            let Some(done) = collected.completion_data else {
                notice(state, session, &Notice::BankId { rfa: Rfa::Rfa22 }).await?;
                return Ok(Progress::Failed);
            };
            complete(state, ctx, session, &order, &done).await
        }
    }
}

async fn fail(state: &AppState, session: &Session, json: &str, n: Notice) -> Result<(), WebError> {
    if state
        .store
        .take_session_pending(session.id_hash(), json)
        .await?
    {
        notice(state, session, &n).await?;
    }
    Ok(())
}

async fn notice(state: &AppState, session: &Session, n: &Notice) -> Result<(), WebError> {
    let json = serde_json::to_string(n).map_err(|e| WebError::Internal(Box::new(e)))?;
    state
        .store
        .set_session_notice(session.id_hash(), Some(&json))
        .await?;
    Ok(())
}

/// The person BankID identified, only ever turned into tokens: the personal number goes
/// no further.
fn person_id(state: &AppState, done: &CompletionData) -> Result<Normalised, WebError> {
    let today = state.clock.now().date_naive();
    normalise(
        IdentifierKind::SePersonalNumber,
        done.user.personal_number.as_str(),
        today,
    )
    .map_err(|_| WebError::BankId(Rfa::Rfa22))
}

async fn complete(
    state: &AppState,
    ctx: &Ctx,
    session: &Session,
    order: &PendingOrder,
    done: &CompletionData,
) -> Result<Progress, WebError> {
    let id = person_id(state, done)?;
    // Sessions look the person's rows up by this token, so it stays at the current
    // version during a key switch (see `Pseudonymiser::settled_token`).
    let token = state.pseudonymiser.settled_token(&id);
    let now = state.clock.now();
    if order.intent == Intent::Login {
        let fresh = state
            .web
            .sessions(state)
            .log_in(session, token, &done.user.name, None, now)
            .await?;
        return Ok(Progress::Finished {
            next: "/my",
            cookie: Some(fresh.cookie()),
        });
    }
    if order.intent == Intent::AgentLogin {
        let Ok(agent) = crate::callers::agents::console_login(
            &state.store,
            &state.pseudonymiser.lookup_tokens(&id),
            now,
        )
        .await
        else {
            notice(state, session, &Notice::AgentRefused).await?;
            return Ok(Progress::Failed);
        };
        let fresh = state
            .web
            .sessions(state)
            .log_in(session, token, &agent.display_name, Some(&agent.id), now)
            .await?;
        return Ok(Progress::Finished {
            next: "/agent/console",
            cookie: Some(fresh.cookie()),
        });
    }
    if !session
        .person()
        .is_some_and(|p| state.pseudonymiser.is_token_of(&p, &id))
    {
        notice(state, session, &Notice::SignedByOther).await?;
        return Ok(Progress::Failed);
    }
    let (subject, previous) = state.pseudonymiser.lookup_pair(&id);
    let who = PersonRequester {
        subject,
        previous,
        order_ref: order.order_ref.clone(),
        request_id: ctx.request_id.clone(),
        at: now,
    };
    let decided = from_millis(order.started_at_ms);
    let result = match &order.intent {
        Intent::Login | Intent::AgentLogin => return Ok(Progress::Failed),
        Intent::Place {
            days,
            police_report,
        } => own::place(
            state.flags(),
            &who,
            *days,
            police_report.as_deref(),
            decided,
        )
        .await
        .map(|f| Notice::Placed {
            until_ms: to_millis(f.expires_at),
        }),
        Intent::Renew { flag_id, days } => own::renew(state.flags(), &who, flag_id, *days, decided)
            .await
            .map(|f| Notice::Renewed {
                until_ms: to_millis(f.expires_at),
            }),
        Intent::Lift { flag_id } => own::lift(state.flags(), &who, flag_id)
            .await
            .map(|_| Notice::Lifted),
    };
    let n = match result {
        Ok(n) => n,
        Err(FlagError::NotChangeable | FlagError::NotFound) => Notice::NotChangeable,
        Err(FlagError::Rule(_)) => Notice::Invalid,
        Err(e) => return Err(WebError::Internal(Box::new(e))),
    };
    let failed = !matches!(
        n,
        Notice::Placed { .. } | Notice::Renewed { .. } | Notice::Lifted
    );
    notice(state, session, &n).await?;
    Ok(if failed {
        Progress::Failed
    } else {
        Progress::Finished {
            next: "/my/done",
            cookie: None,
        }
    })
}

/// The order page without scripts: every load collects once.
async fn bankid_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let order = ctx
        .session
        .as_ref()
        .and_then(|s| s.row.pending.as_deref())
        .and_then(PendingOrder::from_json);
    match progress(&state, &ctx).await? {
        Progress::Finished { next, cookie } => Ok(see_other_with_cookie(next, cookie)),
        Progress::Failed => Ok(Redirect::to("/bankid/result").into_response()),
        Progress::Waiting(rfa) => {
            let (Some(order), Some(session)) = (order, ctx.session.as_ref()) else {
                return Ok(Redirect::to("/login").into_response());
            };
            let t = ctx.lang.texts();
            Ok(render(&BankIdPage {
                c: chrome(&ctx),
                title: if order.intent.is_sign() {
                    t.bankid_title_sign
                } else {
                    t.bankid_title_login
                },
                message: rfa.text(ctx.lang == Lang::Sv),
                autostart: order.autostart_link(),
                csrf: session.csrf(),
            }))
        }
    }
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<&'static str>,
}

/// The page script's poll (every 2 s, as BankID asks).
async fn bankid_status(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let sv = ctx.lang == Lang::Sv;
    let (status, cookie) = match progress(&state, &ctx).await? {
        Progress::Waiting(rfa) => (
            Status {
                status: "pending",
                message: rfa.text(sv),
                next: None,
            },
            None,
        ),
        Progress::Finished { next, cookie } => (
            Status {
                status: "complete",
                message: "",
                next: Some(next),
            },
            cookie,
        ),
        Progress::Failed => (
            Status {
                status: "failed",
                message: "",
                next: Some("/bankid/result"),
            },
            None,
        ),
    };
    Ok(with_cookie(axum::Json(status).into_response(), cookie))
}

async fn bankid_qr(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let order = ctx
        .session
        .as_ref()
        .and_then(|s| s.row.pending.as_deref())
        .and_then(PendingOrder::from_json)
        .ok_or(WebError::NotFound)?;
    let svg = orders::qr_svg(&order.qr_content(state.clock.now()))
        .ok_or_else(|| WebError::Internal("QR code could not be encoded".into()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

async fn bankid_cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    if let Some(json) = session.row.pending.as_deref() {
        if let Some(order) = PendingOrder::from_json(json)
            && let Err(e) = client(&state)?.cancel(&order.order_ref).await
        {
            tracing::info!(error = %e, "cancelling a BankID order failed");
        }
        fail(&state, session, json, Notice::BankId { rfa: Rfa::Rfa6 }).await?;
    }
    Ok(Redirect::to("/bankid/result").into_response())
}

/// Shows (once) why the last order ended without success.
async fn bankid_result(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let Some(session) = ctx.session.as_ref() else {
        return Ok(Redirect::to("/").into_response());
    };
    let next = if session.person().is_some() {
        "/my"
    } else {
        "/login"
    };
    let Some(n) = take_notice(&state, session).await? else {
        return Ok(Redirect::to(next).into_response());
    };
    let t = ctx.lang.texts();
    let message = match n {
        Notice::BankId { rfa } => rfa.text(ctx.lang == Lang::Sv),
        Notice::SignedByOther => t.signed_by_other,
        Notice::NotChangeable => t.not_changeable,
        Notice::Invalid => t.invalid_duration,
        Notice::AgentRefused => {
            return Ok(render(&MessagePage {
                c: chrome(&ctx),
                title: t.error_title,
                message: t.agent_refused,
                alert: true,
                link: Some(("/agent", t.try_again)),
            }));
        }
        Notice::Placed { .. } | Notice::Renewed { .. } | Notice::Lifted => {
            return Ok(Redirect::to("/my").into_response());
        }
    };
    Ok(render(&MessagePage {
        c: chrome(&ctx),
        title: t.error_title,
        message,
        alert: true,
        link: Some((next, t.try_again)),
    }))
}

async fn take_notice(state: &AppState, session: &Session) -> Result<Option<Notice>, WebError> {
    let Some(json) = session.row.notice.as_deref() else {
        return Ok(None);
    };
    state
        .store
        .set_session_notice(session.id_hash(), None)
        .await?;
    Ok(serde_json::from_str(json).ok())
}

async fn my_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let (session, person) = ctx.person()?;
    let now = state.clock.now();
    let t = ctx.lang.texts();
    let flags = own::on_person(&state.store, &state.pseudonymiser.consult(&person))
        .await
        .map_err(|e| WebError::Internal(Box::new(e)))?;
    let (active, past): (Vec<_>, Vec<_>) = flags
        .iter()
        .partition(|f| f.flag.status(now) == FlagStatus::Active);
    Ok(render(&MyPage {
        c: chrome(&ctx),
        csrf: session.csrf(),
        name: session.row.display_name.clone().unwrap_or_default(),
        active: active
            .into_iter()
            .map(|f| FlagView::new(t, f, now))
            .collect(),
        past: past.into_iter().map(|f| FlagView::new(t, f, now)).collect(),
    }))
}

async fn done_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let (session, _) = ctx.person()?;
    let t = ctx.lang.texts();
    let (message, until) = match take_notice(&state, session).await? {
        Some(Notice::Placed { until_ms }) => {
            (t.done_placed, Some(local_date(from_millis(until_ms))))
        }
        Some(Notice::Renewed { until_ms }) => {
            (t.done_renewed, Some(local_date(from_millis(until_ms))))
        }
        Some(Notice::Lifted) => (t.done_lifted, None),
        _ => return Ok(Redirect::to("/my").into_response()),
    };
    Ok(render(&DonePage {
        c: chrome(&ctx),
        message,
        until,
    }))
}

fn days(text: Option<&str>) -> Result<i64, WebError> {
    text.unwrap_or("365")
        .trim()
        .parse()
        .map_err(|_| WebError::Invalid("duration_days"))
}

/// One flag action per person is charged here, before BankID is asked.
fn charge_person(state: &AppState, person: &Token) -> Result<(), WebError> {
    state
        .web
        .person_actions
        .check_key(&person.bytes)
        .map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            WebError::TooMany {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
}

fn rule_error(e: rules::FlagRuleError) -> WebError {
    WebError::Invalid(e.field)
}

async fn place_flag(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<PlaceForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    let (_, person) = ctx.person()?;
    let now = state.clock.now();
    let (days, until, report) = form.checked(now)?;
    charge_person(&state, &person)?;
    let t = ctx.lang.texts();
    let mut text = format!(
        "{}\n\n{} {}.",
        t.sign_place,
        t.sign_until,
        local_date(until)
    );
    if let Some(r) = &report {
        text.push_str(&format!("\n{}: {r}", t.sign_report));
    }
    let intent = Intent::Place {
        days,
        police_report: report,
    };
    begin_order(&state, &ctx, session, intent, &text).await
}

async fn own_active_flag(
    state: &AppState,
    person: &Token,
    id: &str,
    now: DateTime<Utc>,
) -> Result<crate::flags::Flag, WebError> {
    let flags = own::on_person(&state.store, &state.pseudonymiser.consult(person))
        .await
        .map_err(|e| WebError::Internal(Box::new(e)))?;
    let found = flags
        .into_iter()
        .find(|f| f.flag.id == id)
        .ok_or(WebError::NotFound)?;
    if !found.is_own() || found.flag.status(now) != FlagStatus::Active {
        return Err(WebError::NotChangeable);
    }
    Ok(found.flag)
}

async fn renew_flag(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<RenewForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    let (_, person) = ctx.person()?;
    let days = form.days()?;
    let now = state.clock.now();
    let flag = own_active_flag(&state, &person, &id, now).await?;
    let until = rules::renewed_expiry(&flag, days, now).map_err(rule_error)?;
    charge_person(&state, &person)?;
    let t = ctx.lang.texts();
    let text = format!(
        "{}\n\n{} {}.",
        t.sign_renew,
        t.sign_until,
        local_date(until)
    );
    begin_order(
        &state,
        &ctx,
        session,
        Intent::Renew { flag_id: id, days },
        &text,
    )
    .await
}

async fn lift_flag(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    let (_, person) = ctx.person()?;
    own_active_flag(&state, &person, &id, state.clock.now()).await?;
    charge_person(&state, &person)?;
    let text = ctx.lang.texts().sign_lift;
    begin_order(&state, &ctx, session, Intent::Lift { flag_id: id }, text).await
}

#[derive(Deserialize)]
struct Before {
    before: Option<i64>,
}

async fn lookups_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Before>,
) -> Result<Response, WebError> {
    let (_, person) = ctx.person()?;
    let t = ctx.lang.texts();
    let rows = consumers::lookups(
        &state.store,
        &state.pseudonymiser.consult(&person),
        q.before,
        consumers::PAGE,
    )
    .await
    .map_err(|e| WebError::Internal(Box::new(e)))?;
    let older = (rows.len() == usize::try_from(consumers::PAGE).unwrap_or(25))
        .then(|| {
            rows.last()
                .map(|l| format!("/my/lookups?before={}", l.leaf_index))
        })
        .flatten();
    let views = rows
        .iter()
        .map(|l| LookupView {
            when: local_time(l.at),
            who: match (&l.member_name, &l.actor) {
                (Some(name), _) => name.clone(),
                (None, Actor::Person) => t.you.to_string(),
                (None, _) => t.the_hub.to_string(),
            },
            what: t.action(l.action, l.outcome),
            why: t.purpose(l.purpose),
            told: t.told(l.action, l.outcome),
        })
        .collect();
    Ok(render(&LookupsPage {
        c: chrome(&ctx),
        rows: views,
        older,
        paged: q.before.is_some(),
    }))
}

async fn export(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    let (session, person) = ctx.person()?;
    let file = consumers::export(
        &state.store,
        &state.audit_log,
        &state.pseudonymiser.consult(&person),
        session.row.display_name.as_deref(),
        state.clock.now(),
    )
    .await
    .map_err(|e| WebError::Internal(Box::new(e)))?;
    let body = serde_json::to_vec_pretty(&file).map_err(|e| WebError::Internal(Box::new(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"fraudhub-my-data.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = ctx.checked(&form.csrf)?;
    state.web.sessions(&state).end(session).await?;
    let t = ctx.lang.texts();
    let page = render(&MessagePage {
        c: Chrome::new(ctx.lang, "/", None),
        title: t.logged_out_title,
        message: t.logged_out_text,
        alert: false,
        link: Some(("/", t.start_title)),
    });
    Ok(with_cookie(page, Some(super::session::clear_cookie())))
}

#[derive(Deserialize)]
struct To {
    to: Option<String>,
}

async fn set_lang(Path(lang): Path<String>, Query(q): Query<To>) -> Response {
    let Some(lang) = Lang::parse(&lang) else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    let to = safe_path(q.to.as_deref().unwrap_or("/")).to_string();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    see_other_with_cookie(&to, Some(cookie))
}

/// The pages' own files (no inline script or style anywhere, so CSP allows only these).
async fn asset(Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "site.css" => ("text/css; charset=utf-8", include_str!("static/site.css")),
        "bankid.js" => (
            "text/javascript; charset=utf-8",
            include_str!("static/bankid.js"),
        ),
        "agent.js" => (
            "text/javascript; charset=utf-8",
            include_str!("static/agent.js"),
        ),
        _ => return WebError::NotFound.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
