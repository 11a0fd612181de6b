//! Group commit: under concurrent load every looked-up identifier gets exactly one entry,
//! committed before its answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_audit_entry_per_looked_up_identifier_under_concurrent_load() -> TestResult {
    let hub = std::sync::Arc::new(TestHub::start().await);
    let (_, key) = hub.member("bank-a").await;
    let mut tasks = Vec::new();
    for worker in 0..32usize {
        let hub = hub.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            for round in 0..10usize {
                let n = 1 + (worker + round) % 4;
                let (status, body) = hub
                    .post("/v1/matches", &key, &match_body(&vec![PN; n]))
                    .await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["results"].as_array().unwrap().len(), n);
                sent += n;
                // Committed before the answer: count can only be >= what we saw answered.
            }
            sent
        }));
    }
    let mut expected = 0usize;
    for t in tasks {
        expected += t.await?;
    }
    assert_eq!(hub.audit_count().await, i64::try_from(expected)?);
    Ok(())
}

#[tokio::test]
async fn an_answer_is_only_sent_after_its_audit_entry_is_committed() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    for i in 1..=5 {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
        // Read through a separate pool connection right after the answer.
        assert_eq!(hub.audit_count().await, i);
    }
    Ok(())
}
