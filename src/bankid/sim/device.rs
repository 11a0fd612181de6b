//! Device control surface: plays the user's BankID app. Plain HTTP, no
//! client certificate, so a browser, a test or a demo script can drive it.
//! Exposed as a plain `axum::Router` for mounting under any prefix.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::config::FaultRule;
use super::guard::{self, HostPolicy};
use super::orders::OrderError;
use super::page;
use super::persons::{TEST_PERSONS, TestPerson};
use super::state::SimState;
use super::user::{OrderView, UserAction};
use crate::bankid::secret::PersonalNumber;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceError {
    error: String,
}

pub(crate) fn device_error(e: &OrderError) -> Response {
    let status = match e {
        OrderError::NotFound => StatusCode::NOT_FOUND,
        OrderError::NotPending | OrderError::AlreadyInProgress => StatusCode::CONFLICT,
        OrderError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (
        status,
        axum::Json(DeviceError {
            error: e.to_string(),
        }),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApproveBody {
    #[serde(default)]
    personal_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScanBody {
    qr: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScanResult {
    order_ref: String,
}

fn ok() -> Response {
    axum::Json(serde_json::json!({ "ok": true })).into_response()
}

fn bad_json(e: &serde_json::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(DeviceError {
            error: format!(
                "invalid JSON body (line {}, column {})",
                e.line(),
                e.column()
            ),
        }),
    )
        .into_response()
}

async fn list(State(s): State<Arc<SimState>>) -> axum::Json<Vec<OrderView>> {
    axum::Json(s.with_book(|b, now, cfg| b.pending_views(now, cfg)))
}

async fn persons() -> axum::Json<&'static [TestPerson]> {
    axum::Json(TEST_PERSONS)
}

/// Body is optional: `{}` or nothing approves as the bound/default person.
async fn approve(
    State(s): State<Arc<SimState>>,
    Path(order_ref): Path<String>,
    body: Bytes,
) -> Response {
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        ApproveBody::default()
    } else {
        match serde_json::from_slice::<ApproveBody>(&body) {
            Ok(b) => b,
            Err(e) => return bad_json(&e),
        }
    };
    let person = parsed.personal_number.map(PersonalNumber::new);
    match s.with_book(|b, now, cfg| b.approve(&order_ref, person, now, cfg)) {
        Ok(()) => ok(),
        Err(e) => device_error(&e),
    }
}

fn action(s: &SimState, order_ref: &str, action: UserAction) -> Response {
    match s.with_book(|b, now, cfg| b.act(order_ref, action, now, cfg)) {
        Ok(()) => ok(),
        Err(e) => device_error(&e),
    }
}

async fn cancel(State(s): State<Arc<SimState>>, Path(r): Path<String>) -> Response {
    action(&s, &r, UserAction::Cancel)
}

async fn decline(State(s): State<Arc<SimState>>, Path(r): Path<String>) -> Response {
    action(&s, &r, UserAction::DeclineCall)
}

async fn confirm(State(s): State<Arc<SimState>>, Path(r): Path<String>) -> Response {
    action(&s, &r, UserAction::ConfirmCall)
}

async fn expire(State(s): State<Arc<SimState>>, Path(r): Path<String>) -> Response {
    action(&s, &r, UserAction::Expire)
}

async fn scan(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    let parsed: ScanBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(&e),
    };
    match s.with_book(|b, now, cfg| b.scan(&parsed.qr, now, cfg)) {
        Ok(order_ref) => axum::Json(ScanResult { order_ref }).into_response(),
        Err(e) => device_error(&e),
    }
}

async fn add_fault(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            s.add_fault(rule);
            ok()
        }
        Err(e) => bad_json(&e),
    }
}

pub(crate) fn device_router(state: Arc<SimState>, hosts: HostPolicy) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/style.css", get(page::style))
        .route("/ui/scan", post(page::form_scan))
        .route("/ui/orders/{order_ref}/{action}", post(page::form_action))
        .route("/api/orders", get(list))
        .route("/api/persons", get(persons))
        .route("/api/orders/{order_ref}/approve", post(approve))
        .route("/api/orders/{order_ref}/cancel", post(cancel))
        .route("/api/orders/{order_ref}/decline-call", post(decline))
        .route("/api/orders/{order_ref}/confirm-call", post(confirm))
        .route("/api/orders/{order_ref}/expire", post(expire))
        .route("/api/scan", post(scan))
        .route("/api/faults", post(add_fault))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(hosts, guard::guard))
}
