//! Police-reported indicators: publish, match, confirm, contest, revoke, dispute.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fraudhub::clock::Clock;
use fraudhub::retention::{RetentionPolicy, run_pass};
use serde_json::{Value, json};

use crate::common::*;

const IBAN: &str = "SE45 5000 0000 0583 9825 7466";
const PHONE: &str = "070-123 45 67";
const SCOPES: &str = "indicators:write,matches:read";

fn report(kind: &str, value: &str) -> Value {
    json!({
        "identifier": {"kind": kind, "value": value},
        "category": "money_mule",
        "police_report_reference": "5000-k123456-24",
        "confidence": "medium",
        "note": "case 4711: customer lost 80 000 kr",
    })
}

async fn members(hub: &TestHub, names: &[&str]) -> Vec<String> {
    let mut keys = Vec::new();
    for name in names {
        keys.push(hub.member_with(name, SCOPES, 10_000, 10_000).await.1);
    }
    keys
}

async fn publish(hub: &TestHub, key: &str, body: &Value) -> String {
    let (status, made) = hub.post("/v1/indicators", key, body).await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_string()
}

/// The match result for one identifier.
async fn matched(hub: &TestHub, key: &str, kind: &str, value: &str) -> Value {
    let body = json!({"purpose": "payment", "identifiers": [{"kind": kind, "value": value}]});
    let (status, answer) = hub.post("/v1/matches", key, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["results"][0].clone()
}

#[tokio::test]
async fn a_report_reaches_every_member_until_its_publisher_revokes_it() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b", "bank-c"]).await;
    let (a, b, c) = (&keys[0], &keys[1], &keys[2]);
    let id = publish(&hub, a, &report("iban", IBAN)).await;

    let seen = matched(&hub, b, "iban", IBAN).await;
    assert_eq!(seen["flagged"], false);
    assert_eq!(seen["indicators"]["reported_by_members"], 1);
    assert_eq!(seen["indicators"]["categories"], json!(["money_mule"]));
    assert_eq!(seen["indicators"]["highest_confidence"], "medium");
    assert_eq!(seen["indicators"]["indicator_ids"], json!([id]));
    assert_eq!(seen["advice"], "hold_payment");
    assert!(
        !seen.to_string().contains("4711"),
        "the note is the publisher's: {seen}"
    );
    assert!(
        !seen.to_string().contains("bank-a"),
        "not disclosed: {seen}"
    );

    let path = format!("/v1/indicators/{id}");
    let (status, confirmed) = hub
        .post(
            &format!("{path}/sightings"),
            b,
            &json!({"reference": "b-77"}),
        )
        .await;
    assert_eq!(status, 201, "{confirmed}");
    assert_eq!(confirmed["sightings"], 1);
    let (status, _) = hub
        .post(&format!("{path}/false-positive-reports"), c, &json!({}))
        .await;
    assert_eq!(status, 201);
    let seen = matched(&hub, c, "iban", IBAN).await;
    assert_eq!(seen["indicators"]["sightings"], 1);
    assert_eq!(seen["indicators"]["false_positive_reports"], 1);

    let (status, revoked) = hub.post(&format!("{path}/revoke"), a, &json!({})).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    for key in [a, b, c] {
        let seen = matched(&hub, key, "iban", IBAN).await;
        assert_eq!(seen["indicators"]["reported_by_members"], 0, "{seen}");
        assert_eq!(seen["advice"], "none");
    }
    Ok(())
}

