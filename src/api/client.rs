//! Who is on the other end: the client address (behind trusted proxies only), per-client
//! limits before authentication, a brake on failed authentications, and one log line
//! for every refusal.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

use super::problem::ApiError;
use crate::members::certs::{FORWARDED_CERT_HEADER, PresentedChain};
use crate::server::ClientCert;

/// The client's address as the hub believes it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Filled in by authentication so that the refusal log can name the member.
#[derive(Debug, Clone, Default)]
pub struct RefusalContext(Arc<OnceLock<i64>>);

impl RefusalContext {
    pub fn set_member(&self, member_id: i64) {
        let _ = self.0.set(member_id);
    }
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A forwarding
/// header from anyone else is ignored: it is whatever the client wants it to be.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(list) = forwarded_for else {
        return peer;
    };
    for hop in list.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A malformed hop means the chain cannot be read further back; the last
            // trusted proxy is the best answer.
            Err(_) => return peer,
        }
    }
    peer
}

/// Outermost hub middleware: sets a client's `X-Request-Id` aside (the hub makes its
/// own), resolves the client address, and logs every 401, 403 and 429 with the client
/// address, the key id presented and the member when known. Its state is only the
/// trusted proxy list, so it costs no `AppState` clone per request.
pub async fn edge(
    State(trusted_proxies): State<Arc<[IpAddr]>>,
    mut req: Request,
    next: Next,
) -> Response {
    super::extract::take_client_request_id(&mut req);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = client_ip(peer, forwarded, &trusted_proxies);
    let key_id = presented_key_id(&req).map(str::to_string);
    let context = RefusalContext::default();
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(context.clone());
    let response = next.run(req).await;
    let status = response.status();
    if matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    ) {
        tracing::warn!(
            status = status.as_u16(),
            client = %ip,
            key_id = %key_id.as_deref().unwrap_or("-"),
            member = context.0.get().copied(),
            "request refused"
        );
    }
    response
}

/// The key id part of `Authorization: Bearer fh_<key id>_<secret>`, when well-formed.
/// Only the id, never the secret, is ever logged.
fn presented_key_id(req: &Request) -> Option<&str> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let id = bearer.trim().strip_prefix("fh_")?.split('_').next()?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The client certificate behind a request: the one presented in the TLS handshake
/// `serve` terminated, or the one a trusted proxy forwards in
/// [`FORWARDED_CERT_HEADER`]. The header from any other peer is whatever the client
/// wants it to be, so it is ignored.
pub fn presented_cert(
    parts: &axum::http::request::Parts,
    trusted: &[IpAddr],
) -> Option<PresentedChain> {
    if let Some(ClientCert(chain)) = parts.extensions.get::<ClientCert>() {
        return Some(chain.clone());
    }
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    if !trusted.contains(&peer) {
        return None;
    }
    let forwarded = parts.headers.get(FORWARDED_CERT_HEADER)?.to_str().ok()?;
    PresentedChain::from_forwarded(forwarded).ok()
}

/// tower_governor key: the resolved client address.
#[derive(Debug, Clone, Copy)]
pub struct ClientIpKey;

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(|c| c.0)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// The per-client limiter's refusal, as problem+json like every other error.
pub fn governor_refusal(e: GovernorError) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            crate::metrics::rate_limited(None, crate::metrics::Limit::Client);
            ApiError::RateLimited {
                retry_after_secs: wait_time.max(1),
            }
            .into_response()
        }
        other => ApiError::internal(other).into_response(),
    }
}

/// Failed authentications per client address. Each failure draws from a small bucket;
/// an empty bucket blocks that address from authenticating at all until it refills, so
/// guessing keys costs the guesser time and the database nothing.
pub struct AuthFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

/// Above this many blocked addresses the oldest state is dropped rather than grown.
const MAX_BLOCKED: usize = 100_000;

impl std::fmt::Debug for AuthFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthFailures")
    }
}

impl AuthFailures {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// `Err` while `ip` is blocked.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => {
                crate::metrics::rate_limited(None, crate::metrics::Limit::AuthFailures);
                Err(ApiError::RateLimited {
                    retry_after_secs: secs(until.saturating_duration_since(Instant::now())),
                })
            }
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: IpAddr) {
        if let Err(not_until) = self.limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() >= MAX_BLOCKED {
                blocked.clear();
            }
            blocked.insert(ip, Instant::now() + wait);
        }
        // Forget addresses whose bucket is full again, now and then, not on every call.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
    }
}

fn secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy];
        let claimed = Some("203.0.113.9");
        assert_eq!(
            client_ip(ip("198.51.100.7"), claimed, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(proxy, claimed, &trusted), ip("203.0.113.9"));
        // A client-supplied prefix to the chain is skipped: the proxy appends the peer.
        assert_eq!(
            client_ip(proxy, Some("1.2.3.4, 203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(proxy, Some("garbage"), &trusted), proxy);
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
    }
}
