//! Errors of the BankID client, mapped from BankID's `{errorCode, details}`
//! bodies and from transport failures.

use serde::{Deserialize, Serialize};

use super::log_safe::{MAX_DETAILS_CHARS, escape_for_log};

/// The error body BankID returns with every 4xx/5xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: String,
    #[serde(default)]
    pub details: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BankIdError {
    /// An order for this personal number is already in progress; BankID
    /// has cancelled both the old and the new order.
    #[error("bankid: alreadyInProgress: {details}")]
    AlreadyInProgress { details: String },
    /// Bad request body, or an unknown, stale or already-collected orderRef.
    #[error("bankid: invalidParameters: {details}")]
    InvalidParameters { details: String },
    /// The RP certificate is not accepted (revoked, wrong environment ...).
    #[error("bankid: unauthorized: {details}")]
    Unauthorized { details: String },
    #[error("bankid: notFound: {details}")]
    NotFound { details: String },
    #[error("bankid: methodNotAllowed: {details}")]
    MethodNotAllowed { details: String },
    /// BankID did not get the request in time; safe to retry.
    #[error("bankid: requestTimeout: {details}")]
    RequestTimeout { details: String },
    #[error("bankid: unsupportedMediaType: {details}")]
    UnsupportedMediaType { details: String },
    /// BankID is down for maintenance; retry later.
    #[error("bankid: maintenance: {details}")]
    Maintenance { details: String },
    /// BankID internal error; retry later.
    #[error("bankid: internalError: {details}")]
    InternalError { details: String },
    /// HTTP 429: too many requests from this RP.
    #[error("bankid: too many requests (HTTP 429)")]
    TooManyRequests,
    /// A status or errorCode this client does not know.
    #[error("bankid: unexpected HTTP {status}: {error_code}: {details}")]
    Unexpected {
        status: u16,
        error_code: String,
        details: String,
    },
    /// Connection, TLS handshake or timeout failure before a response.
    #[error("bankid: transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A response body larger than the client reads (see
    /// `MAX_RESPONSE_BYTES`); it is abandoned, not buffered.
    #[error("bankid: {path}: response body larger than {limit} bytes")]
    ResponseTooLarge { path: String, limit: usize },
    /// A 200 response whose body does not match the v6 schema.
    #[error("bankid: could not decode response: {path}: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Bad client configuration (certificate, key, CA, URL).
    #[error("bankid: configuration error: {0}")]
    Config(String),
    /// The collect poller was cancelled by its caller.
    #[error("bankid: polling cancelled")]
    PollCancelled,
}

impl BankIdError {
    /// Maps a non-2xx response to the matching variant. The remote's
    /// `errorCode` and `details` texts are kept escaped and length-capped
    /// (see [`escape_for_log`]): they end up in log lines and messages.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        if status == 429 {
            return Self::TooManyRequests;
        }
        let Ok(ErrorBody {
            error_code,
            details,
        }) = serde_json::from_slice::<ErrorBody>(body)
        else {
            return Self::Unexpected {
                status,
                error_code: String::new(),
                details: escape_for_log(&String::from_utf8_lossy(body), MAX_DETAILS_CHARS),
            };
        };
        let details = escape_for_log(&details, MAX_DETAILS_CHARS);
        match error_code.as_str() {
            "alreadyInProgress" => Self::AlreadyInProgress { details },
            "invalidParameters" => Self::InvalidParameters { details },
            "unauthorized" => Self::Unauthorized { details },
            "notFound" => Self::NotFound { details },
            "methodNotAllowed" => Self::MethodNotAllowed { details },
            "requestTimeout" => Self::RequestTimeout { details },
            "unsupportedMediaType" => Self::UnsupportedMediaType { details },
            "maintenance" => Self::Maintenance { details },
            "internalError" => Self::InternalError { details },
            _ => Self::Unexpected {
                status,
                error_code: escape_for_log(&error_code, 64),
                details,
            },
        }
    }

    /// Errors after which BankID advises the RP to try again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RequestTimeout { .. }
                | Self::Maintenance { .. }
                | Self::InternalError { .. }
                | Self::TooManyRequests
                | Self::Transport(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_error_codes_and_429() {
        let e =
            BankIdError::from_response(400, br#"{"errorCode":"alreadyInProgress","details":"x"}"#);
        assert!(matches!(e, BankIdError::AlreadyInProgress { details } if details == "x"));
        assert!(matches!(
            BankIdError::from_response(429, b""),
            BankIdError::TooManyRequests
        ));
        assert!(matches!(
            BankIdError::from_response(418, br#"{"errorCode":"teapot"}"#),
            BankIdError::Unexpected { status: 418, .. }
        ));
    }

    #[test]
    fn remote_details_are_kept_escaped_and_capped() {
        let body = serde_json::json!({
            "errorCode": "internalError",
            "details": format!("x\nERROR forged line{}", "y".repeat(5000)),
        });
        let e = BankIdError::from_response(500, body.to_string().as_bytes());
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains("x\\nERROR forged line"), "{shown}");
        assert!(shown.chars().count() < 300, "{}", shown.len());
        let raw = BankIdError::from_response(502, b"<html>\r\nSet-Cookie: x</html>");
        assert!(!raw.to_string().contains('\r'), "{raw}");
    }
}