#[tokio::test]
async fn only_the_publisher_reads_revokes_or_sees_the_note_and_it_cannot_vouch_for_itself()
-> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b"]).await;
    let (a, b) = (&keys[0], &keys[1]);
    let id = publish(&hub, a, &report("phone", PHONE)).await;
    let path = format!("/v1/indicators/{id}");

    let (status, own) = hub.get(&path, a).await;
    assert_eq!(status, 200);
    assert_eq!(own["note"], "case 4711: customer lost 80 000 kr");
    assert_eq!(own["police_report_reference"], "5000-K123456-24");
    assert_eq!(hub.get(&path, b).await.0, 404);
    assert_eq!(
        hub.post(&format!("{path}/revoke"), b, &json!({})).await.0,
        404
    );
    assert_eq!(
        hub.post(&format!("{path}/uphold"), b, &json!({})).await.0,
        404
    );
    let (_, listed) = hub.get("/v1/indicators", b).await;
    assert_eq!(listed["indicators"], json!([]));
    let (status, problem) = hub.post(&format!("{path}/sightings"), a, &json!({})).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        hub.post(&format!("{path}/false-positive-reports"), a, &json!({}))
            .await
            .0,
        403
    );
    // Once per member per indicator.
    assert_eq!(
        hub.post(&format!("{path}/sightings"), b, &json!({}))
            .await
            .0,
        201
    );
    assert_eq!(
        hub.post(&format!("{path}/sightings"), b, &json!({}))
            .await
            .0,
        409
    );
    // Matching members see advice, not the reporter.
    assert_eq!(
        matched(&hub, b, "phone", PHONE).await["advice"],
        "investigate"
    );
    Ok(())
}

#[tokio::test]
async fn every_invalid_field_is_named_and_nothing_is_stored() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a"]).await;
    let key = &keys[0];
    let far = (start_time() + chrono::Duration::days(5 * 365 + 2)).to_rfc3339();
    let past = (start_time() - chrono::Duration::days(1)).to_rfc3339();
    let mut cases = Vec::new();
    for (field, value) in [
        ("police_report_reference", json!("K123456")),
        ("police_report_reference", json!("5000-123456-24")),
        ("valid_until", json!(past)),
        ("valid_until", json!(far)),
        ("valid_until", json!("tomorrow")),
        ("category", json!("grudge")),
        ("confidence", json!("certain")),
        ("note", json!("x".repeat(1001))),
    ] {
        let mut body = report("iban", IBAN);
        body[field] = value;
        cases.push((body, field.to_string()));
    }
    let mut missing = report("iban", IBAN);
    missing
        .as_object_mut()
        .unwrap()
        .remove("police_report_reference");
    cases.push((missing, "police_report_reference".into()));
    let mut bad_iban = report("iban", "SE45 5000 0000 0583 9825 7467");
    bad_iban["category"] = json!("invoice_fraud");
    cases.push((bad_iban, "identifier.value".into()));
    for (body, field) in cases {
        let (status, problem) = hub.post("/v1/indicators", key, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["field"], field.as_str(), "{problem}");
    }
    let (_, listed) = hub.get("/v1/indicators", key).await;
    assert_eq!(listed["indicators"], json!([]));
    Ok(())
}

#[tokio::test]
async fn a_report_stops_matching_when_it_expires() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b"]).await;
    let mut body = report("iban", IBAN);
    body["valid_until"] = json!((start_time() + chrono::Duration::days(10)).to_rfc3339());
    let id = publish(&hub, &keys[0], &body).await;
    assert_eq!(
        matched(&hub, &keys[1], "iban", IBAN).await["indicators"]["reported_by_members"],
        1
    );
    hub.clock.advance(chrono::Duration::days(10));
    assert_eq!(
        matched(&hub, &keys[1], "iban", IBAN).await["indicators"]["reported_by_members"],
        0
    );
    let (_, own) = hub.get(&format!("/v1/indicators/{id}"), &keys[0]).await;
    assert_eq!(own["status"], "expired");
    Ok(())
}

