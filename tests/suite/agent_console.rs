//! The agent console over HTTP (both engines) and in headless Chromium: agents log in
//! with their own BankID, only while enrolled; verifications are the member's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fraudhub::members::MemberStatus;
use serde_json::{Value, json};

use crate::browser_support::{Session, axe_source, start_driver};
use crate::common::TestHub;
use crate::web_support::{ANNA, ERIK, Page, WebClient, approve_pending, device, pending_orders};

const SCOPES: &str = "callers:verify,agents:manage,flags:write,matches:read";

async fn hub() -> TestHub {
    TestHub::start_web(|c| c.bankid.poll_interval_ms = 20).await
}

async fn enrol(hub: &TestHub, key: &str, pn: &str, extra: Value) -> Value {
    let mut body = json!({"personal_number": pn, "display_name": "Erik Agent"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (code, agent) = hub.post("/v1/agents", key, &body).await;
    assert_eq!(code, 201, "{agent}");
    agent
}

/// Logs in to the console with `pn`'s BankID; returns where the order ended.
async fn agent_login(hub: &TestHub, web: &mut WebClient, pn: &str) -> Value {
    let page = web.get("/agent").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let started = web.post("/agent/login", &[("csrf", &page.csrf())]).await;
    assert_eq!(started.location(), Some("/bankid"));
    approve_pending(hub, pn).await;
    web.status().await
}

async fn verify(web: &mut WebClient, pn: &str) -> Page {
    let console = web.get("/agent/console").await;
    assert_eq!(console.status, 200, "{}", console.body);
    web.post(
        "/agent/verifications",
        &[
            ("csrf", &console.csrf()),
            ("personal_number", pn),
            ("call_initiator", "user"),
        ],
    )
    .await
}

async fn phone_app(hub: &TestHub, action: &str) {
    let orders = pending_orders(hub).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let r = orders[0]["orderRef"].as_str().unwrap();
    device(hub, &format!("/api/orders/{r}/{action}"), json!({})).await;
}

#[tokio::test]
async fn an_enrolled_agent_logs_in_with_bankid_and_verifies_a_caller() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    enrol(&hub, &key, ERIK, json!({})).await;
    let mut web = WebClient::new(&hub);
    assert_eq!(
        agent_login(&hub, &mut web, ERIK).await["next"],
        "/agent/console"
    );
    let console = web.get("/agent/console").await;
    assert!(console.body.contains("Erik Agent"));
    assert!(console.body.contains("autocomplete=\"off\""));
    let started = verify(&mut web, "19900101-2385").await;
    assert_eq!(started.status, 303, "{}", started.body);
    let call = started.location().unwrap().to_string();
    assert!(call.starts_with("/agent/verifications/cv_"), "{call}");
    assert!(!call.contains(ANNA), "no personal number in a URL");
    let page = web.get(&call).await;
    assert!(page.body.contains("VÄNTAR PÅ KUNDEN"), "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    phone_app(&hub, "confirm-call").await;
    phone_app(&hub, "approve").await;
    let s: Value = serde_json::from_str(&web.get(&format!("{call}/status")).await.body).unwrap();
    assert_eq!(s["headline"], "VERIFIERAD");
    assert_eq!(s["pending"], false);
    let page = web.get(&call).await;
    assert!(page.body.contains("Anna Andersson"));
    assert!(page.body.contains("href=\"/agent/console\""), "next call");
    // The verification is the member's: its API sees it, with the agent as the key.
    let id = call.rsplit('/').next().unwrap();
    let (code, v) = hub
        .get(&format!("/v1/caller-verifications/{id}"), &key)
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["status"], "complete");
}

#[tokio::test]
async fn a_mistyped_number_is_named_as_such_and_nothing_is_looked_up() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    enrol(&hub, &key, ERIK, json!({})).await;
    let mut web = WebClient::new(&hub);
    agent_login(&hub, &mut web, ERIK).await;
    let before = hub.audit_count().await;
    let page = verify(&mut web, "19900101-2384").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body.contains("Personnumret är inte giltigt")
            || page.body.contains("The personal number is not valid"),
        "{}",
        page.body
    );
    let console = web.get("/agent/console").await;
    let page = web
        .post(
            "/agent/verifications",
            &[
                ("csrf", &console.csrf()),
                ("personal_number", "19900101-2385"),
                ("caller_phone", "07"),
                ("call_initiator", "user"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body.contains("Telefonnumret är inte giltigt")
            || page.body.contains("The phone number is not valid"),
        "{}",
        page.body
    );
    assert_eq!(hub.audit_count().await, before, "no lookup was audited");
    assert!(pending_orders(&hub).await.is_empty(), "no BankID order");
}

#[tokio::test]
async fn a_declined_call_is_shown_as_not_verified_in_large_words() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    enrol(&hub, &key, ERIK, json!({})).await;
    assert_eq!(hub.place_flag(&key, "19900101-2385").await.0, 201);
    let mut web = WebClient::new(&hub);
    web.lang = Some("en");
    agent_login(&hub, &mut web, ERIK).await;
    let call = verify(&mut web, "19900101-2385")
        .await
        .location()
        .unwrap()
        .to_string();
    let page = web.get(&call).await;
    assert!(
        page.body
            .contains("WARNING: the personal number is flagged"),
        "{}",
        page.body
    );
    phone_app(&hub, "decline-call").await;
    let page = web.get(&call).await;
    assert!(page.body.contains("NOT VERIFIED"));
    assert!(page.body.contains("declined the call"));
}

