//! The simulated RP API v6.0: same paths, status codes and error bodies as
//! BankID.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;

use super::config::FaultKind;
use super::order::OrderKind;
use super::orders::{NewOrder, OrderError};
use super::state::SimState;
use crate::bankid::error::ErrorBody;
use crate::bankid::types::{
    OrderRefRequest, OrderRequest, OrderResponse, PhoneOrderRequest, PhoneOrderResponse,
    Requirement,
};

/// BankID's documented limits on base64-encoded data.
const MAX_VISIBLE_B64: usize = 40_000;
const MAX_NON_VISIBLE_B64: usize = 200_000;

/// Size of the body of the `oversizedBody` fault: far above any sane RP
/// client's response cap.
const OVERSIZED_BODY_BYTES: usize = 1 << 20;

pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    details: String,
    /// The `oversizedBody` fault: answer 200 with a padded JSON object.
    oversized: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, details: impl Into<String>) -> Self {
        Self {
            status,
            code,
            details: details.into(),
            oversized: false,
        }
    }

    fn invalid(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalidParameters", details)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.oversized {
            let body = format!(r#"{{"padding":"{}"}}"#, "a".repeat(OVERSIZED_BODY_BYTES));
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        if self.code.is_empty() {
            return self.status.into_response();
        }
        let body = ErrorBody {
            error_code: self.code.to_owned(),
            details: self.details,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::AlreadyInProgress => Self::new(
                StatusCode::BAD_REQUEST,
                "alreadyInProgress",
                "Order already in progress for pno",
            ),
            OrderError::NotFound | OrderError::NotPending => Self::invalid("No such order"),
            OrderError::Rejected(d) => Self::invalid(d),
        }
    }
}

fn fault_error(kind: FaultKind) -> ApiError {
    match kind {
        FaultKind::Maintenance => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            "Service unavailable (simulated)",
        ),
        FaultKind::InternalError => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internalError",
            "Internal error (simulated)",
        ),
        FaultKind::RequestTimeout => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "requestTimeout",
            "Request timeout (simulated)",
        ),
        FaultKind::Unauthorized => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "RP not authorized (simulated)",
        ),
        FaultKind::TooManyRequests => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "", ""),
        FaultKind::OversizedBody => ApiError {
            oversized: true,
            ..ApiError::new(StatusCode::OK, "", "")
        },
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Latency, fault injection, content type and JSON parsing, in that order.
async fn accept<T: DeserializeOwned>(
    s: &SimState,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if s.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    }
    if let Some(kind) = s.take_fault(endpoint) {
        tracing::info!(endpoint, ?kind, "bankid-sim: injecting fault");
        return Err(fault_error(kind));
    }
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
            "Content-Type must be application/json",
        ));
    }
    // serde's messages can quote input values (personal numbers), so only
    // the position is reported.
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!(
            "Invalid request body (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

fn check_b64(field: &str, value: Option<&str>, max: usize, required: bool) -> Result<(), ApiError> {
    match value {
        None | Some("") if required => Err(ApiError::invalid(format!("Missing {field}"))),
        None => Ok(()),
        Some(v) if v.len() > max || B64.decode(v).is_err() => {
            Err(ApiError::invalid(format!("Invalid {field}")))
        }
        Some(_) => Ok(()),
    }
}

fn check_requirement(req: Option<&Requirement>) -> Result<(), ApiError> {
    let Some(req) = req else { return Ok(()) };
    if req
        .personal_number
        .as_ref()
        .is_some_and(|p| !p.is_well_formed())
    {
        return Err(ApiError::invalid("Incorrect personalNumber"));
    }
    if req
        .certificate_policies
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.iter().any(|x| x.trim().is_empty()))
    {
        return Err(ApiError::invalid("Incorrect certificatePolicies"));
    }
    Ok(())
}