#[tokio::test]
async fn a_publisher_is_named_only_when_it_chose_to_be() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b", "bank-c"]).await;
    let mut named = report("iban", IBAN);
    named["disclose_member"] = json!(true);
    named["confidence"] = json!("low");
    publish(&hub, &keys[0], &named).await;
    let mut anonymous = report("iban", IBAN);
    anonymous["confidence"] = json!("low");
    publish(&hub, &keys[1], &anonymous).await;
    let seen = matched(&hub, &keys[2], "iban", IBAN).await;
    assert_eq!(seen["indicators"]["reported_by_members"], 2);
    assert_eq!(seen["indicators"]["disclosed_members"], json!(["bank-a"]));
    // Two members' reports on one account: do not pay, even at low confidence.
    assert_eq!(seen["advice"], "do_not_pay");
    Ok(())
}

#[tokio::test]
async fn a_disputed_report_only_asks_for_investigation_until_upheld_and_lapses_unanswered()
-> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b", "bank-c"]).await;
    let (a, b, c) = (&keys[0], &keys[1], &keys[2]);
    let mut body = report("iban", IBAN);
    body["confidence"] = json!("high");
    let on_account = publish(&hub, a, &body).await;
    let on_person = publish(&hub, a, &report("se_personal_number", PN)).await;
    let dispute = json!({"personal_number": PN_10, "case_reference": "c-2026-19"});
    let (status, answer) = hub.post("/v1/indicators/disputes", c, &dispute).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["disputed"], 1);
    let seen = matched(&hub, b, "se_personal_number", PN).await;
    assert_eq!(seen["indicators"]["disputed"], true);
    assert_eq!(seen["advice"], "investigate");
    // The account report is not about the person and stays undisputed.
    assert_eq!(matched(&hub, b, "iban", IBAN).await["advice"], "do_not_pay");
    let (_, own) = hub.get(&format!("/v1/indicators/{on_person}"), a).await;
    assert_eq!(own["disputed"], true);

    let uphold = format!("/v1/indicators/{on_person}/uphold");
    let (status, upheld) = hub.post(&uphold, a, &json!({})).await;
    assert_eq!(status, 200, "{upheld}");
    assert_eq!(upheld["disputed"], false);
    assert_eq!(
        hub.post(&uphold, a, &json!({})).await.0,
        409,
        "nothing left to uphold"
    );
    assert_eq!(
        hub.post(
            &format!("/v1/indicators/{on_account}/uphold"),
            a,
            &json!({})
        )
        .await
        .0,
        409
    );

    // Disputed again and left unanswered past the deadline: the report ends.
    assert_eq!(
        hub.post("/v1/indicators/disputes", c, &dispute).await.1["disputed"],
        1
    );
    hub.clock.advance(chrono::Duration::days(30));
    let seen = matched(&hub, b, "se_personal_number", PN).await;
    assert_eq!(seen["indicators"]["reported_by_members"], 0, "{seen}");
    let (_, own) = hub.get(&format!("/v1/indicators/{on_person}"), a).await;
    assert_eq!(own["status"], "dispute_lapsed");
    Ok(())
}

#[tokio::test]
async fn enough_false_positive_reports_put_a_report_under_review() -> TestResult {
    let hub = TestHub::start_with(|c| c.indicator_under_review_after = 2).await;
    let keys = members(&hub, &["bank-a", "bank-b", "bank-c", "bank-d"]).await;
    let mut body = report("iban", IBAN);
    body["confidence"] = json!("high");
    let id = publish(&hub, &keys[0], &body).await;
    let contest = format!("/v1/indicators/{id}/false-positive-reports");
    let (_, first) = hub.post(&contest, &keys[1], &json!({})).await;
    assert_eq!(first["under_review"], false);
    assert_eq!(
        matched(&hub, &keys[3], "iban", IBAN).await["advice"],
        "do_not_pay"
    );
    let (_, second) = hub.post(&contest, &keys[2], &json!({})).await;
    assert_eq!(second["under_review"], true);
    let seen = matched(&hub, &keys[3], "iban", IBAN).await;
    assert_eq!(seen["indicators"]["under_review"], true);
    assert_eq!(seen["advice"], "investigate");
    let (_, listed) = hub.get("/v1/indicators", &keys[0]).await;
    assert_eq!(listed["indicators"][0]["under_review"], true);
    Ok(())
}

