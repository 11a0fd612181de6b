//! The JSON request bodies of the member API (and the lines of its NDJSON bulk routes),
//! parsed and checked as their handlers take them: the first byte picks the operation.

#![no_main]

use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{TimeZone, Utc};
use fraudhub::{ApiError, RequestBody, check_request_body};
use libfuzzer_sys::fuzz_target;

/// Longest run of ASCII digits in `s`.
fn digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((op, body)) = data.split_first() else {
        return;
    };
    let op = RequestBody::ALL[usize::from(*op) % RequestBody::ALL.len()];
    let Some(now) = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single() else {
        return;
    };
    let Err(e) = check_request_body(op, body, now) else {
        return;
    };
    // Bad input is the client's fault and says where: never a 5xx.
    let text = match &e {
        ApiError::Invalid { field, detail } => {
            assert!(!field.is_empty(), "{op:?}: no field named");
            format!("{field} {detail}")
        }
        ApiError::BadRequest(detail) => detail.clone(),
        other => panic!("{op:?}: unexpected refusal {other:?}"),
    };
    let status = e.into_response().status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{op:?}: {status}"
    );
    // Errors end up in responses and logs; a personal number, phone or account number
    // sent in a body (even as a key or a wrongly typed value) must not come back in one.
    assert!(
        digit_run(&text) < 6,
        "{op:?}: the error echoes digits: {text:?}"
    );
});
