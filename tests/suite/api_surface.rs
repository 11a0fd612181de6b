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
async fn the_audit_routes_document_their_error_statuses_as_problem_json() -> TestResult {
    let hub = TestHub::start().await;
    let doc = openapi(&hub).await;
    let expected: [(&str, &[&str]); 3] = [
        ("/v1/audit/entries", &["401", "403", "422", "429"]),
        (
            "/v1/audit/entries/{leaf_index}/inclusion",
            &["401", "403", "404", "422", "429"],
        ),
        ("/v1/audit/consistency", &["401", "403", "422", "429"]),
    ];
    for (path, statuses) in expected {
        let responses = &doc["paths"][path]["get"]["responses"];
        for status in statuses {
            assert_eq!(
                responses[*status]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/ProblemBody",
                "{path} {status}: {responses}"
            );
        }
    }
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
