//! Before authentication: per-client-address limits, a brake on key guessing, trusted
//! proxies, and unknown key ids that cost the database nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

async fn get_from(hub: &TestHub, path: &str, forwarded_for: Option<&str>) -> (u16, Option<String>) {
    let mut req = hub.http.get(format!("{}{path}", hub.base));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, _) = split(resp).await;
    (status, retry)
}

#[tokio::test]
async fn anonymous_requests_beyond_the_per_client_limit_get_429() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.ip_rate_per_second = 1;
        c.ip_burst = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(get_from(&hub, "/healthz", None).await.0, 200);
    }
    let (status, retry) = get_from(&hub, "/v1/openapi.json", None).await;
    assert_eq!(status, 429);
    assert!(retry.is_some(), "Retry-After is set");
    Ok(())
}

#[tokio::test]
async fn guessing_keys_blocks_the_client_from_authenticating_even_with_a_good_key() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.auth_failure_burst = 3;
        c.auth_failures_per_minute = 1;
    })
    .await;
    let (_, key) = hub.member("bank-a").await;
    for i in 0..4 {
        let guess = format!("fh_{:016x}_{}", i, "0".repeat(64));
        assert_eq!(hub.match_one(&guess, PN).await.0, 401);
    }
    let (status, body) = hub.match_one(&key, PN).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(hub.audit_count().await, 0, "nothing was looked up");
    Ok(())
}

#[tokio::test]
async fn a_forwarded_address_counts_only_behind_a_trusted_proxy() -> TestResult {
    let trusted = TestHub::start_with(|c| {
        c.ip_rate_per_second = 1;
        c.ip_burst = 2;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            get_from(&trusted, "/healthz", Some("203.0.113.1")).await.0,
            200
        );
    }
    assert_eq!(
        get_from(&trusted, "/healthz", Some("203.0.113.1")).await.0,
        429
    );
    // Another client behind the same proxy has its own allowance.
    assert_eq!(
        get_from(&trusted, "/healthz", Some("203.0.113.2")).await.0,
        200
    );

    let untrusted = TestHub::start_with(|c| {
        c.ip_rate_per_second = 1;
        c.ip_burst = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            get_from(&untrusted, "/healthz", Some("203.0.113.1"))
                .await
                .0,
            200
        );
    }
    // Without trust the header is the client's own claim and changes nothing.
    assert_eq!(
        get_from(&untrusted, "/healthz", Some("203.0.113.2"))
            .await
            .0,
        429
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_key_id_is_answered_from_memory_for_a_while() -> TestResult {
    let hub = TestHub::start_with(|c| c.unknown_key_cache_ms = 400).await;
    let (member, _) = hub.member("bank-a").await;
    let secret = "ab".repeat(32);
    let key = format!("fh_00000000deadbeef_{secret}");
    assert_eq!(hub.match_one(&key, PN).await.0, 401);
    // The key comes into existence behind the hub's back…
    hub.store
        .insert_api_key(
            "00000000deadbeef",
            member,
            blake3::hash(secret.as_bytes()).as_bytes(),
            "matches:read",
            start_time(),
        )
        .await?;
    // …and the hub, which did not ask the database again, still refuses it…
    assert_eq!(hub.match_one(&key, PN).await.0, 401);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // …until the memory of it being unknown runs out.
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    Ok(())
}
