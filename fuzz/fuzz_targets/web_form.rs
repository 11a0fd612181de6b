//! The forms the consumer pages and agent console post, read with the extractor their
//! handlers use and checked as the handlers check them. The first byte picks the form.

#![no_main]

use axum::body::Body;
use axum::http::{Request, header};
use chrono::{TimeZone, Utc};
use fraudhub::web::{PageForm, check_form};
use futures_util::FutureExt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((form, body)) = data.split_first() else {
        return;
    };
    let form = PageForm::ALL[usize::from(*form) % PageForm::ALL.len()];
    let Some(now) = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single() else {
        return;
    };
    let Ok(request) = Request::post("/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    // An in-memory body is read without waiting.
    let Some(checked) = check_form(form, request, now).now_or_never() else {
        panic!("{form:?}: reading an in-memory form waited");
    };
    // A bad form is the sender's fault: a 4xx, never a 5xx.
    if let Err(refused) = checked {
        let status = refused.status();
        assert!(status.is_client_error(), "{form:?}: {status}");
    }
});
