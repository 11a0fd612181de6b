//! Who may call what: keys, scopes, suspension, rate limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn a_request_without_a_key_gets_401() -> TestResult {
    let hub = TestHub::start().await;
    let resp = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .json(&match_body(&[PN]))
        .send()
        .await?;
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let (status, problem) = split(resp).await;
    assert_eq!(status, 401);
    assert_eq!(problem["status"], 401);
    assert_eq!(hub.audit_count().await, 0);
    Ok(())
}

#[tokio::test]
async fn an_unknown_or_forged_key_gets_401() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    // Right key id, wrong secret.
    let forged = format!("{}0", &key[..key.len() - 1]);
    let forged = if forged == key {
        format!("{}1", &key[..key.len() - 1])
    } else {
        forged
    };
    for bad in ["garbage", "fh_0000000000000000_abc", forged.as_str()] {
        assert_eq!(hub.match_one(bad, PN).await.0, 401, "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn a_revoked_key_gets_401() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    let key_id = key.split('_').nth(1).unwrap();
    hub.store.revoke_api_key(key_id, start_time()).await?;
    assert_eq!(hub.match_one(&key, PN).await.0, 401);
    Ok(())
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403() -> TestResult {
    let hub = TestHub::start().await;
    let (_, read_only) = hub.member_with("bank-a", "matches:read", 100, 100).await;
    let (_, write_only) = hub.member_with("bank-b", "flags:write", 100, 100).await;
    assert_eq!(hub.place_flag(&read_only, PN).await.0, 403);
    assert_eq!(hub.match_one(&write_only, PN).await.0, 403);
    assert_eq!(hub.match_one(&read_only, PN).await.0, 200);
    Ok(())
}

#[tokio::test]
async fn reading_a_flag_needs_flags_read_which_flags_write_also_grants() -> TestResult {
    let hub = TestHub::start().await;
    let (_, writer) = hub.member_with("bank-a", "flags:write", 100, 100).await;
    let (_, placed) = hub.place_flag(&writer, PN).await;
    let path = format!("/v1/flags/{}", placed["id"].as_str().unwrap());
    assert_eq!(hub.get(&path, &writer).await.0, 200);
    // A key of the same member that may read flags but not place or lift them.
    let reader = issue_key(&hub, 1, "flags:read").await;
    let (status, read) = hub.get(&path, &reader).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["id"], placed["id"]);
    assert_eq!(
        hub.post(&format!("{path}/lift"), &reader, &json!({}))
            .await
            .0,
        403
    );
    assert_eq!(hub.place_flag(&reader, PN_10).await.0, 403);
    let matcher = issue_key(&hub, 1, "matches:read").await;
    assert_eq!(hub.get(&path, &matcher).await.0, 403);
    Ok(())
}

async fn issue_key(hub: &TestHub, member: i64, scopes: &str) -> String {
    let scopes = fraudhub::members::parse_scopes(scopes).unwrap();
    fraudhub::members::issue_key(&hub.store, member, &scopes, start_time())
        .await
        .unwrap()
        .token
}

#[tokio::test]
async fn a_suspended_member_gets_403() -> TestResult {
    let hub = TestHub::start().await;
    let (id, key) = hub.member("bank-a").await;
    hub.store
        .set_member_status(id, fraudhub::members::MemberStatus::Suspended)
        .await?;
    let (status, problem) = hub.match_one(&key, PN).await;
    assert_eq!(status, 403);
    assert!(problem["detail"].as_str().unwrap().contains("suspended"));
    Ok(())
}

#[tokio::test]
async fn exceeding_the_members_quota_gets_429_with_retry_after() -> TestResult {
    let hub = TestHub::start().await;
    let (_, limited) = hub.member_with("bank-a", "matches:read", 1, 3).await;
    let (_, other) = hub.member_with("bank-b", "matches:read", 1, 3).await;
    for _ in 0..3 {
        assert_eq!(hub.match_one(&limited, PN).await.0, 200);
    }
    let resp = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .bearer_auth(&limited)
        .json(&match_body(&[PN]))
        .send()
        .await?;
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()?
        .parse()?;
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(split(resp).await.0, 429);
    // The quota is per member: another member is unaffected.
    assert_eq!(hub.match_one(&other, PN).await.0, 200);
    Ok(())
}

#[tokio::test]
async fn with_the_auth_cache_warm_a_revocation_takes_effect_at_once_and_a_wrong_secret_never_passes()
-> TestResult {
    // The cache saves a database round trip per request; the revocation signal (a file
    // beside SQLite, NOTIFY on PostgreSQL) empties it, so its ttl is not a grace period.
    let hub = TestHub::start_with(|c| c.auth_cache_ms = 600_000).await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    let key_id = key.split('_').nth(1).unwrap();
    // A wrong secret for a cached key id is refused.
    let forged = format!("fh_{key_id}_{}", "0".repeat(64));
    assert_eq!(hub.match_one(&forged, PN).await.0, 401);
    hub.store.revoke_api_key(key_id, start_time()).await?;
    // PostgreSQL delivers the notification a moment after the commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut status = hub.match_one(&key, PN).await.0;
    while status != 401 && hub.db.is_postgres() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        status = hub.match_one(&key, PN).await.0;
    }
    assert_eq!(status, 401);
    Ok(())
}
