//! The last step of every page response: failures rendered in the request's language,
//! a friendly 429 page, and the security headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_governor::GovernorError;

use super::pages::{Chrome, MessagePage, render};
use super::{Failure, Lang, WebState, lang_of};

/// No inline script or style anywhere: scripts, styles and images come from our own
/// files only; nothing may frame the pages; forms post only to us.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PERMISSIONS: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Marks a refusal of the per-address limiter, so `finish` renders the 429 page.
#[derive(Debug, Clone, Copy)]
struct TooMany;

pub async fn finish(State(web): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    let lang = lang_of(req.headers());
    let path = req.uri().path().to_string();
    let tls = over_tls(&req, &web.trusted_proxies);
    let mut resp = next.run(req).await;
    if let Some(failure) = resp.extensions().get::<Failure>().copied() {
        resp = failure_page(lang, &path, resp.status(), failure);
    } else if resp.extensions().get::<TooMany>().is_some() {
        let retry = resp.headers().get(header::RETRY_AFTER).cloned();
        resp = too_many_page(lang, &path);
        if let Some(r) = retry {
            resp.headers_mut().insert(header::RETRY_AFTER, r);
        }
    } else if resp.status().is_client_error() && !is_html(&resp) && !is_json(&resp) {
        // axum's own rejections (a malformed form, a wrong method) are plain text.
        let status = resp.status();
        resp = failure_page(lang, &path, status, Failure::Forbidden);
        if status == StatusCode::NOT_FOUND {
            resp = failure_page(lang, &path, status, Failure::NotFound);
        }
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("permissions-policy", HeaderValue::from_static(PERMISSIONS));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Every page is personal or may become so after login: never stored by a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    resp
}

/// Whether the browser reached us over TLS: terminated by `serve` itself, or by a
/// trusted proxy that says so with `X-Forwarded-Proto: https`.
fn over_tls(req: &Request, trusted: &[IpAddr]) -> bool {
    if req.extensions().get::<crate::server::OverTls>().is_some() {
        return true;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    peer.is_some_and(|p| trusted.contains(&p))
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn is_html(resp: &Response) -> bool {
    content_type_starts(resp, "text/html")
}

fn is_json(resp: &Response) -> bool {
    content_type_starts(resp, "application/json")
}

fn content_type_starts(resp: &Response, prefix: &str) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

/// The per-address limiter's refusal; rendered as a page by `finish`.
pub fn too_many(e: GovernorError) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            crate::metrics::rate_limited(None, crate::metrics::Limit::Client);
            too_many_response(wait_time.max(1))
        }
        other => {
            tracing::error!(error = %other, "page limiter failed");
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(Failure::Internal);
            resp
        }
    }
}

pub fn too_many_response(retry_after_secs: u64) -> Response {
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after_secs.to_string())],
    )
        .into_response();
    resp.extensions_mut().insert(TooMany);
    resp
}

fn too_many_page(lang: Lang, path: &str) -> Response {
    let t = lang.texts();
    let page = MessagePage {
        c: Chrome::new(lang, path, None),
        title: t.too_many_title,
        message: t.too_many_text,
        alert: true,
        link: Some(("/", t.start_title)),
    };
    (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response()
}

fn failure_page(lang: Lang, path: &str, status: StatusCode, failure: Failure) -> Response {
    let t = lang.texts();
    let (title, message, link) = match failure {
        Failure::Forbidden => (t.error_title, t.forbidden_text, ("/my", t.back_to_my_page)),
        Failure::NotFound => (t.not_found_title, t.not_found_text, ("/", t.start_title)),
        Failure::InvalidPoliceReport => (
            t.error_title,
            t.invalid_police_report,
            ("/my", t.back_to_my_page),
        ),
        Failure::InvalidPersonalNumber => (
            t.error_title,
            t.agent_invalid_pn,
            ("/agent/console", t.agent_next_call),
        ),
        Failure::InvalidPhone => (
            t.error_title,
            t.agent_invalid_phone,
            ("/agent/console", t.agent_next_call),
        ),
        Failure::InvalidDuration => (
            t.error_title,
            t.invalid_duration,
            ("/my", t.back_to_my_page),
        ),
        Failure::NotChangeable => (t.error_title, t.not_changeable, ("/my", t.back_to_my_page)),
        Failure::SignedByOther => (t.error_title, t.signed_by_other, ("/my", t.back_to_my_page)),
        Failure::BankId(rfa) => (
            t.error_title,
            rfa.text(lang == Lang::Sv),
            ("/login", t.try_again),
        ),
        Failure::Unavailable => (t.error_title, t.unavailable_text, ("/", t.start_title)),
        Failure::Internal => (t.error_title, t.unavailable_text, ("/", t.start_title)),
    };
    let page = MessagePage {
        c: Chrome::new(lang, path, None),
        title,
        message,
        alert: true,
        link: Some(link),
    };
    (status, render(&page)).into_response()
}