#[tokio::test]
async fn console_login_is_refused_unless_enrolled_active_and_the_member_not_suspended() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let refused = |s: Value| assert_eq!(s["status"], "failed", "{s}");
    // Not enrolled.
    let mut web = WebClient::new(&hub);
    refused(agent_login(&hub, &mut web, ERIK).await);
    assert!(
        web.get("/bankid/result")
            .await
            .body
            .contains("inte registrerad som handläggare")
    );
    // Disabled.
    let agent = enrol(&hub, &key, ERIK, json!({})).await;
    let id = agent["id"].as_str().unwrap();
    hub.post(&format!("/v1/agents/{id}/disable"), &key, &json!({}))
        .await;
    refused(agent_login(&hub, &mut WebClient::new(&hub), ERIK).await);
    // Expired.
    enrol(
        &hub,
        &key,
        ANNA,
        json!({"expires_at": "2026-11-26T12:00:00Z"}),
    )
    .await;
    hub.clock.advance(chrono::Duration::days(2));
    refused(agent_login(&hub, &mut WebClient::new(&hub), ANNA).await);
    // The member suspended.
    let (other, other_key) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    enrol(&hub, &other_key, ERIK, json!({})).await;
    let mut web = WebClient::new(&hub);
    hub.store
        .set_member_status(other, MemberStatus::Suspended)
        .await
        .unwrap();
    refused(agent_login(&hub, &mut web, ERIK).await);
    assert_eq!(web.get("/agent/console").await.location(), Some("/agent"));
}

