//! Browser-facing protections of the device control surface. Anyone who can
//! drive it approves BankID orders, so a web page the developer happens to
//! visit must not be able to drive it for them: cross-site requests are
//! refused, JSON endpoints only take `application/json` (which a page cannot
//! send cross-site without a CORS preflight this surface never grants), the
//! Host must be a loopback name unless the operator opted in (DNS rebinding),
//! and nothing may frame the page (clickjacking).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The page's only assets are its own stylesheet and forms posting back to
/// itself; everything else, framing included, is refused.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which `Host` values the surface answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostPolicy {
    /// Only loopback names and addresses: a DNS-rebinding page's own host
    /// name is refused even though the browser calls it same-origin.
    LoopbackOnly,
    /// The operator exposed the simulator on purpose
    /// (`bankid.simulator_allow_non_loopback`), under names we cannot know.
    Any,
}

fn problem(status: StatusCode, field: &str, detail: &str) -> Response {
    // Only which check refused: header values are the requester's text.
    tracing::warn!(
        status = status.as_u16(),
        field,
        "bankid-sim: device surface refused a request"
    );
    let slug = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::MISDIRECTED_REQUEST => "misdirected-request",
        _ => "forbidden",
    };
    let body = serde_json::json!({
        "type": format!("urn:fraudhub:problem:{slug}"),
        "title": status.canonical_reason().unwrap_or("Refused"),
        "status": status.as_u16(),
        "detail": detail,
        "field": field,
    });
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `host` and `port` of a `Host` header value (`[::1]:8080`, `localhost`).
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let a: axum::http::uri::Authority = authority.parse().ok()?;
    let host = a.host().trim_start_matches('[').trim_end_matches(']');
    Some((host.to_ascii_lowercase(), a.port_u16()))
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether `origin` (`scheme://host[:port]`) names the same origin the
/// request was sent to (`host` from the Host header). The scheme is not
/// compared: behind a TLS-terminating proxy the hub cannot know it, and a
/// default port is taken from the Origin's scheme.
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let (Some(o_host), Some(o_port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let o_host = o_host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let Some((h_host, h_port)) = split_authority(host) else {
        return false;
    };
    o_host == h_host && h_port.unwrap_or(o_port) == o_port
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, &header::CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The checks, in order; `None` lets the request through.
fn refusal(policy: HostPolicy, req: &Request) -> Option<Response> {
    let headers = req.headers();
    let host = header_str(headers, &header::HOST)
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    if policy == HostPolicy::LoopbackOnly {
        let loopback = host
            .as_deref()
            .and_then(split_authority)
            .is_some_and(|(h, _)| is_loopback_host(&h));
        if !loopback {
            return Some(problem(
                StatusCode::MISDIRECTED_REQUEST,
                "Host",
                "the BankID simulator answers only to loopback host names \
                 (set bankid.simulator_allow_non_loopback to expose it)",
            ));
        }
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return None;
    }
    // Browsers send Sec-Fetch-Site on every request; only the page itself
    // (or a typed URL / non-browser client: "none") may change state.
    if let Some(site) = header_str(headers, &header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return Some(problem(
            StatusCode::FORBIDDEN,
            "Sec-Fetch-Site",
            "cross-site requests cannot drive the BankID simulator",
        ));
    }
    // `Origin: null` (sandboxed frames, opaque redirects) is never same-origin.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = match (origin.to_str(), host.as_deref()) {
            (Ok(o), Some(h)) => same_origin(o, h),
            _ => false,
        };
        if !ok {
            return Some(problem(
                StatusCode::FORBIDDEN,
                "Origin",
                "the Origin of a state-changing request must be the simulator's own origin",
            ));
        }
    }
    // A page can POST text/plain or a form cross-site without a preflight;
    // it cannot POST application/json. The HTML forms under /ui/ post
    // urlencoded by nature and rely on the checks above.
    let path = req.uri().path();
    if path.starts_with("/api/") && !is_json(headers) {
        return Some(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
            "state-changing requests must have Content-Type: application/json",
        ));
    }
    None
}

fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not "no-referrer": under it browsers send `Origin: null` with the
    // page's own form posts, which the Origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pending orders (masked personal numbers) are not for caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(crate) async fn guard(State(policy): State<HostPolicy>, req: Request, next: Next) -> Response {
    let mut resp = match refusal(policy, &req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    harden(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://LOCALHOST", "localhost:80"));
        assert!(same_origin("https://[::1]", "[::1]"));
        assert!(!same_origin("http://127.0.0.1:9999", "127.0.0.1:8080"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!same_origin("null", "127.0.0.1:8080"));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "a.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "10.0.0.1",
            "0.0.0.0",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
