//! `POST /v1/matches/bulk`: NDJSON in, NDJSON out, every lookup audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use crate::common::*;

async fn bulk(hub: &TestHub, key: &str, body: String) -> (u16, Vec<Value>) {
    let resp = hub
        .http
        .post(format!(
            "{}/v1/matches/bulk?purpose=account_opening",
            hub.base
        ))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({"unparsed": l})))
        .collect();
    (status, lines)
}

#[tokio::test]
async fn bad_lines_get_error_lines_and_the_rest_are_matched_and_audited() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.place_flag(&key, PN).await.0, 201);
    let before = hub.audit_count().await;
    let long = "x".repeat(5000);
    let body = [
        json!({"ref": "c-1", "kind": "se_personal_number", "value": PN}).to_string(),
        "{not json".to_string(),
        json!({"ref": "c-3", "kind": "iban", "value": "SE45 5000 0000 0583 9825 7467"}).to_string(),
        String::new(),
        json!({"ref": "c-4", "kind": "phone", "value": "070-123 45 67"}).to_string(),
        json!({"ref": "c-5", "kind": "planet", "value": "mars"}).to_string(),
        format!("{{\"ref\": \"{long}\"}}"),
        json!({"ref": "c-7", "kind": "se_personal_number", "value": PN_10, "extra": 1}).to_string(),
        json!({"kind": "se_personal_number", "value": "19121212-1212"}).to_string(),
    ]
    .join("\n");
    let (status, lines) = bulk(&hub, &key, body).await;
    assert_eq!(status, 200);
    let by_line = |n: u64| lines.iter().find(|l| l["line"] == n).cloned().unwrap();
    assert_eq!(by_line(1)["ref"], "c-1");
    assert_eq!(by_line(1)["flagged"], true);
    assert_eq!(by_line(1)["advice"], "verify_identity");
    assert_eq!(by_line(2)["error"]["type"], "invalid-field");
    assert_eq!(by_line(3)["error"]["field"], "value");
    assert_eq!(by_line(3)["ref"], "c-3");
    assert_eq!(
        by_line(4)["flagged"],
        false,
        "the blank line is not counted"
    );
    assert_eq!(by_line(5)["error"]["field"], "kind");
    assert!(
        by_line(6)["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("longer than")
    );
    assert_eq!(
        by_line(7)["error"]["field"],
        "body",
        "unknown key: the object is named"
    );
    assert_eq!(by_line(8)["flagged"], false);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["lines"], 8);
    assert_eq!(summary["matched"], 3);
    assert_eq!(summary["errors"], 5);
    assert_eq!(summary["flagged"], 1);
    assert_eq!(
        hub.audit_count().await - before,
        3,
        "one entry per matched line"
    );
    Ok(())
}

#[tokio::test]
async fn thousands_of_lines_stream_back_in_order_in_several_group_commits() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let n = 12_000;
    let body: String = (0..n)
        .map(|i| {
            json!({"ref": format!("r{i}"), "kind": "device_id", "value": format!("device-{i}")})
                .to_string()
                + "\n"
        })
        .collect();
    let (status, lines) = bulk(&hub, &key, body).await;
    assert_eq!(status, 200);
    assert_eq!(lines.len(), n + 1);
    for (i, l) in lines[..n].iter().enumerate() {
        assert_eq!(l["line"], i + 1);
        assert_eq!(l["ref"], format!("r{i}"));
        assert_eq!(l["advice"], "none");
    }
    assert_eq!(lines[n]["summary"]["matched"], n);
    assert_eq!(hub.audit_count().await, n as i64);
    Ok(())
}

#[tokio::test]
async fn bulk_needs_ndjson_and_matches_read_and_runs_once_per_member() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, writer) = hub.member_with("bank-b", "flags:write", 100, 100).await;
    let line = json!({"kind": "phone", "value": "070-123 45 67"}).to_string();
    let resp = hub
        .http
        .post(format!("{}/v1/matches/bulk?purpose=payment", hub.base))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(resp.status(), 415);
    assert_eq!(bulk(&hub, &writer, line.clone()).await.0, 403);
    let resp = hub
        .http
        .post(format!("{}/v1/matches/bulk?purpose=gossip", hub.base))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .body(line)
        .send()
        .await?;
    assert_eq!(resp.status(), 422);
    Ok(())
}

#[tokio::test]
async fn a_body_streamed_for_longer_than_the_header_timeout_is_read_to_the_end() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = TestHub::start_with(|c| c.header_read_timeout_ms = 300).await;
    let (_, key) = hub.member("bank-a").await;
    let addr = hub.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST /v1/matches/bulk?purpose=payment HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {key}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await?;
    // Five lines, one every 200 ms: the upload outlasts the 300 ms header timeout.
    for i in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let line = json!({"kind": "device_id", "value": format!("dev-{i}")}).to_string() + "\n";
        conn.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
            .await?;
    }
    conn.write_all(b"0\r\n\r\n").await?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""matched":5"#), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_batch_past_the_daily_subject_budget_gets_refusal_lines_not_matches() -> TestResult {
    let hub = TestHub::start().await;
    let (member, key) = hub.member("bank-a").await;
    hub.store.set_member_subject_budget(member, Some(1)).await?;
    let before = hub.audit_count().await;
    let body = [PN, "19121212-1212"]
        .map(|pn| json!({"kind": "se_personal_number", "value": pn}).to_string())
        .join("\n");
    let (status, lines) = bulk(&hub, &key, body).await;
    assert_eq!(status, 200);
    for l in &lines[..2] {
        assert_eq!(l["error"]["type"], "subject-budget-exhausted", "{l}");
    }
    assert_eq!(lines[2]["summary"]["errors"], 2);
    assert_eq!(hub.audit_count().await, before, "nothing was looked up");
    Ok(())
}
