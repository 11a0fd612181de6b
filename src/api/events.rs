//! `/v1/watchlist`, `/v1/events` and `/v1/webhooks`: what a member watches, the feed of
//! what happened to it, and the endpoints the feed is pushed to.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery, media_type};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::events::webhooks::{self, Webhook, WebhookError};
use crate::events::{self, EventBody, EventType, WatchError};
use crate::identifiers::IdentifierKind;
use crate::members::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    pub identifier: IdentifierInput,
    /// The member's own reference (its customer number, say): 1..=128 characters once
    /// surrounding whitespace is trimmed, not all blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[\t\n\x0b\x0c\r \x85]*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85]*$"
    )]
    pub reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnwatchRequest {
    pub identifier: IdentifierInput,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchedView {
    pub kind: IdentifierKind,
    pub reference: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchedList {
    pub watched: Vec<WatchedView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unwatched {
    /// False when the identifier was not watched.
    pub removed: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferenceQuery {
    /// The member's reference to list.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[\t\n\x0b\x0c\r \x85]*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85]*$"
    )]
    pub reference: String,
}

impl From<WatchError> for ApiError {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::Reference => {
                ApiError::invalid("reference", "must be 1 to 128 printable characters")
            }
            WatchError::Store(s) => s.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/watchlist", request_body = WatchRequest,
    responses((status = 201, body = WatchedView)),
    security(("bearer" = ["watchlist:write"])))]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson { value: req, .. }: ApiJson<WatchRequest>,
) -> Result<(StatusCode, Json<WatchedView>), ApiError> {
    let now = state.clock.now();
    let id = req.identifier.normalise("identifier", now)?;
    events::watch(
        &state.store,
        &state.pseudonymiser,
        caller.member.id,
        &id,
        &req.reference,
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(WatchedView {
            kind: id.kind(),
            reference: req.reference.trim().to_string(),
            created_at: now.to_rfc3339(),
        }),
    ))
}

#[utoipa::path(post, path = "/v1/watchlist/remove", request_body = UnwatchRequest,
    responses((status = 200, body = Unwatched)),
    security(("bearer" = ["watchlist:write"])))]
pub async fn unwatch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson { value: req, .. }: ApiJson<UnwatchRequest>,
) -> Result<Json<Unwatched>, ApiError> {
    let id = req.identifier.normalise("identifier", state.clock.now())?;
    let removed = state
        .store
        .unwatch(caller.member.id, &state.pseudonymiser.lookup_tokens(&id))
        .await?;
    Ok(Json(Unwatched { removed }))
}

#[utoipa::path(get, path = "/v1/watchlist", params(ReferenceQuery),
    responses((status = 200, body = WatchedList)),
    security(("bearer" = ["watchlist:write"])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReferenceQuery>,
) -> Result<Json<WatchedList>, ApiError> {
    let found = state
        .store
        .watched_by_reference(caller.member.id, events::valid_reference(&q.reference)?)
        .await?;
    Ok(Json(WatchedList {
        watched: found
            .into_iter()
            .map(|w| WatchedView {
                kind: w.kind,
                reference: w.reference,
                created_at: w.created_at.to_rfc3339(),
            })
            .collect(),
    }))
}

/// One line of a bulk watchlist change: watch with a reference, or `"remove": true`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkWatchLine {
    pub identifier: IdentifierInput,
    pub reference: Option<String>,
    #[serde(default)]
    pub remove: bool,
}

/// The most lines one bulk request may carry, and the longest line.
pub const BULK_MAX_LINES: usize = 1_000_000;
const BULK_MAX_LINE: usize = 4096;

