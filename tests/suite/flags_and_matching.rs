//! Placing, reading, lifting and matching flags, including expiry with injected time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_placed_flag_is_seen_by_every_member_with_verify_identity_advice() -> TestResult {
    let hub = TestHub::start().await;
    let (_, bank_a) = hub.member("bank-a").await;
    let (_, bank_b) = hub.member("bank-b").await;
    let (status, flag) = hub.place_flag(&bank_a, PN).await;
    assert_eq!(status, 201, "{flag}");
    assert!(flag["id"].as_str().unwrap().starts_with("flg_"));

    let (status, answer) = hub.match_one(&bank_b, PN_10).await;
    assert_eq!(status, 200);
    let result = &answer["results"][0];
    assert_eq!(result["flagged"], true);
    assert_eq!(result["flags"][0]["kind"], "identity_theft");
    assert_eq!(result["flags"][0]["advice"], "verify_identity");
    assert_eq!(result["flags"][0]["since"], "2026-11-25T12:00:00+00:00");
    assert_eq!(result["flags"][0]["expires"], "2027-11-25T12:00:00+00:00");
    // Who placed it is never revealed.
    assert!(!answer.to_string().contains("bank-a"));
    assert!(result["flags"][0].get("consent_reference").is_none());
    hub.stop().await;
    Ok(())
}

#[tokio::test]
async fn results_come_back_one_per_identifier_in_request_order() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    hub.place_flag(&key, PN).await;
    let body = json!({"purpose": "credit_application", "identifiers": [
        {"kind": "phone", "value": "070-123 45 67"},
        {"kind": "se_personal_number", "value": PN_DIGITS},
        {"kind": "email", "value": "someone@example.se"},
        {"kind": "se_personal_number", "value": "19121212-1212"}
    ]});
    let (status, answer) = hub.post("/v1/matches", &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    let flagged: Vec<bool> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["flagged"].as_bool().unwrap())
        .collect();
    assert_eq!(flagged, vec![false, true, false, false]);
    assert_eq!(answer["results"][0]["kind"], "phone");
    Ok(())
}

#[tokio::test]
async fn a_lifted_flag_no_longer_matches() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = hub.place_flag(&key, PN).await;
    let id = flag["id"].as_str().unwrap();
    let (status, lifted) = hub
        .post(&format!("/v1/flags/{id}/lift"), &key, &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(lifted["status"], "lifted");
    let (_, answer) = hub.match_one(&key, PN).await;
    assert_eq!(answer["results"][0]["flagged"], false);
    let (_, shown) = hub.get(&format!("/v1/flags/{id}"), &key).await;
    assert_eq!(shown["status"], "lifted");
    Ok(())
}

#[tokio::test]
async fn a_flag_expires_at_the_end_of_its_duration() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let mut body = flag_body(PN);
    body["duration_days"] = json!(30);
    assert_eq!(hub.post("/v1/flags", &key, &body).await.0, 201);
    hub.clock
        .advance(chrono::Duration::days(30) - chrono::Duration::seconds(1));
    assert_eq!(
        hub.match_one(&key, PN).await.1["results"][0]["flagged"],
        true
    );
    hub.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        hub.match_one(&key, PN).await.1["results"][0]["flagged"],
        false
    );
    Ok(())
}

#[tokio::test]
async fn a_police_report_flag_may_last_five_years() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let mut body = flag_body(PN);
    body["kind"] = json!("police_report");
    body["police_report_reference"] = json!("5000-K123456-24");
    body["duration_days"] = json!(1826);
    let (status, flag) = hub.post("/v1/flags", &key, &body).await;
    assert_eq!(status, 201, "{flag}");
    assert_eq!(flag["expires"], "2031-11-25T12:00:00+00:00");
    body["police_report_reference"] = serde_json::Value::Null;
    let (status, problem) = hub.post("/v1/flags", &key, &body).await;
    assert_eq!(status, 422);
    assert_eq!(problem["field"], "police_report_reference");
    Ok(())
}

#[tokio::test]
async fn another_members_flag_does_not_exist_for_you() -> TestResult {
    let hub = TestHub::start().await;
    let (_, bank_a) = hub.member("bank-a").await;
    let (_, bank_b) = hub.member("bank-b").await;
    let (_, flag) = hub.place_flag(&bank_a, PN).await;
    let id = flag["id"].as_str().unwrap();
    assert_eq!(hub.get(&format!("/v1/flags/{id}"), &bank_b).await.0, 404);
    assert_eq!(
        hub.post(&format!("/v1/flags/{id}/lift"), &bank_b, &json!({}))
            .await
            .0,
        404
    );
    // And bank B's attempt did not lift it.
    assert_eq!(
        hub.match_one(&bank_b, PN).await.1["results"][0]["flagged"],
        true
    );
    Ok(())
}