#[tokio::test]
async fn an_agent_is_out_at_once_when_disabled_or_the_member_is_suspended() {
    let hub = hub().await;
    let (member, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let agent = enrol(&hub, &key, ERIK, json!({})).await;
    let mut web = WebClient::new(&hub);
    agent_login(&hub, &mut web, ERIK).await;
    assert_eq!(web.get("/agent/console").await.status, 200);
    hub.post(
        &format!("/v1/agents/{}/disable", agent["id"].as_str().unwrap()),
        &key,
        &json!({}),
    )
    .await;
    assert_eq!(web.get("/agent/console").await.location(), Some("/agent"));

    enrol(&hub, &key, ANNA, json!({})).await;
    let mut web = WebClient::new(&hub);
    agent_login(&hub, &mut web, ANNA).await;
    assert_eq!(web.get("/agent/console").await.status, 200);
    hub.store
        .set_member_status(member, MemberStatus::Suspended)
        .await
        .unwrap();
    let page = web.get("/agent/console").await;
    assert_eq!(page.location(), Some("/agent"));
}

#[tokio::test]
async fn without_an_agent_session_the_console_is_its_login_page() {
    let hub = hub().await;
    let mut web = WebClient::new(&hub);
    for path in [
        "/agent/console",
        "/agent/verifications/cv_x",
        "/agent/verifications/cv_x/status",
    ] {
        assert_eq!(web.get(path).await.location(), Some("/agent"), "{path}");
    }
    // A consumer session is not an agent session, nor the other way round.
    web.login(&hub, ANNA).await;
    assert_eq!(web.get("/agent/console").await.location(), Some("/agent"));
}

#[tokio::test]
async fn another_members_verification_does_not_exist_in_the_console() {
    let hub = hub().await;
    let (_, key_a) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (_, key_b) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    enrol(&hub, &key_a, ERIK, json!({})).await;
    let mut web = WebClient::new(&hub);
    agent_login(&hub, &mut web, ERIK).await;
    let (code, theirs) = hub
        .post(
            "/v1/caller-verifications",
            &key_b,
            &json!({"personal_number": "19900101-2385", "call_initiator": "user"}),
        )
        .await;
    assert_eq!(code, 201);
    let page = web
        .get(&format!(
            "/agent/verifications/{}",
            theirs["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, 404);
    let csrf = web.get("/agent/console").await.csrf();
    let cancel = web
        .post(
            &format!(
                "/agent/verifications/{}/cancel",
                theirs["id"].as_str().unwrap()
            ),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(cancel.status, 404);
    let (_, still) = hub
        .get(
            &format!(
                "/v1/caller-verifications/{}",
                theirs["id"].as_str().unwrap()
            ),
            &key_b,
        )
        .await;
    assert_eq!(still["status"], "pending");
}

/// The person's phone in a browser window of its own: the simulator's device page.
async fn on_device_page(phone: &Session<'_>, hub: &TestHub, buttons: &[&str]) {
    for selector in buttons {
        phone.goto(&format!("{}/bankid-sim/", hub.base)).await;
        phone.click(selector).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_agent_console_journey_works_in_a_real_browser() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let Some(axe) = axe_source() else {
        return;
    };
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    enrol(&hub, &key, ERIK, json!({})).await;
    let (profile, phone_profile) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = driver.session(profile.path()).await;
    let phone = driver.session(phone_profile.path()).await;
    b.goto(&format!("{}/agent", hub.base)).await;
    assert_eq!(b.axe_violations(&axe).await, json!([]), "agent login page");
    b.click("#login").await;
    b.wait_for_path("/bankid").await;
    // The agent approves the login as themselves on the simulator's device page.
    on_device_page(
        &phone,
        &hub,
        &[&format!(
            "select[name=personalNumber] option[value='{ERIK}']"
        )],
    )
    .await;
    phone.click("form[action$='/approve'] button").await;
    b.wait_for_path("/agent/console").await;
    assert_eq!(b.axe_violations(&axe).await, json!([]), "console");
    b.type_into("#personal_number", "19900101-2385").await;
    b.type_into("#caller_phone", "070-1234567").await;
    b.click("#start").await;
    for _ in 0..100 {
        if b.url().await.contains("/agent/verifications/cv_") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A marker that a page load would wipe: the status must change in place.
    b.execute("window.__same_page = true; return true;").await;
    // Anna's phone: she confirms the call, then identifies.
    on_device_page(
        &phone,
        &hub,
        &[
            "form[action$='/confirm-call'] button",
            "form[action$='/approve'] button",
        ],
    )
    .await;
    let mut headline = Value::Null;
    for _ in 0..200 {
        headline = b
            .execute("return document.getElementById('headline').textContent;")
            .await;
        if headline != "VÄNTAR PÅ KUNDEN" && headline != "WAITING FOR THE CUSTOMER" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        headline == "VERIFIED" || headline == "VERIFIERAD",
        "{headline}"
    );
    assert_eq!(
        b.execute("return window.__same_page === true;").await,
        true,
        "updated without reload"
    );
    let text = b.execute("return document.body.innerText;").await;
    assert!(text.as_str().unwrap().contains("Anna Andersson"));
    assert_eq!(b.axe_violations(&axe).await, json!([]), "result page");
    let png = b.screenshot().await;
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("agent-verified.png"), png).unwrap();
    // Next call: an empty form, nothing kept in the browser.
    b.click("#next-call").await;
    b.wait_for_path("/agent/console").await;
    assert_eq!(
        b.execute("return document.getElementById('personal_number').value;")
            .await,
        ""
    );
    assert_eq!(
        b.execute("return window.localStorage.length + window.sessionStorage.length;")
            .await,
        0
    );
    b.close().await;
    phone.close().await;
}
