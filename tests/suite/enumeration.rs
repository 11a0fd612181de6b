//! Enumeration of personal numbers: quotas charged per identifier, a daily budget of
//! distinct subjects, and sweep detection shown to the operator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

async fn match_all(hub: &TestHub, key: &str, pns: &[String]) -> (u16, Value) {
    let refs: Vec<&str> = pns.iter().map(String::as_str).collect();
    hub.post("/v1/matches", key, &match_body(&refs)).await
}

#[tokio::test]
async fn a_match_is_charged_one_unit_per_identifier() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member_with("bank-a", "matches:read", 1, 10).await;
    let ten: Vec<String> = (1..=10).map(|s| pn("19800101", s * 7)).collect();
    assert_eq!(match_all(&hub, &key, &ten).await.0, 200);
    // The burst is spent by the ten lookups, not by one request.
    let (status, body) = hub.match_one(&key, PN).await;
    assert_eq!(status, 429, "{body}");
    assert!(problem_type(&body).ends_with("/rate-limited"));
    Ok(())
}

#[tokio::test]
async fn a_match_with_more_identifiers_than_the_burst_is_refused_naming_the_field() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member_with("bank-a", "matches:read", 100, 5).await;
    let six: Vec<String> = (1..=6).map(|s| pn("19800101", s)).collect();
    let (status, body) = match_all(&hub, &key, &six).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "identifiers");
    assert_eq!(hub.audit_count().await, 0, "nothing was looked up");
    Ok(())
}

#[tokio::test]
async fn the_daily_budget_of_distinct_subjects_holds_and_resets_at_midnight() -> TestResult {
    let hub = TestHub::start().await;
    let (member, key) = hub.member("bank-a").await;
    hub.store.set_member_subject_budget(member, Some(3)).await?;
    let people: Vec<String> = [("19700101", 11), ("19710202", 22), ("19720303", 33)]
        .iter()
        .map(|(d, s)| pn(d, *s))
        .collect();
    assert_eq!(match_all(&hub, &key, &people).await.0, 200);
    // Looking the same people up again costs nothing.
    assert_eq!(match_all(&hub, &key, &people[..1]).await.0, 200);
    let (status, body) = hub.match_one(&key, &pn("19730404", 44)).await;
    assert_eq!(status, 429, "{body}");
    assert!(problem_type(&body).ends_with("/subject-budget-exhausted"));
    hub.clock.advance(chrono::Duration::days(1));
    assert_eq!(hub.match_one(&key, &pn("19730404", 44)).await.0, 200);
    Ok(())
}

#[tokio::test]
async fn walking_the_serials_of_one_birth_date_is_refused_as_a_sweep() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.sweep_same_birth_date_max = 5;
        c.sweep_window_secs = 600;
    })
    .await;
    let (member, key) = hub.member("bank-a").await;
    for serial in 1..=5 {
        assert_eq!(hub.match_one(&key, &pn("19850615", serial)).await.0, 200);
    }
    let (status, body) = hub.match_one(&key, &pn("19850615", 6)).await;
    assert_eq!(status, 429, "{body}");
    assert!(problem_type(&body).ends_with("/enumeration-suspected"));
    // The member stays refused for the window, even for unrelated numbers…
    let (status, _) = hub.match_one(&key, &pn("19600101", 123)).await;
    assert_eq!(status, 429);
    // …and the trip is recorded for the operator.
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = hub.store.member(member).await?.sweep_events;
        if recorded > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(recorded, 1);
    hub.clock.advance(chrono::Duration::seconds(601));
    assert_eq!(hub.match_one(&key, &pn("19600101", 123)).await.0, 200);
    Ok(())
}

#[tokio::test]
async fn walking_the_birth_dates_of_one_serial_is_refused_as_a_sweep() -> TestResult {
    let hub = TestHub::start_with(|c| c.sweep_same_serial_max = 5).await;
    let (_, key) = hub.member("bank-a").await;
    let dates: Vec<String> = (1..=6).map(|d| format!("199003{d:02}")).collect();
    let batch: Vec<String> = dates.iter().map(|d| pn(d, 42)).collect();
    let (status, body) = match_all(&hub, &key, &batch).await;
    assert_eq!(status, 429, "{body}");
    assert!(problem_type(&body).ends_with("/enumeration-suspected"));
    assert_eq!(
        hub.audit_count().await,
        0,
        "a refused sweep looks nothing up"
    );
    Ok(())
}

#[tokio::test]
async fn diverse_lookups_are_not_mistaken_for_a_sweep() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.sweep_same_birth_date_max = 5;
        c.sweep_same_serial_max = 5;
    })
    .await;
    let (_, key) = hub.member("bank-a").await;
    // 100 people: each birth date and each serial at most 4 times.
    let people: Vec<String> = (0..100u32)
        .map(|i| {
            let date = format!("19{:02}{:02}{:02}", 40 + i % 50, 1 + i % 12, 1 + i % 25);
            pn(&date, 1 + (i * 37) % 997)
        })
        .collect();
    for chunk in people.chunks(20) {
        let (status, body) = match_all(&hub, &key, chunk).await;
        assert_eq!(status, 200, "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn the_operator_sets_a_members_daily_budget_and_sees_sweeps_in_member_list() -> TestResult {
    let hub = TestHub::start_with(|c| c.sweep_same_birth_date_max = 2).await;
    let (member, key) = hub.member("bank-a").await;
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
            .args(args)
            .env("FRAUDHUB_DATABASE_URL", &hub.db.url)
            .env("FRAUDHUB_DATA_DIR", dir.path())
            .output()
            .expect("run fraudhub");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let id = member.to_string();
    let said = run(&["member", "quota", &id, "--daily-subjects", "7"]);
    assert!(
        said.contains("7 distinct personal numbers per day"),
        "{said}"
    );
    assert_eq!(
        hub.store.member(member).await?.daily_subject_budget,
        Some(7)
    );
    let batch: Vec<String> = (1..=3).map(|s| pn("19991231", s)).collect();
    assert_eq!(match_all(&hub, &key, &batch).await.0, 429);
    for _ in 0..50 {
        if hub.store.member(member).await?.sweep_events > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let listed = run(&["member", "list"]);
    let line = listed
        .lines()
        .find(|l| l.contains("bank-a"))
        .expect("member listed");
    let cols: Vec<&str> = line.split_whitespace().collect();
    // id, name, status, rate, burst, subjects/day, sweeps, last sweep, display name
    assert_eq!(cols[5], "7", "{listed}");
    assert_eq!(cols[6], "1", "{listed}");
    assert!(cols[7].starts_with("2026-11-25T"), "{listed}");
    Ok(())
}