async fn order(
    s: Arc<SimState>,
    kind: OrderKind,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: OrderRequest = accept(&s, kind.as_str(), &headers, &body).await?;
    if req.end_user_ip.parse::<IpAddr>().is_err() {
        return Err(ApiError::invalid("Incorrect endUserIp"));
    }
    let visible = req.user_visible_data.as_deref();
    check_b64(
        "userVisibleData",
        visible,
        MAX_VISIBLE_B64,
        kind == OrderKind::Sign,
    )?;
    let non_visible = req.user_non_visible_data.as_deref();
    check_b64(
        "userNonVisibleData",
        non_visible,
        MAX_NON_VISIBLE_B64,
        false,
    )?;
    check_requirement(req.requirement.as_ref())?;
    if req
        .return_url
        .as_deref()
        .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
    {
        return Err(ApiError::invalid("Incorrect returnUrl"));
    }
    let requirement = req.requirement.unwrap_or_default();
    let new = NewOrder {
        kind,
        personal_number: requirement.personal_number.clone(),
        call_initiator: None,
        end_user_ip: Some(req.end_user_ip),
        requirement,
        return_risk: req.return_risk.unwrap_or(false),
        user_visible_data: req.user_visible_data,
        user_non_visible_data: req.user_non_visible_data,
    };
    let order = s.with_book(|b, now, cfg| b.start(new, now, cfg))?;
    let (qr_start_token, qr_start_secret) = order.qr.ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError", "no QR")
    })?;
    Ok(axum::Json(OrderResponse {
        order_ref: order.order_ref,
        auto_start_token: uuid::Uuid::new_v4().to_string(),
        qr_start_token,
        qr_start_secret,
    })
    .into_response())
}

async fn phone_order(
    s: Arc<SimState>,
    kind: OrderKind,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PhoneOrderRequest = accept(&s, kind.as_str(), &headers, &body).await?;
    if !req.personal_number.is_well_formed() {
        return Err(ApiError::invalid("Incorrect personalNumber"));
    }
    let visible = req.user_visible_data.as_deref();
    check_b64(
        "userVisibleData",
        visible,
        MAX_VISIBLE_B64,
        kind == OrderKind::PhoneSign,
    )?;
    let non_visible = req.user_non_visible_data.as_deref();
    check_b64(
        "userNonVisibleData",
        non_visible,
        MAX_NON_VISIBLE_B64,
        false,
    )?;
    check_requirement(req.requirement.as_ref())?;
    let new = NewOrder {
        kind,
        personal_number: Some(req.personal_number),
        call_initiator: Some(req.call_initiator),
        end_user_ip: None,
        requirement: req.requirement.unwrap_or_default(),
        return_risk: false,
        user_visible_data: req.user_visible_data,
        user_non_visible_data: req.user_non_visible_data,
    };
    let order = s.with_book(|b, now, cfg| b.start(new, now, cfg))?;
    Ok(axum::Json(PhoneOrderResponse {
        order_ref: order.order_ref,
    })
    .into_response())
}

async fn collect(
    State(s): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: OrderRefRequest = accept(&s, "collect", &headers, &body).await?;
    let resp = s.with_book(|b, now, cfg| b.collect(&req.order_ref, now, cfg))?;
    Ok(axum::Json(resp).into_response())
}

async fn cancel(
    State(s): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: OrderRefRequest = accept(&s, "cancel", &headers, &body).await?;
    s.with_book(|b, now, cfg| b.cancel(&req.order_ref, now, cfg))?;
    Ok(axum::Json(serde_json::json!({})).into_response())
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "methodNotAllowed",
        "Only POST is allowed",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "notFound", "No such endpoint")
}

fn only_post<H, T>(handler: H) -> MethodRouter<Arc<SimState>>
where
    H: axum::handler::Handler<T, Arc<SimState>>,
    T: 'static,
{
    post(handler).fallback(method_not_allowed)
}

macro_rules! order_handler {
    ($name:ident, $f:ident, $kind:expr) => {
        async fn $name(
            State(s): State<Arc<SimState>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            $f(s, $kind, headers, body).await
        }
    };
}

order_handler!(auth, order, OrderKind::Auth);
order_handler!(sign, order, OrderKind::Sign);
order_handler!(phone_auth, phone_order, OrderKind::PhoneAuth);
order_handler!(phone_sign, phone_order, OrderKind::PhoneSign);

pub(crate) fn rp_router(state: Arc<SimState>) -> Router {
    let api = Router::new()
        .route("/auth", only_post(auth))
        .route("/sign", only_post(sign))
        .route("/phone/auth", only_post(phone_auth))
        .route("/phone/sign", only_post(phone_sign))
        .route("/collect", only_post(collect))
        .route("/cancel", only_post(cancel));
    Router::new()
        .nest("/rp/v6.0", api)
        .fallback(not_found)
        .with_state(state)
}
