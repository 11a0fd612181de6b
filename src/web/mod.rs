//! Server-rendered pages: the consumer's site (log in with BankID, flag your own
//! personal number, see who checked you, export). Handlers only extract, call the use
//! cases (`flags::own`, `consumers`) and render; sessions, CSRF, languages and the
//! security headers live here, once, for every page.

mod agent;
mod config;
mod consumer;
mod finish;
mod i18n;
mod orders;
mod pages;
mod session;

pub use config::WebConfig;
pub use i18n::{Lang, Rfa};
pub use session::{COOKIE as SESSION_COOKIE, session_id};

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::api::{AppState, ClientIp};
use session::{Session, Sessions};

/// What the pages need beyond the member API's state.
pub struct WebState {
    pub config: WebConfig,
    /// Flag actions per person (keyed by token), per hour.
    person_actions: DefaultKeyedRateLimiter<[u8; 32]>,
    trusted_proxies: Vec<IpAddr>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebState {
    pub fn new(config: WebConfig, trusted_proxies: Vec<IpAddr>) -> Self {
        let per_hour = NonZeroU32::new(config.flag_actions_per_hour).unwrap_or(NonZeroU32::MIN);
        Self {
            person_actions: RateLimiter::keyed(Quota::per_hour(per_hour)),
            config,
            trusted_proxies,
        }
    }

    fn sessions<'a>(&'a self, state: &'a AppState) -> Sessions<'a> {
        Sessions {
            store: &state.store,
            config: &self.config,
        }
    }
}

/// The pages' routes, with their own limits and headers; merged into the hub's router.
pub fn router(state: &AppState) -> Router<AppState> {
    let web = state.web.clone();
    let limited = consumer::limited_routes()
        .merge(agent::limited_routes())
        .layer(tower::util::option_layer(ip_limit(&web.config)));
    consumer::open_routes()
        .merge(agent::open_routes())
        .merge(limited)
        .layer(axum::middleware::from_fn_with_state(web, finish::finish))
}

/// tower_governor per client address on login starts, status polls and form posts.
fn ip_limit(
    config: &WebConfig,
) -> Option<
    tower_governor::GovernorLayer<
        crate::api::ClientIpKey,
        governor::middleware::NoOpMiddleware,
        axum::body::Body,
    >,
> {
    let period = Duration::from_secs(1) / config.rate_per_second.max(1);
    let built = tower_governor::governor::GovernorConfigBuilder::default()
        .key_extractor(crate::api::ClientIpKey)
        .period(period.max(Duration::from_micros(1)))
        .burst_size(config.burst.max(1))
        .finish();
    if built.is_none() {
        // Only a zero period or burst is refused, and both are clamped above.
        tracing::error!("per-client page limit could not be configured");
    }
    built.map(|c| tower_governor::GovernorLayer::new(c).error_handler(finish::too_many))
}

/// What every page handler starts from: the language, the session (if the request
/// presented a live one) and who is asking.
pub struct Ctx {
    pub lang: Lang,
    pub session: Option<Session>,
    pub client_ip: IpAddr,
    pub request_id: String,
    /// The request comes from one of our own pages (Origin / Sec-Fetch-Site), or the
    /// browser sent neither header.
    same_origin: bool,
    path: String,
}

pub const LANG_COOKIE: &str = "__Host-fh_lang";

pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        cookie(headers, LANG_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Whether a state-changing request comes from this site. Browsers say where a request
/// comes from in `Sec-Fetch-Site`, which page scripts cannot set; without it, an
/// `Origin` naming another site is refused. (`Origin: null` is what browsers send for
/// our own form posts under `Referrer-Policy: no-referrer`, so it proves nothing either
/// way; the CSRF token, checked as well, decides.)
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let Some(origin) = origin.filter(|o| *o != "null") else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bare = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    bare == Some(host)
}

impl<S> FromRequestParts<S> for Ctx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let state = AppState::from_ref(state);
        let now = state.clock.now();
        let session = match cookie(&parts.headers, session::COOKIE) {
            Some(value) => state.web.sessions(&state).load(value, now).await?,
            None => None,
        };
        Ok(Ctx {
            lang: lang_of(&parts.headers),
            session,
            client_ip: parts
                .extensions
                .get::<ClientIp>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string(),
            same_origin: same_origin(&parts.headers),
            path: parts.uri.path().to_string(),
        })
    }
}

impl Ctx {
    /// The session of a state-changing request: it must exist, come from this site and
    /// carry the session's CSRF token.
    pub fn checked(&self, csrf: &str) -> Result<&Session, WebError> {
        if !self.same_origin {
            return Err(WebError::Forbidden);
        }
        let session = self.session.as_ref().ok_or(WebError::Forbidden)?;
        if !session.csrf_matches(csrf) {
            return Err(WebError::Forbidden);
        }
        Ok(session)
    }

