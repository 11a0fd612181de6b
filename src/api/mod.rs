//! The member-facing HTTP API. Handlers are thin: extract, call the use case, shape the
//! answer. Which scope each route needs is stated once, in the route table.

mod audit;
mod bodies;
mod bulk;
mod callers;
mod client;
mod events;
mod extract;
mod flags;
mod health;
mod indicators;
mod matches;
mod ndjson;
mod openapi;
mod problem;
mod ratelimit;
mod routes;

pub use bodies::{RequestBody, check_request_body};
pub use client::{AuthFailures, ClientIp, ClientIpKey};
pub use ndjson::Lines as NdjsonLines;
pub use problem::ApiError;
pub use ratelimit::RateLimits;
pub use routes::{Operation, inventory as route_inventory};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::ToSchema;

use crate::audit::AuditSink;
use crate::audit::entry::Requester;
use crate::audit::log::AuditLog;
use crate::clock::Clock;
use crate::identifiers::{IdentifierKind, Normalised, normalise};
use crate::members::{AuthCache, Caller};
use crate::pseudonym::Pseudonymiser;
use crate::store::Store;
use extract::RequestId;

/// Tunables the handlers need, copied out of the validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_match_identifiers: usize,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub ip_rate_per_second: u32,
    pub ip_burst: u32,
    /// Retention rules; handlers need the idempotency TTL.
    pub retention: crate::retention::RetentionPolicy,
    /// Readiness fails when one audit commit runs longer than this.
    pub audit_stall: Duration,
    /// This instance's share of the per-client limit (`quota_instances`).
    pub quota_share: crate::quota_share::QuotaShare,
    /// Which indicators count, and for how much.
    pub indicators: crate::indicators::rules::IndicatorPolicy,
    /// Webhook delivery, and which URLs may be registered.
    pub webhooks: crate::events::webhooks::WebhookSettings,
    pub webhook_urls: crate::events::ssrf::UrlPolicy,
}

impl Settings {
    /// How long a long poll (`wait`) may hold a request: what the client asked for, but
    /// ending early enough to answer before the request deadline, which would otherwise
    /// turn "nothing new yet" into a 503 timeout.
    pub(crate) fn long_poll(&self, asked_secs: u64) -> Duration {
        const ANSWER_MARGIN: Duration = Duration::from_millis(500);
        Duration::from_secs(asked_secs).min(self.request_timeout.saturating_sub(ANSWER_MARGIN))
    }
}

/// What every handler reads, behind one `Arc`: axum clones the state for each handler
/// call and extractor, and a dozen reference counts per request showed up in profiles.
#[derive(Clone)]
pub struct AppState(Arc<HubState>);

impl AppState {
    pub fn new(state: HubState) -> Self {
        Self(Arc::new(state))
    }

    /// Changes before serving (`Hub::set_bankid`, a test swapping a part); copies the
    /// state if it is shared.
    pub fn make_mut(&mut self) -> &mut HubState {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = HubState;

    fn deref(&self) -> &HubState {
        &self.0
    }
}

#[derive(Clone)]
pub struct HubState {
    pub store: Store,
    pub audit: AuditSink,
    pub audit_log: AuditLog,
    pub pseudonymiser: Arc<Pseudonymiser>,
    /// Keeps `pseudonymiser` at the stored key state.
    pub keys: Arc<crate::hub::KeyFollower>,
    pub clock: Arc<dyn Clock>,
    pub limits: Arc<RateLimits>,
    pub enumeration: Arc<crate::enumeration::EnumerationGuard>,
    /// Members with a bulk match running on this instance.
    pub bulk_running: Arc<bulk::BulkRunning>,
    pub auth_failures: Arc<client::AuthFailures>,
    pub auth_cache: Arc<AuthCache>,
    pub settings: Arc<Settings>,
    /// The BankID routes the router mounts (the simulator's device surface in
    /// simulator mode); `None`, mounting nothing, unless set with
    /// `Hub::set_bankid` before `serve`. Handlers do not use it.
    pub bankid: Option<Arc<crate::bankid::BankId>>,
    /// The consumer pages' settings and per-person limits.
    pub web: Arc<crate::web::WebState>,
}

/// An identifier as sent on the wire: `{"kind": "se_personal_number", "value": "…"}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierInput {
    pub kind: IdentifierKind,
    pub value: String,
}

impl std::fmt::Debug for IdentifierInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentifierInput({}, <redacted>)", self.kind.as_str())
    }
}

impl IdentifierInput {
    /// Validates at the edge; `at` is the JSON path used in the error.
    pub fn normalise(&self, at: &str, now: DateTime<Utc>) -> Result<Normalised, ApiError> {
        normalise(self.kind, &self.value, now.date_naive()).map_err(|e| {
            ApiError::invalid(
                format!("{at}.value"),
                format!("invalid {}: {e}", self.kind.as_str()),
            )
        })
    }
}

impl AppState {
    /// Who is asking, in which request, and when: what the use cases audit.
    pub(crate) fn requester(&self, caller: &Caller, request: RequestId) -> Requester {
        Requester::new(
            caller.member.id,
            caller.key_id.clone(),
            request.id,
            request.correlation,
            self.clock.now(),
        )
    }

