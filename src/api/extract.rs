//! Request extractors whose rejections are problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::AppState;
use super::client::{ClientIp, RefusalContext};
use super::problem::ApiError;
use crate::members::AuthError;
use crate::members::{Caller, Scope};

/// A JSON body that keeps its raw bytes too (retry fingerprints are taken over exactly
/// what was sent). Rejections are problem+json naming the offending field.
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(req.headers());
        // An over-long body is refused here by axum (413), reshaped by the router.
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !is_json {
            return Err(
                ApiError::UnsupportedMediaType("expected Content-Type: application/json")
                    .into_response(),
            );
        }
        let value = parse_json_line(&raw).map_err(IntoResponse::into_response)?;
        Ok(ApiJson { value, raw })
    }
}

/// The `Idempotency-Key` header, if sent. Wiped when the request ends: the key ties the
/// retries of a request about a person together.
pub struct IdempotencyKey(pub Option<Zeroizing<String>>);

const IDEMPOTENCY_KEY_MAX: usize = 128;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("idempotency-key").map(|v| v.to_str()) {
            None => Ok(IdempotencyKey(None)),
            Some(Ok(k)) if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_MAX => {
                Ok(IdempotencyKey(Some(Zeroizing::new(k.to_string()))))
            }
            Some(_) => Err(ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 128 visible ASCII characters",
            )),
        }
    }
}

impl IdempotencyKey {
    /// What a create use case needs to make a retry safe: the key, the raw body it came
    /// with, and when older records are forgotten.
    pub fn retry<'a>(
        &'a self,
        body: &'a [u8],
        retention: &crate::retention::RetentionPolicy,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<crate::idempotency::RetryKey<'a>> {
        self.0.as_deref().map(|key| crate::idempotency::RetryKey {
            key,
            body,
            forgotten_at_or_before: retention.idempotency_forgotten_at_or_before(now),
        })
    }
}

/// The scope a route needs, attached by the route table; the [`Caller`] extractor
/// enforces it. A route that uses `Caller` without one refuses everybody.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequiredScope(pub Scope);

/// The request's media type, lower-cased and without parameters.
pub(super) fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = value.split(';').next()?;
    Some(mime.trim().to_ascii_lowercase())
}

/// `application/json` or any `+json` type.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// Parses one JSON object (a body, or a line of NDJSON), naming the offending field on
/// failure (unknown fields, wrong types and missing fields all come back with a JSON path
/// such as `identifiers[2].kind`).
pub(super) fn parse_json_line<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // A well-formed object of the right shape is read in one pass, without building a
    // `serde_json::Value` first (the two reads were 2.7 % of the hub's CPU on matches,
    // docs/benchmarks.md, step 12). Only a top-level object may take it: serde reads a
    // struct from an array too. Whatever this pass refuses goes through the two steps
    // below, which decide the answer, so every refusal is what it was.
    if body.trim_ascii_start().first() == Some(&b'{')
        && let Ok(value) = serde_json::from_slice(body)
    {
        return Ok(value);
    }
    // Two steps: syntax first (400), then shape against the type (422 naming the path).
    // serde_json reports a wrongly typed enum as a syntax error when parsing directly.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "malformed JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "expected a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let parent = parent_path(e.path());
        let msg = e.into_inner().to_string();
        if msg.starts_with(UNKNOWN_FIELD) {
            return ApiError::invalid(parent, UNKNOWN_FIELD);
        }
        // A missing field is reported at its parent; name the field itself instead.
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_string(),
            (_, Some(name)) => format!("{path}.{name}"),
            (".", None) => "body".to_string(),
            (_, None) => path,
        };
        ApiError::invalid(field, sanitize(&msg))
    })
}

/// An unknown key is chosen by the client and could itself be a personal number, so it is
/// never echoed (serde puts it in both the message and the path): the error names the
/// object that holds it instead.
const UNKNOWN_FIELD: &str = "unknown field";

/// The path of the object holding the last key of `path`, in serde_path_to_error's
/// notation (`identifiers[0]`); `body` for the top level.
fn parent_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let parent = match segments.split_last() {
        Some((Segment::Map { .. }, rest)) => rest,
        _ => &segments[..],
    };
    let mut out = String::new();
    for segment in parent {
        let name = match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } => key.as_str(),
            Segment::Enum { variant } => variant.as_str(),
            Segment::Unknown => "?",
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(name);
    }
    if out.is_empty() {
        "body".to_string()
    } else {
        out
    }
}

/// serde messages quote the offending value (`invalid type: integer `1990…``), which
/// could echo a personal number into logs; keep the kind of error and what was expected.
fn sanitize(msg: &str) -> String {
    match msg.find(", expected") {
        Some(i) => {
            let head = msg[..i].split([':', '`']).next().unwrap_or_default().trim();
            format!("{head}{}", &msg[i..])
        }
        None => msg.to_string(),
    }
}

/// The hub's own request id (set by the request-id layer; every audit entry carries it)
/// and the client's correlation id, if it sent an acceptable one.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    pub correlation: Option<String>,
}

/// A client's `X-Request-Id`, kept only when it is a plausible correlation token.
#[derive(Debug, Clone)]
struct Correlation(String);

