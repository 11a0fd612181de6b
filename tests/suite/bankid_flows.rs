//! Hint-code paths of the simulator, driven through the real client over
//! HTTPS with mutual TLS and the device control API.

use std::time::Duration;

use fraudhub::bankid::sim::{ScriptStep, SimConfig};
use fraudhub::bankid::{
    CallInitiator, CancellationToken, CollectStatus, HintCode, OrderRequest, PersonalNumber,
    PhoneOrderRequest, Requirement, qr_code,
};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::bankid_support::{ANNA, ERIK, OTHER, TestResult, start, start_with};

fn auth_req() -> OrderRequest {
    OrderRequest::new("192.0.2.55").visible_text("Log in to fraudhub")
}

fn phone_req(pn: &str, initiator: CallInitiator) -> PhoneOrderRequest {
    PhoneOrderRequest::new(PersonalNumber::new(pn), initiator).visible_text("Verify caller")
}

#[tokio::test]
async fn auth_then_device_approve_completes_with_v6_completion_data() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    assert!(!order.auto_start_token.is_empty() && !order.qr_start_token.is_empty());
    let first = env.client.collect(&order.order_ref).await?;
    assert_eq!(first.status, CollectStatus::Pending);
    assert_eq!(first.hint_code, Some(HintCode::OutstandingTransaction));

    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({ "personalNumber": ERIK }),
    )
    .await?;
    let done = env.client.collect(&order.order_ref).await?;
    assert_eq!(done.status, CollectStatus::Complete);
    let data = done.completion_data.ok_or("no completionData")?;
    assert_eq!(data.user.personal_number.as_str(), ERIK);
    assert_eq!(data.user.name, "Erik Eriksson");
    assert_eq!(data.user.given_name, "Erik");
    assert_eq!(data.device.ip_address, "192.0.2.55");
    assert!(data.device.uhi.is_some());
    assert_eq!(data.bank_id_issue_date.len(), 10);
    assert!(data.risk.is_none(), "risk only when returnRisk");
    assert!(data.step_up.is_none(), "stepUp only when mrtd required");
    assert!(!data.signature.is_empty() && !data.ocsp_response.is_empty());
    Ok(())
}

#[tokio::test]
async fn sign_with_return_risk_and_mrtd_reports_risk_and_step_up() -> TestResult {
    let env = start().await?;
    let req = OrderRequest::new("192.0.2.1")
        .visible_text("Pay 100 SEK")
        .non_visible_data(b"doc-hash")
        .return_risk(true)
        .requirement(Requirement {
            mrtd: Some(true),
            personal_number: Some(PersonalNumber::new(ANNA)),
            ..Requirement::default()
        });
    let order = env.client.sign(&req).await?;
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    let done = env.client.collect(&order.order_ref).await?;
    let data = done.completion_data.ok_or("no completionData")?;
    assert_eq!(data.user.personal_number.as_str(), ANNA);
    assert_eq!(data.risk.as_deref(), Some("low"));
    assert_eq!(data.step_up.map(|s| s.mrtd), Some(true));
    use base64::Engine as _;
    let xml = base64::engine::general_purpose::STANDARD.decode(&data.signature)?;
    let xml = String::from_utf8(xml)?;
    assert!(xml.contains("bankIdSignedData") && xml.contains("SIMULATED"));
    Ok(())
}

#[tokio::test]
async fn order_bound_to_a_person_cannot_be_approved_as_another() -> TestResult {
    let env = start().await?;
    let req = auth_req().requirement(Requirement {
        personal_number: Some(PersonalNumber::new(ANNA)),
        ..Requirement::default()
    });
    let order = env.client.auth(&req).await?;
    let (status, _) = env
        .device(
            &format!("/api/orders/{}/approve", order.order_ref),
            json!({ "personalNumber": ERIK }),
        )
        .await?;
    assert_eq!(status, 422);
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Pending
    );
    Ok(())
}

#[tokio::test]
async fn any_valid_personal_number_gets_a_synthesised_name() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_auth(&phone_req(OTHER, CallInitiator::Rp))
        .await?;
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    let data = env
        .client
        .collect(&order.order_ref)
        .await?
        .completion_data
        .ok_or("no completionData")?;
    assert_eq!(data.user.personal_number.as_str(), OTHER);
    assert_eq!(
        data.user.name,
        format!("{} {}", data.user.given_name, data.user.surname)
    );
    Ok(())
}

