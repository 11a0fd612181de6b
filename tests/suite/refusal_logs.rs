//! Every refusal is traceable: 401, 403 and 429 log lines carry the client address, the
//! key id presented and the member when known — never the key's secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;

#[tokio::test(flavor = "current_thread")]
async fn refusals_log_client_key_id_and_member() -> TestResult {
    let logs = Captured::default();
    let writer = logs.clone();
    // This thread's subscriber, not the process's: other tests share the process and log
    // refusals of their own. The runtime is single-threaded, so the hub's tasks (and
    // every refusal they log) run on this thread.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // While only one dispatcher exists in the process, tracing-core decides a callsite's
    // interest from the default of whichever thread hits it first: another test's thread,
    // which has no subscriber, would cache "never" for the refusal log line and blind this
    // one (tokio-rs/tracing#3611). A second, inert dispatcher makes it ask every live one.
    let _inert = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _logging = tracing::subscriber::set_default(subscriber);
    let hub = TestHub::start().await;
    let (member, key) = hub
        .member_with("bank-a", "flags:write", 10_000, 10_000)
        .await;
    let key_id = key.split('_').nth(1).unwrap().to_string();
    let secret = key.rsplit('_').next().unwrap().to_string();
    // 403: the key lacks matches:read.
    assert_eq!(hub.match_one(&key, PN).await.0, 403);
    // 401: right id, wrong secret.
    let forged = format!("fh_{key_id}_{}", "0".repeat(64));
    assert_eq!(hub.match_one(&forged, PN).await.0, 401);
    hub.stop().await;
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request refused"))
        .collect();
    assert_eq!(refusals.len(), 2, "{text}");
    let forbidden = refusals.iter().find(|l| l.contains("status=403")).unwrap();
    assert!(forbidden.contains("client=127.0.0.1"), "{forbidden}");
    assert!(
        forbidden.contains(&format!("key_id={key_id}")),
        "{forbidden}"
    );
    assert!(
        forbidden.contains(&format!("member={member}")),
        "{forbidden}"
    );
    let unauthorized = refusals.iter().find(|l| l.contains("status=401")).unwrap();
    assert!(unauthorized.contains("client=127.0.0.1"), "{unauthorized}");
    assert!(
        unauthorized.contains(&format!("key_id={key_id}")),
        "{unauthorized}"
    );
    assert!(!text.contains(&secret), "a key's secret is never logged");
    Ok(())
}
