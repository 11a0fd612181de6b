//! The hub's public surface: the OpenAPI document matches what is served, the probes
//! hold up under a flood, and every response carries a restrictive default CSP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

async fn openapi(hub: &TestHub) -> Value {
    let resp = hub
        .http
        .get(format!("{}/v1/openapi.json", hub.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    resp.json().await.expect("json")
}

#[tokio::test]
async fn the_document_describes_the_probes_and_itself() -> TestResult {
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} documented");
    }
    assert_eq!(
        doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/problem+json"]["schema"]
            ["$ref"],
        "#/components/schemas/ProblemBody"
    );
    Ok(())
}

#[tokio::test]
async fn every_operation_documents_each_error_status_it_can_answer_as_problem_json() -> TestResult {
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut expected = vec!["429", "503"];
            if op["security"].is_array() {
                expected.extend(["401", "403"]);
            }
            if op["requestBody"].is_object() {
                expected.extend(["400", "413", "415", "422"]);
            } else if op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["in"] == "query" || p["in"] == "header")
            {
                expected.push("422");
            }
            if path.contains('{') {
                expected.push("404");
            }
            let responses = &op["responses"];
            for status in expected {
                assert_eq!(
                    responses[status]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/ProblemBody",
                    "{method} {path} {status}: {responses}"
                );
            }
            assert!(
                responses.get("4XX").is_none(),
                "{method} {path}: a status range instead of the statuses"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations");
    Ok(())
}

#[tokio::test]
async fn query_parameters_are_documented_in_the_query_and_optional_ones_as_optional() -> TestResult
{
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    let expected: [(&str, &[(&str, bool)]); 3] = [
        ("/v1/audit/entries", &[("from", false), ("limit", false)]),
        (
            "/v1/audit/entries/{leaf_index}/inclusion",
            &[("tree_size", false)],
        ),
        ("/v1/audit/consistency", &[("from", true), ("to", true)]),
    ];
    for (path, params) in expected {
        let declared = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        for (name, required) in params {
            let p = declared
                .iter()
                .find(|p| p["name"] == *name)
                .unwrap_or_else(|| panic!("{path}: {name} undocumented"));
            assert_eq!(p["in"], "query", "{path} {name}");
            assert_eq!(
                p["required"].as_bool().unwrap_or(false),
                *required,
                "{path} {name}"
            );
        }
    }
    Ok(())
}

/// The router answers 404/405 from its fallbacks for anything it does not route; every
/// documented operation must reach a handler instead (anonymous callers get 401 from
/// the protected ones).
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() -> TestResult {
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", "flg_x").replace("{leaf_index}", "0");
        for method in ["get", "post"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!("{}{concrete}", hub.base);
            let req = match method {
                "get" => hub.http.get(url),
                _ => hub.http.post(url),
            };
            let status = req.send().await?.status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answered {status}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations documented");
    Ok(())
}

#[tokio::test]
async fn a_flood_of_readiness_probes_all_answer_ready() -> TestResult {
    let hub = TestHub::start().await;
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (http, url) = (hub.http.clone(), format!("{}/readyz", hub.base));
        probes.spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(status) = probes.join_next().await {
        assert_eq!(status??, 200);
    }
    Ok(())
}

#[tokio::test]
async fn readiness_reuses_its_answer_briefly_then_reports_the_database_gone() -> TestResult {
    let hub = TestHub::start().await;
    let first = Instant::now();
    assert_eq!(hub.get("/readyz", "").await.0, 200);
    hub.store.close().await;
    let (status, _) = hub.get("/readyz", "").await;
    let elapsed = first.elapsed();
    // The cached answer lives one second; on a machine so slow that this took longer
    // the probe has (rightly) pinged again, so only the second half can be checked.
    if elapsed < Duration::from_millis(900) {
        assert_eq!(status, 200, "answer reused within the window");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, problem) = hub.get("/readyz", "").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "https://fraudhub.se/problems/unavailable");
    Ok(())
}

async fn assert_default_csp(resp: reqwest::Response, what: &str) {
    let headers = resp.headers();
    assert_eq!(
        headers
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap()),
        Some("default-src 'none'; frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(
        headers.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY"),
        "{what}"
    );
}

#[tokio::test]
async fn an_api_response_forbids_framing_and_loading() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let resp = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .bearer_auth(&key)
        .json(&match_body(&[PN]))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_default_csp(resp, "POST /v1/matches").await;
    Ok(())
}

#[tokio::test]
async fn a_not_found_answer_forbids_framing_and_loading() -> TestResult {
    let hub = TestHub::start().await;
    let resp = hub
        .http
        .get(format!("{}/nothing/here", hub.base))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 404);
    assert_default_csp(resp, "404").await;
    Ok(())
}

#[tokio::test]
async fn the_liveness_probe_forbids_framing_and_loading() -> TestResult {
    let hub = TestHub::start().await;
    let resp = hub.http.get(format!("{}/healthz", hub.base)).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_default_csp(resp, "/healthz").await;
    Ok(())
}

/// The rules the hub enforces that a schema can state, stated: a generated client then
/// builds only requests the hub can accept.
#[tokio::test]
async fn request_schemas_state_the_hubs_rules() -> TestResult {
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    let schemas = &doc["components"]["schemas"];
    let flag = &schemas["PlaceFlagRequest"];
    assert!(
        flag["required"]
            .as_array()
            .unwrap()
            .contains(&"consent_reference".into()),
        "{flag}"
    );
    let consent = &flag["properties"]["consent_reference"];
    assert_eq!(
        (&consent["minLength"], &consent["maxLength"]),
        (&1.into(), &128.into())
    );
    assert_eq!(
        flag["properties"]["identifier"]["properties"]["kind"]["enum"],
        serde_json::json!(["se_personal_number"])
    );
    assert_eq!(
        flag["properties"]["kind"]["enum"],
        serde_json::json!(["identity_theft", "police_report"])
    );
    assert_eq!(flag["properties"]["duration_days"]["maximum"], 1826);
    let ids = &schemas["MatchRequest"]["properties"]["identifiers"];
    assert_eq!(
        (&ids["minItems"], &ids["maxItems"]),
        (&1.into(), &100.into())
    );
    let limit = doc["paths"]["/v1/audit/entries"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&1.into(), &1000.into())
    );
    Ok(())
}