#[tokio::test]
async fn phone_auth_goes_through_user_call_confirm_then_user_sign() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_auth(&phone_req(ANNA, CallInitiator::User))
        .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::UserCallConfirm));
    env.device_ok(
        &format!("/api/orders/{}/confirm-call", order.order_ref),
        json!({}),
    )
    .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::UserSign));
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.status, CollectStatus::Complete);
    Ok(())
}

#[tokio::test]
async fn phone_sign_user_declines_call() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_sign(&phone_req(ERIK, CallInitiator::Rp))
        .await?;
    env.device_ok(
        &format!("/api/orders/{}/decline-call", order.order_ref),
        json!({}),
    )
    .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.status, CollectStatus::Failed);
    assert_eq!(r.hint_code, Some(HintCode::UserDeclinedCall));
    Ok(())
}

#[tokio::test]
async fn decline_call_is_refused_for_non_phone_orders() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    let (status, _) = env
        .device(
            &format!("/api/orders/{}/decline-call", order.order_ref),
            json!({}),
        )
        .await?;
    assert_eq!(status, 422);
    Ok(())
}

#[tokio::test]
async fn user_cancel_on_device_fails_with_user_cancel() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    env.device_ok(
        &format!("/api/orders/{}/cancel", order.order_ref),
        json!({}),
    )
    .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(
        (r.status, r.hint_code),
        (CollectStatus::Failed, Some(HintCode::UserCancel))
    );
    Ok(())
}

#[tokio::test]
async fn device_expire_fails_with_expired_transaction() -> TestResult {
    let env = start().await?;
    let order = env.client.sign(&auth_req()).await?;
    env.device_ok(
        &format!("/api/orders/{}/expire", order.order_ref),
        json!({}),
    )
    .await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::ExpiredTransaction));
    Ok(())
}

#[tokio::test]
async fn unstarted_order_fails_with_start_failed_after_30_seconds() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    env.clock.advance(chrono::Duration::seconds(29));
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Pending
    );
    env.clock.advance(chrono::Duration::seconds(1));
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(
        (r.status, r.hint_code),
        (CollectStatus::Failed, Some(HintCode::StartFailed))
    );
    Ok(())
}

#[tokio::test]
async fn started_order_expires_after_three_minutes() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_auth(&phone_req(ANNA, CallInitiator::User))
        .await?;
    env.clock.advance(chrono::Duration::seconds(179));
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Pending
    );
    env.clock.advance(chrono::Duration::seconds(1));
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::ExpiredTransaction));
    Ok(())
}

#[tokio::test]
async fn rp_cancel_fails_order_with_cancelled() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    env.client.cancel(&order.order_ref).await?;
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(
        (r.status, r.hint_code),
        (CollectStatus::Failed, Some(HintCode::Cancelled))
    );
    assert!(env.pending().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn current_qr_code_scan_starts_order_then_user_sign() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    env.clock.advance(chrono::Duration::milliseconds(3_400));
    let code = qr_code(
        &order.qr_start_token,
        order.qr_start_secret.expose_secret(),
        3,
    );
    let (status, body) = env.device("/api/scan", json!({ "qr": code })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orderRef"], order.order_ref.as_str());
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::Started));
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::UserSign));
    // A started order is past the 30 s start window.
    env.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(
        env.client.collect(&order.order_ref).await?.hint_code,
        Some(HintCode::UserSign)
    );
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({}),
    )
    .await?;
    assert_eq!(
        env.client.collect(&order.order_ref).await?.status,
        CollectStatus::Complete
    );
    Ok(())
}

#[tokio::test]
async fn stale_qr_code_is_rejected_and_order_stays_unstarted() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    env.clock.advance(chrono::Duration::seconds(5));
    let stale = qr_code(
        &order.qr_start_token,
        order.qr_start_secret.expose_secret(),
        4,
    );
    let (status, body) = env.device("/api/scan", json!({ "qr": stale })).await?;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("not the currently valid")
    );
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::OutstandingTransaction));
    Ok(())
}

