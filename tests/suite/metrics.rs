//! Prometheus metrics on their own listener: what is counted, how it is labelled, and
//! that no personal data, key id or client address ever reaches the scrape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;

use fraudhub::config::Config;
use serde_json::json;

use crate::bankid_support;
use crate::common::*;

/// The whole suite shares one process and so one recorder, which every hub in the process
/// records to once a test here has installed it: counters only ever grow, and assertions
/// compare a scrape with one taken before the action.
async fn metrics_hub() -> TestHub {
    TestHub::start_with(|c| {
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await
}

async fn scrape(hub: &TestHub) -> String {
    let base = hub.metrics_base.as_ref().expect("metrics listener");
    let resp = hub
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    resp.text().await.expect("body")
}

/// The value of the sample whose name and labels contain all of `parts`, or 0.
fn value(text: &str, name: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn key_id(key: &str) -> &str {
    key.split('_').nth(1).unwrap()
}

#[tokio::test]
async fn requests_are_labelled_by_route_template_and_status() -> TestResult {
    let hub = metrics_hub().await;
    let (_, key) = hub.member("bank-a").await;
    let before = scrape(&hub).await;
    let (status, flag) = hub.place_flag(&key, PN).await;
    assert_eq!(status, 201);
    let id = flag["id"].as_str().unwrap();
    assert_eq!(hub.get(&format!("/v1/flags/{id}"), &key).await.0, 200);
    for _ in 0..3 {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
    }
    assert_eq!(hub.match_one("fh_0000000000000000_nope", PN).await.0, 401);

    let after = scrape(&hub).await;
    let matches_ok = [
        r#"route="/v1/matches""#,
        r#"status="200""#,
        r#"method="POST""#,
    ];
    assert!(
        value(&after, "fraudhub_http_requests_total", &matches_ok)
            >= value(&before, "fraudhub_http_requests_total", &matches_ok) + 3.0
    );
    let unauthorised = [r#"route="/v1/matches""#, r#"status="401""#];
    assert!(value(&after, "fraudhub_http_requests_total", &unauthorised) >= 1.0);
    let by_id = [r#"route="/v1/flags/{id}""#, r#"status="200""#];
    assert!(value(&after, "fraudhub_http_requests_total", &by_id) >= 1.0);
    assert!(
        value(
            &after,
            "fraudhub_http_request_duration_seconds_count",
            &matches_ok
        ) >= 3.0
    );
    assert!(after.contains("fraudhub_http_request_duration_seconds_bucket{"));
    // The path as requested, with the flag id in it, is never a label.
    assert!(!after.contains(id), "raw path with an id in the scrape");
    Ok(())
}

#[tokio::test]
async fn quota_refusals_are_counted_per_member() -> TestResult {
    let hub = metrics_hub().await;
    let (member, key) = hub.member_with("bank-slow", "matches:read", 1, 1).await;
    let labels = [
        &format!(r#"member="{member}""#) as &str,
        r#"reason="quota""#,
    ];
    let before = value(&scrape(&hub).await, "fraudhub_rate_limited_total", &labels);
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    assert_eq!(hub.match_one(&key, PN).await.0, 429);

    let after = scrape(&hub).await;
    assert!(value(&after, "fraudhub_rate_limited_total", &labels) >= before + 1.0);
    let limited = [r#"route="/v1/matches""#, r#"status="429""#];
    assert!(value(&after, "fraudhub_http_requests_total", &limited) >= 1.0);
    Ok(())
}

#[tokio::test]
async fn client_address_refusals_are_counted_without_the_address() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.ip_rate_per_second = 1;
        c.ip_burst = 1;
    })
    .await;
    let labels = [r#"member="-""#, r#"reason="client""#];
    let before = value(&scrape(&hub).await, "fraudhub_rate_limited_total", &labels);
    let mut refused = 0;
    for _ in 0..3 {
        if hub.match_one("fh_0000000000000000_nope", PN).await.0 == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 1);
    let after = scrape(&hub).await;
    assert!(value(&after, "fraudhub_rate_limited_total", &labels) >= before + 1.0);
    assert!(!after.contains("127.0.0.1"));
    Ok(())
}

#[tokio::test]
async fn audit_group_commits_report_batch_size_latency_and_queue_depth() -> TestResult {
    let hub = metrics_hub().await;
    let (_, key) = hub.member("bank-a").await;
    let before = scrape(&hub).await;
    let (status, _) = hub
        .post(
            "/v1/matches",
            &key,
            &match_body(&[PN, "19900102-0024", "19900103-0023"]),
        )
        .await;
    assert_eq!(status, 200);

    let after = scrape(&hub).await;
    assert!(
        value(&after, "fraudhub_audit_batch_size_count", &[])
            > value(&before, "fraudhub_audit_batch_size_count", &[])
    );
    assert!(value(&after, "fraudhub_audit_batch_size_sum", &[]) >= 3.0);
    assert!(value(&after, "fraudhub_audit_commit_duration_seconds_count", &[]) >= 1.0);
    assert!(after.contains("fraudhub_audit_commit_duration_seconds_bucket{le="));
    assert!(after.contains("\nfraudhub_audit_queue_depth "));
    Ok(())
}

#[tokio::test]
async fn pool_and_checkpoint_age_are_sampled_at_scrape() -> TestResult {
    let hub = metrics_hub().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    // The start-up checkpoint was signed at the clock's start; no tick has run since.
    hub.clock.advance(chrono::Duration::seconds(150));

    let text = scrape(&hub).await;
    let age = value(&text, "fraudhub_audit_checkpoint_age_seconds", &[]);
    assert!((150.0..160.0).contains(&age), "checkpoint age {age}");
    assert!(value(&text, "fraudhub_audit_entries_since_checkpoint", &[]) >= 1.0);
    assert!(value(&text, "fraudhub_db_pool_connections", &[]) >= 1.0);
    assert!(text.contains("\nfraudhub_db_pool_idle_connections "));
    assert_eq!(
        value(&text, "fraudhub_db_pool_max_connections", &[]),
        f64::from(Config::default().db_max_connections)
    );
    Ok(())
}

#[tokio::test]
async fn the_scrape_holds_no_personal_number_key_id_or_address() -> TestResult {
    let hub = metrics_hub().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, slow) = hub.member_with("bank-b", "matches:read", 1, 1).await;
    assert_eq!(hub.place_flag(&key, PN).await.0, 201);
    assert_eq!(hub.match_one(&key, PN_10).await.0, 200);
    assert_eq!(hub.match_one(&slow, PN).await.0, 200);
    assert_eq!(hub.match_one(&slow, PN).await.0, 429);
    let wrong = format!("fh_{}_wrongsecret", key_id(&key));
    assert_eq!(hub.match_one(&wrong, PN).await.0, 401);

    let text = scrape(&hub).await;
    for secret in [
        PN,
        PN_10,
        PN_DIGITS,
        &PN_DIGITS[2..],
        key_id(&key),
        key_id(&slow),
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret} in the scrape");
    }
    Ok(())
}

#[tokio::test]
async fn metrics_are_not_served_on_the_member_api() -> TestResult {
    let hub = metrics_hub().await;
    let (status, problem) = hub.get("/metrics", "").await;
    assert_eq!(status, 404);
    assert_eq!(problem["status"], 404);
    Ok(())
}

#[tokio::test]
async fn the_metrics_listener_is_off_by_default() -> TestResult {
    assert_eq!(Config::default().metrics_listen, None);
    let hub = TestHub::start().await;
    assert!(hub.metrics_base.is_none());
    Ok(())
}

#[tokio::test]
async fn the_metrics_listener_stops_with_the_hub() -> TestResult {
    let hub = metrics_hub().await;
    let base = hub.metrics_base.clone().unwrap();
    scrape(&hub).await;
    let http = hub.http.clone();
    hub.stop().await;
    let after = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await;
    assert!(after.is_err(), "metrics still served after shutdown");
    drop(http);
    Ok(())
}

#[tokio::test]
async fn metrics_listen_may_not_be_the_api_address() -> TestResult {
    let config = Config {
        metrics_listen: Some(Config::default().listen),
        ..Config::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("metrics_listen"), "{err}");
    Ok(())
}

#[tokio::test]
async fn final_bankid_collects_are_counted_by_outcome() -> TestResult {
    let hub = metrics_hub().await;
    let env = bankid_support::start().await?;
    let labels = [r#"outcome="complete""#];
    let before = value(&scrape(&hub).await, "fraudhub_bankid_orders_total", &labels);
    let order = env
        .client
        .auth(&fraudhub::bankid::OrderRequest::new("192.0.2.55"))
        .await?;
    // Pending answers are not outcomes.
    env.client.collect(&order.order_ref).await?;
    env.device_ok(
        &format!("/api/orders/{}/approve", order.order_ref),
        json!({ "personalNumber": bankid_support::ERIK }),
    )
    .await?;
    env.client.collect(&order.order_ref).await?;

    let after = scrape(&hub).await;
    assert!(value(&after, "fraudhub_bankid_orders_total", &labels) >= before + 1.0);
    assert!(!after.contains(bankid_support::ERIK));
    assert!(!after.contains(&order.order_ref));
    Ok(())
}

#[tokio::test]
async fn the_grafana_dashboard_parses_and_uses_only_exported_metrics() -> TestResult {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana-dashboard.json"
    ))?;
    let dashboard: serde_json::Value = serde_json::from_str(&text)?;
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    let mut used = BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            used.extend(metric_names(expr));
        }
    }
    let exported: BTreeSet<&str> = fraudhub::metrics::METRIC_NAMES.iter().copied().collect();
    for name in &used {
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| exported.contains(b)))
            .unwrap_or(name);
        assert!(
            exported.contains(base),
            "dashboard uses unknown metric {name}"
        );
    }
    for required in [
        "fraudhub_http_requests_total",
        "fraudhub_http_request_duration_seconds_bucket",
        "fraudhub_audit_commit_duration_seconds_bucket",
        "fraudhub_audit_queue_depth",
        "fraudhub_rate_limited_total",
        "fraudhub_db_pool_connections",
        "fraudhub_audit_checkpoint_age_seconds",
    ] {
        assert!(used.contains(required), "dashboard lacks {required}");
    }
    Ok(())
}

#[tokio::test]
async fn every_exported_metric_is_in_the_published_list() -> TestResult {
    let hub = metrics_hub().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    let text = scrape(&hub).await;
    let exported: BTreeSet<&str> = fraudhub::metrics::METRIC_NAMES.iter().copied().collect();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| exported.contains(b)))
            .unwrap_or(name);
        assert!(exported.contains(base), "{name} missing from METRIC_NAMES");
    }
    Ok(())
}

/// The `fraudhub_…` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("fraudhub_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}