#[tokio::test]
async fn the_publishers_listing_pages_with_a_cursor() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b"]).await;
    let mut made = Vec::new();
    for i in 0..5 {
        let phone = format!("070-123 45 6{i}");
        made.push(publish(&hub, &keys[0], &report("phone", &phone)).await);
    }
    publish(&hub, &keys[1], &report("phone", PHONE)).await;
    made.sort();
    let mut seen = Vec::new();
    let mut path = "/v1/indicators?limit=2".to_string();
    loop {
        let (status, page) = hub.get(&path, &keys[0]).await;
        assert_eq!(status, 200, "{page}");
        for i in page["indicators"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/indicators?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, made);
    assert_eq!(
        hub.get("/v1/indicators?limit=0", &keys[0]).await.1["field"],
        "limit"
    );
    Ok(())
}

#[tokio::test]
async fn a_retried_publish_with_the_same_idempotency_key_publishes_once() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a"]).await;
    let send = |body: Value| {
        hub.http
            .post(format!("{}/v1/indicators", hub.base))
            .bearer_auth(&keys[0])
            .header("idempotency-key", "retry-1")
            .json(&body)
            .send()
    };
    let first: Value = send(report("iban", IBAN)).await?.json().await?;
    let again = send(report("iban", IBAN)).await?;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await?;
    assert_eq!(first["id"], again["id"]);
    let other = send(report("phone", PHONE)).await?;
    assert_eq!(other.status(), 422);
    let (_, listed) = hub.get("/v1/indicators", &keys[0]).await;
    assert_eq!(listed["indicators"].as_array().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn reading_indicators_needs_indicators_read_and_publishing_needs_write() -> TestResult {
    let hub = TestHub::start().await;
    let (_, reader) = hub.member_with("bank-a", "indicators:read", 100, 100).await;
    let (_, matcher) = hub.member_with("bank-b", "matches:read", 100, 100).await;
    assert_eq!(hub.get("/v1/indicators", &reader).await.0, 200);
    assert_eq!(
        hub.post("/v1/indicators", &reader, &report("iban", IBAN))
            .await
            .0,
        403
    );
    assert_eq!(hub.get("/v1/indicators", &matcher).await.0, 403);
    let dispute = json!({"personal_number": PN, "case_reference": "c-1"});
    assert_eq!(
        hub.post("/v1/indicators/disputes", &matcher, &dispute)
            .await
            .0,
        403
    );
    Ok(())
}

#[tokio::test]
async fn an_ended_report_is_kept_for_the_retention_window_then_purged() -> TestResult {
    let hub = TestHub::start().await;
    let keys = members(&hub, &["bank-a", "bank-b"]).await;
    let id = publish(&hub, &keys[0], &report("iban", IBAN)).await;
    let path = format!("/v1/indicators/{id}");
    hub.post(&format!("{path}/sightings"), &keys[1], &json!({}))
        .await;
    assert_eq!(
        hub.post(&format!("{path}/revoke"), &keys[0], &json!({}))
            .await
            .0,
        200
    );
    let policy = RetentionPolicy::from_config(&fraudhub::config::Config::default());
    hub.clock.advance(chrono::Duration::days(90));
    let pass = run_pass(&hub.store, &policy, hub.clock.now()).await?;
    assert_eq!(pass.indicators_purged, 0);
    assert_eq!(hub.get(&path, &keys[0]).await.0, 200);
    hub.clock.advance(chrono::Duration::minutes(1));
    let pass = run_pass(&hub.store, &policy, hub.clock.now()).await?;
    assert_eq!(pass.indicators_purged, 1);
    assert_eq!(hub.get(&path, &keys[0]).await.0, 404);
    Ok(())
}