#[tokio::test]
async fn forged_qr_code_with_wrong_secret_is_rejected() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    let forged = qr_code(&order.qr_start_token, "not-the-secret", 0);
    let (status, _) = env.device("/api/scan", json!({ "qr": forged })).await?;
    assert_eq!(status, 422);
    let (status, _) = env.device("/api/scan", json!({ "qr": "hello" })).await?;
    assert_eq!(status, 422);
    Ok(())
}

#[tokio::test]
async fn poller_reports_pending_hints_and_stops_on_complete() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_auth(&phone_req(ANNA, CallInitiator::Rp))
        .await?;
    let cancel = CancellationToken::new();
    let mut hints = Vec::new();
    let poll = env.client.poll_until_final(&order.order_ref, &cancel, |r| {
        hints.push(r.hint_code.clone());
    });
    let approve = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        env.device_ok(
            &format!("/api/orders/{}/approve", order.order_ref),
            json!({}),
        )
        .await
    };
    let (result, approved) = tokio::join!(poll, approve);
    approved?;
    assert_eq!(result?.status, CollectStatus::Complete);
    assert!(!hints.is_empty());
    assert!(hints.iter().all(|h| *h == Some(HintCode::UserCallConfirm)));
    Ok(())
}

#[tokio::test]
async fn cancelling_the_poller_cancels_the_order_at_bankid() -> TestResult {
    let env = start().await?;
    let order = env.client.auth(&auth_req()).await?;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trigger.cancel();
    });
    let result = env
        .client
        .poll_until_final(&order.order_ref, &cancel, |_| {})
        .await;
    assert!(matches!(
        result,
        Err(fraudhub::bankid::BankIdError::PollCancelled)
    ));
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(r.hint_code, Some(HintCode::Cancelled));
    Ok(())
}

#[tokio::test]
async fn scripted_hint_sequence_with_unknown_hint_code_completes() -> TestResult {
    let config = SimConfig {
        script: Some(vec![
            ScriptStep::Hint {
                hint_code: "started".into(),
                collects: 1,
            },
            ScriptStep::Hint {
                hint_code: "someFutureHint".into(),
                collects: 2,
            },
            ScriptStep::Complete {
                personal_number: Some(ERIK.into()),
            },
        ]),
        ..SimConfig::default()
    };
    let env = start_with(config).await?;
    let order = env.client.auth(&auth_req()).await?;
    let mut seen = Vec::new();
    let done = env
        .client
        .poll_until_final(&order.order_ref, &CancellationToken::new(), |r| {
            seen.push(r.hint_code.clone());
        })
        .await?;
    let other = Some(HintCode::Other("someFutureHint".into()));
    assert_eq!(seen, vec![Some(HintCode::Started), other.clone(), other]);
    let user = done.completion_data.ok_or("no completionData")?.user;
    assert_eq!(user.personal_number.as_str(), ERIK);
    Ok(())
}

#[tokio::test]
async fn scripted_failure_is_reported_as_failed() -> TestResult {
    let config: SimConfig = serde_json::from_value(json!({
        "script": [
            { "step": "hint", "hint_code": "userSign" },
            { "step": "fail", "hint_code": "userCancel" }
        ]
    }))?;
    let env = start_with(config).await?;
    let order = env.client.sign(&auth_req()).await?;
    assert_eq!(
        env.client.collect(&order.order_ref).await?.hint_code,
        Some(HintCode::UserSign)
    );
    let r = env.client.collect(&order.order_ref).await?;
    assert_eq!(
        (r.status, r.hint_code),
        (CollectStatus::Failed, Some(HintCode::UserCancel))
    );
    Ok(())
}

#[tokio::test]
async fn device_lists_pending_orders_with_masked_personal_numbers() -> TestResult {
    let env = start().await?;
    let order = env
        .client
        .phone_auth(&phone_req(ANNA, CallInitiator::User))
        .await?;
    let pending = env.pending().await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["orderRef"], order.order_ref.as_str());
    assert_eq!(pending[0]["kind"], "phoneAuth");
    assert_eq!(pending[0]["hintCode"], "userCallConfirm");
    assert_eq!(pending[0]["personalNumberMasked"], "19900101****");
    assert!(!pending[0].to_string().contains(ANNA));
    Ok(())
}
