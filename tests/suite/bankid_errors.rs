//! BankID error responses, as the simulator produces them and the client
//! maps them.

use std::time::Duration;

use fraudhub::bankid::sim::{FaultKind, FaultRule, SimConfig};
use fraudhub::bankid::{
    BankIdError, CallInitiator, CollectStatus, HintCode, OrderRequest, PersonalNumber,
    PhoneOrderRequest, Requirement,
};
use serde_json::{Value, json};

use crate::bankid_support::{ANNA, ERIK, Env, TestResult, start, start_with};

fn auth_for(pn: &str) -> OrderRequest {
    OrderRequest::new("127.0.0.1").requirement(Requirement {
        personal_number: Some(PersonalNumber::new(pn)),
        ..Requirement::default()
    })
}

async fn raw_post(
    env: &Env,
    path: &str,
    content_type: &str,
    body: &str,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    let resp = env
        .raw_rp_client()?
        .post(format!("{}{path}", env.sim.base_url()))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn second_order_for_same_person_is_already_in_progress_and_cancels_both() -> TestResult {
    let env = start().await?;
    let first = env.client.auth(&auth_for(ANNA)).await?;
    let phone = PhoneOrderRequest::new(PersonalNumber::new(ANNA), CallInitiator::User);
    let second = env.client.phone_auth(&phone).await;
    assert!(
        matches!(second, Err(BankIdError::AlreadyInProgress { .. })),
        "{second:?}"
    );
    let r = env.client.collect(&first.order_ref).await?;
    assert_eq!(
        (r.status, r.hint_code),
        (CollectStatus::Failed, Some(HintCode::Cancelled))
    );
    assert!(env.pending().await?.is_empty(), "no order may survive");
    // Another person is unaffected.
    env.client.auth(&auth_for(ERIK)).await?;
    Ok(())
}

#[tokio::test]
async fn collect_of_unknown_order_is_invalid_parameters() -> TestResult {
    let env = start().await?;
    let r = env
        .client
        .collect("00000000-0000-0000-0000-000000000000")
        .await;
    assert!(
        matches!(r, Err(BankIdError::InvalidParameters { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn completed_order_can_be_collected_only_once() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Complete
    );
    let again = env.client.collect(&order.order_ref).await;
    assert!(
        matches!(again, Err(BankIdError::InvalidParameters { .. })),
        "{again:?}"
    );
    Ok(())
}

#[tokio::test]
async fn completed_order_is_gone_after_three_minutes() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    env.clock.advance(chrono::Duration::seconds(180));
    let r = env.client.collect(&order.order_ref).await;
    assert!(
        matches!(r, Err(BankIdError::InvalidParameters { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn failed_order_is_collectable_for_five_minutes_then_stale() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    env.device_ok(
        &format!("/api/orders/{}/cancel", order.order_ref),
        json!({}),
    )
    .await?;
    env.clock.advance(chrono::Duration::seconds(299));
    assert_eq!(
        env.client.collect(&order.order_ref).await?.hint_code,
        Some(HintCode::UserCancel)
    );
    env.clock.advance(chrono::Duration::seconds(1));
    let r = env.client.collect(&order.order_ref).await;
    assert!(
        matches!(r, Err(BankIdError::InvalidParameters { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn cancel_of_finished_order_is_invalid_parameters() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    env.client.cancel(&order.order_ref).await?;
    let r = env.client.cancel(&order.order_ref).await;
    assert!(
        matches!(r, Err(BankIdError::InvalidParameters { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_fields_are_invalid_parameters() -> TestResult {
    let env = start().await?;
    let bad_ip = env.client.auth(&OrderRequest::new("not-an-ip")).await;
    assert!(
        matches!(bad_ip, Err(BankIdError::InvalidParameters { ref details }) if details.contains("endUserIp"))
    );
    let sign_without_text = env.client.sign(&OrderRequest::new("127.0.0.1")).await;
    assert!(
        matches!(sign_without_text, Err(BankIdError::InvalidParameters { ref details }) if details.contains("userVisibleData"))
    );
    // Not the 12 digits the RP API takes (the simulator checks no more than that).
    let bad_pn = env.client.auth(&auth_for("19900101238")).await;
    assert!(
        matches!(bad_pn, Err(BankIdError::InvalidParameters { ref details }) if details.contains("personalNumber"))
    );
    let (status, body) = raw_post(
        &env,
        "auth",
        "application/json",
        r#"{"endUserIp":"127.0.0.1","userVisibleData":"***"}"#,
    )
    .await?;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("invalidParameters"))
    );
    let (status, body) = raw_post(
        &env,
        "phone/auth",
        "application/json",
        r#"{"personalNumber":"199001012385","callInitiator":"bank"}"#,
    )
    .await?;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("invalidParameters"))
    );
    assert!(
        !body.to_string().contains("199001012385"),
        "details must not echo personal numbers"
    );
    Ok(())
}

#[tokio::test]
async fn get_is_405_with_bankid_error_body() -> TestResult {
    let env = start().await?;
    let resp = env
        .raw_rp_client()?
        .get(format!("{}collect", env.sim.base_url()))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = resp.json().await?;
    assert_eq!(body["errorCode"], "methodNotAllowed");
    Ok(())
}

#[tokio::test]
async fn wrong_content_type_is_415_unsupported_media_type() -> TestResult {
    let env = start().await?;
    let (status, body) =
        raw_post(&env, "auth", "text/plain", r#"{"endUserIp":"127.0.0.1"}"#).await?;
    assert_eq!(status, 415);
    assert_eq!(body["errorCode"], "unsupportedMediaType");
    let (status, _) = raw_post(
        &env,
        "auth",
        "application/json; charset=UTF-8",
        r#"{"endUserIp":"127.0.0.1"}"#,
    )
    .await?;
    assert_eq!(status, 200, "a charset parameter is fine");
    Ok(())
}

#[tokio::test]
async fn unknown_path_is_404_not_found() -> TestResult {
    let env = start().await?;
    let (status, body) = raw_post(&env, "nosuch", "application/json", "{}").await?;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (404, Some("notFound"))
    );
    Ok(())
}

#[tokio::test]
async fn configured_faults_map_to_maintenance_and_internal_error() -> TestResult {
    let config = SimConfig {
        faults: vec![
            FaultRule {
                kind: FaultKind::Maintenance,
                count: 1,
                endpoint: None,
            },
            FaultRule {
                kind: FaultKind::InternalError,
                count: 1,
                endpoint: Some("auth".into()),
            },
        ],
        ..SimConfig::default()
    };
    let env = start_with(config).await?;
    let r = env.client.auth(&auth_for(ANNA)).await;
    assert!(matches!(r, Err(BankIdError::Maintenance { .. })), "{r:?}");
    let r = env.client.auth(&auth_for(ANNA)).await;
    assert!(
        matches!(r, Err(ref e @ BankIdError::InternalError { .. }) if e.is_retryable()),
        "{r:?}"
    );
    env.client.auth(&auth_for(ANNA)).await?;
    Ok(())
}

#[tokio::test]
async fn injected_429_is_too_many_requests() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    env.device_ok(
        "/api/faults",
        json!({ "kind": "tooManyRequests", "count": 2, "endpoint": "collect" }),
    )
    .await?;
    for _ in 0..2 {
        let r = env.client.collect(&order.order_ref).await;
        assert!(matches!(r, Err(BankIdError::TooManyRequests)), "{r:?}");
    }
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Pending
    );
    Ok(())
}

#[tokio::test]
async fn injected_unauthorized_and_request_timeout_are_mapped() -> TestResult {
    let env = start().await?;
    env.device_ok("/api/faults", json!({ "kind": "unauthorized" }))
        .await?;
    let r = env.client.auth(&auth_for(ANNA)).await;
    assert!(matches!(r, Err(BankIdError::Unauthorized { .. })), "{r:?}");
    env.device_ok("/api/faults", json!({ "kind": "requestTimeout" }))
        .await?;
    let r = env.client.auth(&auth_for(ANNA)).await;
    assert!(
        matches!(r, Err(BankIdError::RequestTimeout { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn configured_latency_delays_responses() -> TestResult {
    let env = start_with(SimConfig {
        latency_ms: 150,
        ..SimConfig::default()
    })
    .await?;
    let t = std::time::Instant::now();
    env.client.auth(&auth_for(ANNA)).await?;
    assert!(t.elapsed() >= Duration::from_millis(150));
    Ok(())
}

#[tokio::test]
async fn an_oversized_response_body_is_refused_not_buffered() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_for(ANNA)).await?;
    // cancel's answer is `{}` decoded as any JSON value, so without a cap the
    // padded 1 MiB body would be accepted.
    env.device_ok(
        "/api/faults",
        json!({ "kind": "oversizedBody", "endpoint": "cancel" }),
    )
    .await?;
    let r = env.client.cancel(&order.order_ref).await;
    assert!(
        matches!(
            r,
            Err(BankIdError::ResponseTooLarge { limit, .. }) if limit == fraudhub::bankid::MAX_RESPONSE_BYTES
        ),
        "{r:?}"
    );
    assert!(!r.err().map(|e| e.is_retryable()).unwrap_or(true));
    Ok(())
}
