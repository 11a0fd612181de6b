//! Bad input gets a 4xx problem+json naming the field, never a 500, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn every_invalid_personal_number_form_is_a_422_naming_the_value() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    // Each case carries the reason it must be refused for, so a case that fails for
    // another reason (say, a stray check digit) does not pass silently.
    let invalid = [
        ("19900101-0018", "check digit"),       // wrong check digit
        ("19901301-0013", "date of birth"),     // month 13, check digit valid
        ("19900230-0011", "date of birth"),     // 30 February, check digit valid
        ("19900101-0009", "serial number 000"), // serial 000, check digit valid
        ("19900192-0017", "date of birth"),     // coordination day 32, check digit valid
        ("199001010017999", "10 or 12 digits"), // too long
        ("9001010", "10 or 12 digits"),         // too short
        ("19900101+0017", "+ separator"),       // + with a four-digit year
        ("900101--0017", "separator"),
        ("9001-010017", "separator"),
        ("ABCDEF-GHIJ", "only digits"),
        ("", "10 or 12 digits"),
    ];
    for (value, reason) in invalid {
        let body = json!({"purpose": "payment", "identifiers": [
            {"kind": "se_personal_number", "value": PN}, {"kind": "se_personal_number", "value": value}]});
        let (status, problem) = hub.post("/v1/matches", &key, &body).await;
        assert_eq!(status, 422, "{value:?}: {problem}");
        assert_eq!(problem["field"], "identifiers[1].value", "{value:?}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(reason),
            "{value:?}: expected {reason:?} in {detail:?}"
        );
    }
    assert_eq!(
        hub.audit_count().await,
        0,
        "rejected requests look nothing up"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_types_unknown_fields_and_missing_purpose_name_the_field() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let cases = [
        (
            json!({"purpose": "account_opening", "identifiers": "x"}),
            "identifiers",
        ),
        (json!({"purpose": 5, "identifiers": []}), "purpose"),
        (
            json!({"purpose": "curiosity", "identifiers": []}),
            "purpose",
        ),
        (
            json!({"identifiers": [{"kind": "se_personal_number", "value": PN}]}),
            "purpose",
        ),
        (
            json!({"purpose": "payment", "identifiers": [{"kind": "phone"}]}),
            "identifiers[0].value",
        ),
        (
            json!({"purpose": "payment", "identifiers": [{"kind": "se_personal_number", "value": 199001010017u64}]}),
            "identifiers[0].value",
        ),
        (
            json!({"purpose": "payment", "identifiers": [{"kind": "se_personal_number", "value": PN, "extra": 1}]}),
            "identifiers[0]",
        ),
        (
            json!({"purpose": "payment", "identifiers": [{"kind": "shoe_size", "value": "42"}]}),
            "identifiers[0].kind",
        ),
        (
            json!({"purpose": "payment", "identifiers": [], "debug": true}),
            "body",
        ),
        (json!([1, 2]), "body"),
        (
            json!({"purpose": "payment", "identifiers": []}),
            "identifiers",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = hub.post("/v1/matches", &key, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(
            !problem.to_string().contains("199001010017"),
            "the value is not echoed: {problem}"
        );
        assert!(
            problem["field"].as_str().unwrap().starts_with(field),
            "{body}: expected field {field}, got {problem}"
        );
    }
    Ok(())
}

/// An unknown key is chosen by the caller, so it may itself be a personal number; it is
/// named by the object that holds it and never repeated back (nor logged from the error).
#[tokio::test]
async fn an_unknown_key_that_looks_like_a_personal_number_is_never_echoed() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub
        .member_with(
            "bank-a",
            "flags:write,matches:read,audit:read",
            10_000,
            10_000,
        )
        .await;
    let mut top = json!({"purpose": "payment", "identifiers": []});
    top[PN] = json!(1);
    let mut nested = match_body(&[PN_10]);
    nested["identifiers"][0][PN_DIGITS] = json!(true);
    let mut in_flag = flag_body(PN_10);
    in_flag["identifier"][PN] = json!("x");
    let cases = [
        ("/v1/matches", top, "body"),
        ("/v1/matches", nested, "identifiers[0]"),
        ("/v1/flags", in_flag, "identifier"),
    ];
    let leaks = |text: &str| text.contains("0101") || text.contains(PN_DIGITS);
    for (path, body, field) in cases {
        let resp = hub
            .http
            .post(format!("{}{path}", hub.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?;
        let headers = format!("{:?}", resp.headers());
        let (status, problem) = split(resp).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], field);
        assert_eq!(problem["detail"], "unknown field");
        assert!(!leaks(&problem.to_string()), "echoed: {problem}");
        assert!(!leaks(&headers), "echoed in headers: {headers}");
    }
    let resp = hub
        .http
        .get(format!("{}/v1/audit/entries?{PN_DIGITS}=1", hub.base))
        .bearer_auth(&key)
        .send()
        .await?;
    let (status, problem) = split(resp).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "query");
    assert_eq!(problem["detail"], "unknown field");
    assert!(!leaks(&problem.to_string()), "echoed: {problem}");
    Ok(())
}