#[utoipa::path(post, path = "/v1/watchlist/bulk", request_body(content = BulkWatchLine, content_type = "application/x-ndjson"),
    responses((status = 200, content_type = "application/x-ndjson",
        description = "One line per input line (`{\"line\": n, \"status\": \"watched\"|\"removed\"|\"not_watched\"}` or `{\"line\": n, \"error\": {…}}`), then `{\"summary\": …}`")),
    security(("bearer" = ["watchlist:write"])))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<Response, ApiError> {
    if media_type(req.headers()).as_deref() != Some("application/x-ndjson") {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/x-ndjson",
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let body = req.into_body();
    tokio::spawn(async move { bulk_stream(state, caller, body, tx).await });
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let mut response = Body::from_stream(out).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response.extensions_mut().insert(crate::server::StreamsBody);
    Ok(response)
}

/// Reads the body line by line (never more than one line buffered), applies each line
/// and answers it; memory stays bounded whatever the body's length.
async fn bulk_stream(
    state: AppState,
    caller: Caller,
    body: Body,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let mut input = body.into_data_stream();
    let mut lines = super::ndjson::Lines::new(BULK_MAX_LINE);
    let mut line = 0usize;
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut stopped: Option<&str> = None;
    let stall = state.settings.request_timeout;
    'read: loop {
        let chunk = match tokio::time::timeout(stall, input.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                stopped = Some("the request body could not be read or stalled");
                break;
            }
        };
        for (raw, too_long) in lines.split(&chunk) {
            line += 1;
            if line > BULK_MAX_LINES {
                stopped = Some("more than 1000000 lines");
                break 'read;
            }
            let answer = bulk_line(&state, &caller, &raw, too_long, line).await;
            if answer.get("error").is_some() {
                failed += 1
            } else {
                ok += 1
            }
            if !send(&tx, &answer).await {
                return;
            }
        }
    }
    if stopped.is_none()
        && let Some((raw, too_long)) = lines.rest()
    {
        line += 1;
        let answer = bulk_line(&state, &caller, &raw, too_long, line).await;
        if answer.get("error").is_some() {
            failed += 1
        } else {
            ok += 1
        }
        send(&tx, &answer).await;
    }
    send(
        &tx,
        &json!({"summary": {"lines": line, "ok": ok, "failed": failed, "stopped": stopped}}),
    )
    .await;
}

async fn send(tx: &tokio::sync::mpsc::Sender<Bytes>, v: &serde_json::Value) -> bool {
    let mut bytes = v.to_string().into_bytes();
    bytes.push(b'\n');
    tx.send(Bytes::from(bytes)).await.is_ok()
}