    pub(crate) fn matching(&self) -> crate::matching::Matching<'_> {
        crate::matching::Matching {
            store: &self.store,
            audit: &self.audit,
            pseudonymiser: &self.pseudonymiser,
            enumeration: &self.enumeration,
            policy: &self.settings.indicators,
        }
    }

    pub(crate) fn indicators(&self) -> crate::indicators::Indicators<'_> {
        crate::indicators::Indicators {
            store: &self.store,
            audit: &self.audit,
            pseudonymiser: &self.pseudonymiser,
            policy: &self.settings.indicators,
        }
    }

    /// Caller verification needs BankID; without it the routes answer 503.
    pub(crate) fn callers(&self) -> Result<crate::callers::Callers<'_>, ApiError> {
        let bankid = self.bankid.as_deref().ok_or(ApiError::Unavailable)?;
        Ok(crate::callers::Callers {
            store: &self.store,
            audit: &self.audit,
            pseudonymiser: &self.pseudonymiser,
            policy: &self.settings.indicators,
            bankid: bankid.client(),
            poll: bankid.poll_interval(),
        })
    }

    pub(crate) fn flags(&self) -> crate::flags::Flags<'_> {
        crate::flags::Flags {
            store: &self.store,
            audit: &self.audit,
            pseudonymiser: &self.pseudonymiser,
        }
    }
}

/// The default policy for every response that does not bring its own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The whole HTTP application; `serve` and the tests both use exactly this.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.settings.body_limit_bytes;
    // Hub routes come only from the route table, which the OpenAPI document is tested
    // against; do not add `.route` calls here. The BankID simulator's device surface is
    // not part of the member API and stays out of the document.
    let readiness = Arc::new(health::Readiness::new(health::READY_WINDOW));
    let hub_routes = routes::table(&readiness)
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.handler));
    hub_routes
        .merge(crate::bankid::embed::routes(state.bankid.as_deref()))
        .merge(crate::web::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            // Every layer in one `Router::layer` call, outermost first. Each call boxes
            // every route again, and a request clones each box it passes through (an
            // allocation each): fourteen calls cost fourteen per request, this one costs one
            // (docs/benchmarks.md, "Issue 14", step 17).
            ServiceBuilder::new()
                .layer(middleware::from_fn(hsts))
                .layer(middleware::from_fn(crate::metrics::track_http))
                // A client's X-Request-Id never becomes the request id (it was logged in
                // full and hashed into leaves); it survives only as a checked correlation id.
                .layer(middleware::from_fn_with_state(
                    Arc::<[std::net::IpAddr]>::from(state.settings.trusted_proxies.as_slice()),
                    client::edge,
                ))
                .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                // The API serves no HTML: nothing may load, run or frame its responses.
                // Pages that need more (the BankID simulator's) set their own policy, which
                // is kept.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            // Keyed by the matched route template, never the raw path.
                            let route = req
                                .extensions()
                                .get::<MatchedPath>()
                                .map_or("unmatched", MatchedPath::as_str);
                            let request_id = req
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), route, request_id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(DefaultBodyLimit::max(body_limit))
                .option_layer(client_limit(&state.settings))
                .layer(middleware::from_fn_with_state(
                    state.keys.clone(),
                    keys_in_step,
                ))
                .layer(middleware::from_fn_with_state(
                    state.settings.clone(),
                    deadline,
                )),
        )
        .with_state(state)
}

/// A hub whose keyring lacks a key version the stored key state needs would write tokens
/// nobody finds and miss rows at that version: it answers 503 until it has the key
/// (docs/operations.md, "Key rotation").
/// Each request first follows a key state change it is the first to notice, so no request
/// after `keys rotate` announced a switch still writes or looks up at the old version only.
async fn keys_in_step(
    State(keys): State<Arc<crate::hub::KeyFollower>>,
    req: Request,
    next: Next,
) -> Response {
    keys.follow().await;
    if !keys.pseudonymiser().in_step() {
        return ApiError::Unavailable.into_response();
    }
    next.run(req).await
}

/// HSTS on every answer given over TLS that `serve` terminated (behind a TLS proxy, the
/// proxy sets it; the pages set it themselves from `X-Forwarded-Proto`).
async fn hsts(req: Request, next: Next) -> Response {
    let tls = req.extensions().get::<crate::server::OverTls>().is_some();
    let mut resp = next.run(req).await;
    if tls {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

/// Per-client-address limit on every route, before authentication (tower_governor keyed
/// by the resolved client address): anonymous floods and key guessing hit this first.
/// This instance enforces its share of the configured rate and burst.
fn client_limit(
    settings: &Settings,
) -> Option<
    tower_governor::GovernorLayer<
        client::ClientIpKey,
        governor::middleware::NoOpMiddleware,
        axum::body::Body,
    >,
> {
    let share = settings.quota_share;
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .key_extractor(client::ClientIpKey)
        .period(share.interval(
            Duration::from_secs(1),
            u64::from(settings.ip_rate_per_second),
        ))
        .burst_size(share.count_u32(settings.ip_burst).get())
        .finish();
    if config.is_none() {
        // Only a zero period or burst is refused, and both are clamped above.
        tracing::error!("per-client rate limit could not be configured");
    }
    config.map(|c| tower_governor::GovernorLayer::new(c).error_handler(client::governor_refusal))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} is not allowed on this resource", req.method()))
}

/// Bounds every request. Body-size rejections from axum are re-shaped here too, so
/// every error leaves as problem+json.
/// Its state is only the settings: an `AppState` clone per request showed up in profiles.
async fn deadline(State(settings): State<Arc<Settings>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(settings.request_timeout, next.run(req)).await {
        Ok(resp) if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(settings.body_limit_bytes).into_response()
        }
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
