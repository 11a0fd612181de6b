//! Caller verification through the member API, on both database engines, against the
//! BankID simulator over mutual TLS: every outcome, warnings, long polls, faults,
//! authorization, the audit trail and the person's "who checked me".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestHub;
use crate::web_support::{ANNA, WebClient, device, pending_orders};

const ANNA_DASHED: &str = "19900101-2385";
const SCOPES: &str = "callers:verify,flags:write,matches:read,indicators:write,agents:manage";

async fn hub() -> TestHub {
    TestHub::start_web(|c| c.bankid.poll_interval_ms = 20).await
}

async fn start(hub: &TestHub, key: &str, body: Value) -> (u16, Value) {
    hub.post("/v1/caller-verifications", key, &body).await
}

async fn anna_calls(hub: &TestHub, key: &str) -> Value {
    let (status, v) = start(
        hub,
        key,
        json!({"personal_number": ANNA_DASHED, "call_initiator": "user"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    v
}

/// The person's app, on the only pending phone order.
async fn app(hub: &TestHub, action: &str) {
    let orders = pending_orders(hub).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["kind"], "phoneAuth");
    let r = orders[0]["orderRef"].as_str().unwrap();
    device(hub, &format!("/api/orders/{r}/{action}"), json!({})).await;
}

async fn status(hub: &TestHub, key: &str, v: &Value) -> Value {
    let (code, body) = hub
        .get(
            &format!("/v1/caller-verifications/{}", v["id"].as_str().unwrap()),
            key,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn the_person_confirms_the_call_and_the_agent_sees_the_name_bankid_returned() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    assert_eq!(v["status"], "pending");
    assert_eq!(v["warnings"], json!([]));
    let orders = pending_orders(&hub).await;
    assert_eq!(
        orders[0]["userVisibleText"],
        "Du pratar med bank-a kundtjänst."
    );
    assert_eq!(orders[0]["callInitiator"], "user");
    let s = status(&hub, &key, &v).await;
    assert_eq!(s["hint_code"], "userCallConfirm");
    assert_eq!(s["hint"], "Kunden ombeds bekräfta samtalet i BankID-appen.");
    app(&hub, "confirm-call").await;
    app(&hub, "approve").await;
    let s = status(&hub, &key, &v).await;
    assert_eq!(s["status"], "complete", "{s}");
    assert_eq!(s["name"], "Anna Andersson");
    assert_eq!(s["given_name"], "Anna");
    assert_eq!(s["surname"], "Andersson");
    assert!(s["verified_at"].is_string());
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_the_person_answers() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    let (base, id) = (hub.base.clone(), v["id"].as_str().unwrap().to_string());
    let answer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let orders: Vec<Value> = reqwest::get(format!("{base}/bankid-sim/api/orders"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = orders[0]["orderRef"].as_str().unwrap().to_string();
        for action in ["confirm-call", "approve"] {
            reqwest::Client::new()
                .post(format!("{base}/bankid-sim/api/orders/{r}/{action}"))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
        }
    });
    let began = Instant::now();
    let (code, s) = hub
        .get(&format!("/v1/caller-verifications/{id}?wait=20"), &key)
        .await;
    assert_eq!(code, 200);
    assert_eq!(s["status"], "complete", "{s}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "returned when answered, not at the deadline"
    );
    answer.await.unwrap();
    let (code, p) = hub
        .get(&format!("/v1/caller-verifications/{id}?wait=31"), &key)
        .await;
    assert_eq!(code, 422);
    assert_eq!(p["field"], "wait", "{p}");
}

#[tokio::test]
async fn an_impostor_fails_when_the_real_person_declines_the_call() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    app(&hub, "decline-call").await;
    let s = status(&hub, &key, &v).await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["failure"], "declined_call");
    assert!(s.get("name").is_none());
}

#[tokio::test]
async fn the_person_cancelling_or_letting_it_expire_fails_the_verification() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    app(&hub, "cancel").await;
    assert_eq!(status(&hub, &key, &v).await["failure"], "cancelled");
    let v = anna_calls(&hub, &key).await;
    app(&hub, "expire").await;
    assert_eq!(status(&hub, &key, &v).await["failure"], "expired");
}