async fn bulk_line(
    state: &AppState,
    caller: &Caller,
    raw: &[u8],
    too_long: bool,
    line: usize,
) -> serde_json::Value {
    let error = |field: &str, detail: &str| json!({"line": line, "error": {"field": field, "detail": detail}});
    if too_long {
        return error("line", "longer than 4096 bytes");
    }
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let parsed: BulkWatchLine = match serde_json::from_slice(text) {
        Ok(p) => p,
        // The message names the position, never the line's content.
        Err(e) => {
            return error(
                "line",
                &format!("not a watchlist line (column {})", e.column()),
            );
        }
    };
    let now = state.clock.now();
    let id = match parsed.identifier.normalise("identifier", now) {
        Ok(id) => id,
        Err(_) => return error("identifier.value", "not a valid identifier of this kind"),
    };
    if parsed.remove {
        return match state
            .store
            .unwatch(caller.member.id, &state.pseudonymiser.lookup_tokens(&id))
            .await
        {
            Ok(true) => json!({"line": line, "status": "removed"}),
            Ok(false) => json!({"line": line, "status": "not_watched"}),
            Err(e) => {
                tracing::error!(error = %e, "bulk unwatch failed");
                error("line", "could not be stored; retry")
            }
        };
    }
    let Some(reference) = parsed.reference else {
        return error("reference", "required unless remove is true");
    };
    match events::watch(
        &state.store,
        &state.pseudonymiser,
        caller.member.id,
        &id,
        &reference,
        now,
    )
    .await
    {
        Ok(()) => json!({"line": line, "status": "watched"}),
        Err(WatchError::Reference) => error("reference", "must be 1 to 128 printable characters"),
        Err(WatchError::Store(e)) => {
            tracing::error!(error = %e, "bulk watch failed");
            error("line", "could not be stored; retry")
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next` cursor of the previous page (default: from the start).
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub after: Option<String>,
    /// At most this many events (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Wait up to this many seconds when there is nothing new.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
}

/// A feed cursor as the feed gives them out: the decimal sequence number of an event, at
/// most 18 digits (the documented pattern, so a client can check one before sending it).
fn parse_cursor(cursor: &str) -> Result<i64, ApiError> {
    Some(cursor)
        .filter(|c| (1..=18).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<i64>().ok())
        .ok_or_else(|| ApiError::invalid("after", "not a cursor this feed gave out"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub events: Vec<EventBody>,
    /// Pass as `after` for the next page.
    pub next: String,
}

#[utoipa::path(get, path = "/v1/events", params(FeedQuery),
    responses((status = 200, body = FeedPage)),
    security(("bearer" = ["events:read"])))]
pub async fn feed(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> Result<Json<FeedPage>, ApiError> {
    let after = match q.after.as_deref() {
        None => 0,
        Some(c) => parse_cursor(c)?,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > 30 {
        return Err(ApiError::invalid("wait", "must be between 0 and 30"));
    }
    let page = events::feed(
        &state.store,
        caller.member.id,
        after,
        limit,
        state.settings.long_poll(wait),
    )
    .await?;
    let next = page.last().map_or(after, |e| e.seq).to_string();
    Ok(Json(FeedPage {
        events: page.iter().map(EventBody::from).collect(),
        next,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed; https in production; never an internal address.
    pub url: String,
    /// The types to send (default: all).
    #[serde(default)]
    pub event_types: Vec<EventType>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub active: bool,
    /// The feed cursor of the last event delivered.
    pub cursor: String,
    /// Failed attempts since the last success.
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// The signing secret: only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn new(h: Webhook, secret: Option<String>) -> Self {
        WebhookView {
            next_attempt_at: (h.active && h.attempts > 0).then(|| h.next_attempt_at.to_rfc3339()),
            id: h.id,
            url: h.url,
            event_types: h.event_types,
            active: h.active,
            cursor: h.cursor.to_string(),
            attempts: h.attempts,
            disabled_at: h.disabled_at.map(|t| t.to_rfc3339()),
            secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliver again every event after this feed cursor.
    #[schema(pattern = r"^[0-9]{1,18}$")]
    pub after: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub event_id: String,
    pub cursor: String,
    pub attempt: i64,
    pub at: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub deliveries: Vec<DeliveryView>,
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Url(why) => ApiError::invalid("url", why.to_string()),
            WebhookError::NotFound => ApiError::NotFound,
            WebhookError::Store(s) => s.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/webhooks", request_body = WebhookRequest,
    responses((status = 201, body = WebhookView),
        (status = 409, description = "A webhook with this URL is already registered", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["webhooks:manage"])))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson { value: req, .. }: ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let (hook, secret) = webhooks::register(
        &state.store,
        caller.member.id,
        &req.url,
        req.event_types,
        &state.settings.webhook_urls,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookView::new(hook, Some(secret))),
    ))
}

#[utoipa::path(get, path = "/v1/webhooks",
    responses((status = 200, body = WebhookList)),
    security(("bearer" = ["webhooks:manage"])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WebhookList>, ApiError> {
    let hooks = state.store.member_webhooks(caller.member.id).await?;
    Ok(Json(WebhookList {
        webhooks: hooks
            .into_iter()
            .map(|h| WebhookView::new(h, None))
            .collect(),
    }))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView, description = "The new secret; the old one signs too for 24 hours")),
    security(("bearer" = ["webhooks:manage"])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let secret = webhooks::rotate(&state.store, caller.member.id, &id, state.clock.now()).await?;
    let hook = state.store.webhook(caller.member.id, &id).await?;
    Ok(Json(WebhookView::new(hook, Some(secret))))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", params(("id" = String, Path)), request_body = ReplayRequest,
    responses((status = 200, body = WebhookView)),
    security(("bearer" = ["webhooks:manage"])))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson { value: req, .. }: ApiJson<ReplayRequest>,
) -> Result<Json<WebhookView>, ApiError> {
    let after = parse_cursor(&req.after)?;
    state
        .store
        .replay_webhook(caller.member.id, &id, after, state.clock.now())
        .await
        .map_err(WebhookError::from)?;
    let hook = state.store.webhook(caller.member.id, &id).await?;
    Ok(Json(WebhookView::new(hook, None)))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryLog)),
    security(("bearer" = ["webhooks:manage"])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryLog>, ApiError> {
    let hook = state.store.webhook(caller.member.id, &id).await?;
    let log = state.store.deliveries(&hook.id, 200).await?;
    Ok(Json(DeliveryLog {
        deliveries: log
            .into_iter()
            .map(|d| DeliveryView {
                cursor: d.event_seq.to_string(),
                event_id: d.event_id,
                attempt: d.attempt,
                at: d.at.to_rfc3339(),
                ok: d.ok,
                status_code: d.status_code,
                error: d.error,
            })
            .collect(),
    }))
}