#[tokio::test]
async fn retrying_with_the_same_idempotency_key_creates_one_flag() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let send = |body: serde_json::Value| {
        hub.http
            .post(format!("{}/v1/flags", hub.base))
            .bearer_auth(&key)
            .header("idempotency-key", "retry-1")
            .json(&body)
            .send()
    };
    let (s1, first) = split(send(flag_body(PN)).await?).await;
    let (s2, second) = split(send(flag_body(PN)).await?).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first["id"], second["id"]);
    let (_, answer) = hub.match_one(&key, PN).await;
    assert_eq!(answer["results"][0]["flags"].as_array().unwrap().len(), 1);
    // Same key, different body: refused rather than silently answering the old result.
    let (s3, problem) = split(send(flag_body("19121212-1212")).await?).await;
    assert_eq!(s3, 422);
    assert_eq!(problem["field"], "Idempotency-Key");
    Ok(())
}

#[tokio::test]
async fn every_lookup_and_flag_change_is_audited_with_purpose() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = hub.place_flag(&key, PN).await;
    hub.post("/v1/matches", &key, &match_body(&[PN, "19121212-1212"]))
        .await;
    hub.post(
        &format!("/v1/flags/{}/lift", flag["id"].as_str().unwrap()),
        &key,
        &json!({}),
    )
    .await;
    assert_eq!(hub.audit_count().await, 4);
    Ok(())
}

#[tokio::test]
async fn lifting_twice_keeps_the_first_lift_time_and_audits_both_attempts() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = hub.place_flag(&key, PN).await;
    let path = format!("/v1/flags/{}/lift", flag["id"].as_str().unwrap());
    let (_, first) = hub.post(&path, &key, &json!({})).await;
    hub.clock.advance(chrono::Duration::hours(1));
    let (status, second) = hub.post(&path, &key, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(first["lifted_at"], second["lifted_at"]);
    let outcomes: Vec<&str> = hub
        .store
        .audit_page(None, 0, 100)
        .await?
        .into_iter()
        .map(|e| e.entry.unwrap().outcome.as_str())
        .collect();
    assert_eq!(outcomes, vec!["created", "lifted", "already_lifted"]);
    Ok(())
}

#[tokio::test]
async fn each_audited_outcome_is_exactly_what_the_member_was_told() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    hub.place_flag(&key, PN).await;
    let body = json!({"purpose": "payee_check", "identifiers": [
        {"kind": "phone", "value": "070-123 45 67"},
        {"kind": "se_personal_number", "value": PN_10},
        {"kind": "se_personal_number", "value": "19121212-1212"}
    ]});
    let (_, answer) = hub.post("/v1/matches", &key, &body).await;
    let told: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            if r["flagged"] == true {
                "flagged"
            } else {
                "clear"
            }
        })
        .collect();
    let audited: Vec<&str> = hub
        .store
        .audit_page(None, 0, 100)
        .await?
        .into_iter()
        .filter_map(|e| e.entry.ok())
        .filter(|e| e.action.as_str() == "match")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(told, vec!["clear", "flagged", "clear"]);
    assert_eq!(audited, told);
    Ok(())
}

#[tokio::test]
async fn a_flag_whose_stored_token_is_malformed_is_a_500_and_writes_no_subjectless_entry()
-> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, placed) = hub.place_flag(&key, PN).await;
    let id = placed["id"].as_str().unwrap().to_string();
    let before = hub.store.audit_count().await?;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&hub.db.url).await?;
    sqlx::query("UPDATE flags SET subject_token = $1 WHERE id = $2")
        .bind(vec![1u8; 5])
        .bind(id.as_str())
        .execute(&pool)
        .await?;
    pool.close().await;
    let (status, problem) = hub.get(&format!("/v1/flags/{id}"), &key).await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(problem["type"], "https://fraudhub.se/problems/internal");
    let (status, _) = hub
        .post(&format!("/v1/flags/{id}/lift"), &key, &json!({}))
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        hub.store.audit_count().await?,
        before,
        "no entry without its subject"
    );
    Ok(())
}