#[tokio::test]
async fn broken_json_and_wrong_content_type_are_rejected() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (status, problem) = hub
        .post_raw("/v1/matches", &key, "application/json", "{\"purpose\": ")
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        hub.post_raw("/v1/matches", &key, "application/json", "{} {}")
            .await
            .0,
        400
    );
    assert_eq!(
        hub.post_raw("/v1/matches", &key, "text/plain", "{}")
            .await
            .0,
        415
    );
    Ok(())
}

#[tokio::test]
async fn an_oversize_batch_and_an_oversize_body_are_refused() -> TestResult {
    let hub = TestHub::start_with(|c| c.max_match_identifiers = 5).await;
    let (_, key) = hub.member("bank-a").await;
    let (status, problem) = hub.post("/v1/matches", &key, &match_body(&[PN; 6])).await;
    assert_eq!(status, 422);
    assert_eq!(problem["field"], "identifiers");
    assert_eq!(
        hub.post("/v1/matches", &key, &match_body(&[PN; 5])).await.0,
        200
    );
    let huge = format!(
        "{{\"purpose\": \"payment\", \"identifiers\": [], \"pad\": \"{}\"}}",
        "x".repeat(300_000)
    );
    assert_eq!(
        hub.post_raw("/v1/matches", &key, "application/json", huge)
            .await
            .0,
        413
    );
    Ok(())
}

#[tokio::test]
async fn flag_rule_violations_name_the_field_and_store_nothing() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let base = flag_body(PN);
    let mut cases = Vec::new();
    for (field, value) in [
        ("duration_days", json!(45)),
        ("duration_days", json!("long")),
        ("consent_reference", json!("")),
        ("kind", json!("consumer")),
        ("kind", json!("grudge")),
        ("police_report_reference", json!("not-a-report")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        cases.push((body, field));
    }
    let mut phone = base.clone();
    phone["identifier"] = json!({"kind": "phone", "value": "0701234567"});
    cases.push((phone, "identifier.kind"));
    for (body, field) in cases {
        let (status, problem) = hub.post("/v1/flags", &key, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}");
    }
    assert_eq!(
        hub.match_one(&key, PN).await.1["results"][0]["flagged"],
        false
    );
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_problem_json() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.get("/v1/nothing-here", &key).await.0, 404);
    assert_eq!(hub.get("/v1/matches", &key).await.0, 405);
    let resp = hub
        .http
        .delete(format!("{}/v1/flags", hub.base))
        .send()
        .await?;
    assert_eq!(split(resp).await.0, 405);
    assert_eq!(hub.get("/v1/flags/flg_doesnotexist", &key).await.0, 404);
    Ok(())
}

#[tokio::test]
async fn audit_indexes_and_tree_sizes_out_of_range_are_422s_naming_the_parameter() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub
        .member_with("bank-a", "matches:read,audit:read", 10_000, 10_000)
        .await;
    hub.match_one(&key, PN).await;
    let cases = [
        ("/v1/audit/entries?from=-1", "from"),
        ("/v1/audit/entries?limit=0", "limit"),
        ("/v1/audit/entries?limit=1001", "limit"),
        // One past i64::MAX: a malformed index, not a missing entry.
        (
            "/v1/audit/entries/9223372036854775808/inclusion",
            "leaf_index",
        ),
        ("/v1/audit/entries/-1/inclusion", "leaf_index"),
        ("/v1/audit/entries/x/inclusion", "leaf_index"),
        ("/v1/audit/entries/0/inclusion?tree_size=2", "tree_size"),
        ("/v1/audit/consistency?from=1&to=2", "to"),
        ("/v1/audit/consistency?from=1&to=0", "from"),
    ];
    for (path, field) in cases {
        let (status, problem) = hub.get(path, &key).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(problem["field"], field, "{path}: {problem}");
    }
    Ok(())
}