    /// The logged-in person's session, or a redirect to the login page. An agent
    /// console session is not a consumer session.
    pub fn person(&self) -> Result<(&Session, crate::pseudonym::Token), WebError> {
        let session = self
            .session
            .as_ref()
            .filter(|s| s.row.agent_id.is_none())
            .ok_or(WebError::NotLoggedIn)?;
        let person = session.person().ok_or(WebError::NotLoggedIn)?;
        Ok((session, person))
    }
}

/// A form the pages post, by what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageForm {
    /// The forms that carry only the CSRF token: log in and out, lift a flag, the agent
    /// console's log-in and cancel.
    Csrf,
    /// `POST /my/flags`
    PlaceFlag,
    /// `POST /my/flags/{id}/renew`
    RenewFlag,
    /// `POST /agent/verifications`
    AgentVerify,
}

impl PageForm {
    pub const ALL: [PageForm; 4] = [
        Self::Csrf,
        Self::PlaceFlag,
        Self::RenewFlag,
        Self::AgentVerify,
    ];
}

/// Reads `request`'s body as `form` with the extractor its handler uses and checks the
/// fields as the handler does before BankID is asked or anything stored (the session,
/// CSRF and rate checks aside, which need a hub): the public way to drive the pages'
/// form parsing. A refusal is the response the handler would give.
pub async fn check_form(
    form: PageForm,
    request: axum::extract::Request,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Response> {
    use axum::extract::{Form, FromRequest};
    async fn read<T: serde::de::DeserializeOwned>(
        request: axum::extract::Request,
    ) -> Result<T, Response> {
        Form::<T>::from_request(request, &())
            .await
            .map(|Form(form)| form)
            .map_err(IntoResponse::into_response)
    }
    let checked = match form {
        PageForm::Csrf => return read::<consumer::CsrfForm>(request).await.map(drop),
        PageForm::PlaceFlag => read::<consumer::PlaceForm>(request)
            .await?
            .checked(now)
            .map(drop),
        PageForm::RenewFlag => read::<consumer::RenewForm>(request).await?.days().map(drop),
        PageForm::AgentVerify => read::<agent::VerifyForm>(request)
            .await?
            .inputs(now.date_naive())
            .map(drop),
    };
    checked.map_err(IntoResponse::into_response)
}

/// Why a page could not be served. Rendered in the request's language by
/// [`finish::finish`], which knows the language; internals are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not logged in")]
    NotLoggedIn,
    /// No agent console session (or the agent may no longer use it).
    #[error("not logged in to the agent console")]
    AgentLogin,
    #[error("forbidden (CSRF or origin check)")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("flag cannot be changed")]
    NotChangeable,
    #[error("signed by another person")]
    SignedByOther,
    #[error("bankid: {0:?}")]
    BankId(Rfa),
    #[error("too many flag actions")]
    TooMany { retry_after_secs: u64 },
    #[error("BankID is not configured")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(Box::new(e))
    }
}

/// The failure a response stands for, for [`finish::finish`] to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Forbidden,
    NotFound,
    InvalidPoliceReport,
    InvalidDuration,
    InvalidPersonalNumber,
    InvalidPhone,
    NotChangeable,
    SignedByOther,
    BankId(Rfa),
    Unavailable,
    Internal,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, failure) = match self {
            WebError::NotLoggedIn => return Redirect::to("/login").into_response(),
            WebError::AgentLogin => return Redirect::to("/agent").into_response(),
            WebError::TooMany { retry_after_secs } => {
                return finish::too_many_response(retry_after_secs);
            }
            WebError::Forbidden => (StatusCode::FORBIDDEN, Failure::Forbidden),
            WebError::NotFound => (StatusCode::NOT_FOUND, Failure::NotFound),
            WebError::Invalid("police_report_reference") => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Failure::InvalidPoliceReport,
            ),
            WebError::Invalid("personal_number") => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Failure::InvalidPersonalNumber,
            ),
            WebError::Invalid("caller_phone") => {
                (StatusCode::UNPROCESSABLE_ENTITY, Failure::InvalidPhone)
            }
            WebError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, Failure::InvalidDuration),
            WebError::NotChangeable => (StatusCode::CONFLICT, Failure::NotChangeable),
            WebError::SignedByOther => (StatusCode::FORBIDDEN, Failure::SignedByOther),
            WebError::BankId(rfa) => (StatusCode::BAD_GATEWAY, Failure::BankId(rfa)),
            WebError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Failure::Unavailable),
            WebError::Internal(e) => {
                tracing::error!(error = %crate::errors::Chain(&*e), "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, Failure::Internal)
            }
        };
        let mut resp = status.into_response();
        resp.extensions_mut().insert(failure);
        resp
    }
}
