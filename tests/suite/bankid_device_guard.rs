//! The simulator's device control surface cannot be driven by other web
//! pages: JSON endpoints only take application/json, cross-site and
//! foreign-Origin requests are refused, DNS-rebinding host names are
//! refused, and nothing may frame it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fraudhub::bankid::{CollectStatus, OrderRequest};
use serde_json::{Value, json};

use crate::bankid_support::{ERIK, Env, TestResult, start};

async fn pending_order(env: &Env) -> String {
    env.client
        .auth(&OrderRequest::new("127.0.0.1"))
        .await
        .unwrap()
        .order_ref
}

async fn still_pending(env: &Env, order_ref: &str) -> bool {
    env.client.collect(order_ref).await.unwrap().status == CollectStatus::Pending
}

fn approve_url(env: &Env, order_ref: &str) -> String {
    format!("{}/api/orders/{order_ref}/approve", env.device_url)
}

async fn problem(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ctype, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_text_plain_approve_is_refused_with_415_and_the_order_stays_pending() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    // What a cross-site <form enctype=text/plain> or no-cors fetch can send.
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("content-type", "text/plain")
        .body(json!({ "personalNumber": ERIK }).to_string())
        .send()
        .await?;
    let (status, ctype, body) = problem(resp).await;
    assert_eq!(status, 415);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(body["field"], "Content-Type");
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn an_approve_without_a_body_or_content_type_is_refused_with_415() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env.http.post(approve_url(&env, &order_ref)).send().await?;
    assert_eq!(resp.status().as_u16(), 415);
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn a_request_from_a_foreign_origin_is_refused_with_403() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await?;
    let (status, _, body) = problem(resp).await;
    assert_eq!(status, 403);
    assert_eq!(body["field"], "Origin");
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn origin_null_from_a_sandboxed_frame_is_refused_with_403() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("origin", "null")
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn another_port_on_the_same_host_is_a_foreign_origin() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("origin", "http://127.0.0.1:1")
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn sec_fetch_site_cross_site_is_refused_with_403() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({}))
        .send()
        .await?;
    let (status, _, body) = problem(resp).await;
    assert_eq!(status, 403);
    assert_eq!(body["field"], "Sec-Fetch-Site");
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn a_same_origin_json_approve_from_the_page_works() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(approve_url(&env, &order_ref))
        .header("origin", &env.device_url)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({ "personalNumber": ERIK }))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let done = env.client.collect(&order_ref).await?;
    assert_eq!(done.status, CollectStatus::Complete);
    Ok(())
}

#[tokio::test]
async fn a_cross_site_html_form_post_is_refused_with_403() -> TestResult {
    let env = start().await?;
    let order_ref = pending_order(&env).await;
    let resp = env
        .http
        .post(format!("{}/ui/orders/{order_ref}/approve", env.device_url))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("personalNumber", ERIK)])
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(still_pending(&env, &order_ref).await);
    Ok(())
}

#[tokio::test]
async fn a_dns_rebinding_host_name_is_refused() -> TestResult {
    let env = start().await?;
    let resp = env
        .http
        .get(format!("{}/api/orders", env.device_url))
        .header("host", "rebind.evil.example")
        .send()
        .await?;
    let (status, _, body) = problem(resp).await;
    assert_eq!(status, 421);
    assert_eq!(body["field"], "Host");
    Ok(())
}

#[tokio::test]
async fn localhost_is_an_accepted_host_name() -> TestResult {
    let env = start().await?;
    let url = env.device_url.replace("127.0.0.1", "localhost");
    let resp = env.http.get(format!("{url}/api/persons")).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    Ok(())
}

#[tokio::test]
async fn the_page_forbids_framing_and_inline_code_with_csp_and_x_frame_options() -> TestResult {
    let env = start().await?;
    let resp = env.http.get(format!("{}/", env.device_url)).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
    let html = resp.text().await?;
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "no inline style"
    );
    Ok(())
}

#[tokio::test]
async fn json_responses_and_refusals_carry_the_same_headers() -> TestResult {
    let env = start().await?;
    let ok = env
        .http
        .get(format!("{}/api/orders", env.device_url))
        .send()
        .await?;
    let refused = env
        .http
        .post(format!("{}/api/scan", env.device_url))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await?;
    assert_eq!(refused.status().as_u16(), 415);
    for resp in [ok, refused] {
        assert_eq!(resp.headers().get("x-frame-options").unwrap(), "DENY");
        assert!(resp.headers().contains_key("content-security-policy"));
    }
    Ok(())
}

#[tokio::test]
async fn the_stylesheet_is_a_same_origin_css_asset() -> TestResult {
    let env = start().await?;
    let resp = env
        .http
        .get(format!("{}/style.css", env.device_url))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ctype.starts_with("text/css"), "{ctype}");
    Ok(())
}