const CORRELATION_MAX: usize = 64;

/// Moves a client's `X-Request-Id` out of the way of the server's own id. It is kept as
/// a correlation id only if short, of a token charset, and free of long digit runs: a
/// client once put a personal number there, and digits are what identifiers are made of.
pub(super) fn take_client_request_id(req: &mut axum::extract::Request) {
    if let Some(v) = req.headers_mut().remove("x-request-id")
        && let Ok(text) = v.to_str()
        && acceptable_correlation(text)
    {
        let text = text.to_string();
        req.extensions_mut().insert(Correlation(text));
    }
}

fn acceptable_correlation(text: &str) -> bool {
    if text.is_empty() || text.len() > CORRELATION_MAX {
        return false;
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return false;
    }
    // Separators do not break a run: 19900101-0017 is twelve digits.
    let mut run = 0;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => run += 1,
            b'-' | b'.' | b':' | b'_' => {}
            _ => run = 0,
        }
        if run >= 10 {
            return false;
        }
    }
    true
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        Ok(RequestId {
            id: id.chars().take(64).collect(),
            correlation: parts.extensions.get::<Correlation>().map(|c| c.0.clone()),
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized(
                "missing Authorization: Bearer <key>",
            ))?;
        let client = parts.extensions.get::<ClientIp>().map(|c| c.0);
        let refusal = parts.extensions.get::<RefusalContext>().cloned();
        if let Some(ip) = client {
            state.auth_failures.check(ip)?;
        }
        let caller = match state
            .auth_cache
            .authenticate(&state.store, presented.trim())
            .await
        {
            Ok(caller) => caller,
            Err(e) => {
                match (&e, client) {
                    (
                        AuthError::Malformed | AuthError::Unknown | AuthError::NoSuchKey,
                        Some(ip),
                    ) => {
                        state.auth_failures.record_failure(ip);
                    }
                    (AuthError::Suspended { member_id }, _) => {
                        if let Some(r) = &refusal {
                            r.set_member(*member_id);
                        }
                    }
                    _ => {}
                }
                return Err(e.into());
            }
        };
        if let Some(r) = &refusal {
            r.set_member(caller.member.id);
        }
        let cert = super::client::presented_cert(parts, &state.settings.trusted_proxies);
        if !caller.member.cert_pins.admit(cert.as_ref()) {
            return Err(ApiError::Unauthorized(
                "this member's keys work only with its pinned client certificate",
            ));
        }
        state.limits.check(&caller.member)?;
        match parts.extensions.get::<RequiredScope>() {
            Some(RequiredScope(needed)) if caller.scopes.grants(*needed) => Ok(caller),
            _ => Err(ApiError::Forbidden(
                "the API key lacks the scope this operation needs",
            )),
        }
    }
}

/// `Query` whose rejection is problem+json naming the query string.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let text = e.body_text();
                if text.contains(UNKNOWN_FIELD) {
                    ApiError::invalid("query", UNKNOWN_FIELD)
                } else {
                    ApiError::invalid("query", sanitize(&text))
                }
            })
    }
}

/// `Path` whose rejection is a problem+json 404: a malformed id names nothing that exists.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::{acceptable_correlation, parse_json_line};
    use crate::api::problem::ApiError;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        purpose: String,
        count: u8,
    }

    fn refused_field(body: &str) -> String {
        match parse_json_line::<Probe>(body.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{body}: expected a refusal naming a field, got {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_object_is_read() {
        let probe: Result<Probe, _> = parse_json_line(b" {\"purpose\":\"kyc\",\"count\":3}");
        assert!(matches!(probe, Ok(Probe { ref purpose, count: 3 }) if purpose == "kyc"));
    }

    /// serde reads a struct from an array of its fields; a body must still be an object.
    #[test]
    fn an_array_of_the_fields_is_not_an_object() {
        assert_eq!(refused_field(r#"["kyc", 3]"#), "body");
    }

    /// The one-pass read refuses a repeated key; the two-step read keeps the last, as the
    /// hub always has.
    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let probe: Result<Probe, _> =
            parse_json_line(br#"{"purpose":"a","count":1,"purpose":"b"}"#);
        assert!(matches!(probe, Ok(Probe { ref purpose, count: 1 }) if purpose == "b"));
    }

    #[test]
    fn refusals_still_name_the_field() {
        assert_eq!(refused_field(r#"{"purpose":"kyc","count":300}"#), "count");
        assert_eq!(refused_field(r#"{"purpose":"kyc"}"#), "count");
        assert_eq!(
            refused_field(r#"{"purpose":"kyc","count":1,"x":2}"#),
            "body"
        );
    }

    #[test]
    fn correlation_ids_with_identifier_like_digit_runs_are_dropped() {
        assert!(acceptable_correlation("req-7f3a-01"));
        assert!(acceptable_correlation(
            "3f2b9c1e-7d4a-4e8b-9a6c-0b5d2e8f1a7c"
        ));
        assert!(!acceptable_correlation("19900101-0017"));
        assert!(!acceptable_correlation("call-46701234567"));
        assert!(!acceptable_correlation("has space"));
        assert!(!acceptable_correlation(&"a".repeat(65)));
        assert!(!acceptable_correlation(""));
    }
}