#[tokio::test]
async fn the_agent_cancels_a_pending_verification_at_bankid_too() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    let (code, c) = hub
        .post(
            &format!(
                "/v1/caller-verifications/{}/cancel",
                v["id"].as_str().unwrap()
            ),
            &key,
            &json!({}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(c["failure"], "cancelled");
    assert!(pending_orders(&hub).await.is_empty(), "cancelled at BankID");
}

#[tokio::test]
async fn a_second_order_for_the_person_fails_both_as_started_elsewhere() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let first = anna_calls(&hub, &key).await;
    let second = anna_calls(&hub, &key).await;
    assert_eq!(second["status"], "failed");
    assert_eq!(second["failure"], "started_elsewhere");
    assert_eq!(
        status(&hub, &key, &first).await["failure"],
        "started_elsewhere"
    );
}

#[tokio::test]
async fn bankid_errors_and_outages_give_a_failed_status_not_a_hang_or_500() {
    let mut hub = TestHub::start_web(|c| {
        c.bankid.poll_interval_ms = 20;
        c.bankid.timeout_secs = 2;
    })
    .await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    device(
        &hub,
        "/api/faults",
        json!({"kind": "maintenance", "endpoint": "phone/auth"}),
    )
    .await;
    let v = anna_calls(&hub, &key).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["failure"], "bankid_unavailable");
    let v = anna_calls(&hub, &key).await;
    device(
        &hub,
        "/api/faults",
        json!({"kind": "internalError", "endpoint": "collect"}),
    )
    .await;
    assert_eq!(
        status(&hub, &key, &v).await["failure"],
        "bankid_unavailable"
    );
    // BankID unreachable: the simulator is gone.
    let v = anna_calls(&hub, &key).await;
    hub.sim.take().unwrap().shutdown().await;
    let began = Instant::now();
    let (code, s) = hub
        .get(
            &format!(
                "/v1/caller-verifications/{}?wait=10",
                v["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["failure"], "bankid_unavailable");
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "within the BankID timeout"
    );
}

#[tokio::test]
async fn warnings_name_flags_and_reports_at_the_start_and_again_at_the_end() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let report = json!({"identifier": {"kind": "phone", "value": "+46701234567"},
        "category": "vishing", "police_report_reference": "5000-K1-24", "confidence": "high"});
    assert_eq!(hub.post("/v1/indicators", &key, &report).await.0, 201);
    let (code, v) = start(
        &hub,
        &key,
        json!({"personal_number": ANNA_DASHED, "call_initiator": "rp",
        "caller_phone": "070-123 45 67", "agent_reference": "agent-7"}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["call_initiator"], "rp");
    assert_eq!(v["agent_reference"], "agent-7");
    assert_eq!(
        v["warnings"],
        json!([{"type": "reported", "on": "caller_phone", "reported_by_members": 1, "categories": ["vishing"]}])
    );
    // Flagged while the call goes on: the end re-check shows it.
    assert_eq!(hub.place_flag(&key, ANNA_DASHED).await.0, 201);
    app(&hub, "confirm-call").await;
    app(&hub, "approve").await;
    let s = status(&hub, &key, &v).await;
    assert_eq!(s["status"], "complete");
    let types: Vec<&str> = s["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["flagged", "reported"], "{s}");
    assert_eq!(s["warnings"][0]["flags"][0]["kind"], "identity_theft");
}

#[tokio::test]
async fn a_verification_exists_only_for_the_member_that_started_it() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (_, other) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    let (_, no_scope) = hub.member_with("bank-c", "matches:read", 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        hub.get(&format!("/v1/caller-verifications/{id}"), &other)
            .await
            .0,
        404
    );
    assert_eq!(
        hub.post(
            &format!("/v1/caller-verifications/{id}/cancel"),
            &other,
            &json!({})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        status(&hub, &key, &v).await["status"],
        "pending",
        "untouched by the other member"
    );
    assert_eq!(
        hub.get(&format!("/v1/caller-verifications/{id}"), &no_scope)
            .await
            .0,
        403
    );
    assert_eq!(
        start(
            &hub,
            &no_scope,
            json!({"personal_number": ANNA_DASHED, "call_initiator": "user"})
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn bad_input_is_named_and_a_retried_start_starts_once() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    for (body, field) in [
        (
            json!({"personal_number": "19900101-2384", "call_initiator": "user"}),
            "personal_number",
        ),
        (
            json!({"personal_number": ANNA_DASHED, "call_initiator": "them"}),
            "call_initiator",
        ),
        (
            json!({"personal_number": ANNA_DASHED, "call_initiator": "user", "caller_phone": "abc"}),
            "caller_phone",
        ),
        (
            json!({"personal_number": ANNA_DASHED, "call_initiator": "user", "agent_reference": ""}),
            "agent_reference",
        ),
    ] {
        let (code, p) = start(&hub, &key, body).await;
        assert_eq!(code, 422, "{p}");
        assert!(p.to_string().contains(field), "{field}: {p}");
    }
    assert!(pending_orders(&hub).await.is_empty());
    let body = json!({"personal_number": ANNA_DASHED, "call_initiator": "user"});
    let send = || async {
        let resp = hub
            .http
            .post(format!("{}/v1/caller-verifications", hub.base))
            .bearer_auth(&key)
            .header("idempotency-key", "call-42")
            .json(&body)
            .send()
            .await
            .unwrap();
        crate::common::split(resp).await
    };
    let (a, first) = send().await;
    let (b, again) = send().await;
    assert_eq!((a, b), (201, 201));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(pending_orders(&hub).await.len(), 1, "one BankID order");
}

#[tokio::test]
async fn each_step_is_audited_for_customer_service_and_the_person_sees_it() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let v = anna_calls(&hub, &key).await;
    app(&hub, "confirm-call").await;
    app(&hub, "approve").await;
    assert_eq!(status(&hub, &key, &v).await["status"], "complete");
    let entries = hub.store.audit_page(None, 0, 100).await.unwrap();
    let steps: Vec<(String, String, Option<String>)> = entries
        .iter()
        .map(|e| e.entry().unwrap())
        .map(|e| {
            (
                e.action.as_str().to_string(),
                e.outcome.as_str().to_string(),
                e.purpose.map(|p| p.as_str().to_string()),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "caller.verify.start".into(),
                "clear".into(),
                Some("customer_service".into())
            ),
            (
                "caller.verify.end".into(),
                "verified".into(),
                Some("customer_service".into())
            ),
        ]
    );
    let mut web = WebClient::new(&hub);
    web.login(&hub, ANNA).await;
    let page = web.get("/my/lookups").await;
    assert!(page.body.contains("bank-a"));
    assert!(
        page.body
            .contains("Bad dig bekräfta ett telefonsamtal med BankID"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Du bekräftade samtalet"));
    assert!(page.body.contains("Kundtjänst"));
}

#[tokio::test]
async fn members_enrol_list_and_disable_their_own_agents() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (_, other) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    let (code, agent) = hub
        .post(
            "/v1/agents",
            &key,
            &json!({"personal_number": "19811228-9874", "display_name": "Erik E"}),
        )
        .await;
    assert_eq!(code, 201, "{agent}");
    assert_eq!(agent["active"], true);
    assert!(!agent.to_string().contains("9874"));
    let (code, _) = hub
        .post(
            "/v1/agents",
            &key,
            &json!({"personal_number": "198112289874", "display_name": "Erik again"}),
        )
        .await;
    assert_eq!(code, 409);
    let (code, p) = hub
        .post(
            "/v1/agents",
            &key,
            &json!({"personal_number": "1", "display_name": "x"}),
        )
        .await;
    assert_eq!(code, 422, "{p}");
    let (code, p) = hub
        .post("/v1/agents", &key, &json!({"personal_number": "19811228-9874", "display_name": "E", "expires_at": "2020-01-01T00:00:00Z"}))
        .await;
    assert_eq!(code, 422, "{p}");
    let (_, list) = hub.get("/v1/agents", &key).await;
    assert_eq!(list["agents"].as_array().unwrap().len(), 1);
    assert_eq!(hub.get("/v1/agents", &other).await.1["agents"], json!([]));
    let id = agent["id"].as_str().unwrap();
    assert_eq!(
        hub.post(&format!("/v1/agents/{id}/disable"), &other, &json!({}))
            .await
            .0,
        404
    );
    let (code, disabled) = hub
        .post(&format!("/v1/agents/{id}/disable"), &key, &json!({}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(disabled["active"], false);
}
